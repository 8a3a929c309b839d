"""Settlement throughput on DynamoDB Local: the batched slices against one commission per call.

**What.** ``N`` due commissions over ``P`` promoters (every tenth promoter owes a debt, so the
repay-first path is exercised) are seeded, identically, into two fresh tables. On one,
``mall.services.settlement`` settles them as the deployed fan-out does: the planner's slices
(a promoter's records together, ``SLICE_SIZE`` keys each) handed to ``WORKERS`` threads, each
calling ``settle_slice`` (one BatchGetItem per slice, one wallet read and one transaction per
promoter group). On the other, the naive approach: the same due keys, the same ``WORKERS``
threads, one commission at a time (read the record, read the wallet, one transaction:
``SettlementRepository.settle_one``). Both include the due-index query. The figure is
commissions settled per second of wall time; the target is batched ≥ 5 × naive.

Then the hot promoter, as far as it can be simulated locally:
- *hot settlement*: one promoter with ``HOT_DUE`` due records, cut in slices settled by
  ``WORKERS`` threads at once (they race on one wallet: stale reads are retried);
- *hot credits*: ``HOT_THREADS`` threads crediting one promoter's wallet (``commission_frozen``,
  one posting per transaction, then ``HOT_BATCH`` per transaction) for ``HOT_SECONDS`` each:
  credits/s and how many transactions DynamoDB refused with TransactionConflict.
DynamoDB Local has no partitions and no throughput limits, so these show contention, not
AWS's per-partition ceilings; docs/settlement.md does that arithmetic.

Every run checks its result (every commission settled once, balances exact) and says so.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from bench import ROOT
from bench._hot_wallet import credit_hot_wallet
from bench._threads import run_threads
from local.dynamodb import create_table_request, running
from local.template import load_template
from mall.dal.commissions import commission_item
from mall.dal.keys import merchant_key, order_key, wallet_key
from mall.dal.ledger import LedgerRepository, posting_item
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Key, Table, serialize
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.services.settlement import SLICE_SIZE, SettlementRepositories, due_entries, settle_slice, slice_messages

COMMISSIONS = 2_000
PROMOTERS = 200
WORKERS = 4
TARGET = 5.0
DEBT_FEN = 500
HOT_DUE = 500
HOT_THREADS = 8
HOT_BATCH = 20
HOT_SECONDS = 3.0
WARMUP_COMMISSIONS = 300
DEFAULT_ROUNDS = 2

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)
DUE = datetime(2026, 11, 9, 8, tzinfo=UTC)
AS_OF = datetime(2026, 11, 10, 2, tzinfo=UTC)
NOW = datetime(2026, 11, 10, 2, 0, 5, tzinfo=UTC)


# ---- tables and seed ---------------------------------------------------------------------------------


class CallCounter:
    """DynamoDB API calls by operation, counted by a botocore hook on the client."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)


@contextmanager
def fresh_table(client: Any) -> Iterator[Table]:
    spec = load_template(ROOT / "template.yaml").tables["MallTable"]
    request = create_table_request(spec)
    request["TableName"] = f"bench-{uuid.uuid4().hex[:8]}"
    request.pop("DeletionProtectionEnabled", None)
    # No stream: DynamoDB Local keeps the stream records of every table it ever had, and each write
    # gets slower as they pile up (a table created and deleted per run made the later runs 5-10×
    # slower). Settlement does not use the stream; in AWS a stream costs a write nothing.
    request.pop("StreamSpecification", None)
    client.create_table(**request)
    try:
        yield Table(request["TableName"], client)
    finally:
        client.delete_table(TableName=request["TableName"])


@dataclass
class World:
    commissions: int
    promoters: list[str]
    owed: dict[str, int] = field(default_factory=dict)
    earned: dict[str, int] = field(default_factory=dict)


