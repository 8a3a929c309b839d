"""The stats worker merges a batch's changes into ONE write per item and still adds every change
exactly once, on DynamoDB Local: a batch redelivered whole, a redelivery that overlaps an earlier
batch (SQS regroups messages as it likes), a batch cut short between two of its transactions and
redelivered split differently, and concurrent workers (their transactions on different aggregate
shards) with overlapping batches. The figures are compared with the same changes applied one at a
time, once each, into a table of their own."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mall.clock import iso
from mall.dal import stats_apply
from mall.dal.changes import Change, change_message, record_change
from mall.dal.keys import change_shard
from mall.dal.stats import StatsRepository
from mall.dal.stats_apply import split_changes
from mall.dal.table import Item, Table, TransactionCancelled, deserialize
from mall.domain.stats import TOTAL_FIELDS, contributions
from mall.services.stats import apply_change, apply_changes
from tests.conftest import clear_caches, table_request
from tests.unit.conftest import FakeContext, load_function

DAY = datetime(2026, 11, 3, 2, tzinfo=UTC)
LATER = datetime(2026, 11, 20, 3, tzinfo=UTC)
NOW = datetime(2026, 11, 21, tzinfo=UTC)


# ---- a shop's changes ---------------------------------------------------------------------------------------


def _order(order_id: str, buyer: str, l1: str | None, amount: int, product: str = "p_tea") -> Change:
    at = DAY
    old = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
           "status": "CREATED", "amount_fen": amount, "created_at": iso(at),
           "lines": [{"line_id": "1", "product_id": product, "name": "龙井", "quantity": 1, "paid_fen": amount,
                      "refunded_fen": 0}],
           "attribution": {"l1_promoter_id": l1, "l2_promoter_id": None}, "share_source": None}
    return Change(f"ev-paid-{order_id}", "MODIFY", "1", old, {**old, "status": "PAID", "paid_at": iso(at)})


def _record(order_id: str, uid: str, level: int, amount: int, at: datetime) -> dict[str, Any]:
    return {"pk": f"ORDER#{order_id}", "sk": f"COMMISSION#1#{level}", "entity": "commission", "order_id": order_id,
            "commission_id": f"c_{order_id}_{level}", "level": level, "beneficiary_id": uid, "buyer_id": "u_b1",
            "base_fen": amount * 10, "amount_fen": amount, "cancelled_fen": 0, "clawed_back_fen": 0,
            "status": "FROZEN", "created_at": iso(at), "history": [{"at": iso(at), "status": "FROZEN"}]}


def _created(order_id: str, uid: str, level: int, amount: int) -> Change:
    return Change(f"ev-new-{order_id}-{level}", "INSERT", "1", None, _record(order_id, uid, level, amount, DAY))


def _settled(order_id: str, uid: str, level: int, amount: int) -> Change:
    old = _record(order_id, uid, level, amount, DAY)
    new = {**old, "status": "SETTLED", "settled_at": iso(LATER),
           "history": [*old["history"], {"at": iso(LATER), "status": "SETTLED"}]}
    return Change(f"ev-settled-{order_id}-{level}", "MODIFY", "2", old, new)


def _cancelled(order_id: str, uid: str, level: int, amount: int) -> Change:
    old = _record(order_id, uid, level, amount, DAY)
    new = {**old, "status": "CANCELLED", "cancelled_fen": amount}
    return Change(f"ev-cancelled-{order_id}-{level}", "MODIFY", "2", old, new)


def shop_changes() -> list[Change]:
    """Paid orders (a buyer's first, second and third: first-time and repeat buyers), commission
    records created, settled (team sales and distinct team orders) and cancelled (a score going
    back down), a new customer, a promoter and a share visit: every kind of delta, most of them on
    the same day, month, promoters and product, so that merging has something to merge."""
    changes = [_order("o1", "u_b1", "u_star", 3_000), _order("o2", "u_b1", "u_star", 1_000),
               _order("o3", "u_b2", "u_moon", 2_000), _order("o4", "u_b1", None, 500, "p_cup")]
    for order, amount in (("o1", 300), ("o2", 100), ("o3", 200)):
        uid = "u_moon" if order == "o3" else "u_star"
        changes += [_created(order, uid, 1, amount), _created(order, "u_sun", 2, amount // 2)]
    changes += [_settled("o1", "u_star", 1, 300), _settled("o1", "u_sun", 2, 150), _settled("o2", "u_star", 1, 100),
                _cancelled("o3", "u_moon", 1, 200)]
    customer = {"pk": "USER#u_b3", "sk": "PROFILE", "entity": "customer", "created_at": iso(DAY)}
    promoter = {"pk": "USER#u_moon", "sk": "PROMOTER", "entity": "promoter", "status": "active",
                "activated_at": iso(DAY)}
    visit = {"pk": "PVISITS#u_star", "sk": "VISIT#1", "entity": "share_visit", "promoter_id": "u_star",
             "at": iso(DAY)}
    changes += [Change("ev-customer", "INSERT", "1", None, customer),
                Change("ev-promoter", "INSERT", "1", None, promoter), Change("ev-visit", "INSERT", "1", None, visit)]
    return changes


# ---- what the table holds -----------------------------------------------------------------------------------

_SHARDED = {"stats_day": "day", "stats_month": "month", "stats_totals": ""}


def _numbers(item: Item) -> dict[str, int]:
    return {k: int(v) for k, v in item.items()
            if isinstance(v, (int, Decimal)) and not isinstance(v, bool) and v
            and k not in {"shard", "version", "writes"}}


def figures(table: Table) -> dict[Any, Any]:
    """Every stats figure, the aggregates summed over their shards (where a change was counted
    does not matter, only how often), without the markers of applied changes and without what
    only says how many writes made an item (a buyer item's version, zero-valued counters)."""
    out: dict[Any, Any] = {}
    start: Any = None
    while True:
        page = table.client.scan(TableName=table.name, ConsistentRead=True,
                                 **({"ExclusiveStartKey": start} if start else {}))
        for item in (deserialize(raw) for raw in page.get("Items", [])):
            entity = str(item.get("entity", ""))
            if entity == "stats_applied":
                continue
            if entity in _SHARDED:
                for name, value in _numbers(item).items():
                    # A day not folded yet holds the running totals' counters applied on it (mall.dal.stats_fold).
                    kind = "stats_totals" if name in TOTAL_FIELDS else entity
                    summed = out.setdefault((kind, str(item.get(_SHARDED[kind], ""))), {})
                    summed[name] = summed.get(name, 0) + value
                continue
            kept = {k: v for k, v in item.items()
                    if k != "version" and not (isinstance(v, (int, Decimal)) and not isinstance(v, bool) and v == 0)}
            if entity == "leaderboard_entry" and not kept.get("score_fen"):
                continue  # a score back to 0 (stored or never written): no entry on the board either way
            if entity.startswith(("stats_", "team_sales")) and entity not in {"stats_seen", "stats_buyer"} \
                    and not _numbers(item):
                continue
            out[(str(item["pk"]), str(item["sk"]))] = kept
        start = page.get("LastEvaluatedKey")
        if not start:
            for key in [k for k in out if k[0] in _SHARDED]:  # +300 on one shard, −300 on another
                out[key] = {name: value for name, value in out[key].items() if value}
            return {k: v for k, v in out.items() if v}


def _new_table(client: Any) -> Iterator[Table]:
    name = f"it-{uuid.uuid4().hex[:10]}"
    create = table_request(name)
    create.pop("DeletionProtectionEnabled", None)
    create.pop("StreamSpecification", None)
    client.create_table(**create)
    yield Table(name, client)
    client.delete_table(TableName=name)


@pytest.fixture
def once(ddb_client: Any) -> Iterator[dict[Any, Any]]:
    """The figures of ``shop_changes()`` applied one at a time, each once, in a table of their own."""
    for table in _new_table(ddb_client):
        for change in shop_changes():
            apply_change(stats=StatsRepository(table), change=change, now=NOW)
        yield figures(table)


# ---- counting the writes per item ---------------------------------------------------------------------------


def count_writes(table: Table) -> Callable[[], dict[tuple[str, str], int]]:
    """How many times each item is written through ``table``'s client from now on."""
    counts: dict[tuple[str, str], int] = {}

    def seen(params: dict[str, Any], **_: Any) -> None:
        bodies = [next(iter(entry.values())) for entry in params.get("TransactItems", [])] or [params]
        for body in bodies:
            key = body.get("Key") or body.get("Item") or {}
            pair = (str(key["pk"]["S"]), str(key["sk"]["S"]))
            counts[pair] = counts.get(pair, 0) + 1

    events = table.client.meta.events
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
        events.register(f"before-parameter-build.dynamodb.{operation}", seen, unique_id=f"count-{operation}")
    return lambda: dict(counts)


@pytest.fixture
def worker(table: Table) -> Iterator[Any]:
    clear_caches()
    module = load_function("stats_worker")
    yield module
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
        module.table.client.meta.events.unregister(f"before-parameter-build.dynamodb.{operation}",
                                                   unique_id=f"count-{operation}")
    clear_caches()


def sqs(changes: list[Change]) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": json.dumps(change_message(c)),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:StatsQueue", "awsRegion": "us-east-1"}
                        for i, c in enumerate(changes)]}


