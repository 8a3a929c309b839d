"""DynamoDB work per request: round trips and consumed capacity, for every HTTP route of
template.yaml and for a whole order lifecycle, on the local stack (DynamoDB Local).

Every request is sent over HTTP to the local API, one at a time; the stream and queue
workers it triggers run as they do in the stack, and their work is counted as the request's
(``bench/_meter.py`` says how calls are attributed and how capacity is priced).

The lifecycle: a customer bound to a level-1 promoter, who is bound to the demo promoter
(level 2), places an order for a physical product, pays it (a signed TRANSACTION.SUCCESS
from the pay sandbox to the webhook), the admin ships it, the buyer confirms receipt, and
settlement runs with an as-of time past the settlement days. Commission is computed by the
commission queue worker the order stream triggers; settlement by the settlement planner's
schedule and its queue worker. Where a function is not in the template yet, the service it
would call runs in-process instead (``mall.services.commissions.sync_order``,
``mall.services.settlement.settle_due``), and the report says so.

Targets: round trips per request (the request's own function) by class of route
(``bench._route_classes``): customer and promoter routes at most 3, the payment notification at
most 5, admin routes at most 5; at most 48 WCU and 16 RCU per lifecycle (everything the lifecycle
caused). The lifecycle's steps are still held to 3 round trips each.

The lifecycle's units are also split by stage (``bench._meter.stage_of``: the money core, the
order, the statistics, the rest) and printed as a budget, beside the same lifecycle with its
settlement amortised: ``AMORTISED_ORDERS`` orders of one buyer (so each of the two promoters has
that many due records) are placed, paid, shipped and confirmed unmeasured, then one settlement
run settles them all, measured, and its units per order replace the single order's settle step.
A third figure, *batched*, also replaces the pay step by the 20 payments' units per order: paid one
after the other, their changes reach the workers in the batches the event sources' windows gather.

The lifecycle and the amortised orders run with every queue's ``MaximumBatchingWindowInSeconds``
as template.yaml sets it (``configured_batching_windows``): the local stack caps windows at 1 s so
tests do not wait, which would measure more worker invocations and writes than AWS performs.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests

from bench import ROOT
from bench._incentive_routes import incentive_endpoints
from bench._local import (
    ADDRESS,
    DEMO_PROMOTER_SHARE_CODE,
    LOG_DIR,
    Actor,
    Api,
    eprint,
    expect,
    log_observers,
    quiet,
    raw_client,
    running_stack,
    tail,
)
from bench._meter import STAGES, Index, Meter, Window, add_kinds, add_stages, sorted_kinds
from bench._png import Canvas
from bench._report import print_table
from bench._route_classes import TARGETS, declared_roles, over_by_class, target_of
from local import queues as local_queues
from local.stack import LocalStack

TARGET_ROUND_TRIPS = 3  # per lifecycle step; routes are held to their class's target (TARGETS)
TARGET_LIFECYCLE_WCU = 48
TARGET_LIFECYCLE_RCU = 16
DEFAULT_LIFECYCLES = 2
AMORTISED_ORDERS = 20  # orders per promoter settled by one settlement run
SETTLE_STEP = "lifecycle: settle"
PAY_STEP = "lifecycle: pay"
LIFECYCLE_PRICE_FEN = 60_000  # level 1 earns 10% by default: enough to withdraw the 50-yuan minimum
DRAIN_TIMEOUT_S = 60


class Skip(Exception):
    """A step that cannot run here (its route or function is not in the template yet)."""


class Bench:
    """One run: the stack, the meter, and what was measured."""

    def __init__(self, stack: LocalStack, meter: Meter) -> None:
        self.stack = stack
        self.meter = meter
        self.api = Api(stack.base_url)
        self.run_id = uuid.uuid4().hex[:6]
        self.routes = {r.route_key: r.function_id for r in stack.template.routes if r.path != "$default"}
        self.endpoints: dict[str, Window] = {}
        self.problems: list[str] = []
        self.notes: list[str] = []

    # -- sending -----------------------------------------------------------------------------

    def drain(self) -> None:
        self.stack.drain_streams(timeout=DRAIN_TIMEOUT_S)

    def call(self, route: str, path: str | None = None, *, actor: Actor | None = None, measure: bool = True,
             **kwargs: Any) -> requests.Response:
        """Send one request for ``route`` ("POST /orders"); measured unless ``measure`` is False
        (set-up), and kept as the route's figure if it is the route's first 2xx answer."""
        if route not in self.routes:
            raise Skip(f"{route} is not in template.yaml")
        method, _, template_path = route.partition(" ")
        target = path or template_path
        token = actor.token if actor else None
        if not measure:
            answer = self.api.request(method, target, token=token, **kwargs)
            self.drain()
            return answer
        with self.meter.window(route, settle=self.drain) as window:
            answer = self.api.request(method, target, token=token, **kwargs)
        window.status = answer.status_code
        if not _ok(answer.status_code):
            window.note = answer.text[:300]
        self._keep(route, window)
        return answer

    def _keep(self, route: str, window: Window) -> None:
        kept = self.endpoints.get(route)
        if kept is None or (not _ok(kept.status) and _ok(window.status)):
            self.endpoints[route] = window

    def measured(self, label: str, work: Callable[[], Any]) -> tuple[Any, Window]:
        with self.meter.window(label, settle=self.drain) as window:
            result = work()
        return result, window

    def group(self, name: str, steps: Callable[[], None]) -> None:
        """Run a group of steps; one that fails is reported and the others still run."""
        try:
            steps()
        except Skip as exc:
            self.notes.append(f"{name}: skipped ({exc})")
        except Exception as exc:
            self.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            eprint(f"dynamo_work: {name} failed:\n{traceback.format_exc()}")

    # -- actors ------------------------------------------------------------------------------

    def customer(self, role: str) -> Actor:
        return self.api.login(f"bench-{role}-{self.run_id}")

    def settings_version(self, admin: Actor) -> int:
        current = expect(self.api.request("GET", "/admin/settings/distribution", token=admin.token), 200,
                         "read settings")
        return int(current["version"])

    def make_promoter(self, admin: Actor, role: str, *, parent_code: str | None) -> tuple[Actor, str]:
        """A customer (bound to ``parent_code`` first, if given) who applies and is made active."""
        person = self.customer(role)
        if parent_code:
            expect(self.api.request("POST", "/referral/bind", token=person.token, json={"code": parent_code}),
                   (200, 201), f"bind {role}")
        version = self.settings_version(admin)
        applied = expect(self.api.request("POST", "/promoter/apply", token=person.token, idempotent=True,
                                          json={"accepted_rules_version": version, "nickname": role}),
                         (200, 201), f"{role} applies")
        if applied.get("status") != "active":
            expect(self.api.request("POST", f"/admin/promoters/{person.user_id}/approve", token=admin.token,
                                    json={}), 200, f"approve {role}")
        promoter = self.api.login(person.code)  # the promoter role is in the next token
        profile = expect(self.api.request("GET", "/promoter/profile", token=promoter.token), 200, f"{role} profile")
        self.drain()
        return promoter, str(profile["code"])

    def product(self, admin: Actor, *, kind: str = "physical", price_fen: int = LIFECYCLE_PRICE_FEN,
                stock: int = 10_000) -> str:
        categories = expect(self.api.request("GET", "/categories"), 200, "categories")
        items = categories.get("items", categories) if isinstance(categories, dict) else categories
        category_id = str(items[0]["category_id"])
        created = expect(self.api.request("POST", "/admin/products", token=admin.token, idempotent=True, json={
            "name": f"压测商品 {kind} {self.run_id}", "type": kind, "category_id": category_id,
            "price_fen": price_fen, "stock": stock, "on_shelf": True,
            "shipping_fee_fen": 0, "description": "bench"}), (200, 201), "create product")
        self.drain()
        return str(created["product_id"])

    def place(self, buyer: Actor, product_id: str, *, route_measure: bool = True) -> dict[str, Any]:
        answer = self.call("POST /orders", actor=buyer, measure=route_measure, idempotent=True,
                           json={"lines": [{"product_id": product_id, "quantity": 1}], "address": ADDRESS})
        return dict(expect(answer, 201, "place order"))

    def pay(self, order_id: str) -> int:
        """The pay sandbox marks the order paid and POSTs the signed notification to the webhook."""
        from local.wechatpay_sandbox.local_stack import pay_local_order

        event = pay_local_order(self.stack.data_dir, order_id, appid=self.stack.env.get("WECHAT_APP_ID",
                                                                                       "wx_local_app"))
        return int(event.status or 0)

    def function_id(self, directory: str) -> str:
        """The logical id of ``functions/<directory>`` in the template."""
        return self.stack.template.function(directory).logical_id


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


# -- the lifecycle ---------------------------------------------------------------------------


@contextlib.contextmanager
def configured_batching_windows() -> Iterator[None]:
    """Queue pollers gather a batch for as long as template.yaml's ``MaximumBatchingWindowInSeconds``
    says (the stats and notification queues wait 10 s), not the local stack's 1 s cap, and, as
    Lambda's poller does, from the first message found (an idle poller returns at once instead of
    waiting out a window): one invocation then takes every change a step sends it within the window,
    as in AWS. Stream pollers already use their windows (1 s)."""
    gather = local_queues.QueuePoller._receive_batch
    local_queues.QueuePoller._receive_batch = _gather_from_first_message  # type: ignore[method-assign]
    try:
        yield
    finally:
        local_queues.QueuePoller._receive_batch = gather  # type: ignore[method-assign]


def _gather_from_first_message(poller: Any) -> list[dict[str, Any]]:
    wanted, window = poller.trigger.batch_size, poller.trigger.batching_window_s
    deadline: float | None = None
    batch: list[dict[str, Any]] = []
    while len(batch) < wanted and not poller._stop.is_set():
        got = poller.sqs.receive_message(
            QueueUrl=poller.queue_url, MaxNumberOfMessages=min(10, wanted - len(batch)), WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not got and deadline is None:
            return batch
        if deadline is None:
            deadline = time.monotonic() + window
        batch.extend(got)
        if time.monotonic() >= deadline:
            break
        if not got:
            poller._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
    return batch


@dataclass(frozen=True)
class Network:
    """Who the lifecycles share: the admin, the level-1 promoter (bound to the demo promoter,
    level 2) and the product bought."""

    admin: Actor
    l1: Actor
    l1_code: str
    product_id: str


def lifecycle(bench: Bench, network: Network, n: int) -> dict[str, Any]:
    """Place → pay → (commission) → ship → confirm → settle, each step measured with its workers."""
    api, admin, l1_code, product_id = bench.api, network.admin, network.l1_code, network.product_id
    buyer = bench.customer(f"buyer{n}")
    expect(api.request("POST", "/referral/bind", token=buyer.token, json={"code": l1_code}), (200, 201),
           "bind the buyer to the level-1 promoter")
    bench.drain()
    steps: list[dict[str, Any]] = []

    def step(name: str, window: Window, *, note: str | None = None) -> None:
        summary = window.summary()
        summary["step"] = name
        if note:
            summary["note"] = note
        steps.append(summary)

    # 1. place
    with bench.meter.window("lifecycle: place order", settle=bench.drain) as placed_window:
        answer = api.request("POST", "/orders", token=buyer.token, idempotent=True,
                             json={"lines": [{"product_id": product_id, "quantity": 1}], "address": ADDRESS})
    placed_window.status = answer.status_code
    order = expect(answer, 201, "place order")
    order_id = str(order["order_id"])
    step("place order (POST /orders)", placed_window)

    # 2. pay: the webhook, and everything the PAID order triggers (commission included)
    status, paid_window = bench.measured(PAY_STEP, lambda: bench.pay(order_id))
    paid_window.status = status
    step("pay (signed notification → POST /webhooks/wechatpay)", paid_window)

    # 3. ship, 4. confirm receipt
    with bench.meter.window("lifecycle: ship", settle=bench.drain) as shipped:
        answer = api.request("POST", f"/admin/orders/{order_id}/ship", token=admin.token,
                             json={"carrier": "顺丰速运", "tracking_no": f"SF{uuid.uuid4().hex[:10].upper()}"})
    shipped.status = answer.status_code
    expect(answer, 200, "ship")
    step("ship (POST /admin/orders/{order_id}/ship)", shipped)

    status, confirmed = bench.measured("lifecycle: confirm", lambda: api.request(
        "POST", f"/orders/{order_id}/confirm-receipt", token=buyer.token).status_code)
    confirmed.status = status
    step("confirm receipt (POST /orders/{order_id}/confirm-receipt)", confirmed)

    # 5. settle, as of a time past the settlement days
    settled = settle(bench, SETTLE_STEP)
    step("settle (SettlementPlannerFunction schedule + SettlementQueue workers)", settled)

    measured = [s for s in steps if "rcu" in s]
    totals = {
        "round_trips": sum(s["round_trips"] + s["worker_round_trips"] for s in measured),
        "rcu": round(sum(s["rcu"] for s in measured), 2),
        "wcu": round(sum(s["wcu"] for s in measured), 2),
        "wcu_if_index_doubled": round(sum(s["wcu_if_index_doubled"] for s in measured), 2),
        "reported_wcu": round(sum(s["reported_wcu"] for s in measured), 2),
        "api_requests": sum(s["http_requests"] for s in measured),
    }
    by_kind: dict[str, int] = {}
    for s in measured:
        for kind, units in s["wcu_by_item_kind"].items():
            by_kind[kind] = by_kind.get(kind, 0) + units
    totals["wcu_by_item_kind"] = dict(sorted(by_kind.items(), key=lambda kv: -kv[1]))
    read_kinds: dict[str, float] = {}
    for s in measured:
        add_kinds(read_kinds, s["rcu_by_item_kind"])
    totals["rcu_by_item_kind"] = sorted_kinds(read_kinds)
    by_stage: dict[str, dict[str, float]] = {}
    for s in measured:
        add_stages(by_stage, s["by_stage"])
    totals["by_stage"] = by_stage
    totals["wcu_met"] = totals["wcu"] <= TARGET_LIFECYCLE_WCU
    totals["rcu_met"] = totals["rcu"] <= TARGET_LIFECYCLE_RCU
    totals["round_trips_met"] = all(s["round_trips"] <= TARGET_ROUND_TRIPS for s in measured)
    commissions = _commissions_of(bench, order_id)
    return {"order_id": order_id, "buyer": buyer.user_id, "steps": steps, "totals": totals,
            "commissions": commissions}


def settle(bench: Bench, label: str) -> Window:
    """One settlement run as of a time past the settlement days, measured with its workers."""
    as_of = _now() + timedelta(days=120)
    planner = bench.function_id("settlement_planner")
    _, window = bench.measured(label, lambda: bench.stack.fire_schedule(planner, as_of.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return window


def amortised_settlement(bench: Bench, network: Network, orders: int = AMORTISED_ORDERS) -> dict[str, Any]:
    """``orders`` orders of one buyer bound to the level-1 promoter, placed, paid, shipped and
    confirmed without measuring, then settled by ONE measured settlement run: what settling costs
    per order when each promoter has ``orders`` due records in the run."""
    api, admin = bench.api, network.admin
    buyer = bench.customer("amortised")
    expect(api.request("POST", "/referral/bind", token=buyer.token, json={"code": network.l1_code}), (200, 201),
           "bind the amortised buyer to the level-1 promoter")
    order_ids = []
    for n in range(orders):
        answer = api.request("POST", "/orders", token=buyer.token, idempotent=True, json={
            "lines": [{"product_id": network.product_id, "quantity": 1}], "address": ADDRESS})
        order_ids.append(str(expect(answer, 201, f"place amortised order {n + 1}")["order_id"]))
    bench.drain()

    def pay_all() -> None:
        for order_id in order_ids:
            status = bench.pay(order_id)
            if not _ok(status):
                raise RuntimeError(f"pay {order_id}: the webhook answered {status}")

    _, paid = bench.measured(f"pay {orders} orders one after the other", pay_all)
    paid_summary = paid.summary()
    for order_id in order_ids:
        expect(api.request("POST", f"/admin/orders/{order_id}/ship", token=admin.token,
                           json={"carrier": "顺丰速运", "tracking_no": f"SF{uuid.uuid4().hex[:10].upper()}"}),
               200, f"ship {order_id}")
    bench.drain()
    for order_id in order_ids:
        expect(api.request("POST", f"/orders/{order_id}/confirm-receipt", token=buyer.token), 200,
               f"confirm {order_id}")
    bench.drain()
    window = settle(bench, f"settle {orders} orders per promoter")
    summary = window.summary()
    records = [c for order_id in order_ids for c in _commissions_of(bench, order_id)]
    per_order: dict[str, dict[str, float]] = {}
    add_stages(per_order, summary["by_stage"], 1 / orders)
    pay_per_order: dict[str, dict[str, float]] = {}
    add_stages(pay_per_order, paid_summary["by_stage"], 1 / orders)
    return {"orders": orders, "records": len(records),
            "records_settled": sum(1 for c in records if c.get("status") == "SETTLED"),
            "settle": {k: summary[k] for k in ("round_trips", "worker_invocations", "worker_round_trips", "rcu",
                                               "wcu", "wcu_by_item_kind", "rcu_by_item_kind", "by_stage",
                                               "failed_calls")},
            "settle_per_order": {"rcu": round(summary["rcu"] / orders, 2), "wcu": round(summary["wcu"] / orders, 2)},
            "settle_per_order_by_stage": per_order,
            "pay": {k: paid_summary[k] for k in ("round_trips", "worker_invocations", "worker_round_trips", "rcu",
                                                 "wcu", "wcu_by_item_kind", "rcu_by_item_kind", "by_stage",
                                                 "failed_calls")},
            "pay_per_order": {"rcu": round(paid_summary["rcu"] / orders, 2),
                              "wcu": round(paid_summary["wcu"] / orders, 2),
                              "worker_invocations": round(paid_summary["worker_invocations"] / orders, 2)},
            "pay_per_order_by_stage": pay_per_order}


def budget(run: dict[str, Any], amortised: dict[str, Any] | None) -> dict[str, Any]:
    """The lifecycle's units by stage, and the same with the settle step replaced by the amortised
    settlement's units per order."""
    single: dict[str, dict[str, float]] = {stage: {"rcu": 0.0, "wcu": 0.0} for stage in STAGES}
    add_stages(single, run["totals"]["by_stage"])
    out: dict[str, Any] = {"order_id": run["order_id"], "single": single,
                           "targets": {"wcu": TARGET_LIFECYCLE_WCU, "rcu": TARGET_LIFECYCLE_RCU}}
    if amortised is not None:
        settle_step = next((s for s in run["steps"] if s["label"] == SETTLE_STEP), None)
        spread: dict[str, dict[str, float]] = {stage: {"rcu": 0.0, "wcu": 0.0} for stage in STAGES}
        add_stages(spread, single)
        if settle_step is not None:
            add_stages(spread, settle_step["by_stage"], -1.0)
        add_stages(spread, amortised["settle_per_order_by_stage"])
        out["amortised"] = spread
        out["amortised_over"] = amortised["orders"]
        pay_step = next((s for s in run["steps"] if s["label"] == PAY_STEP), None)
        if pay_step is not None and "pay_per_order_by_stage" in amortised:
            batched: dict[str, dict[str, float]] = {stage: {"rcu": 0.0, "wcu": 0.0} for stage in STAGES}
            add_stages(batched, spread)
            add_stages(batched, pay_step["by_stage"], -1.0)
            add_stages(batched, amortised["pay_per_order_by_stage"])
            out["batched"] = batched
    for name in ("single", "amortised", "batched"):
        if name in out:
            out[f"{name}_total"] = {unit: round(sum(v[unit] for v in out[name].values()), 2) for unit in ("rcu", "wcu")}
    return out


