"""The promoter's funnel on DynamoDB Local: share visits → new bindings → paid orders → level-1
commission, each counted on the day and under the source (link, QR, poster; per product) of the
share that brought it, through the stats worker's apply path; a redelivered or regrouped batch adds
nothing twice; ``GET /promoter/funnel`` reads it in one round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.changes import Change
from mall.dal.stats import StatsRepository
from mall.dal.table import Table, dynamodb_client
from mall.domain.tokens import Role
from mall.services.stats import apply_changes
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.integration

STAR, OTHER = "u_star", "u_other"
DAY1 = datetime(2026, 11, 2, 2, tzinfo=UTC)  # Monday 10:00 China
DAY2 = DAY1 + timedelta(days=1)
LATE_EVENING = datetime(2026, 11, 3, 17, tzinfo=UTC)  # 4 Nov 01:00 China: the next China day
NOW = datetime(2026, 11, 10, tzinfo=UTC)


def visit(n: int, at: datetime, source: str, product: str | None, *, counted: bool = True,
          promoter: str = STAR) -> Change:
    item = {"pk": f"SHARE#{promoter}", "sk": f"VISIT#{iso(at)}#v{n}", "entity": "share_visit", "visit_id": f"v{n}",
            "promoter_id": promoter, "promoter_code": "STARCODE", "source": source, "product_id": product,
            "at": iso(at), "counted": counted}
    return Change(f"ev-visit-{n}", "INSERT", "1", None, item)


def binding(user: str, at: datetime, source: str, parent: str = STAR, old_parent: str | None = None) -> Change:
    new = {"pk": f"USER#{user}", "sk": "BINDING", "entity": "binding", "user_id": user, "parent_id": parent,
           "bound_at": iso(at), "source": source, "trigger": "visit", "version": 1, "paid": False}
    old = {**new, "parent_id": old_parent, "bound_at": iso(at - timedelta(days=30))} if old_parent else None
    return Change(f"ev-bind-{user}-{parent}", "MODIFY" if old else "INSERT", "1", old, new)


def order(order_id: str, at: datetime, share: dict[str, Any] | None, lines: list[tuple[str, int]],
          *, l1: str = STAR) -> tuple[Change, dict[str, Any]]:
    amount = sum(paid for _, paid in lines) + 800  # shipping
    old = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": "u_b",
           "status": "CREATED", "amount_fen": amount, "created_at": iso(at - timedelta(minutes=5)),
           "lines": [{"line_id": str(i), "product_id": pid, "name": f"商品{pid}", "quantity": 1, "paid_fen": paid,
                      "refunded_fen": 0} for i, (pid, paid) in enumerate(lines, 1)],
           "share_source": share, "attribution": {"l1_promoter_id": l1, "l2_promoter_id": OTHER}}
    new = {**old, "status": "PAID", "paid_at": iso(at)}
    return Change(f"ev-paid-{order_id}", "MODIFY", "2", old, new), new


def record(order: dict[str, Any], line: int, level: int, amount: int, channel: str | None) -> dict[str, Any]:
    sold = order["lines"][line - 1]
    item = {"pk": order["pk"], "sk": f"COMMISSION#{line}#{level}", "entity": "commission",
            "order_id": order["order_id"], "commission_id": f"c_{order['order_id']}_{line}_{level}", "level": level,
            "beneficiary_id": STAR if level == 1 else OTHER, "buyer_id": "u_b", "product_id": sold["product_id"],
            "product_name": sold["name"], "base_fen": sold["paid_fen"], "amount_fen": amount, "cancelled_fen": 0,
            "clawed_back_fen": 0, "status": "FROZEN", "created_at": order["paid_at"]}
    if channel is not None:
        item["share_channel"] = channel
    return item


def created(item: dict[str, Any]) -> Change:
    return Change(f"ev-rec-{item['commission_id']}", "INSERT", "1", None, item)


def cancelled(item: dict[str, Any], fen: int) -> Change:
    return Change(f"ev-cancel-{item['commission_id']}", "MODIFY", "2", item,
                  {**item, "status": "FROZEN", "cancelled_fen": fen})


def shop() -> list[Change]:
    o1, o1_new = order("o1", DAY1, {"promoter_code": "STARCODE", "source": "poster", "product_id": "p_tea"},
                       [("p_tea", 10_000)])
    o2, o2_new = order("o2", LATE_EVENING, {"promoter_code": "STARCODE", "source": "qr", "product_id": None},
                       [("p_tea", 5_000), ("p_cup", 2_000)])
    o3, o3_new = order("o3", DAY2, None, [("p_cup", 3_000)])  # a bound customer, no share: direct
    r1 = record(o1_new, 1, 1, 1_000, "poster")
    r1_l2 = record(o1_new, 1, 2, 300, "poster")  # level 2: another promoter's, not this funnel
    r2a, r2b = record(o2_new, 1, 1, 500, "qr"), record(o2_new, 2, 1, 200, "qr")
    r3 = record(o3_new, 1, 1, 300, None)  # created before records carried their channel
    return [
        visit(1, DAY1, "poster", "p_tea"), visit(2, DAY1, "poster", "p_tea"), visit(3, DAY1, "qr", None),
        visit(4, DAY1, "poster", "p_tea", counted=False),  # a repeat from a seen source: not counted
        visit(5, DAY1, "link", "p_tea", promoter=OTHER),
        binding("u_b", DAY1, "poster"), binding("u_c", DAY2, "qr", old_parent=OTHER),
        binding("u_d", DAY2, "link", parent=OTHER, old_parent=STAR),  # moved away: still made on its day
        o1, o2, o3, created(r1), created(r1_l2), created(r2a), created(r2b), created(r3),
        cancelled(r2b, 200),  # its line refunded before settlement
    ]


def funnel(group: str, first: str = "2026-11-01", last: str = "2026-11-07", uid: str = STAR) -> tuple[int, Any]:
    module = load_function("promoter_leaderboard")
    event = http_event("GET", "/promoter/funnel", headers=bearer(uid, Role.PROMOTER))
    event["routeKey"] = "GET /promoter/funnel"
    query = {"from": first, "to": last, "group": group}
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    result = module.handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result["body"])


def rows(body: dict[str, Any]) -> dict[str, tuple[int, int, int, int, int]]:
    return {r["key"]: (r["visits"], r["bindings"], r["orders"], r["paid_fen"], r["commission_fen"])
            for r in body["rows"] if any((r["visits"], r["bindings"], r["orders"], r["paid_fen"], r["commission_fen"]))}


EXPECTED_BY_SOURCE = {"poster": (2, 1, 1, 10_800, 1_000), "qr": (1, 1, 1, 7_800, 500),
                      "direct": (0, 0, 1, 3_800, 0), "unknown": (0, 0, 0, 0, 300)}
EXPECTED_BY_DAY = {"2026-11-02": (3, 1, 1, 10_800, 1_000), "2026-11-03": (0, 1, 1, 3_800, 300),
                   "2026-11-04": (0, 0, 1, 7_800, 500)}
EXPECTED_BY_PRODUCT = {"p_tea": (2, 0, 2, 15_000, 1_500), "p_cup": (0, 0, 2, 5_000, 300), "-": (1, 2, 0, 0, 0)}


def test_the_funnel_counts_each_step_under_the_source_that_brought_it(table: Table) -> None:
    stats = StatsRepository(table)
    apply_changes(stats=stats, changes=shop(), now=NOW)

    status, by_source = funnel("source")
    assert status == 200, by_source
    assert rows(by_source) == EXPECTED_BY_SOURCE
    assert by_source["totals"] == {"visits": 3, "bindings": 2, "orders": 3, "paid_fen": 22_400,
                                   "commission_fen": 1_800}
    status, by_day = funnel("day")
    assert rows(by_day) == EXPECTED_BY_DAY
    assert [r["key"] for r in by_day["rows"]] == [f"2026-11-0{d}" for d in range(1, 8)]  # every day listed
    status, by_product = funnel("product")
    assert rows(by_product) == EXPECTED_BY_PRODUCT
    assert {r["key"]: r["name"] for r in by_product["rows"]}["p_cup"] == "商品p_cup"
    # The other promoter sees their own: one visit, the binding that moved to them, the L2 not here.
    assert rows(funnel("source", uid=OTHER)[1]) == {"link": (1, 1, 0, 0, 0)}


def test_redelivered_and_regrouped_batches_count_nothing_twice(table: Table) -> None:
    stats = StatsRepository(table)
    changes = shop()
    apply_changes(stats=stats, changes=changes[:9], now=NOW)
    apply_changes(stats=stats, changes=changes, now=NOW)  # overlaps the first batch
    apply_changes(stats=stats, changes=list(reversed(changes)), now=NOW)  # redelivered whole, reordered
    assert rows(funnel("source")[1]) == EXPECTED_BY_SOURCE
    assert rows(funnel("product")[1]) == EXPECTED_BY_PRODUCT


def test_the_funnel_takes_one_round_trip_and_refuses_a_bad_range(table: Table) -> None:
    apply_changes(stats=StatsRepository(table), changes=shop(), now=NOW)
    load_function("promoter_leaderboard")
    sent: list[str] = []

    def count(**kwargs: Any) -> None:
        sent.append(str(kwargs.get("event_name", "")))

    client = dynamodb_client()
    client.meta.events.register("before-send.dynamodb", count, unique_id="funnel-trips")
    try:
        status, body = funnel("day", "2026-08-08", "2026-11-07")  # 92 days: the limit
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="funnel-trips")
    assert status == 200 and len(body["rows"]) == 92
    assert len(sent) <= 3 and sum("Query" in s for s in sent) == 1, sent
    status, refused = funnel("day", "2026-08-07", "2026-11-07")
    assert status == 422 and refused["error"]["code"] == "date_range_too_long", refused
    status, refused = funnel("day", "2026-11-07", "2026-11-01")
    assert status == 422 and refused["error"]["fields"][0]["field"] == "query:from", refused