# ---- the tests ----------------------------------------------------------------------------------------------


def test_a_batch_writes_each_item_it_touches_once_for_all_its_changes(worker: Any, table: Table) -> None:
    batch = shop_changes()[:10]  # four paid orders and six commission records created: one SQS batch
    writes = count_writes(worker.table)
    assert worker.handler(sqs(batch), FakeContext()) == {"batchItemFailures": []}
    counted = writes()
    assert counted and max(counted.values()) == 1, {k: n for k, n in counted.items() if n > 1}
    markers = [k for k in counted if k[0].startswith("STATS_APPLIED#")]
    # One per order, listing the order's change and its records' changes, in the transaction that applied them.
    assert sorted(markers) == [(f"STATS_APPLIED#ORDER#o{n}", "CHANGES") for n in range(1, 5)]
    day_shards = [k for k in counted if k[0].startswith("STATS_DAY#2026-11-03#")]
    assert len(day_shards) == 1  # the day's aggregate: once, not once per change
    got = StatsRepository(table).aggregates(days=["2026-11-03"], months=[])
    assert sum(int(a.get("gmv_fen", 0)) for a in got) == 6_500
    assert sum(int(a.get("comm_l1_created_fen", 0)) for a in got) == 600


def test_redelivering_the_same_batch_adds_nothing(table: Table, once: dict[Any, Any]) -> None:
    changes = shop_changes()
    stats = StatsRepository(table)
    first = apply_changes(stats=stats, changes=changes, now=NOW)
    assert first.applied == first.parts == len(changes) and first.already_applied == 0
    again = apply_changes(stats=stats, changes=changes, now=NOW)
    assert (again.applied, again.already_applied, again.transactions) == (0, len(changes), 0)
    assert figures(table) == once