def _commissions_of(bench: Bench, order_id: str) -> list[dict[str, Any]]:
    """The order's commission records as they ended (read with the benchmark's own client)."""
    client = raw_client(bench.stack)
    answer = client.query(TableName=bench.stack.env["TABLE_NAME"], KeyConditionExpression="pk = :pk",
                          ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}}, ConsistentRead=True)
    out = []
    for item in answer.get("Items", []):
        if "level" in item and "beneficiary_id" in item:
            out.append({k: next(iter(v.values())) for k, v in item.items()
                        if k in {"sk", "level", "beneficiary_id", "amount_fen", "status", "due_at"}})
    return out


def _table(stack: LocalStack) -> Any:
    """The layer's Table on a client of the default session (so the meter's hooks count it)."""
    from mall.dal.table import Table

    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- every route -----------------------------------------------------------------------------


def endpoints(bench: Bench, money: dict[str, Any]) -> None:  # noqa: PLR0915
    """Each route once with valid input, in an order that creates what the next one needs."""
    api, call, group = bench.api, bench.call, bench.group
    state: dict[str, Any] = {}

    def identity() -> None:
        answer = call("POST /auth/login", json={"code": f"bench-e-{bench.run_id}"})
        state["buyer"] = Actor(code=f"bench-e-{bench.run_id}", user_id=answer.json()["user_id"],
                               token=answer.json()["access_token"], roles=answer.json()["roles"])
        call("POST /admin/auth/login", json={"username": "admin", "password": _admin_password()})
        state["admin"] = api.admin()
        call("GET /me", actor=state["buyer"])

    def meta() -> None:
        call("GET /openapi.json")
        call("GET /docs")

    def settings() -> None:
        admin = state["admin"]
        current = call("GET /admin/settings/distribution", actor=admin).json()
        call("GET /admin/settings/distribution/versions", actor=admin)
        call("GET /admin/settings/distribution/versions/{version}",
             f"/admin/settings/distribution/versions/{current['version']}", actor=admin)
        saved = call("PUT /admin/settings/distribution", actor=admin, json={
            **current["settings"], "based_on_version": current["version"], "promoter_review": "manual",
            "note": "bench: manual review for the approve/reject routes"})
        state["version"] = int(saved.json()["version"]) if _ok(saved.status_code) else int(current["version"])

    def catalog() -> None:
        admin = state["admin"]
        categories = call("GET /categories").json()
        category_id = str(categories["items"][0]["category_id"])
        products = call("GET /products").json()
        state["shelf_product"] = str(products["items"][0]["product_id"])
        call("GET /products/{product_id}", f"/products/{state['shelf_product']}")
        made = call("POST /admin/categories", actor=admin, idempotent=True,
                    json={"name": f"压测{bench.run_id}", "sort": 9}).json()
        cid = str(made["category_id"])
        call("GET /admin/categories", actor=admin)
        got = call("GET /admin/categories/{category_id}", f"/admin/categories/{cid}", actor=admin).json()
        patched = call("PATCH /admin/categories/{category_id}", f"/admin/categories/{cid}", actor=admin,
                       json={"version": got["version"], "name": f"压测改{bench.run_id}"}).json()
        call("DELETE /admin/categories/{category_id}", f"/admin/categories/{cid}", actor=admin,
             params={"version": patched["version"]})
        product = call("POST /admin/products", actor=admin, idempotent=True, json={
            "name": f"压测服务 {bench.run_id}", "type": "service", "category_id": category_id,
            "price_fen": 9_900, "stock": 100, "on_shelf": True}).json()
        pid = str(product["product_id"])
        state["service_product"] = pid
        call("GET /admin/products", actor=admin)
        call("GET /admin/products/low-stock", actor=admin)
        got = call("GET /admin/products/{product_id}", f"/admin/products/{pid}", actor=admin).json()
        call("PATCH /admin/products/{product_id}", f"/admin/products/{pid}", actor=admin,
             json={"version": got["version"], "price_fen": 9_800})
        call("POST /admin/products/{product_id}/stock-adjustments", f"/admin/products/{pid}/stock-adjustments",
             actor=admin, idempotent=True, json={"delta": 10, "reason": "入库"})

    def referral() -> None:
        admin = state["admin"]
        visitor = bench.customer("visitor")
        call("POST /share/visits", actor=visitor, headers={"x-device-id": f"dev-{bench.run_id}"},
             json={"code": DEMO_PROMOTER_SHARE_CODE, "source": "link"})
        binder = bench.customer("binder")
        call("POST /referral/bind", actor=binder, json={"code": DEMO_PROMOTER_SHARE_CODE})
        p1, p2 = bench.customer("applicant1"), bench.customer("applicant2")
        call("POST /promoter/apply", actor=p1, idempotent=True,
             json={"accepted_rules_version": state["version"], "nickname": "甲"})
        call("POST /promoter/apply", actor=p2, idempotent=True, measure=False,
             json={"accepted_rules_version": state["version"], "nickname": "乙"})
        call("GET /admin/promoters", actor=admin, params={"status": "applied"})
        call("GET /admin/promoters/{user_id}", f"/admin/promoters/{p1.user_id}", actor=admin)
        call("POST /admin/promoters/{user_id}/approve", f"/admin/promoters/{p1.user_id}/approve", actor=admin,
             json={})
        call("POST /admin/promoters/{user_id}/reject", f"/admin/promoters/{p2.user_id}/reject", actor=admin,
             json={"reason": "资料不全"})
        promoter = api.login(p1.code)
        profile = call("GET /promoter/profile", actor=promoter).json()
        call("GET /promoter/team", actor=promoter)
        call("GET /promoter/qrcode", actor=promoter)
        call("POST /promoter/posters", actor=promoter, json={"product_id": state.get("shelf_product", "p_demo")})
        material = call("POST /admin/materials", actor=admin, headers={"idempotency-key": f"mat-{bench.run_id}"},
                        json={"kind": "text", "title": "推荐语", "text": "好茶 {share_link}"}).json()
        call("GET /admin/materials", actor=admin)
        if "material_id" in material:
            mid = material["material_id"]
            call("GET /admin/materials/{material_id}", f"/admin/materials/{mid}", actor=admin)
            call("PATCH /admin/materials/{material_id}", f"/admin/materials/{mid}", actor=admin,
                 json={"version": material["version"], "title": "推荐语二"})
        call("GET /promoter/materials", actor=promoter, params={"product_id": state.get("shelf_product", "p_demo")})
        call("PUT /admin/promoters/{user_id}/override", f"/admin/promoters/{p1.user_id}/override", actor=admin,
             json={"l1_override_bp": 1200, "reason": "bench"})
        call("PUT /admin/promoters/{user_id}/level", f"/admin/promoters/{p1.user_id}/level", actor=admin,
             json={"level_id": "basic", "reason": "bench"})
        call("POST /admin/promoters/{user_id}/freeze", f"/admin/promoters/{p1.user_id}/freeze", actor=admin,
             json={"reason": "bench"})
        call("POST /admin/promoters/{user_id}/unfreeze", f"/admin/promoters/{p1.user_id}/unfreeze", actor=admin,
             json={"reason": "bench"})
        base = f"/admin/customers/{visitor.user_id}/binding"
        call("GET /admin/customers/{user_id}/binding", base, actor=admin)
        call("PUT /admin/customers/{user_id}/binding", base, actor=admin,
             json={"promoter_code": profile["code"], "reason": "bench"})
        call("POST /admin/customers/{user_id}/binding/remove", f"{base}/remove", actor=admin,
             json={"reason": "bench"})
        call("POST /admin/promoters/{user_id}/disable", f"/admin/promoters/{p1.user_id}/disable", actor=admin,
             json={"reason": "bench"})

    def orders() -> None:
        admin, buyer = state["admin"], state["buyer"]
        placed = bench.place(buyer, money["product_id"])
        oid = str(placed["order_id"])
        call("GET /orders", actor=buyer)
        call("GET /orders/{order_id}", f"/orders/{oid}", actor=buyer)
        call("POST /orders/{order_id}/payment", f"/orders/{oid}/payment", actor=buyer)
        status, window = bench.measured("POST /webhooks/wechatpay", lambda: bench.pay(oid))
        window.status = status
        bench._keep("POST /webhooks/wechatpay", window)
        call("GET /admin/orders", actor=admin)
        call("GET /admin/orders/{order_id}", f"/admin/orders/{oid}", actor=admin)
        call("GET /admin/orders/{order_id}/shipping-address", f"/admin/orders/{oid}/shipping-address", actor=admin)
        call("POST /admin/orders/{order_id}/ship", f"/admin/orders/{oid}/ship", actor=admin,
             json={"carrier": "EMS", "tracking_no": "EMS0001"})
        call("POST /orders/{order_id}/confirm-receipt", f"/orders/{oid}/confirm-receipt", actor=buyer)
        refunds = f"/orders/{oid}/refunds"
        first = call("POST /orders/{order_id}/refunds", refunds, actor=buyer, idempotent=True,
                     json={"reason": "有瑕疵", "lines": [{"line_id": "1", "amount_fen": 100}]}).json()
        call("GET /orders/{order_id}/refunds", refunds, actor=buyer)
        call("GET /admin/refunds", actor=admin, params={"status": "REQUESTED"})
        call("POST /admin/refunds/{refund_id}/reject", f"/admin/refunds/{first['refund_id']}/reject", actor=admin,
             json={"reason": "不支持"})
        second = call("POST /orders/{order_id}/refunds", refunds, actor=buyer, idempotent=True, measure=False,
                      json={"reason": "有瑕疵", "lines": [{"line_id": "1", "amount_fen": 100}]}).json()
        call("POST /admin/refunds/{refund_id}/approve", f"/admin/refunds/{second['refund_id']}/approve",
             actor=admin)

    def receipt_through_wechat() -> None:
        from local.wechat_messages import push_for_order, url_check

        admin, buyer = state["admin"], state["buyer"]
        token = json.loads((Path(bench.stack.data_dir) / "secrets.json").read_text("utf-8"))["wechat_message_token"]
        call("GET /webhooks/wechat/messages", params=url_check(token=token, echostr="bench"))
        oid = str(bench.place(buyer, money["product_id"], route_measure=False)["order_id"])
        bench.pay(oid)
        call("POST /admin/orders/{order_id}/ship", f"/admin/orders/{oid}/ship", actor=admin, measure=False,
             json={"carrier": "EMS", "tracking_no": "EMS0002"})
        appid = bench.stack.env.get("WECHAT_APP_ID", "wx_local_app")
        (status, _), window = bench.measured("POST /webhooks/wechat/messages", lambda: push_for_order(
            Path(bench.stack.data_dir), oid, api_url=bench.stack.base_url, appid=appid))
        window.status = status
        bench._keep("POST /webhooks/wechat/messages", window)

    def service_order() -> None:
        admin, buyer = state["admin"], state["buyer"]
        placed = bench.place(buyer, state["service_product"], route_measure=False)
        oid = str(placed["order_id"])
        bench.pay(oid)
        bench.drain()
        detail = expect(api.request("GET", f"/orders/{oid}", token=buyer.token), 200, "service order")
        if not detail.get("verify_code"):
            raise RuntimeError(f"the paid service order shows no verify_code: {detail}")
        call("POST /admin/orders/{order_id}/verify", f"/admin/orders/{oid}/verify", actor=admin,
             json={"code": detail["verify_code"]})

    def commissions_and_ledger() -> None:
        admin, l1 = state["admin"], money["l1"]
        for route, path, kwargs in [
            ("GET /promoter/commissions", None, {"actor": l1}),
            ("GET /promoter/commissions/preview", None, {"actor": l1, "params": {"product_id": money["product_id"]}}),
            ("GET /admin/promoters/{user_id}/commissions", f"/admin/promoters/{l1.user_id}/commissions",
             {"actor": admin}),
            ("GET /promoter/ledger", None, {"actor": l1}),
            ("GET /promoter/ledger/summary", None, {"actor": l1}),
            ("GET /admin/promoters/{user_id}/ledger", f"/admin/promoters/{l1.user_id}/ledger", {"actor": admin}),
            ("GET /admin/promoters/{user_id}/ledger/summary", f"/admin/promoters/{l1.user_id}/ledger/summary",
             {"actor": admin}),
            ("GET /admin/promoters/{user_id}/team", f"/admin/promoters/{l1.user_id}/team", {"actor": admin}),
        ]:
            with contextlib.suppress(Skip):
                call(route, path, **kwargs)

    def withdrawals() -> None:
        admin, l1 = state["admin"], money["l1"]
        if "POST /promoter/withdrawals" not in bench.routes:
            raise Skip("POST /promoter/withdrawals is not in template.yaml")
        # Every request reviewed by an admin (so approve / reject have work), bank transfers
        # offered (so mark-paid / mark-failed do).
        current = expect(api.request("GET", "/admin/settings/distribution", token=admin.token), 200, "settings")
        rules = {**current["settings"].get("withdrawal", {}), "methods": ["wechat", "bank"],
                 "auto_review_below_fen": 0}
        expect(api.request("PUT", "/admin/settings/distribution", token=admin.token, json={
            **current["settings"], "withdrawal": rules, "based_on_version": current["version"],
            "note": "bench: bank withdrawals, every request reviewed"}), 200, "save withdrawal rules")

        def request(measure: bool = True) -> dict[str, Any]:
            answer = call("POST /promoter/withdrawals", actor=l1, idempotent=True, measure=measure,
                          json={"amount_fen": 5_000, "method": "bank", "bank": _bank()})
            return dict(expect(answer, (200, 201), "request a withdrawal"))

        def admin_call(route: str, wid: str, suffix: str, **kwargs: Any) -> None:
            with contextlib.suppress(Skip):
                call(route, f"/admin/withdrawals/{wid}{suffix}", actor=admin, **kwargs)

        wid = str(request()["withdrawal_id"])
        call("GET /promoter/withdrawals", actor=l1)
        call("GET /promoter/withdrawals/{withdrawal_id}", f"/promoter/withdrawals/{wid}", actor=l1)
        call("GET /admin/withdrawals", actor=admin)
        with contextlib.suppress(Skip):
            call("GET /admin/withdrawals/export", actor=admin)
        admin_call("GET /admin/withdrawals/{withdrawal_id}", wid, "")
        admin_call("GET /admin/withdrawals/{withdrawal_id}/bank-account", wid, "/bank-account")
        admin_call("POST /admin/withdrawals/{withdrawal_id}/approve", wid, "/approve", json={})
        admin_call("POST /admin/withdrawals/{withdrawal_id}/mark-paid", wid, "/mark-paid",
                   json={"reference": f"BANK{bench.run_id}"})
        rejected = str(request(measure=False)["withdrawal_id"])
        admin_call("POST /admin/withdrawals/{withdrawal_id}/reject", rejected, "/reject", json={"reason": "bench"})
        failed = str(request(measure=False)["withdrawal_id"])
        admin_call("POST /admin/withdrawals/{withdrawal_id}/approve", failed, "/approve", json={}, measure=False)
        admin_call("POST /admin/withdrawals/{withdrawal_id}/mark-failed", failed, "/mark-failed",
                   json={"reason": "账户有误"})

    def reconciliation() -> None:
        admin = state["admin"]
        bench.stack.fire_schedule(bench.function_id("ledger_reconcile"))
        bench.drain()
        listed = call("GET /admin/ledger/reconciliations", actor=admin).json()
        items = listed.get("items", []) if isinstance(listed, dict) else []
        day = next((str(i.get("day") or i.get("date")) for i in items if i.get("day") or i.get("date")), None)
        if day is None:
            raise RuntimeError(f"no reconciliation to read by day: {str(listed)[:200]}")
        call("GET /admin/ledger/reconciliations/{day}", f"/admin/ledger/reconciliations/{day}", actor=admin)

    def insight() -> None:
        admin, l1 = state["admin"], money["l1"]
        month = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m")  # a China month
        call("GET /rules")
        call("GET /admin/dashboard", actor=admin)
        call("GET /admin/leaderboard", actor=admin, params={"board": "commission", "period": "month"})
        call("GET /promoter/leaderboard", actor=l1, params={"board": "sales", "period": "week"})
        call("GET /promoter/bonuses", actor=l1)
        call("GET /admin/bonuses", actor=admin, params={"month": month})
        call("GET /promoter/history", actor=l1, params={"kind": "commission"})
        call("GET /admin/audit", actor=admin, params={"limit": 20})
        call("GET /admin/notifications", actor=admin, params={"status": "FAILED"})
        call("GET /admin/shipping/carriers", actor=admin)
        call("GET /admin/shipping/uploads", actor=admin, params={"status": "FAILED"})
        created = call("POST /admin/exports", actor=admin, idempotent=True,
                       json={"kind": "orders", "from": _now().date().isoformat(), "to": _now().date().isoformat()})
        export_id = str(expect(created, 202, "create an export")["export_id"])
        call("GET /admin/exports", actor=admin)
        call("GET /admin/exports/{export_id}", f"/admin/exports/{export_id}", actor=admin)
        today = (datetime.now(UTC) + timedelta(hours=8)).date()  # a China day
        call("GET /promoter/funnel", actor=l1, params={"from": (today - timedelta(days=6)).isoformat(),
                                                       "to": today.isoformat(), "group": "source"})
        bench.stack.fire_schedule(bench.function_id("weekly_report"))
        reports = call("GET /admin/reports", actor=admin).json()
        report_id = str(reports["items"][0]["report_id"])
        call("GET /admin/reports/{report_id}", f"/admin/reports/{report_id}", actor=admin)
        erased = bench.customer("erased")
        call("POST /me/erasure", actor=erased, json={"confirm": True})

    def risk_cases() -> None:
        from mall.services import risk

        admin = state["admin"]
        cases = []
        for role in ("held-a", "held-b"):
            promoter, _ = bench.make_promoter(admin, role, parent_code=None)
            opened = risk.open_case(repos=risk.RiskRepositories.on(_table(bench.stack)),
                                    promoter_id=promoter.user_id, rule="same_device",
                                    window_key=_now().date().isoformat(), evidence={"accounts": 6}, now=_now())
            if opened is None:
                raise RuntimeError(f"no risk case opened for {promoter.user_id}")
            cases.append(opened.case_id)
        bench.drain()
        call("GET /admin/risk/cases", actor=admin, params={"status": "OPEN"})
        call("GET /admin/risk/cases/{case_id}", f"/admin/risk/cases/{cases[0]}", actor=admin)
        call("POST /admin/risk/cases/{case_id}/release", f"/admin/risk/cases/{cases[0]}/release", actor=admin,
             json={"note": "bench: normal promotion"})
        call("POST /admin/risk/cases/{case_id}/confirm", f"/admin/risk/cases/{cases[1]}/confirm", actor=admin,
             json={"note": "bench: confirmed"})

    def cart() -> None:
        shopper = bench.customer("cart")
        added = expect(call("POST /cart/lines", actor=shopper, idempotent=True,
                            json={"product_id": money["product_id"], "quantity": 1}), 201, "add to cart")
        line = f"/cart/lines/{added['line_id']}"
        call("GET /cart", actor=shopper)
        call("PATCH /cart/lines/{line_id}", line, actor=shopper, json={"quantity": 2, "version": added["version"]})
        call("DELETE /cart/lines/{line_id}", line, actor=shopper)

    def address_book_and_phone() -> None:
        owner = bench.customer("addresses")
        first = expect(call("POST /me/addresses", actor=owner, json=ADDRESS), (200, 201), "save an address")
        call("GET /me/addresses", actor=owner)
        path = f"/me/addresses/{first['address_id']}"
        call("PUT /me/addresses/{address_id}", path, actor=owner,
             json={**ADDRESS, "detail": "南山区科技园 2 号", "version": first["version"]})
        second = expect(call("POST /me/addresses", actor=owner, measure=False,
                             json={**ADDRESS, "detail": "福田区深南大道 3 号"}), (200, 201), "save another")
        call("POST /me/addresses/{address_id}/default", f"/me/addresses/{second['address_id']}/default", actor=owner)
        book = expect(api.request("GET", "/me/addresses", token=owner.token), 200, "read the address book")
        version = next(a["version"] for a in book["items"] if a["address_id"] == first["address_id"])
        call("DELETE /me/addresses/{address_id}", path, actor=owner, params={"version": version})
        # Any code but a sandbox error code is accepted once by the local getuserphonenumber.
        call("POST /me/phone", actor=owner, json={"code": f"bench-phone-{bench.run_id}"})

    def subscription_grants() -> None:
        # The bench configures no templates, so the id is answered back unrecorded: this meters the reads (the
        # write is counted in tests/integration/test_subscription_grants.py).
        owner = bench.customer("grants")
        call("POST /me/subscriptions", actor=owner,
             json={"scene": "checkout", "results": [{"template_id": "benchShipped", "result": "accept"}]})
        call("GET /me/subscriptions", actor=owner)
    def customers() -> None:
        admin = state["admin"]
        shopper = bench.customer("listed")
        base = f"/admin/customers/{shopper.user_id}"
        call("GET /admin/customers", actor=admin, params={"user_id": shopper.user_id})
        call("GET /admin/customers/{user_id}", base, actor=admin)
        tag = expect(call("POST /admin/customer-tags", actor=admin, json={"name": f"bench-{bench.run_id}"}), 201,
                     "create a tag")
        call("GET /admin/customer-tags", actor=admin)
        tag_path = f"/admin/customer-tags/{tag['tag_id']}"
        call("PUT /admin/customer-tags/{tag_id}", tag_path, actor=admin,
             json={"name": f"bench2-{bench.run_id}", "version": tag["version"]})
        call("POST /admin/customers/{user_id}/tags", f"{base}/tags", actor=admin, json={"tag_id": tag["tag_id"]})
        call("DELETE /admin/customers/{user_id}/tags/{tag_id}", f"{base}/tags/{tag['tag_id']}", actor=admin)
        call("DELETE /admin/customer-tags/{tag_id}", tag_path, actor=admin, params={"version": tag["version"] + 1})
        call("POST /admin/customers/{user_id}/promoter", f"{base}/promoter", actor=admin, json={}, idempotent=True)
        pending = expect(call("GET /promoter/profile", actor=shopper, measure=False), 200, "pending profile")
        call("POST /promoter/agreement", actor=shopper, json={"rules_version": pending["rules_version_to_accept"]})

    def media_upload() -> None:
        admin = state["admin"]
        form = expect(call("POST /admin/media/uploads", actor=admin, json={"content_type": "image/png"}), 201,
                      "upload form")
        picture = Canvas(300, 300, (180, 40, 40)).png()
        sent = requests.post(form["url"], data=form["fields"], files={"file": ("bench.png", picture)},
                             timeout=30)
        if sent.status_code not in (200, 204):
            raise RuntimeError(f"the upload to the local S3 answered {sent.status_code}: {sent.text[:300]}")
        call("POST /admin/media/uploads/{upload_id}/verify", f"/admin/media/uploads/{form['upload_id']}/verify",
             actor=admin)

    def batch_edit() -> None:
        admin = state["admin"]
        product_id = bench.product(admin)  # its own product: taking it off the shelf disturbs no other step
        call("POST /admin/products/batch", actor=admin, idempotent=True,
             json={"product_ids": [product_id], "on_shelf": False})

    group("identity", identity)
    if "admin" not in state:
        state["admin"] = api.admin()
    group("api metadata", meta)
    group("settings", settings)
    state.setdefault("version", bench.settings_version(state["admin"]))
    group("catalog", catalog)
    group("referral", referral)
    if "buyer" in state:
        group("orders", orders)
        if "service_product" in state:
            group("service order", service_order)
        group("receipt through WeChat", receipt_through_wechat)
    if money.get("l1") is not None:
        group("commissions and ledger", commissions_and_ledger)
        group("withdrawals", withdrawals)
    group("ledger reconciliation", reconciliation)
    if money.get("l1") is not None:
        group("insight and compliance", insight)
    group("risk cases", risk_cases)
    group("cart", cart)
    group("address book and phone", address_book_and_phone)
    group("subscribe-message grants", subscription_grants)
    group("customers", customers)
    group("media upload", media_upload)
    group("product batch edit", batch_edit)


