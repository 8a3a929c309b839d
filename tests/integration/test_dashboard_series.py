"""The dashboard's trend series on DynamoDB Local: changes of orders, commission records, refunds and
share visits are applied through the stats worker's logic, then ``dashboard`` is read for ranges
drawn day by day and month by month. Each point equals what was applied in its China day or month,
days without data are zeros on a continuous axis, and the series adds up to the range's totals. The
DynamoDB calls are counted too: the series is drawn from the aggregate items the totals read."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from mall.dal.changes import Change
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.schemas.stats import DashboardResponse
from mall.services.stats import apply_change, dashboard

pytestmark = pytest.mark.integration

NOW = datetime(2027, 1, 5, 4, tzinfo=UTC)
SERIES = ("gmv_fen", "paid_orders", "refund_fen", "commission_fen", "l1_commission_fen", "l2_commission_fen",
          "share_visits", "shared_orders")


class Shop:
    def __init__(self, table: Table) -> None:
        self.stats = StatsRepository(table)
        self.n = 0

    def _apply(self, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        self.n += 1
        apply_change(stats=self.stats, change=Change(f"ev-{self.n}", "MODIFY" if old else "INSERT", str(self.n),
                                                     old, new), now=NOW)

    def order(self, paid_at: str, amount: int, *, shared: bool = False) -> None:
        self.n += 1
        old = {"pk": f"ORDER#o{self.n}", "sk": "ORDER", "entity": "order", "order_id": f"o{self.n}",
               "buyer_id": f"u_b{self.n}", "status": "CREATED", "amount_fen": amount, "created_at": paid_at,
               "lines": [{"line_id": "1", "product_id": "p_tea", "name": "龙井", "quantity": 1, "paid_fen": amount,
                          "refunded_fen": 0}],
               "attribution": {"l1_promoter_id": "u_star", "l2_promoter_id": "u_boss"},
               "share_source": {"promoter_code": "STAR0001", "source": "link"} if shared else None}
        self._apply(old, {**old, "status": "PAID", "paid_at": paid_at})

    def commission(self, created_at: str, level: int, amount: int) -> None:
        self._apply(None, {"pk": f"ORDER#c{self.n}", "sk": f"COMMISSION#{level}", "entity": "commission",
                           "commission_id": f"c{self.n}", "order_id": f"c{self.n}", "level": level,
                           "beneficiary_id": "u_star" if level == 1 else "u_boss", "buyer_id": "u_b",
                           "base_fen": amount * 10, "amount_fen": amount, "cancelled_fen": 0, "clawed_back_fen": 0,
                           "status": "FROZEN", "created_at": created_at})

    def refund(self, succeeded_at: str, amount: int) -> None:
        self._apply(None, {"pk": f"REFUND#r{self.n}", "sk": "REFUND", "entity": "refund", "refund_id": f"r{self.n}",
                           "status": "SUCCEEDED", "succeeded_at": succeeded_at, "amount_fen": amount})

    def visit(self, at: str) -> None:
        self._apply(None, {"pk": "PVISITS#u_star", "sk": f"VISIT#{self.n}", "entity": "share_visit",
                           "promoter_id": "u_star", "at": at})


@pytest.fixture
def shop(table: Table) -> Shop:
    shop = Shop(table)
    # Late September and early December: partly inside the month-by-month range below.
    shop.order("2026-09-14T03:00:00Z", 1_000)  # outside every range read here
    shop.order("2026-09-20T03:00:00Z", 2_000, shared=True)
    shop.commission("2026-09-20T03:01:00Z", 1, 200)
    shop.order("2026-12-11T03:00:00Z", 4_000)  # the day after the month-by-month range
    shop.order("2026-12-10T03:00:00Z", 8_000)
    # Around the turn of October: the day-by-day range 28 Oct – 4 Nov.
    shop.order("2026-10-29T02:00:00Z", 12_800, shared=True)
    shop.commission("2026-10-29T02:01:00Z", 1, 1_280)
    shop.commission("2026-10-29T02:01:00Z", 2, 640)
    shop.visit("2026-10-30T05:00:00Z")
    shop.visit("2026-10-30T06:00:00Z")
    shop.order("2026-11-01T17:30:00Z", 3_300)  # 2 Nov 01:30 in China: a day later than UTC says
    shop.order("2026-11-02T09:00:00Z", 700, shared=True)
    shop.commission("2026-11-02T09:01:00Z", 1, 70)
    shop.refund("2026-11-03T04:00:00Z", 500)
    shop.order("2026-11-20T04:00:00Z", 10_000)  # inside November, outside the day-by-day range
    return shop


def totals(view: DashboardResponse) -> dict[str, int]:
    l1, l2 = view.commission.l1.created_fen, view.commission.l2.created_fen
    return {"gmv_fen": view.gmv_fen, "paid_orders": view.paid_orders, "refund_fen": view.refund_fen,
            "commission_fen": l1 + l2, "l1_commission_fen": l1, "l2_commission_fen": l2,
            "share_visits": view.share_visits, "shared_orders": view.shared_orders}


def summed(view: DashboardResponse) -> dict[str, int]:
    return {name: sum(getattr(point, name) for point in view.series) for name in SERIES}


def points(view: DashboardResponse) -> dict[str, dict[str, int]]:
    return {p.period: {name: value for name, value in p.model_dump().items() if name in SERIES and value}
            for p in view.series}


def test_a_range_of_days_is_drawn_day_by_day_with_zero_days_and_sums_to_the_totals(shop: Shop) -> None:
    view = dashboard(stats=shop.stats, date_from="2026-10-28", date_to="2026-11-04", now=NOW)

    assert view.granularity == "day"
    assert [p.period for p in view.series] == ["2026-10-28", "2026-10-29", "2026-10-30", "2026-10-31", "2026-11-01",
                                               "2026-11-02", "2026-11-03", "2026-11-04"]
    assert points(view) == {
        "2026-10-28": {},
        "2026-10-29": {"gmv_fen": 12_800, "paid_orders": 1, "shared_orders": 1, "commission_fen": 1_920,
                       "l1_commission_fen": 1_280, "l2_commission_fen": 640},
        "2026-10-30": {"share_visits": 2},
        "2026-10-31": {},
        "2026-11-01": {},
        "2026-11-02": {"gmv_fen": 4_000, "paid_orders": 2, "shared_orders": 1, "commission_fen": 70,
                       "l1_commission_fen": 70},
        "2026-11-03": {"refund_fen": 500},
        "2026-11-04": {},
    }
    assert summed(view) == totals(view)
    assert view.gmv_fen == 16_800 and view.refund_fen == 500


def test_a_whole_month_is_drawn_day_by_day_from_day_items(shop: Shop) -> None:
    view = dashboard(stats=shop.stats, date_from="2026-11-01", date_to="2026-11-30", now=NOW)

    assert view.granularity == "day" and len(view.series) == 30
    assert {p.period: p.gmv_fen for p in view.series if p.gmv_fen} == {"2026-11-02": 4_000, "2026-11-20": 10_000}
    assert summed(view) == totals(view)
    assert view.gmv_fen == 14_000 and view.paid_orders == 3


def test_a_range_longer_than_62_days_is_drawn_month_by_month(shop: Shop) -> None:
    sixty_two = dashboard(stats=shop.stats, date_from="2026-09-15", date_to="2026-11-15", now=NOW)
    assert sixty_two.granularity == "day" and len(sixty_two.series) == 62

    view = dashboard(stats=shop.stats, date_from="2026-09-15", date_to="2026-12-10", now=NOW)

    assert view.granularity == "month"
    assert points(view) == {
        # Only the days inside the range count at either end (14 Sep and 11 Dec are outside it).
        "2026-09": {"gmv_fen": 2_000, "paid_orders": 1, "shared_orders": 1, "commission_fen": 200,
                    "l1_commission_fen": 200},
        "2026-10": {"gmv_fen": 12_800, "paid_orders": 1, "shared_orders": 1, "commission_fen": 1_920,
                    "l1_commission_fen": 1_280, "l2_commission_fen": 640, "share_visits": 2},
        "2026-11": {"gmv_fen": 14_000, "paid_orders": 3, "shared_orders": 1, "commission_fen": 70,
                    "l1_commission_fen": 70, "refund_fen": 500},
        "2026-12": {"gmv_fen": 8_000, "paid_orders": 1},
    }
    assert summed(view) == totals(view)

    quiet = dashboard(stats=shop.stats, date_from="2025-01-01", date_to="2025-12-31", now=NOW)
    assert quiet.granularity == "month" and [p.period for p in quiet.series] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert summed(quiet) == totals(quiet) == dict.fromkeys(SERIES, 0)


# ---- DynamoDB calls --------------------------------------------------------------------------------------


@pytest.fixture
def counted(table: Table, ddb_endpoint: str) -> Iterator[tuple[StatsRepository, Counter[str]]]:
    """A repository on its own client whose calls are counted: ``BatchGetItem:agg`` for the calls
    reading day or month aggregates (``keys:day`` / ``keys:month`` count their keys), else the
    operation's name."""
    client = boto3.client("dynamodb", endpoint_url=ddb_endpoint, region_name="us-east-1")
    calls: Counter[str] = Counter()

    def count(params: dict[str, Any], **_: Any) -> None:
        kinds = Counter(k["pk"]["S"].split("#")[0] for request in params.get("RequestItems", {}).values()
                        for k in request["Keys"])
        aggregates = kinds["STATS_DAY"] + kinds["STATS_MONTH"]
        calls["BatchGetItem:agg" if aggregates else "BatchGetItem:other"] += 1
        calls["keys:day"] += kinds["STATS_DAY"]
        calls["keys:month"] += kinds["STATS_MONTH"]

    def count_query(**_: Any) -> None:
        calls["Query"] += 1

    client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)
    client.meta.events.register("provide-client-params.dynamodb.Query", count_query)
    yield StatsRepository(Table(table.name, client)), calls


