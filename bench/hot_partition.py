"""One promoter receiving commission credits as fast as they come (the hot partition), on DynamoDB Local.

The capacity plan (docs/settlement.md, "One promoter receiving 1,000 commission credits per
second") asks for 1,000 credits/s to one promoter. This benchmark runs what can be run locally:

1. **One message at a time** (the worker before batching, and still its path for anything the batch
   did not credit). ``ORDERS`` paid orders whose L1 is the one promoter are synced by ``WORKERS``
   threads with ``mall.services.commissions.sync_order``, one order per call (read the order and its
   records, read the settings and the promoter, then ONE ledger transaction per credit: the plan,
   the record, the ``commission_frozen`` posting, the wallet ``ADD`` and a merchant shard).
   Measured: credits/s into the one wallet, DynamoDB calls per credit, and the transactions retried.
   DynamoDB Local serialises transactions, so it never answers ``TransactionConflict``; AWS cancels
   transactions that overlap on an item. So the run is repeated with a ``TransactionConflict``
   **injected** into a share of the hot wallet's transactions (the client under the table answers as
   DynamoDB would). These are injected rates, not observed AWS rates.
2. **The batched worker** (``functions/commission_sync``: ``mall.services.commission_batch.credit_orders``
   on the SQS batch, then ``sync_order`` per message): the same orders handed to ``WORKERS`` threads
   in batches of ``BATCH`` messages; one transaction per batch carries the batch's records, plans and
   postings and ONE wallet ``ADD``. The postings land in ``POSTING_SHARDS`` partitions.
3. **The ledger write alone**: ``K`` ``commission_frozen`` postings of the promoter in one
   ``LedgerRepository.post`` (one wallet ``ADD``), for ``K`` in ``BATCHES``, same threads.
4. **AWS arithmetic from the items written.** The sizes of the wallet, a posting and a commission
   record as stored (the record also after its due date is set and after it is settled, by the real
   sync and settlement paths) give the write units each credit puts on each hot key — the wallet
   item, the busiest partition of the promoter's postings (shard 0 also holds the wallet), a gsi1
   ``COMMISSIONS#<uid>`` shard — and the credits/s each allows under DynamoDB's 1,000 WCU/s per
   partition (a write in a transaction costs twice; items rounded up per 1 KB): for one credit per
   transaction in one partition (the layout before), and for batches of ``BATCHES`` with the
   postings and the index entries sharded. A gsi1 shard takes the entry of each record created and
   two rewrites later (due date, settlement): counted once with the creation alone (the rewrites of
   days-old records fall on older key ranges of the shard) and once with all three on one partition
   (the worst case: every write of the shard in one key range), for ``COMMISSION_INDEX_SHARDS`` and,
   beside it, other shard counts with the round trips of a promoter's list page (one Query per shard
   plus one BatchGetItem).
5. **Settlement of the hot promoter** (``settlement_path``): ``SETTLE_DUE`` due records of one
   promoter, each on an order of its own (so each transaction checks its orders for open refunds,
   as deployed), settled by the deployed fan-out (the planner's slices, ``settle_slice`` each).
   Measured: the settlement postings and wallet writes per settled record, where the postings landed
   and their size: what a sustained viral rate adds per credit once its settlements come too.

Every run checks its books (the wallet's frozen balance is the sum of the credits, one posting per
credit; for the unbatched paths its version the number of transactions) and says so.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bench._hot_wallet import credit_hot_wallet
from bench._meter import item_size, write_units
from bench._threads import run_threads
from bench.settlement import AS_OF as SETTLE_AS_OF
from bench.settlement import NOW as SETTLE_NOW
from bench.settlement import check as settlement_check
from bench.settlement import fresh_table, load, make_world
from local.dynamodb import running
from mall.clock import iso
from mall.dal.keys import (
    COMMISSION_INDEX_SHARDS,
    POSTING_SHARDS,
    beneficiary_partitions,
    commission_key,
    order_key,
    posting_partitions,
    wallet_key,
)
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.referral import Promoter
from mall.services.commission_batch import credit_orders
from mall.services.commissions import CommissionRepositories, SyncIncomplete, sync_order
from mall.services.settlement import SLICE_SIZE, SettlementRepositories, due_entries, settle_slice, slice_messages

HOT = "u_hotpromoter0000000000000"
ORDERS = 1_200
CONFLICT_ORDERS = 400
CONFLICT_RATES = (0.25, 0.5)
WORKERS = 8
BATCHES = (1, 10, 25)
BATCH = 10  # messages per invocation of the commission worker (template.yaml: BatchSize)
LEDGER_SECONDS = 3.0
PRICE_FEN = 9_990  # 10% global L1: 999 fen per credit
TARGET = 1_000  # credits per second to one promoter (docs/performance.md)
PARTITION_WCU = 1_000  # DynamoDB's write capacity of one partition (per second)
INDEX_SHARD_OPTIONS = (1, 2, 3, 4)  # gsi1 shard counts compared (the built one is COMMISSION_INDEX_SHARDS)
#: The settlement before chunks, for comparison: one ``commission_settled`` posting per record, 32
#: records a transaction (three writes each: the record, its posting, its order's check).
PER_RECORD_SETTLEMENT = {"postings_per_record": 1.0, "wallet_writes_per_record": 1 / 32, "off_shard_0": False}
SETTLE_DUE = 500  # due records of the hot promoter settled by the deployed fan-out
NOW = datetime(2026, 11, 22, 2, tzinfo=UTC)


# ---- the world -------------------------------------------------------------------------------------


def order_items(n: int, prefix: str) -> list[dict[str, Any]]:
    """``n`` paid orders of one line, attributed to the hot promoter (L1 only)."""
    items = []
    for i in range(n):
        order_id = f"o_{prefix}{i:06d}"
        items.append({
            "pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
            "buyer_id": f"u_buyer{i % 500:04d}", "status": "PAID", "amount_fen": PRICE_FEN, "goods_fen": PRICE_FEN,
            "shipping_fen": 0, "discount_fen": 0, "version": 2, "created_at": "2026-11-22T01:00:00Z",
            "paid_at": "2026-11-22T01:01:00Z", "out_trade_no": order_id,
            "lines": [{"line_id": "1", "product_id": "p_viral", "name": "爆款", "type": "physical",
                       "category_id": None, "quantity": 1, "unit_price_fen": PRICE_FEN, "paid_fen": PRICE_FEN,
                       "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True,
                       "refunded_fen": 0}],
            "attribution": {"l1_promoter_id": HOT, "l2_promoter_id": None, "settings_version": 0,
                            "basis": "binding", "self_purchase": False},
        })
    return items


def seed(table: Table, orders: int, prefix: str) -> list[str]:
    PromoterRepository(table).create(
        Promoter(user_id=HOT, code="HOTPROMO", status="active", level_id="basic", applied_at=NOW, activated_at=NOW),
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    items = order_items(orders, prefix)
    load(table, items)
    return [str(i["order_id"]) for i in items]


class Counting:
    """The client under the table: counts calls and, when ``conflict_rate`` > 0, cancels that share
    of the transactions touching the hot wallet with ``TransactionConflict`` (before sending)."""

    def __init__(self, real: Any, conflict_rate: float = 0.0, seed_value: int = 9) -> None:
        self._real = real
        self.rate = conflict_rate
        self.calls: Counter[str] = Counter()
        self._rng = random.Random(seed_value)
        self._lock = threading.Lock()
        self._wallet = {"S": f"USER#{HOT}"}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr) or name.startswith("_") or name in {"meta", "exceptions"}:
            return attr

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                inject = (name == "transact_write_items" and self.rate > 0 and self._touches_wallet(kwargs)
                          and self._rng.random() < self.rate)
                if inject:
                    self.calls["injected_conflicts"] += 1
            if inject:
                items = kwargs.get("TransactItems", [])
                reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
                response: Any = {"Error": {"Code": "TransactionCanceledException",
                                           "Message": "Transaction cancelled [TransactionConflict]"},
                                 "CancellationReasons": reasons + [{"Code": "None"}] * (len(items) - 1)}
                raise ClientError(response, "TransactWriteItems")
            return attr(**kwargs)

        return call

    def _touches_wallet(self, kwargs: dict[str, Any]) -> bool:
        for op in kwargs.get("TransactItems", []):
            body = next(iter(op.values()))
            if body.get("Key", {}).get("pk") == self._wallet and body["Key"].get("sk") == {"S": "WALLET"}:
                return True
        return False


# ---- 1. the current path ------------------------------------------------------------------------------


def current_path(client: Any, orders: int, *, conflict_rate: float = 0.0) -> dict[str, Any]:
    counting = Counting(client, conflict_rate)
    with fresh_table(client) as plain:
        order_ids = seed(plain, orders, "h")
        table = Table(plain.name, counting)  # type: ignore[arg-type]
        counting.calls.clear()
        todo: queue.Queue[str] = queue.Queue()
        for order_id in order_ids:
            todo.put(order_id)
        lock = threading.Lock()
        totals: Counter[str] = Counter()
        errors: list[BaseException] = []

        def worker() -> None:
            while True:
                try:
                    order_id = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = sync_order(CommissionRepositories.on(table), order_id=order_id, now=NOW)
                except SyncIncomplete:  # the queue redelivers the message after its visibility timeout
                    with lock:
                        totals["redelivered"] += 1
                    todo.put(order_id)
                    continue
                except BaseException as exc:  # surfaced below
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    totals["credits"] += result.created
                    totals["rounds"] += result.rounds

        elapsed = run_threads(worker, WORKERS, errors)
        calls = dict(counting.calls)
        wallet = LedgerRepository(plain).wallet(HOT)
        expected = L.Balances(frozen=orders * (PRICE_FEN // 10))
        ok = wallet.balances == expected and wallet.version == orders and totals["credits"] == orders
        sizes = stored_sizes(plain, order_ids[0])
    committed = orders  # one ledger transaction per credit
    attempts = calls.get("transact_write_items", 0)
    return {
        "orders": orders, "workers": WORKERS, "injected_conflict_rate": conflict_rate, "seconds": round(elapsed, 3),
        "credits": totals["credits"], "credits_per_second": round(totals["credits"] / elapsed, 1),
        "transact_attempts": attempts, "conflict_retries": attempts - committed,
        "injected_conflicts": calls.get("injected_conflicts", 0), "sync_rounds": totals["rounds"],
        "redelivered_messages": totals["redelivered"],
        "calls_per_credit": round(sum(v for k, v in calls.items() if k != "injected_conflicts") / orders, 2),
        "calls": calls, "ok": ok, "sizes": sizes,
    }


def batched_path(client: Any, orders: int) -> dict[str, Any]:
    """The commission worker as deployed: batches of ``BATCH`` messages, each credited together
    (``credit_orders``), then each message synced (``sync_order``)."""
    counting = Counting(client)
    with fresh_table(client) as plain:
        order_ids = seed(plain, orders, "b")
        table = Table(plain.name, counting)  # type: ignore[arg-type]
        counting.calls.clear()
        todo: queue.Queue[list[str]] = queue.Queue()
        for start in range(0, len(order_ids), BATCH):
            todo.put(order_ids[start:start + BATCH])
        lock = threading.Lock()
        totals: Counter[str] = Counter()
        errors: list[BaseException] = []

        def worker() -> None:
            repos = CommissionRepositories.on(table)
            while True:
                try:
                    batch = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    report = credit_orders(repos, order_ids=batch, now=NOW)
                    created = sum(sync_order(repos, order_id=o, now=NOW).created for o in batch)
                except BaseException as exc:  # surfaced below
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    totals["credits"] += report.records + created
                    totals["batched"] += report.records
                    totals["transactions"] += report.transactions
                    totals["refused"] += report.refused

        elapsed = run_threads(worker, WORKERS, errors)
        calls = dict(counting.calls)
        ledger = LedgerRepository(plain)
        wallet = ledger.wallet(HOT)
        postings = list(ledger.all_postings(HOT))
        per_shard = posting_counts(plain)
        per_index_shard = index_counts(plain)
        ok = (wallet.balances == L.Balances(frozen=orders * (PRICE_FEN // 10)) and totals["credits"] == orders
              and len(postings) == orders and sum(per_shard) == orders and sum(per_index_shard) == orders)
    return {
        "orders": orders, "workers": WORKERS, "batch": BATCH, "seconds": round(elapsed, 3),
        "credits": totals["credits"], "credits_per_second": round(totals["credits"] / elapsed, 1),
        "credited_in_batches": totals["batched"], "batch_transactions": totals["transactions"],
        "refused_batches": totals["refused"], "wallet_writes": wallet.version,
        "credits_per_wallet_write": round(orders / max(1, wallet.version), 2),
        "postings_per_shard": per_shard, "index_entries_per_shard": per_index_shard,
        "calls_per_credit": round(sum(calls.values()) / orders, 2), "calls": calls, "ok": ok,
    }


def posting_counts(table: Table) -> list[int]:
    """How many of the hot promoter's postings each of its posting partitions holds."""
    return _counts(table, [{"KeyConditionExpression": "pk = :pk AND begins_with(sk, :l)",
                            "ExpressionAttributeValues": {":pk": {"S": pk}, ":l": {"S": "LEDGER#"}}}
                           for pk in posting_partitions(HOT)])