def _admin_password() -> str:
    from local.hooks import DEMO_ADMIN_PASSWORD

    return DEMO_ADMIN_PASSWORD


def _bank() -> dict[str, Any]:
    return {"account_name": "张三", "account_no": "6222020000000000000", "bank_name": "工商银行"}


# -- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def metered_stack(data_dir: Path) -> Iterator[tuple[LocalStack, Meter]]:
    from local.template import load_template

    template = load_template(ROOT / "template.yaml")
    table = next(iter(template.tables.values())).properties
    keys = tuple(k["AttributeName"] for k in table["KeySchema"])
    indexes = [Index.from_template(ix, (keys[0], keys[1])) for ix in table.get("GlobalSecondaryIndexes", [])]
    holder: dict[str, LocalStack] = {}
    meter = Meter(lambda: raw_client(holder["stack"]), key_names=(keys[0], keys[1]), indexes=indexes)
    try:
        with running_stack(data_dir) as stack:
            holder["stack"] = stack
            # Only now: the default boto3 session must be created after the local runtime has put
            # its per-function view over os.environ (botocore keeps the mapping it saw first).
            meter.install()
            log_observers.append(meter.count_log)
            cached = []
            with contextlib.suppress(ImportError):
                from mall.dal.table import dynamodb_client

                if dynamodb_client.cache_info().currsize:
                    cached.append(dynamodb_client())
            meter.attach(stack.runtime, cached, wechat_port=int(stack.placeholders["SANDBOX_PORT"]))
            yield stack, meter
    finally:
        if meter.count_log in log_observers:
            log_observers.remove(meter.count_log)
        meter.uninstall()


