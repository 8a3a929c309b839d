"""Local end-to-end latency: p50 / p90 / p99 of HTTP requests to the local stack, with N
concurrent clients, over a mix of read and write routes.

Each client is a thread with its own HTTP session and its own customer (logged in through
the WeChat sandbox), sending ``requests`` requests one after the other; which route comes
next is drawn from ``MIX`` with a seeded random generator, so runs are comparable. Writes are
real: ``POST /orders`` places an order (its stream worker runs meanwhile, as in the stack)
and ``POST /auth/login`` logs in again. Every route is sent once by every client before the
clock starts (handlers imported, clients and connections open).

What the figure is: the time from sending a request to having read the whole answer, over
loopback, to functions that run in this one Python process (one GIL for the API server, every
function and the stream and queue pollers) against DynamoDB Local (a JVM). It tracks
regressions on one machine; it is not what the mini-program sees from AWS.

``python -m bench latency`` (8 clients, 40 requests each; ``--repeat`` does not apply) or
``python -m bench.latency --clients 16 --requests 100``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import RESULTS_DIR, ROOT
from bench._local import ADDRESS, LOG_DIR, Actor, Api, eprint, expect, quiet, running_stack, tail

DEFAULT_CLIENTS = 8
DEFAULT_REQUESTS = 40
SEED = 20261122

# route -> weight. Reads dominate, as in a shop: browsing, then an order now and then.
MIX: dict[str, int] = {
    "GET /products": 4,
    "GET /products/{product_id}": 4,
    "GET /categories": 2,
    "GET /me": 2,
    "GET /orders": 2,
    "GET /orders/{order_id}": 2,
    "POST /auth/login": 1,
    "POST /orders": 2,
}
WRITES = frozenset(r for r in MIX if r.startswith(("POST", "PUT", "PATCH", "DELETE")))


@dataclass
class Sample:
    route: str
    status: int
    ms: float


class Client:
    """One customer sending requests in sequence."""

    def __init__(self, base_url: str, index: int, run_id: str, product_id: str) -> None:
        self.api = Api(base_url, requests.Session())
        self.code = f"bench-latency-{run_id}-{index}"
        self.product_id = product_id
        self.actor: Actor | None = None
        self.order_id: str | None = None
        self.random = random.Random(SEED + index)

    def request(self, route: str) -> tuple[int, float]:
        started = time.perf_counter()
        status = self._send(route)
        return status, (time.perf_counter() - started) * 1000

    def _send(self, route: str) -> int:
        token = self.actor.token if self.actor else None
        match route:
            case "POST /auth/login":
                answer = self.api.request("POST", "/auth/login", json={"code": self.code})
                if answer.status_code == 200:
                    body = answer.json()
                    self.actor = Actor(self.code, body["user_id"], body["access_token"], body.get("roles", []))
                return answer.status_code
            case "POST /orders":
                answer = self.api.request("POST", "/orders", token=token, idempotent=True, json={
                    "lines": [{"product_id": self.product_id, "quantity": 1}], "address": ADDRESS})
                if answer.status_code == 201:
                    self.order_id = answer.json()["order_id"]
                return answer.status_code
            case "GET /orders/{order_id}":
                return self.api.request("GET", f"/orders/{self.order_id}", token=token).status_code
            case "GET /products/{product_id}":
                return self.api.request("GET", f"/products/{self.product_id}").status_code
            case "GET /products" | "GET /categories":
                return self.api.request("GET", route.split(" ", 1)[1]).status_code
            case "GET /me" | "GET /orders":
                return self.api.request("GET", route.split(" ", 1)[1], token=token).status_code
        raise ValueError(f"no request for {route}")

    def plan(self, count: int) -> list[str]:
        routes, weights = list(MIX), list(MIX.values())
        return self.random.choices(routes, weights=weights, k=count)


def run(requests_per_client: int = DEFAULT_REQUESTS, clients: int = DEFAULT_CLIENTS) -> dict[str, Any]:
    """Not ``repeat``: ``python -m bench --repeat 1`` must not shrink the sample to nothing;
    ``python -m bench.latency --requests N --clients M`` changes these."""
    log_path = LOG_DIR / "latency.log"
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        try:
            with quiet(log_path), running_stack(Path(tmp)) as stack:
                result = _measure(stack.base_url, clients, requests_per_client)
        except Exception:
            eprint(tail(log_path))
            raise
    result["log"] = str(log_path.relative_to(ROOT))
    _print(result)
    return result


def _measure(base_url: str, clients: int, per_client: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    setup = Api(base_url)
    admin = setup.admin()
    categories = expect(setup.request("GET", "/categories"), 200, "categories")
    product = expect(setup.request("POST", "/admin/products", token=admin.token, idempotent=True, json={
        "name": f"延迟测试 {run_id}", "type": "physical", "category_id": categories["items"][0]["category_id"],
        "price_fen": 1_000, "stock": 1_000_000, "on_shelf": True, "shipping_fee_fen": 0}), (200, 201), "product")
    workers = [Client(base_url, i, run_id, str(product["product_id"])) for i in range(clients)]
    for client in workers:  # warm: every route once per client, in an order that works
        for route in ["POST /auth/login", "POST /orders", *[r for r in MIX if r not in WRITES]]:
            client.request(route)

    samples: list[Sample] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def work(client: Client) -> Callable[[], None]:
        def loop() -> None:
            mine = []
            plan = client.plan(per_client)
            start.wait()
            for route in plan:
                status, ms = client.request(route)
                mine.append(Sample(route, status, ms))
            with lock:
                samples.extend(mine)
        return loop

    threads = [threading.Thread(target=work(c), name=f"latency-client-{i}") for i, c in enumerate(workers)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began

    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    return {
        "what": "HTTP request latency on the local stack (loopback, in-process functions, DynamoDB Local), ms",
        "clients": clients,
        "requests_per_client": per_client,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(samples) / elapsed, 1) if elapsed else None,
        "all": _stats(samples),
        "reads": _stats([s for s in samples if s.route not in WRITES]),
        "writes": _stats([s for s in samples if s.route in WRITES]),
        "routes": {route: _stats(found) for route, found in sorted(by_route.items())},
        "mix": MIX,
    }


def _stats(samples: list[Sample]) -> dict[str, Any]:
    if not samples:
        return {"count": 0}
    times = sorted(s.ms for s in samples)
    return {
        "count": len(samples),
        "p50_ms": round(_percentile(times, 50), 1),
        "p90_ms": round(_percentile(times, 90), 1),
        "p99_ms": round(_percentile(times, 99), 1),
        "max_ms": round(times[-1], 1),
        "mean_ms": round(statistics.fmean(times), 1),
        "errors": sum(1 for s in samples if s.status >= 400),
        "server_errors": sum(1 for s in samples if s.status >= 500),
    }


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def _print(result: dict[str, Any]) -> None:
    rows = [("route", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")]
    for name, stats in [*result["routes"].items(), ("reads", result["reads"]), ("writes", result["writes"]),
                        ("all", result["all"])]:
        if not stats.get("count"):
            continue
        rows.append((name, str(stats["count"]), f"{stats['p50_ms']:.1f}", f"{stats['p90_ms']:.1f}",
                     f"{stats['p99_ms']:.1f}", f"{stats['max_ms']:.1f}",
                     f"{stats['errors']} ({stats['server_errors']} 5xx)" if stats["errors"] else "0"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"{result['clients']} concurrent clients x {result['requests_per_client']} requests in "
          f"{result['seconds']} s ({result['requests_per_second']} requests/s), on this machine's local stack.")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="per client")
    args = parser.parse_args()
    from bench.__main__ import machine_info

    figures = run(requests_per_client=args.requests, clients=args.clients)
    out = RESULTS_DIR / "latency.json"
    out.write_text(json.dumps({"benchmark": "latency", "machine": machine_info(), **figures}, indent=2,
                              ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