def make_world(commissions: int, promoters: int, *, prefix: str = "") -> tuple[World, list[dict[str, Any]]]:
    """The items of ``commissions`` FROZEN due records (+ their orders and frozen postings) spread round-robin
    over ``promoters``, the wallets and the merchant account that go with them."""
    uids = [f"{prefix}p{n:04d}" for n in range(promoters)]
    world = World(commissions, uids)
    items: list[dict[str, Any]] = []
    for n in range(commissions):
        uid = uids[n % promoters]
        order = f"{prefix}o{n:06d}"
        amount = 100 + (n * 37) % 900
        cid = commission_id(order, "l1", 1)
        record = CommissionRecord(commission_id=cid, order_id=order, line_id="l1", level=1, beneficiary_id=uid,
                                  buyer_id="buyer", product_id="p1", product_name="Tea", quantity=1,
                                  base_fen=amount * 10, amount_fen=amount, status=CommissionStatus.FROZEN,
                                  rule={"source": "global", "rate_bp": 1000}, created_at=PAID,
                                  due_at=DUE + timedelta(seconds=n % 600))
        items.append(commission_item(record))
        # Its order, stored as every record's is (the worker reads it with the record).
        items.append({**order_key(order), "entity": "order", "order_id": order})
        items.append(posting_item(L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=amount,
                                                      at=PAID, ref={"commission_id": cid})))
        world.earned[uid] = world.earned.get(uid, 0) + amount
    for i, uid in enumerate(uids):
        owed = DEBT_FEN if i % 10 == 0 else 0
        world.owed[uid] = owed
        items.append({**wallet_key(uid), "entity": "wallet", "promoter_id": uid, "version": 1,
                      "frozen_fen": world.earned.get(uid, 0), "available_fen": 0, "withdrawing_fen": 0,
                      "withdrawn_fen": 0, "debt_fen": -owed})
    granted = sum(world.earned.values()) - sum(world.owed.values())
    items.append({**merchant_key(L.MerchantAccount.COMMISSION.value, 0), "entity": "merchant_account",
                  "account": L.MerchantAccount.COMMISSION.value, "balance_fen": -granted})
    return world, items