def run(repeat: int = DEFAULT_LIFECYCLES) -> dict[str, Any]:
    """``repeat``: how many order lifecycles to measure (each with a new buyer)."""
    started = time.perf_counter()
    log_path = LOG_DIR / "dynamo_work.log"
    with tempfile.TemporaryDirectory(prefix="bench-dynamo-") as tmp:
        try:
            with quiet(log_path), metered_stack(Path(tmp)) as (stack, meter):
                result = _measure(stack, meter, repeat)
        except Exception:
            eprint(tail(log_path))
            raise
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["log"] = str(log_path.relative_to(ROOT))
    _print(result)
    return result


def _measure(stack: LocalStack, meter: Meter, lifecycles: int) -> dict[str, Any]:
    bench = Bench(stack, meter)
    admin = bench.api.admin()
    # WeChat's carrier list is cached a day per app (one write a day, not one per order): warm it as the
    # merchant's ship dialog does on a stack's first day, so the lifecycle's shipment prices an order's
    # own work. The note below keeps the day's first shipment's extra write visible.
    bench.call("GET /admin/shipping/carriers", actor=admin, measure=False)
    from mall.services.shipping import forget_carriers  # the layer is importable once the stack runs

    forget_carriers()  # every function here shares one process; the ship route's own container reads the item
    bench.notes.append("carrier list warmed before the lifecycles (GET /admin/shipping/carriers, unmeasured): a "
                       "day's first shipment also writes WECHAT#<app>/DELIVERY_LIST (1 WCU) when the console has "
                       "not listed the carriers that day")
    product_id = bench.product(admin)
    l1, l1_code = bench.make_promoter(admin, "l1", parent_code=DEMO_PROMOTER_SHARE_CODE)
    runs: list[dict[str, Any]] = []
    network = Network(admin, l1, l1_code, product_id)
    for n in range(1, max(1, lifecycles) + 1):
        try:
            with configured_batching_windows():
                runs.append(lifecycle(bench, network, n))
        except Exception as exc:
            bench.problems.append(f"lifecycle {n}: {type(exc).__name__}: {exc}")
            eprint(f"dynamo_work: lifecycle {n} failed:\n{traceback.format_exc()}")
    amortised: dict[str, Any] | None = None
    try:
        with configured_batching_windows():
            amortised = amortised_settlement(bench, network)
    except Exception as exc:
        bench.problems.append(f"amortised settlement: {type(exc).__name__}: {exc}")
        eprint(f"dynamo_work: amortised settlement failed:\n{traceback.format_exc()}")
    endpoints(bench, {"l1": l1, "product_id": product_id})
    incentive_endpoints(bench, {"l1": l1, "l1_code": l1_code, "product_id": product_id})

    routes: dict[str, Any] = {}
    roles = declared_roles(ROOT / "docs" / "openapi.json")
    for route in sorted(bench.routes, key=lambda r: (r.split(" ", 1)[1], r)):
        kind, target = target_of(route, roles)
        window = bench.endpoints.get(route)
        if window is None:
            routes[route] = {"function": bench.routes[route], "class": kind, "round_trips_target": target,
                             "exercised": False}
            continue
        summary = window.summary()
        summary.update(function=bench.routes[route], exercised=True,
                       valid_input=_ok(window.status), round_trips_target=target,
                       round_trips_met=summary["round_trips"] <= target)
        summary["class"] = kind
        routes[route] = summary
    worst = max(runs, key=lambda r: (r["totals"]["wcu"], r["totals"]["rcu"])) if runs else None
    not_met = sorted(r for r, s in routes.items() if s.get("exercised") and not s["round_trips_met"])
    over = over_by_class(routes)
    return {
        "what": "DynamoDB round trips and capacity units per request (own function) and per order lifecycle "
                "(everything it triggered), on DynamoDB Local",
        "targets": {"round_trips_per_request": TARGETS, "round_trips_per_lifecycle_step": TARGET_ROUND_TRIPS,
                    "lifecycle_wcu": TARGET_LIFECYCLE_WCU, "lifecycle_rcu": TARGET_LIFECYCLE_RCU},
        "capacity_model": "reads: DynamoDB Local's ConsumedCapacity; writes: AWS's rules applied to the items "
                          "before/after each call (bench/_meter.py); index writes at the standard rate",
        "lifecycles": runs,
        "lifecycle": worst["totals"] if worst else None,
        "amortised_settlement": amortised,
        "budget": budget(worst, amortised) if worst else None,
        "routes": routes,
        "routes_over_round_trips": not_met,
        "routes_over_round_trips_by_class": {
            kind: {"target": TARGETS[kind], "routes": sum(1 for s in routes.values() if s["class"] == kind),
                   "over": over[kind]} for kind in TARGETS},
        "routes_not_exercised": sorted(r for r, s in routes.items() if not s.get("exercised")),
        "routes_without_valid_input": sorted(r for r, s in routes.items()
                                             if s.get("exercised") and not s.get("valid_input")),
        "problems": bench.problems,
        "notes": bench.notes,
    }