@pytest.mark.parametrize(("first", "last", "reads"), [
    # (BatchGetItem calls of aggregates, day keys, month keys, Queries of the promoter / product / buyer
    # items, other BatchGetItem calls); the running totals' 8 keys ride in the aggregates' last call
    # when it has room
    ("2026-10-29", "2026-11-04", (1, 8 * 7, 0, 2, 1)),  # the default week: October's days and November's
    ("2026-11-01", "2026-11-30", (3, 8 * 30, 0, 1, 1)),  # the month's item, in 2026's months
    ("2026-10-15", "2026-12-15", (5, 8 * 62, 0, 3, 2)),  # days of October and of December, and November
    # month by month: aggregates of the days of Sep and Dec and of Oct + Nov; the product, promoter
    # and buyer items are kept per day only, so one Query per month of days (Sep, Oct, Nov, Dec)
    ("2026-09-15", "2026-12-10", (3, 8 * 26, 8 * 2, 4, 1)),
])
def test_the_series_reads_no_more_than_the_totals_need(shop: Shop, counted: tuple[StatsRepository, Counter[str]],
                                                       first: str, last: str,
                                                       reads: tuple[int, int, int, int, int]) -> None:
    stats, calls = counted
    view = dashboard(stats=stats, date_from=first, date_to=last, now=NOW)

    agg_calls, day_keys, month_keys, queries, other = reads
    assert (calls["BatchGetItem:agg"], calls["keys:day"], calls["keys:month"]) == (agg_calls, day_keys, month_keys)
    assert agg_calls == math.ceil((day_keys + month_keys) / 100)  # nothing read twice, 100 keys a call
    assert summed(view) == totals(view)
    assert calls["Query"] == queries  # promoters, products and buyers together: one Query per month
    assert calls["BatchGetItem:other"] == other  # the top promoters' nicknames (and the totals if no room)
