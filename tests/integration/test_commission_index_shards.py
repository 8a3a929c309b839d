"""A promoter's commission records in gsi1 over ``COMMISSION_INDEX_SHARDS`` partitions, on DynamoDB
Local: the commission worker spreads a promoter's entries over the shards by commission id; every
reader merges the shards in one order (newest first for the lists), pages neither skip nor repeat a
record when records arrive in any shard between pages or when a status filter stops one shard's
Query early, and the promoter's lists stay within the promoter routes' three round trips."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.catalog import CategoryRepository
from mall.dal.commissions import CommissionRepository, commission_item
from mall.dal.export_sources import ExportSources
from mall.dal.fraud import FraudRepository
from mall.dal.history import HistoryReader
from mall.dal.keys import (
    COMMISSION_INDEX_SHARDS,
    beneficiary_partitions,
    beneficiary_shard,
    commission_index_partition,
    wallet_key,
)
from mall.dal.risk import RiskCaseRepository
from mall.dal.table import Table, deserialize
from mall.domain.catalog import Category
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.exports import DayRange
from mall.domain.tokens import Role
from mall.services.audit import promoter_history
from mall.services.commissions import CommissionRepositories, sync_order
from tests.conftest import bearer, clear_caches
from tests.integration.test_commission_sync import NOW, PAID, line, promoter, put_order, save_settings
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.integration

UID = "u_viral"
BUYER = "u_buyer01"
T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
PROMOTER_ROUND_TRIPS = 3
Call = Callable[..., tuple[int, Any, int]]


def orders_in(shard: int, count: int, prefix: str) -> list[str]:
    """``count`` order ids whose level-1 record of line "1" has its index entry in ``shard``."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        order_id = f"o_{prefix}{n:04d}"
        if beneficiary_shard(commission_id(order_id, "1", 1)) == shard:
            found.append(order_id)
        n += 1
    return found


def put_record(table: Table, order_id: str, at: datetime, *, status: CommissionStatus = CommissionStatus.FROZEN,
               hold: str | None = None) -> str:
    """One level-1 record of ``UID`` created at ``at``; its ``gsi1sk``."""
    record = CommissionRecord(
        commission_id=commission_id(order_id, "1", 1), order_id=order_id, line_id="1", level=1, beneficiary_id=UID,
        buyer_id=BUYER, product_id="p_1", product_name="茶", quantity=1, base_fen=1_000, amount_fen=100,
        status=status, rule={"source": "global", "rate_bp": 1000}, created_at=at,
        settled_at=at + timedelta(days=8) if status == CommissionStatus.SETTLED else None, hold=hold)
    # The entry's shard set here, as the worker sets it: these tests are of the readers.
    item = {**commission_item(record), "gsi1pk": commission_index_partition(UID, record.commission_id)}
    table.put(item)
    return str(item["gsi1sk"])


@pytest.fixture
def call(table: Table) -> Iterator[Call]:
    """A function's handler on a GET, with the DynamoDB calls it sent counted."""
    clear_caches()
    table.put({"pk": f"USER#{BUYER}", "sk": "PROFILE", "entity": "customer", "user_id": BUYER,
               "nickname": "王小芳", "roles": ["customer"]})
    loaded: dict[str, Any] = {}

    def send(function: str, path: str, query: dict[str, str]) -> tuple[int, Any, int]:
        if function not in loaded:
            loaded[function] = load_function(function)
        client = loaded[function].table.client
        sent: list[str] = []
        event = http_event("GET", path, headers=bearer(UID, Role.CUSTOMER, Role.PROMOTER))
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        client.meta.events.register("before-send.dynamodb", lambda **_: sent.append("call"), unique_id="shards")
        try:
            result = loaded[function].handler(event, FakeContext())
        finally:
            client.meta.events.unregister("before-send.dynamodb", unique_id="shards")
        return result["statusCode"], json.loads(result.get("body") or "null"), len(sent)

    yield send
    clear_caches()