# -- printing --------------------------------------------------------------------------------


def _print(result: dict[str, Any]) -> None:
    rows = [("endpoint", "status", "trips", "workers", "RCU", "WCU", "target", "met")]
    for route, s in result["routes"].items():
        if not s.get("exercised"):
            rows.append((route, "-", "-", "-", "-", "-", f"<= {s['round_trips_target']}", "not exercised"))
            continue
        workers = f"{s['worker_invocations']}/{s['worker_round_trips']}" if s["worker_invocations"] else ""
        verdict = "yes" if s["round_trips_met"] else "NO"
        if not s["valid_input"]:
            verdict += " (input refused)"
        rows.append((route, _status(s["status"]), str(s["round_trips"]), workers, _num(s["rcu"]), _num(s["wcu"]),
                     f"<= {s['round_trips_target']}", verdict))
    print_table(rows)
    print("trips: the request's own DynamoDB round trips; workers: stream/queue invocations it triggered / "
          "their round trips; RCU/WCU include the workers'.")
    _print_lifecycles(result)
    for kind, verdict in result["routes_over_round_trips_by_class"].items():
        over = verdict["over"]
        print(f"\n{kind} routes (target <= {verdict['target']} round trips): {len(over)} of {verdict['routes']} over"
              + (":" if over else "."))
        for route in over:
            s = result["routes"][route]
            print(f"  {route} ({s['function']}, {s['round_trips']}): {operations(s['calls'], s['function'])}")
    if result["routes_not_exercised"]:
        print(f"not exercised: {', '.join(result['routes_not_exercised'])}")
    if result["routes_without_valid_input"]:
        print(f"no 2xx answer: {', '.join(result['routes_without_valid_input'])}")
    for line in result["notes"]:
        print(f"note: {line}")
    for line in result["problems"]:
        print(f"PROBLEM: {line}")


