"""The stats worker, the dashboard and the leaderboards through their real handlers, on moto's
DynamoDB: 422s that name the field, role checks, masked nicknames, the caller's own rank, a
malformed message dropped and a redelivered change applied once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from mall.clock import china_day, iso, utc_now
from mall.dal.changes import Change, change_message, record_change
from mall.dal.keys import board_key, board_partition, board_sort_key, distinct_key
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.domain.stats import Target
from mall.domain.stats_periods import period_key
from mall.domain.tokens import Role
from mall.services.stats import apply_change
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.usefixtures("moto_table")


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


ADMIN = auth("admin:alice", Role.ADMIN)
CUSTOMER = auth("u_customer", Role.CUSTOMER)
_loaded: dict[str, ModuleType] = {}


def module(fn: str) -> ModuleType:
    loaded = _loaded.get(fn)
    if loaded is None or loaded.table.name != main_table().name:  # a new test: a new table, a cold start
        loaded = _loaded[fn] = load_function(fn)
    return loaded


def get(fn: str, path: str, headers: dict[str, str], **query: str) -> tuple[int, dict[str, Any]]:
    event = http_event("GET", path, headers=headers)
    if query:
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        event["queryStringParameters"] = dict(query)
    result = module(fn).handler(event, FakeContext())
    return result["statusCode"], json.loads(result.get("body") or "{}")


def sqs(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:StatsQueue", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def paid_order(order_id: str, *, paid_at: datetime, amount: int, l1: str | None = None,
               buyer: str = "u_buyer") -> tuple[dict[str, Any], dict[str, Any]]:
    old = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
           "status": "CREATED", "amount_fen": amount, "created_at": iso(paid_at),
           "lines": [{"line_id": "1", "product_id": "p_tea", "name": "龙井", "quantity": 1, "paid_fen": amount,
                      "refunded_fen": 0}],
           "attribution": {"l1_promoter_id": l1, "l2_promoter_id": None}, "share_source": None}
    return old, {**old, "status": "PAID", "paid_at": iso(paid_at)}


def message(event_id: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    return json.dumps(change_message(Change(event_id, "MODIFY" if old else "INSERT", "1", old, new)))


# ---- the worker -----------------------------------------------------------------------------------


def test_worker_applies_each_change_once_and_drops_malformed_messages_loudly() -> None:
    paid = datetime(2026, 11, 3, 2, tzinfo=UTC)
    body = message("ev-1", *paid_order("o_1", paid_at=paid, amount=5_000))
    worker = module("stats_worker")
    result = worker.handler(sqs(body, "not json", json.dumps({"event_id": ""}), body), FakeContext())
    assert result == {"batchItemFailures": []}
    again = worker.handler(sqs(body), FakeContext())
    assert again == {"batchItemFailures": []}
    status, board = get("admin_dashboard", "/admin/dashboard", ADMIN, **{"from": "2026-11-03", "to": "2026-11-03"})
    assert status == 200, board
    assert (board["gmv_fen"], board["paid_orders"], board["buyers"], board["first_time_buyers"]) == (5_000, 1, 1, 1)
    assert board["top_products"] == [{"product_id": "p_tea", "name": "龙井", "units": 1, "sales_fen": 5_000,
                                      "orders": 1}]


def test_a_failing_change_is_reported_for_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = module("stats_worker")
    paid = datetime(2026, 11, 3, 2, tzinfo=UTC)
    good = message("ev-ok", *paid_order("o_2", paid_at=paid, amount=100))
    bad = message("ev-bad", *paid_order("o_3", paid_at=paid, amount=100))
    real = worker.apply_change

    def flaky(*, stats: Any, change: Change, now: datetime) -> Any:
        if change.event_id == "ev-bad":
            raise RuntimeError("throttled")
        return real(stats=stats, change=change, now=now)

    def merged(*, stats: Any, changes: list[Change], now: datetime) -> Any:
        if any(change.event_id == "ev-bad" for change in changes):
            raise RuntimeError("throttled")
        raise AssertionError("the batch holds the bad change")

    # The batch's merged update fails on the bad change; then each change alone: only it fails.
    monkeypatch.setattr(worker, "apply_changes", merged)
    monkeypatch.setattr(worker, "apply_change", flaky)
    result = worker.handler(sqs(good, bad), FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


# ---- the dashboard --------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "code", "fields"), [
    ({"from": "2026-11-3", "to": "2026-11-03"}, "validation_error", ["query:from"]),
    ({"from": "2026-11-01", "to": "2026-02-30"}, "invalid_date", ["query:to"]),
    ({"from": "9999-12-01", "to": "9999-12-31"}, "invalid_date", ["query:from"]),
    ({"from": "2026-11-05", "to": "2026-11-01"}, "invalid_date_range", ["query:from"]),
    ({"from": "2025-10-31", "to": "2026-11-01"}, "date_range_too_long", ["query:from", "query:to"]),
])
def test_dashboard_refuses_bad_ranges_naming_the_field(query: dict[str, str], code: str, fields: list[str]) -> None:
    status, body = get("admin_dashboard", "/admin/dashboard", ADMIN, **query)
    assert status == 422, body
    assert body["error"]["code"] == code
    assert [f["field"] for f in body["error"]["fields"]] == fields


def test_a_year_is_fine_and_no_range_means_the_last_seven_days() -> None:
    status, body = get("admin_dashboard", "/admin/dashboard", ADMIN, **{"from": "2024-01-01", "to": "2024-12-31"})
    assert status == 200 and body["days"] == 366, body
    status, body = get("admin_dashboard", "/admin/dashboard", ADMIN)
    assert status == 200 and body["days"] == 7 and body["date_to"] == china_day(utc_now())
    assert body["gmv_fen"] == 0 and body["average_order_value_fen"] == 0 and body["conversion_bp"] == 0


@pytest.mark.parametrize(("fn", "path", "headers", "status"), [
    ("admin_dashboard", "/admin/dashboard", {}, 401),
    ("admin_dashboard", "/admin/dashboard", CUSTOMER, 403),
    ("admin_dashboard", "/admin/dashboard", auth("u_p", Role.CUSTOMER, Role.PROMOTER), 403),
    ("admin_leaderboard", "/admin/leaderboard", auth("u_p", Role.CUSTOMER, Role.PROMOTER), 403),
    ("promoter_leaderboard", "/promoter/leaderboard", CUSTOMER, 403),
    ("promoter_leaderboard", "/promoter/leaderboard", ADMIN, 403),
    ("promoter_leaderboard", "/promoter/leaderboard", {}, 401),
])
def test_roles(fn: str, path: str, headers: dict[str, str], status: int) -> None:
    got, body = get(fn, path, headers)
    assert got == status, body


def test_dashboard_figures_from_applied_changes() -> None:
    table = main_table()
    day = datetime(2026, 11, 3, 2, tzinfo=UTC)
    n = 0

    def change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        nonlocal n
        n += 1
        apply_change(stats=StatsRepository(table), change=Change(f"ev-{n}", "MODIFY", str(n), old, new), now=day)

    change(*paid_order("o_1", paid_at=day, amount=3_000, l1="u_star", buyer="u_b1"))
    change(*paid_order("o_2", paid_at=day, amount=1_000, l1="u_star", buyer="u_b1"))
    change(*paid_order("o_3", paid_at=day, amount=2_001, buyer="u_b2"))
    star = {"pk": "USER#u_star", "sk": "PROMOTER", "entity": "promoter", "status": "active",
            "activated_at": iso(day), "nickname": "星星之火"}
    table.put(star)
    change(None, star)
    change(None, {"pk": "PVISITS#u_star", "sk": "VISIT#1", "entity": "share_visit", "promoter_id": "u_star",
                  "at": iso(day)})
    status, body = get("admin_dashboard", "/admin/dashboard", ADMIN, **{"from": "2026-11-01", "to": "2026-11-30"})
    assert status == 200, body
    assert (body["gmv_fen"], body["paid_orders"], body["average_order_value_fen"]) == (6_001, 3, 2_000)
    assert (body["buyers"], body["repeat_buyers"], body["repurchase_rate_bp"]) == (2, 1, 5_000)
    assert (body["first_time_buyers"], body["became_repeat_buyers"]) == (2, 1)
    assert body["repurchase_rate_all_time_bp"] == 5_000
    assert (body["promoters_total"], body["promoters_new"], body["promoters_active"]) == (1, 1, 1)
    assert body["share_visits"] == 1 and body["conversion_bp"] == 0
    assert body["top_promoters"] == [{"user_id": "u_star", "nickname": "星**火", "sales_fen": 4_000, "orders": 2,
                                      "commission_fen": 0}]
    assert body["granularity"] == "day" and len(body["series"]) == 30
    assert [p for p in body["series"] if p["gmv_fen"] or p["share_visits"]] == [{
        "period": "2026-11-03", "gmv_fen": 6_001, "paid_orders": 3, "refund_fen": 0, "commission_fen": 0,
        "l1_commission_fen": 0, "l2_commission_fen": 0, "share_visits": 1, "shared_orders": 0}]


# ---- leaderboards ---------------------------------------------------------------------------------


def commission_created(uid: str, cid: str, amount: int, at: datetime) -> Change:
    new = {"pk": f"ORDER#o_{cid}", "sk": "COMMISSION#1#1", "entity": "commission", "order_id": f"o_{cid}",
           "commission_id": cid, "level": 1, "beneficiary_id": uid, "buyer_id": "u_buyer", "base_fen": amount * 10,
           "amount_fen": amount, "cancelled_fen": 0, "clawed_back_fen": 0, "status": "FROZEN", "created_at": iso(at)}
    return Change(f"ev-{cid}", "INSERT", "1", None, new)


def seed_score(uid: str, key: str, score: int) -> None:
    main_table().put({**board_key("commission", key, uid), "entity": "leaderboard_entry", "board": "commission",
                      "period_key": key, "promoter_id": uid, "score_fen": score,
                      "gsi1pk": board_partition("commission", key), "gsi1sk": board_sort_key(score, uid)})


def test_leaderboard_top_100_masked_with_the_callers_own_rank_beyond_it() -> None:
    table = main_table()
    now = utc_now()
    for i in range(104):  # scores 100, 200, … 10,400; two promoters tied at 5,000
        uid = f"u_p{i:03d}"
        table.put({"pk": f"USER#{uid}", "sk": "PROMOTER", "entity": "promoter", "nickname": f"推广员{i:03d}号"})
        if i < 100:  # moto copies the whole table for every transaction: seed most entries as the worker writes them
            for period in ("week", "month"):
                seed_score(uid, period_key(period, china_day(now)), 100 * (i + 1))
        else:
            apply_change(stats=StatsRepository(table), change=commission_created(uid, f"c{i}", 100 * (i + 1), now),
                         now=now)
    apply_change(stats=StatsRepository(table), change=commission_created("u_tie", "ctie", 5_000, now), now=now)
    me = auth("u_p002", Role.CUSTOMER, Role.PROMOTER)  # score 300: rank 103
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", me, board="commission", period="week")
    assert status == 200, body
    assert body["period_key"] == period_key("week", china_day(now))
    entries = body["entries"]
    assert len(entries) == 100
    assert entries[0] == {"rank": 1, "nickname": "推**号", "score_fen": 10_400, "is_me": False}
    assert [e["rank"] for e in entries if e["score_fen"] == 5_000] == [55, 55]
    assert "u_p" not in json.dumps(body) and "推广员" not in json.dumps(body)
    assert body["me"] == {"rank": 103, "score_fen": 300, "beyond_cap": False, "rank_cap": 1_000}
    top = auth("u_p103", Role.CUSTOMER, Role.PROMOTER)
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", top, board="commission", period="month")
    assert body["me"]["rank"] == 1 and body["entries"][0]["is_me"] is True
    nobody = auth("u_nobody", Role.CUSTOMER, Role.PROMOTER)
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", nobody)
    assert body["me"] == {"rank": None, "score_fen": 0, "beyond_cap": False, "rank_cap": 1_000}
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", nobody, board="sales")
    assert status == 200 and body["entries"] == []
    status, body = get("admin_leaderboard", "/admin/leaderboard", ADMIN, board="commission", period="week")
    assert status == 200 and body["entries"][0]["user_id"] == "u_p103" and len(body["entries"]) == 100


def test_rank_beyond_the_cap_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    table = main_table()
    now = utc_now()
    for i in range(5):
        apply_change(stats=StatsRepository(table), change=commission_created(f"u_r{i}", f"r{i}", 100 * (i + 1), now),
                     now=now)
    key = period_key("week", china_day(now))
    repo = StatsRepository(table)
    assert repo.count_above("commission", key, 100) == (4, False)
    assert repo.count_above("commission", key, 100, cap=3) == (3, True)
    assert repo.count_above("commission", key, 500) == (0, False)
    monkeypatch.setattr("mall.services.stats.RANK_COUNT_CAP", 2)
    monkeypatch.setattr("mall.services.stats.BOARD_SIZE", 2)
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", auth("u_r0", Role.CUSTOMER, Role.PROMOTER))
    assert status == 200 and body["me"]["rank"] is None and body["me"]["beyond_cap"] is True
    assert body["me"]["score_fen"] == 100 and body["me"]["rank_cap"] == 2
    status, body = get("promoter_leaderboard", "/promoter/leaderboard", auth("u_r2", Role.CUSTOMER, Role.PROMOTER))
    assert body["me"] == {"rank": 3, "score_fen": 300, "beyond_cap": False, "rank_cap": 2}


# ---- what the domain is handed ----------------------------------------------------------------------


def test_the_domain_reads_a_records_attributes_without_its_keys() -> None:
    order = {"pk": "ORDER#o_1", "sk": "ORDER", "gsi1pk": "X", "gsi1sk": "Y", "entity": "order", "status": "PAID"}
    change = record_change(Change("e1", "MODIFY", "1", None, order))
    assert (change.event_id, change.entity, change.old, change.new) == ("e1", "order", None,
                                                                        {"entity": "order", "status": "PAID"})
    assert record_change(Change("e2", "INSERT", "1", None, {**order, "sk": "STATUS"})).entity is None
    profile = {"pk": "USER#u_1", "sk": "PROFILE", "entity": "customer"}
    assert record_change(Change("e3", "INSERT", "1", None, profile)).entity == "customer"
    assert record_change(Change("e4", "INSERT", "1", None, {**profile, "sk": "OTHER"})).entity is None


def test_team_order_markers_keep_their_stored_key() -> None:
    # The markers are kept for good: another key would count every settled order in the team's orders again.
    team = Target("team_sales", "2026-11", "u_p1")
    assert distinct_key(team, "o_1") == {"pk": "STATS_SEEN#TEAM_ORDER#2026-11#u_p1", "sk": "o_1"}
    with pytest.raises(ValueError, match="no distinct members"):
        distinct_key(Target("agg", "2026-11-03"), "o_1")