def all_pages(call: Call, path: str, query: dict[str, str], *, between: Callable[[int], None] | None = None,
              key: str = "commission_id") -> list[str]:
    """Every page of a list, each within the promoter routes' round trips; ``between(n)`` runs after page n."""
    seen: list[str] = []
    cursor: str | None = None
    for n in range(60):
        status, page, trips = call("promoter_commissions", path, {**query, **({"cursor": cursor} if cursor else {})})
        assert status == 200, page
        assert trips <= PROMOTER_ROUND_TRIPS, trips
        seen += [str(item[key]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between(n)
    raise AssertionError("the list did not end")


class CommissionIndexScan:
    """The table's commission records as stored (a Scan: independent of the readers under test)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            body: dict[str, Any] = {"TableName": self._table.name}
            if start:
                body["ExclusiveStartKey"] = start
            page = self._table.client.scan(**body)
            found += [deserialize(i) for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return [i for i in found if i.get("entity") == "commission"]


# ---- the layout ---------------------------------------------------------------------------------


def test_the_commission_worker_spreads_a_promoters_index_entries_over_the_shards_by_commission_id(
        table: Table) -> None:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1000, l2_rate_bp=500))
    version = save_settings(table, settlement_days=7)
    promoter(table, UID)
    for n in range(8):
        put_order(table, f"o_{n}", [line("1", 10_000)], l1=UID, l2=None, version=version)
        sync_order(CommissionRepositories.on(table), order_id=f"o_{n}", now=NOW)

    entries = {str(r["commission_id"]): str(r["gsi1pk"]) for r in CommissionIndexScan(table).records()}

    assert len(entries) == 8
    assert all(pk == commission_index_partition(UID, cid) for cid, pk in entries.items())
    assert set(entries.values()) == set(beneficiary_partitions(UID))  # every shard takes some
    assert COMMISSION_INDEX_SHARDS >= 2 and beneficiary_partitions(UID)[0] == f"COMMISSIONS#{UID}"  # no backfill


# ---- the promoter's lists -----------------------------------------------------------------------


def test_pages_of_the_commission_list_merge_the_shards_and_neither_skip_nor_repeat_records_that_arrive_between(
        table: Table, call: Call) -> None:
    a, b = orders_in(0, 8, "a"), orders_in(1, 8, "b")
    sort_keys: dict[str, str] = {}
    for n in range(12):  # alternate shards, one minute apart: newest first is 11, 10, ..., 0
        order_id = (a if n % 2 else b)[n // 2]
        sort_keys[commission_id(order_id, "1", 1)] = put_record(table, order_id, T0 + timedelta(minutes=n))
    arrived: dict[str, str] = {}

    def arrive(page: int) -> None:
        if page != 0:
            return
        # After the first page (minutes 11..8): in each shard a record newer than every one shown (at
        # the top of the list: not on later pages, as unsharded) and one older than the cursor (on a
        # later page, once), the older ones late-synced records of orders paid earlier.
        for order_id, minutes in ((a[6], 30), (b[6], 31), (a[7], 5.5), (b[7], 2.5)):
            arrived[commission_id(order_id, "1", 1)] = put_record(table, order_id, T0 + timedelta(minutes=minutes))

    seen = all_pages(call, "/promoter/commissions", {"limit": "4"}, between=arrive)

    older = {cid: sk for cid, sk in arrived.items() if sk < sort_keys[seen[3]]}
    expected = sorted({**sort_keys, **older}, key=lambda cid: {**sort_keys, **arrived}[cid], reverse=True)
    assert len(older) == 2 and seen == expected  # each once, newest first across the pages and shards
    assert {beneficiary_shard(cid) for cid in seen} == set(range(COMMISSION_INDEX_SHARDS))


def test_a_status_filter_that_stops_one_shards_query_early_skips_nothing(table: Table, call: Call) -> None:
    a, b = orders_in(0, 9, "a"), orders_in(1, 6, "b")
    frozen: dict[str, str] = {}
    # Shard 0: six settled records on top, then three frozen ones newer than every frozen one of shard 1.
    for n, order_id in enumerate(a):
        status = CommissionStatus.SETTLED if n < 6 else CommissionStatus.FROZEN
        sk = put_record(table, order_id, T0 + timedelta(minutes=100 - n), status=status)
        if status == CommissionStatus.FROZEN:
            frozen[commission_id(order_id, "1", 1)] = sk
    for n, order_id in enumerate(b):
        frozen[commission_id(order_id, "1", 1)] = put_record(table, order_id, T0 + timedelta(minutes=50 - n))

    seen = all_pages(call, "/promoter/commissions", {"limit": "2", "status": "FROZEN"})

    assert seen == sorted(frozen, key=lambda cid: frozen[cid], reverse=True)


def test_the_promoters_orders_list_pages_over_the_shards_an_order_never_split_within_three_round_trips(
        table: Table, call: Call) -> None:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1000, l2_rate_bp=500))
    version = save_settings(table, settlement_days=7)
    promoter(table, UID)
    orders = [f"o_{n}" for n in range(7)]
    for n, order_id in enumerate(orders):  # two lines each: two records, in either shard
        put_order(table, order_id, [line("1", 10_000), line("2", 2_000 + n)], l1=UID, l2=None, version=version,
                  buyer=BUYER)
        table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET created_at = :c, paid_at = :c",
                     values={":c": iso(PAID + timedelta(minutes=n))})
        sync_order(CommissionRepositories.on(table), order_id=order_id, now=NOW + timedelta(minutes=n))
    stored = CommissionIndexScan(table).records()
    assert {str(r["gsi1pk"]) for r in stored} == set(beneficiary_partitions(UID))

    seen = all_pages(call, "/promoter/orders", {"limit": "2"}, key="order_id")

    assert seen == orders[::-1]


# ---- every other reader -------------------------------------------------------------------------


def test_every_reader_of_a_promoters_records_reads_every_shard(table: Table) -> None:
    a, b = orders_in(0, 4, "a"), orders_in(1, 4, "b")
    sort_keys: dict[str, str] = {}
    held: set[str] = set()
    for n, order_id in enumerate(a + b):
        status = CommissionStatus.SETTLED if n % 4 == 3 else CommissionStatus.FROZEN
        hold = "rc_1" if n % 4 == 1 else None
        cid = commission_id(order_id, "1", 1)
        sort_keys[cid] = put_record(table, order_id, T0 + timedelta(minutes=3 * n + n % 2), status=status, hold=hold)
        if hold:
            held.add(cid)
    newest_first = sorted(sort_keys, key=lambda cid: sort_keys[cid], reverse=True)
    settled = {cid for n, cid in enumerate(commission_id(o, "1", 1) for o in a + b) if n % 4 == 3}
    # The wallet as the ledger leaves it: the FROZEN records' money frozen (the risk reads look there first).
    table.put({**wallet_key(UID), "entity": "wallet", "promoter_id": UID, "version": 1,
               "frozen_fen": 100 * (len(sort_keys) - len(settled)), "available_fen": 100 * len(settled),
               "withdrawing_fen": 0, "withdrawn_fen": 0, "debt_fen": 0})

    exported = [str(i["commission_id"]) for i in ExportSources(table, page_size=2).commissions(
        DayRange(date(2026, 11, 20), date(2026, 11, 20)), promoters=[UID])]
    assert exported == newest_first[::-1]

    found, complete = FraudRepository(table).commissions(UID, T0)
    assert [str(i["commission_id"]) for i in found] == newest_first and complete

    cases = RiskCaseRepository(table)
    assert {r.commission_id for r in cases.unsettled_records(UID)} == set(sort_keys) - settled
    on_hold, voided = cases.case_records(UID, "rc_1")
    assert {r.commission_id for r in on_hold} == held and voided == []

    history: list[str] = []
    cursor: str | None = None
    while True:
        page = promoter_history(reader=HistoryReader(table), user_id=UID, kind="commission", start=None, end=None,
                                limit=3, cursor=cursor)
        history += [item.commission_id for item in page.items]  # type: ignore[union-attr]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert history == newest_first

    listed: list[str] = []
    start = None
    while True:
        got = CommissionRepository(table).for_beneficiary(UID, limit=3, start_key=start)
        listed += [str(i["commission_id"]) for i in got.items]
        start = got.last_key
        if start is None:
            break
    assert listed == newest_first