def _print_lifecycles(result: dict[str, Any]) -> None:
    for n, lifecycle_run in enumerate(result["lifecycles"], 1):
        print(f"\norder lifecycle {n} (order {lifecycle_run['order_id']}, 2-level commission):")
        lrows = [("step", "status", "trips", "workers", "RCU", "WCU", "")]
        for s in lifecycle_run["steps"]:
            if "rcu" not in s:
                lrows.append((s["step"], "-", "-", "-", "-", "-", s.get("note", "")))
                continue
            workers = f"{s['worker_invocations']}/{s['worker_round_trips']}" if s["worker_invocations"] else ""
            lrows.append((s["step"], _status(s["status"]), str(s["round_trips"]), workers, _num(s["rcu"]),
                          _num(s["wcu"]), s.get("note") or ""))
        t = lifecycle_run["totals"]
        lrows.append(("total", "", str(t["round_trips"]), "", _num(t["rcu"]), _num(t["wcu"]),
                      f"RCU <= {TARGET_LIFECYCLE_RCU}: {'yes' if t['rcu_met'] else 'NO'}; "
                      f"WCU <= {TARGET_LIFECYCLE_WCU}: {'yes' if t['wcu_met'] else 'NO'}"))
        print_table(lrows)
        kinds = ", ".join(f"{k} {v}" for k, v in list(t["wcu_by_item_kind"].items())[:12])
        print(f"WCU by kind of item written: {kinds}")
        print("RCU by kind of item read: " + ", ".join(f"{k} {_num(v)}" for k, v in t["rcu_by_item_kind"].items()))
        for s in lifecycle_run["steps"]:
            if s.get("rcu_by_item_kind"):
                print(f"  {s['step'].split(' (')[0]}: "
                      + ", ".join(f"{k} {_num(v)}" for k, v in s["rcu_by_item_kind"].items()))
        print(f"(if index writes inside transactions were doubled too: {_num(t['wcu_if_index_doubled'])} WCU; "
              f"DynamoDB Local itself reported {_num(t['reported_wcu'])} WCU for these writes)")
        if lifecycle_run["commissions"]:
            print("commission records: " + "; ".join(
                f"L{c.get('level')} {c.get('beneficiary_id')} {c.get('amount_fen')} fen {c.get('status')}"
                for c in lifecycle_run["commissions"]))
    if result.get("budget"):
        _print_budget(result["budget"], result.get("amortised_settlement"))