def test_a_batch_overlapping_earlier_ones_applies_only_what_is_new(table: Table, once: dict[Any, Any]) -> None:
    changes = shop_changes()
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=changes[:8], now=NOW)
    # SQS regroups what it redelivers: the overlap, new changes and one message twice in a batch.
    overlap = apply_changes(stats=stats, changes=[changes[12], *changes[5:14], changes[6]], now=NOW)
    assert (overlap.applied, overlap.already_applied) == (6, 5)  # changes 8..13 new; 5, 6, 7 and the repeat
    apply_changes(stats=stats, changes=changes[::-1], now=NOW)  # everything, the rest new
    assert figures(table) == once


def test_a_batch_cut_short_between_its_transactions_is_completed_once_when_redelivered(
        table: Table, once: dict[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    changes = shop_changes()
    stats = StatsRepository(table)
    # Small transactions (how parts are grouped may differ from one delivery to the next; how a
    # change is split into parts may not, and does not here).
    real_group, real_transact = stats_apply.group_parts, Table.transact
    monkeypatch.setattr(stats_apply, "group_parts", lambda parts, limit: real_group(parts, limit=15))
    parts, _ = split_changes([(c.event_id, contributions(record_change(c))) for c in changes])
    assert len(stats_apply.group_parts(parts, limit=100)) > 3
    committed = 0

    def crash_after_two(self: Table, writes: Any, **kwargs: Any) -> None:
        nonlocal committed
        if committed == 2:
            raise RuntimeError("the worker timed out")
        real_transact(self, writes, **kwargs)
        committed += 1

    monkeypatch.setattr(Table, "transact", crash_after_two)
    with pytest.raises(RuntimeError):
        apply_changes(stats=stats, changes=changes, now=NOW)
    monkeypatch.setattr(Table, "transact", real_transact)
    monkeypatch.setattr(stats_apply, "group_parts", real_group)
    # Redelivered bisected, the second half first, in the default (large) transactions.
    half = len(changes) // 2
    second = apply_changes(stats=stats, changes=changes[half:], now=NOW)
    first = apply_changes(stats=stats, changes=changes[:half], now=NOW)
    assert 0 < first.already_applied + second.already_applied < len(changes)  # the first two transactions
    assert first.applied + second.applied + first.already_applied + second.already_applied == len(changes)
    assert figures(table) == once


def test_concurrent_workers_with_overlapping_batches_add_every_change_once(
        table: Table, once: dict[Any, Any]) -> None:
    changes = shop_changes()
    n = len(changes)
    # Four workers at once; every change is in two of their batches (a redelivery racing the first).
    batches = [changes[i * n // 4:(i + 2) * n // 4] + changes[:max(0, (i + 2) * n // 4 - n)] for i in range(4)]
    assert len({change_shard(b[0].event_id) for b in batches}) > 1  # their transactions: different shards
    barrier = threading.Barrier(len(batches))

    def work(batch: list[Change]) -> Any:
        barrier.wait()
        return apply_changes(stats=StatsRepository(table), changes=batch, now=NOW)

    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        results = list(pool.map(work, batches))
    assert sum(r.applied for r in results) == n  # each change applied by exactly one worker
    assert sum(r.already_applied for r in results) == sum(len(b) for b in batches) - n
    assert figures(table) == once


def test_a_failing_batch_is_applied_one_change_at_a_time_and_only_the_failing_change_is_retried(
        worker: Any, table: Table, once: dict[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    changes = shop_changes()
    real = worker.apply_change

    def poisoned(*, stats: StatsRepository, change: Change, now: datetime) -> Any:
        if change.event_id == changes[3].event_id:
            raise TransactionCancelled(["ValidationError"], [None])
        return real(stats=stats, change=change, now=now)

    def merged_fails(**_: Any) -> Any:
        raise TransactionCancelled(["ValidationError"], [None])

    real_merged = worker.apply_changes
    monkeypatch.setattr(worker, "apply_changes", merged_fails)
    monkeypatch.setattr(worker, "apply_change", poisoned)
    assert worker.handler(sqs(changes), FakeContext()) == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    monkeypatch.setattr(worker, "apply_changes", real_merged)
    monkeypatch.setattr(worker, "apply_change", real)
    assert worker.handler(sqs([changes[3], changes[0]]), FakeContext()) == {"batchItemFailures": []}
    assert figures(table) == once


def test_a_stale_first_read_only_loses_the_transaction_and_never_adds_twice(
        table: Table, once: dict[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    changes = shop_changes()
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=changes[:9], now=NOW)
    real = Table.batch_get
    reads: list[bool] = []

    def stale(self: Table, keys: Any, *, consistent: bool = False) -> list[Item]:
        reads.append(consistent)
        return [] if not consistent else real(self, keys, consistent=True)  # nothing written seen yet

    monkeypatch.setattr(Table, "batch_get", stale)
    # Changes 0..8 again (their markers unseen), with new ones on the same scores, first orders and
    # team orders (which the stale read does not show either).
    result = apply_changes(stats=stats, changes=changes[4:], now=NOW)
    assert reads[:2] == [False, True]  # the first read is cheap; after the lost transaction, consistent
    assert (result.applied, result.already_applied) == (len(changes) - 9, 5)
    monkeypatch.setattr(Table, "batch_get", real)
    apply_changes(stats=stats, changes=changes, now=NOW)
    assert figures(table) == once