def load(table: Table, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": serialize(i)}} for i in items[start:start + 25]]
        while pending:
            response = table.client.batch_write_item(RequestItems={table.name: pending})  # type: ignore[dict-item]
            pending = [dict(r) for r in response.get("UnprocessedItems", {}).get(table.name, [])]


def check(table: Table, world: World) -> tuple[bool, str]:
    """Every commission settled once, every wallet exactly what first principles say."""
    ledger = LedgerRepository(table)
    for uid in world.promoters:
        balances = ledger.wallet(uid).balances
        earned, owed = world.earned.get(uid, 0), world.owed[uid]
        expected = L.Balances(available=max(earned - owed, 0), debt=-max(owed - earned, 0))
        if balances != expected:
            return False, f"{uid}: {balances} != {expected}"
    left = sum(1 for shard in SettlementRepository.shards()
               for _ in SettlementRepository(table).due_entries(shard, as_of=AS_OF))
    if left:
        return False, f"{left} records still in the due index"
    return True, "all settled once, balances exact"


# ---- the two approaches -------------------------------------------------------------------------------


def in_parallel(work: list[Any], handle: Callable[[Any], Any], workers: int) -> list[Any]:
    """``workers`` threads take items from one queue, as SQS hands messages to concurrent workers."""
    todo: queue.Queue[Any] = queue.Queue()
    for item in work:
        todo.put(item)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                result = handle(item)
            except BaseException as exc:  # surfaced below: a benchmark that fails must say so
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(result)

    run_threads(worker, workers, errors)
    return results


def batched(table: Table, workers: int) -> dict[str, Any]:
    started = time.perf_counter()
    repos = SettlementRepositories.on(table)
    entries = due_entries(repos, as_of=AS_OF)
    slices = slice_messages(repos, entries, as_of=AS_OF, slice_size=SLICE_SIZE)
    planned = time.perf_counter()
    reports = in_parallel(slices, lambda m: settle_slice(repos, keys=m["keys"], as_of=AS_OF, now=NOW), workers)
    done = time.perf_counter()
    return {"seconds": done - started, "plan_seconds": planned - started, "slices": len(slices),
            "settled": sum(r.settled for r in reports), "transactions": sum(r.transactions for r in reports),
            "retries": sum(r.retries for r in reports)}


def naive(table: Table, workers: int) -> dict[str, Any]:
    started = time.perf_counter()
    keys: list[Key] = [e.key for e in due_entries(SettlementRepositories.on(table), as_of=AS_OF)]
    repo = SettlementRepository(table)
    reports = in_parallel(keys, lambda key: repo.settle_one(key, as_of=AS_OF, now=NOW), workers)
    done = time.perf_counter()
    return {"seconds": done - started, "settled": sum(r.settled for r in reports),
            "transactions": sum(r.transactions for r in reports), "retries": sum(r.retries for r in reports)}


def measure(client: Any, counter: CallCounter, approach: Callable[[Table, int], dict[str, Any]], *, commissions: int,
            promoters: int, workers: int) -> dict[str, Any]:
    world, items = make_world(commissions, promoters)
    with fresh_table(client) as table:
        load(table, items)
        counter.reset()
        figures = approach(table, workers)
        figures["calls"] = counter.snapshot()
        figures["ok"], figures["check"] = check(table, world)
    figures["per_second"] = figures["settled"] / figures["seconds"] if figures["seconds"] else 0.0
    return figures


# ---- the hot promoter ----------------------------------------------------------------------------------


def hot_settlement(client: Any, workers: int) -> dict[str, Any]:
    world, items = make_world(HOT_DUE, 1, prefix="hot")
    with fresh_table(client) as table:
        load(table, items)
        figures = batched(table, workers)
        figures["ok"], figures["check"] = check(table, world)
    figures["per_second"] = figures["settled"] / figures["seconds"]
    return figures


def hot_credits(client: Any, per_transaction: int) -> dict[str, Any]:
    """``HOT_THREADS`` threads credit one wallet for ``HOT_SECONDS``; conflicts counted."""
    with fresh_table(client) as table:
        ledger = LedgerRepository(table)
        lock = threading.Lock()
        attempts = Counter[str]()

        def count_attempt(model: Any, **_: Any) -> None:
            if model.name == "TransactWriteItems":
                with lock:
                    attempts["calls"] += 1

        client.meta.events.register("before-call.dynamodb", count_attempt, unique_id="hot-credits")

        totals, elapsed, ok = credit_hot_wallet(ledger, promoter_id="hot", amount_fen=10, at=PAID,
                                                per_transaction=per_transaction, threads=HOT_THREADS,
                                                seconds=HOT_SECONDS)
        client.meta.events.unregister("before-call.dynamodb", unique_id="hot-credits")
    conflicts = attempts["calls"] - totals["transactions"] - totals["refused"]
    return {"per_transaction": per_transaction, "threads": HOT_THREADS, "seconds": elapsed,
            "credits": totals["credits"], "credits_per_second": totals["credits"] / elapsed,
            "transactions_per_second": totals["transactions"] / elapsed, "conflict_retries": conflicts,
            "refused_after_retries": totals["refused"], "ok": ok}


# ---- the benchmark ----------------------------------------------------------------------------------------


def run(repeat: int | None = None) -> dict[str, Any]:
    """``repeat``: measured rounds of each subject (default 2; the best round of each counts)."""
    rounds = max(1, repeat or DEFAULT_ROUNDS)
    subjects: dict[str, tuple[Callable[[Table, int], dict[str, Any]], int]] = {
        "batched": (batched, WORKERS), "naive_parallel": (naive, WORKERS), "naive_loop": (naive, 1)}
    with running(in_memory=True) as endpoint:
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(max_pool_connections=64, retries={"max_attempts": 4, "mode": "standard"}))
        counter = CallCounter(client)
        # Warm the JVM (JIT) and the Python side on both paths first: the first requests are slow.
        for warm in (batched, naive):
            measure(client, counter, warm, commissions=WARMUP_COMMISSIONS, promoters=WARMUP_COMMISSIONS // 10,
                    workers=WORKERS)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in subjects}
        for _ in range(rounds):  # round-robin, so a slow moment of the machine hits every subject
            for name, (approach, workers) in subjects.items():
                runs[name].append(measure(client, counter, approach, commissions=COMMISSIONS, promoters=PROMOTERS,
                                          workers=workers))
        best = {name: max(found, key=lambda f: f["per_second"]) for name, found in runs.items()}
        hot = hot_settlement(client, WORKERS)
        credits_single = hot_credits(client, 1)
        credits_batched = hot_credits(client, HOT_BATCH)

    def ratio(over: str) -> float:
        return best["batched"]["per_second"] / best[over]["per_second"] if best[over]["per_second"] else 0.0

    vs_loop, vs_parallel = ratio("naive_loop"), ratio("naive_parallel")
    verdict = "PASS" if vs_loop >= TARGET else "UNDER"
    print(f"{COMMISSIONS:,} due commissions over {PROMOTERS} promoters (every 10th owes {DEBT_FEN} fen), "
          f"DynamoDB Local, best of {rounds}")
    print(f"{'approach':<44}{'commissions/s':>14}{'seconds':>9}{'transactions':>14}{'API calls':>11}"
          f"{'retries':>9}  check")
    labels = {"batched": f"batched slices, {WORKERS} workers (the fan-out)",
              "naive_parallel": f"one per transaction, {WORKERS} workers",
              "naive_loop": "one per transaction, one loop (naive)"}
    for name, label in labels.items():
        figures = best[name]
        print(f"{label:<44}{figures['per_second']:>14,.0f}{figures['seconds']:>9.2f}{figures['transactions']:>14,}"
              f"{sum(figures['calls'].values()):>11,}{figures['retries']:>9}  "
              f"{'ok' if figures['ok'] else 'FAILED: ' + figures['check']}")
    print(f"fan-out vs the naive loop: {vs_loop:.1f}× (target ≥ {TARGET:.0f}×): {verdict}")
    fewer = sum(best["naive_parallel"]["calls"].values()) / max(1, sum(best["batched"]["calls"].values()))
    print(f"batching alone (both with {WORKERS} workers): {vs_parallel:.1f}×; {fewer:.1f}× fewer DynamoDB API calls")
    print(f"  batched API calls: {best['batched']['calls']}")
    print(f"  one-per-transaction API calls: {best['naive_parallel']['calls']}")
    print(f"\nhot promoter, settlement: {HOT_DUE} due records of one promoter, {hot['slices']} slices, {WORKERS} "
          f"workers at once: {hot['per_second']:,.0f} commissions/s, {hot['transactions']} transactions, "
          f"{hot['retries']} stale-wallet retries, {'ok' if hot['ok'] else 'FAILED: ' + hot['check']}")
    print(f"hot promoter, credits: {HOT_THREADS} threads crediting one wallet for {HOT_SECONDS:.0f} s")
    print(f"{'postings/transaction':<22}{'credits/s':>11}{'transactions/s':>16}{'conflict retries':>18}"
          f"{'refused':>9}  check")
    for figures in (credits_single, credits_batched):
        print(f"{figures['per_transaction']:<22}{figures['credits_per_second']:>11,.0f}"
              f"{figures['transactions_per_second']:>16,.0f}{figures['conflict_retries']:>18,}"
              f"{figures['refused_after_retries']:>9}  {'ok' if figures['ok'] else 'FAILED'}")
    return {
        "commissions": COMMISSIONS, "promoters": PROMOTERS, "workers": WORKERS, "slice_size": SLICE_SIZE,
        "rounds": rounds, "target_ratio": TARGET, "ratio_vs_naive_loop": round(vs_loop, 2),
        "ratio_vs_naive_parallel": round(vs_parallel, 2), "verdict": verdict,
        **{name: _rounded(figures) for name, figures in best.items()},
        "rounds_per_second": {name: [round(f["per_second"], 1) for f in found] for name, found in runs.items()},
        "hot_settlement": {"due": HOT_DUE, **_rounded(hot)},
        "hot_credits": [_rounded(credits_single), _rounded(credits_batched)],
    }


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