def _print_budget(plan: dict[str, Any], amortised: dict[str, Any] | None) -> None:
    over = plan.get("amortised_over")
    print(f"\nbudget per stage, order {plan['order_id']} (units by the key prefixes of the items written / read"
          + (f"; amortised: the settle step replaced by one run settling {over} orders per promoter, per order)"
             if over else ")") + ":")
    columns = ["single"] + (["amortised"] if over else []) + (["batched"] if "batched" in plan else [])
    rows: list[tuple[str, ...]] = [("stage", *[f"{unit} {c}" for c in columns for unit in ("RCU", "WCU")], "")]
    for stage in STAGES:
        rows.append((stage, *[_num(round(plan[c][stage][unit], 2)) for c in columns for unit in ("rcu", "wcu")], ""))
    rows.append(("total", *[_num(plan[f"{c}_total"][unit]) for c in columns for unit in ("rcu", "wcu")], ""))
    targets = plan["targets"]
    rows.append(("target", *[f"<= {targets[unit]}" for _ in columns for unit in ("rcu", "wcu")], ""))
    print_table(rows)
    if amortised:
        settle = amortised["settle"]
        print(f"amortised settlement: {amortised['records_settled']} of {amortised['records']} records SETTLED by "
              f"one run ({settle['rcu']:g} RCU, {settle['wcu']:g} WCU, {settle['worker_invocations']} worker "
              f"invocations): {amortised['settle_per_order']['rcu']:g} RCU and "
              f"{amortised['settle_per_order']['wcu']:g} WCU per order")
        if "pay_per_order" in amortised:
            pay = amortised["pay_per_order"]
            print(f"batched: also the pay step replaced by {over} payments one after the other "
                  f"({amortised['pay']['rcu']:g} RCU, {amortised['pay']['wcu']:g} WCU, "
                  f"{amortised['pay']['worker_invocations']} worker invocations): {pay['rcu']:g} RCU, "
                  f"{pay['wcu']:g} WCU and {pay['worker_invocations']:g} worker invocations per order")


def operations(calls: list[dict[str, Any]], function: str) -> str:
    """A function's DynamoDB calls in order, e.g. ``GetItem, TransactWriteItems[5]``."""
    out = []
    for c in calls:
        if c["function"] != function:
            continue
        name = c["operation"]
        if c.get("items") and len(c["items"]) > 1:
            name += f"[{len(c['items'])}]"
        if c.get("error"):
            name += f" ({c['error']})"
        out.append(name)
    return ", ".join(out)


def _status(status: int | None) -> str:
    return "-" if status is None else str(status)


def _num(value: float) -> str:
    return f"{value:g}"