def index_counts(table: Table) -> list[int]:
    """How many of the hot promoter's gsi1 commission entries each index shard holds."""
    return _counts(table, [{"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :pk",
                            "ExpressionAttributeValues": {":pk": {"S": pk}}} for pk in beneficiary_partitions(HOT)])


def _counts(table: Table, queries: list[dict[str, Any]]) -> list[int]:
    counts = []
    for query in queries:
        total, start = 0, None
        while True:
            body: dict[str, Any] = {"TableName": table.name, "Select": "COUNT", **query}
            if start:
                body["ExclusiveStartKey"] = start
            page = table.client.query(**body)
            total += int(page["Count"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        counts.append(total)
    return counts


def stored_sizes(table: Table, order_id: str) -> dict[str, int]:
    """Bytes, by AWS's rules, of the items one credit writes on the hot promoter's keys."""
    client = table.client

    def raw(key: dict[str, Any]) -> dict[str, Any]:
        found = client.get_item(TableName=table.name, Key={k: {"S": v} for k, v in key.items()},
                                ConsistentRead=True)
        return dict(found.get("Item", {}))

    postings = [item for pk in posting_partitions(HOT) for item in client.query(
        TableName=table.name, KeyConditionExpression="pk = :pk AND begins_with(sk, :l)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":l": {"S": "LEDGER#"}}, Limit=1)["Items"]]
    record = commission_key(order_id, "1", 1)
    sizes = {"wallet": item_size(raw(wallet_key(HOT))), "posting": item_size(postings[0]) if postings else 0,
             "commission_record": item_size(raw(record))}
    # The same record after its two later rewrites, by the deployed paths: the order completes and the
    # sync sets the due date; the settlement settles it.
    completed = NOW + timedelta(days=1)
    table.update(order_key(order_id), "SET #s = :done, completed_at = :at ADD version :one", names={"#s": "status"},
                 values={":done": "COMPLETED", ":at": iso(completed), ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=completed)
    sizes["commission_record_due"] = item_size(raw(record))
    as_of = completed + timedelta(days=30)
    repos = SettlementRepositories.on(table)
    for entry in due_entries(repos, as_of=as_of):
        repos.settlement.settle_one(entry.key, as_of=as_of, now=as_of)
    settled = raw(record)
    sizes["commission_record_settled"] = item_size(settled) if settled.get("status") == {"S": "SETTLED"} else 0
    return sizes


def settlement_path(client: Any, due: int) -> dict[str, Any]:
    """``due`` due records of one promoter, each on an order of its own, settled by the deployed
    fan-out: settlement postings and wallet writes per record, their partitions and sizes."""
    world, items = make_world(due, 1, prefix="hot")
    uid = world.promoters[0]
    orders = [{"pk": item["pk"], "sk": "ORDER", "entity": "order", "order_id": item["order_id"], "status": "COMPLETED",
               "lines": [{"line_id": item["line_id"], "refunded_fen": 0}]}
              for item in items if item.get("entity") == "commission"]
    with fresh_table(client) as table:
        load(table, [*items, *orders])
        repos = SettlementRepositories.on(table)
        messages = slice_messages(repos, due_entries(repos, as_of=SETTLE_AS_OF), as_of=SETTLE_AS_OF,
                                  slice_size=SLICE_SIZE)
        started = time.perf_counter()
        reports = [settle_slice(repos, keys=m["keys"], as_of=SETTLE_AS_OF, now=SETTLE_NOW) for m in messages]
        elapsed = time.perf_counter() - started
        ok, check = settlement_check(table, world)
        wallet_writes = LedgerRepository(table).wallet(uid).version - 1  # seeded at version 1
        settling: list[tuple[int, int]] = []  # (shard, bytes) of each settlement posting
        repaid = 0
        for shard, pk in enumerate(posting_partitions(uid)):
            for raw in _raw_postings(table, pk):
                if raw["kind"]["S"] == "commission_settled":
                    settling.append((shard, item_size(raw)))
                repaid += raw["kind"]["S"] == "debt_repaid"
    settled = sum(r.settled for r in reports)
    return {"due": due, "settled": settled, "seconds": round(elapsed, 3), "slices": len(messages),
            "transactions": sum(r.transactions for r in reports), "settlement_postings": len(settling),
            "debt_repaid_postings": repaid, "wallet_writes": wallet_writes,
            "postings_per_shard": [sum(1 for sh, _ in settling if sh == n) for n in range(POSTING_SHARDS)],
            "posting_bytes_max": max((size for _, size in settling), default=0),
            "postings_per_record": round(len(settling) / max(1, settled), 4),
            "repaid_per_record": round(repaid / max(1, settled), 4),
            "wallet_writes_per_record": round(wallet_writes / max(1, settled), 4),
            "off_shard_0": not any(sh == 0 for sh, _ in settling), "ok": ok and settled == due, "check": check}


def _raw_postings(table: Table, pk: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start = None
    while True:
        body: dict[str, Any] = {"TableName": table.name, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :l)",
                                "ExpressionAttributeValues": {":pk": {"S": pk}, ":l": {"S": "LEDGER#"}}}
        if start:
            body["ExclusiveStartKey"] = start
        page = table.client.query(**body)
        found.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


# ---- 2. batched credits (the plan's mitigation 1, ledger part) -----------------------------------------


def ledger_batches(client: Any, per_transaction: int) -> dict[str, Any]:
    with fresh_table(client) as table:
        ledger = LedgerRepository(table)
        totals, elapsed, ok = credit_hot_wallet(ledger, promoter_id=HOT, amount_fen=999, at=NOW,
                                                per_transaction=per_transaction, threads=WORKERS,
                                                seconds=LEDGER_SECONDS)
    return {"per_transaction": per_transaction, "workers": WORKERS, "seconds": round(elapsed, 3),
            "credits": totals["credits"], "credits_per_second": round(totals["credits"] / elapsed, 1),
            "transactions_per_second": round(totals["transactions"] / elapsed, 1), "refused": totals["refused"],
            "ok": ok}


# ---- 3. AWS arithmetic -------------------------------------------------------------------------------


#: The gsi1 rows of ``aws_ceiling``: a shard's newest key range (each record's entry created there;
#: then also its due-date rewrite, when the order completes at once: virtual goods), and every write
#: of the shard on one partition (created, then rewritten at its due date and settlement).
INDEX_NEWEST = "gsi1 COMMISSIONS#<uid> shard, records created (its newest key range)"
INDEX_NEWEST_DUE = "gsi1 shard's newest key range, created + due date set at once"
INDEX_ALL = "gsi1 COMMISSIONS#<uid> shard, created + due date + settled on one partition"
#: The postings' busiest partition once the settlements of earlier credits run at the same rate.
POSTINGS_SETTLING = "busiest postings partition, each credit's settlement too"
#: What a burst shorter than the settlement delay writes; what a sustained rate adds to it.
BURST_KEYS = ("wallet item (USER#<uid>/WALLET)",
              "busiest postings partition (USER#<uid>: wallet + 1/shards of the postings)", INDEX_NEWEST)
SUSTAINED_KEYS = ("wallet item (USER#<uid>/WALLET)", POSTINGS_SETTLING, INDEX_NEWEST_DUE)


def index_units(sizes: dict[str, int]) -> tuple[int, int]:
    """gsi1 write units of one record (projection ALL, standard rate): at creation, and its two rewrites."""
    return (write_units(sizes["commission_record"]),
            write_units(sizes["commission_record_due"]) + write_units(sizes["commission_record_settled"]))


def settling_wcu(sizes: dict[str, int], settle: dict[str, Any], credit_wallet: float, shards: int) -> float:
    """Write units per credit on the busiest postings partition when every credit is also settled
    later at the same rate: shard 0 holds the wallet (the credits' and the settlement's writes) and
    1/shards of the credits' postings; the others 1/shards of those and the settlement postings
    (all of them on shards 1.. when ``off_shard_0``, else 1/shards of them on each). A
    ``debt_repaid`` posting, hashed like any posting, is counted on shard 0 (the worst case)."""
    posting = 2 * write_units(sizes["posting"])
    settle_posting = 2 * write_units(int(settle.get("posting_bytes_max") or sizes["posting"]))
    settle_wallet = 2 * write_units(sizes["wallet"]) * settle["wallet_writes_per_record"]
    settle_postings = settle_posting * settle["postings_per_record"]
    repaid = posting * settle.get("repaid_per_record", 0.0)
    if settle["off_shard_0"]:
        shard_0 = credit_wallet + posting / shards + settle_wallet + repaid
        others = posting / shards + settle_postings / (shards - 1)
    else:
        shard_0 = credit_wallet + posting / shards + settle_wallet + repaid + settle_postings / shards
        others = posting / shards + settle_postings / shards
    return float(max(shard_0, others))


def aws_ceiling(sizes: dict[str, int], per_transaction: int, shards: int, index_shards: int,
                settle: dict[str, Any]) -> dict[str, Any]:
    """Write units per credit on each hot key, and the credits/s each allows at 1,000 WCU/s per
    partition: ``per_transaction`` credits share one wallet write; postings over ``shards``
    partitions (shard 0 is ``USER#<uid>``, which also holds the wallet); gsi1 entries over
    ``index_shards``; ``settle`` the settlement's postings and wallet writes per record (measured,
    or ``PER_RECORD_SETTLEMENT``). ``ceiling_rewrites_apart``: a burst shorter than the settlement
    delay (no settlement yet; a record's rewrites days after its creation, in an older key range of
    its shard). ``ceiling_sustained``: a viral rate lasting past the delay, each second also settling
    as many earlier credits (their rewrites in the older range where they were created, the due date
    counted on the newest range: an order completed at once). ``ceiling``: every gsi1 write of a
    shard on one partition besides (the worst case)."""
    wallet = 2 * write_units(sizes["wallet"]) / per_transaction  # one transactional ADD per transaction
    posting = 2 * write_units(sizes["posting"])  # a transactional put per credit
    created, rewrites = index_units(sizes)
    keys = {BURST_KEYS[0]: wallet, BURST_KEYS[1]: wallet + posting / shards,
            INDEX_NEWEST: created / index_shards,
            INDEX_NEWEST_DUE: (created + write_units(sizes["commission_record_due"])) / index_shards,
            INDEX_ALL: (created + rewrites) / index_shards,
            POSTINGS_SETTLING: settling_wcu(sizes, settle, wallet, shards)}
    ceilings = {key: round(PARTITION_WCU / units, 1) for key, units in keys.items()}
    limiting = min(ceilings, key=lambda k: ceilings[k])
    apart = min(ceilings[k] for k in BURST_KEYS)
    sustained = min(ceilings[k] for k in SUSTAINED_KEYS)
    return {"per_transaction": per_transaction, "posting_shards": shards, "index_shards": index_shards,
            "settlement": "per record" if settle is PER_RECORD_SETTLEMENT else "chunked (built)",
            "wcu_per_credit": {k: round(v, 3) for k, v in keys.items()},
            "credits_per_second_allowed": ceilings, "limit": limiting, "ceiling": ceilings[limiting],
            "meets_target": ceilings[limiting] >= TARGET, "ceiling_rewrites_apart": apart,
            "meets_target_rewrites_apart": apart >= TARGET, "ceiling_sustained": sustained,
            "meets_target_sustained": sustained >= TARGET}


def index_options(sizes: dict[str, int]) -> list[dict[str, Any]]:
    """For each gsi1 shard count: the credits/s a shard allows (creations alone; every write on one
    partition) and the round trips of a promoter's list page (a Query per shard, one BatchGetItem)."""
    created, rewrites = index_units(sizes)
    return [{"index_shards": n, "newest_range_wcu": round(created / n, 3),
             "one_partition_wcu": round((created + rewrites) / n, 3),
             "newest_range_credits_per_second": round(PARTITION_WCU * n / created, 1),
             "one_partition_credits_per_second": round(PARTITION_WCU * n / (created + rewrites), 1),
             "list_page_round_trips": n + 1, "built": n == COMMISSION_INDEX_SHARDS} for n in INDEX_SHARD_OPTIONS]


# ---- the benchmark -------------------------------------------------------------------------------------


def run() -> dict[str, Any]:
    with running(in_memory=True) as endpoint:
        client = boto3.session.Session().client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(max_pool_connections=64, retries={"max_attempts": 4, "mode": "standard"}))
        current_path(client, 200)  # warm the JVM and the Python side
        batched_path(client, 200)
        current = current_path(client, ORDERS)
        batched = batched_path(client, ORDERS)
        conflicted = [current_path(client, CONFLICT_ORDERS, conflict_rate=rate) for rate in CONFLICT_RATES]
        batches = [ledger_batches(client, k) for k in BATCHES]
        settlement = settlement_path(client, SETTLE_DUE)
    sizes = current.pop("sizes")
    for c in conflicted:
        c.pop("sizes")
    arithmetic = [aws_ceiling(sizes, 1, 1, 1, PER_RECORD_SETTLEMENT),
                  aws_ceiling(sizes, BATCH, POSTING_SHARDS, COMMISSION_INDEX_SHARDS, PER_RECORD_SETTLEMENT),
                  *(aws_ceiling(sizes, k, POSTING_SHARDS, COMMISSION_INDEX_SHARDS, settlement) for k in BATCHES)]
    options = index_options(sizes)

    print(f"one promoter, {ORDERS:,} paid orders synced by {WORKERS} workers (sync_order, one ledger transaction "
          f"per credit), DynamoDB Local")
    print(f"{'run':<42}{'credits/s':>10}{'calls/credit':>14}{'conflict retries':>18}{'redelivered':>13}  check")
    for figures in [current, *conflicted]:
        label = ("current path" if not figures["injected_conflict_rate"]
                 else f"current path, {figures['injected_conflict_rate']:.0%} TransactionConflict injected")
        print(f"{label:<42}{figures['credits_per_second']:>10,.0f}{figures['calls_per_credit']:>14}"
              f"{figures['conflict_retries']:>18,}{figures['redelivered_messages']:>13}  "
              f"{'ok' if figures['ok'] else 'FAILED'}")
    print(f"batched worker, {BATCH} messages a batch (credit_orders, then sync_order each): "
          f"{batched['credits_per_second']:,.0f} credits/s, {batched['calls_per_credit']} calls/credit, "
          f"{batched['credits_per_wallet_write']} credits per wallet write, {batched['refused_batches']} batches "
          f"refused, postings per shard {batched['postings_per_shard']}, gsi1 entries per shard "
          f"{batched['index_entries_per_shard']}: {'ok' if batched['ok'] else 'FAILED'}")
    print(f"\nthe ledger write alone (LedgerRepository.post of K postings), {WORKERS} threads, "
          f"{LEDGER_SECONDS:.0f} s each")
    print(f"{'postings/transaction':<22}{'credits/s':>11}{'transactions/s':>16}{'refused':>9}  check")
    for figures in batches:
        check = "ok" if figures["ok"] else "FAILED"
        print(f"{figures['per_transaction']:<22}{figures['credits_per_second']:>11,.0f}"
              f"{figures['transactions_per_second']:>16,.0f}{figures['refused']:>9}  {check}")
    print(f"\nAWS: write units per credit on the hot keys (items as stored: wallet {sizes['wallet']} B, posting "
          f"{sizes['posting']} B, commission record {sizes['commission_record']} B created, "
          f"{sizes['commission_record_due']} B with its due date, {sizes['commission_record_settled']} B settled) "
          f"and the credits/s each allows at {PARTITION_WCU:,} WCU/s per partition (target {TARGET:,}/s)")
    print(f"\nsettlement of one promoter's {settlement['due']} due records (each on its own order), deployed "
          f"fan-out: {settlement['settled']} settled in {settlement['transactions']} transactions, "
          f"{settlement['settlement_postings']} settlement postings (max {settlement['posting_bytes_max']} B, per "
          f"shard {settlement['postings_per_shard']}) + {settlement['debt_repaid_postings']} debt_repaid, "
          f"{settlement['wallet_writes']} wallet writes: {'ok' if settlement['ok'] else 'FAILED'}")
    for figures in arithmetic:
        parts = ", ".join(f"{key} {units} WCU → {figures['credits_per_second_allowed'][key]:,.0f}/s"
                          for key, units in figures["wcu_per_credit"].items())
        print(f"  {figures['per_transaction']:>2} per transaction, postings in {figures['posting_shards']} "
              f"partition(s), gsi1 in {figures['index_shards']}, settlement {figures['settlement']}: {parts}; "
              f"a burst shorter than the settlement delay {figures['ceiling_rewrites_apart']:,.0f}/s: "
              f"{'meets' if figures['meets_target_rewrites_apart'] else 'UNDER'}; sustained past it "
              f"{figures['ceiling_sustained']:,.0f}/s: {'meets' if figures['meets_target_sustained'] else 'UNDER'}; "
              f"every gsi1 write on one partition {figures['ceiling']:,.0f}/s ({figures['limit']})")
    print("\ngsi1 shards: credits/s one shard allows, and a promoter's list page (a Query per shard + a BatchGetItem; "
          "promoter routes ≤ 3 round trips)")
    print(f"{'shards':<8}{'newest range':>14}{'one partition':>15}{'list round trips':>18}")
    for option in options:
        mark = "  (built)" if option["built"] else ""
        print(f"{option['index_shards']:<8}{option['newest_range_credits_per_second']:>14,.0f}"
              f"{option['one_partition_credits_per_second']:>15,.0f}{option['list_page_round_trips']:>18}{mark}")
    return {"target_credits_per_second": TARGET, "partition_wcu": PARTITION_WCU, "current_path": current,
            "batched_path": batched,
            "current_path_with_injected_conflicts": conflicted, "ledger_batches": batches, "item_sizes": sizes,
            "settlement_path": settlement, "aws_ceiling": arithmetic, "index_shard_options": options}
