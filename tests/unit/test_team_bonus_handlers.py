"""Team bonus handlers on moto: the monthly schedule pays each active promoter once however often it
fires, the promoter sees only their own bonuses, the admin sees a month with the risk holds, and
the settlement worker settles a bonus like a commission."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.commissions import commission_item
from mall.dal.keys import bonus_key, risk_hold_key
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table, main_table
from mall.dal.team_bonus import team_order_item
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings
from mall.domain.team_bonus import TeamBonusRules
from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's DynamoDB is not thread-safe under concurrent transactions (the integration tests run the
    shards in parallel against DynamoDB Local)."""
    from mall.services import team_bonus

    monkeypatch.setattr(team_bonus, "RUN_THREADS", 1)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TIERS = [{"min_team_sales_fen": 100_000, "bonus_bp": 100}, {"min_team_sales_fen": 1_000_000, "bonus_bp": 300}]


def enable(table: Table, **rules: Any) -> None:
    document = DistributionSettings(team_bonus=TeamBonusRules.model_validate({"enabled": True, "tiers": TIERS,
                                                                              **rules}))
    SettingsRepository(table).save(document, based_on=0, saved_by="admin:test", now=NOW)


def promoter(table: Table, uid: str, status: str = "active") -> None:
    PromoterRepository(table).create(Promoter(user_id=uid, code=uid[-8:].upper(), status=status,  # type: ignore[arg-type]
                                              level_id="basic", applied_at=NOW),
                                     grant_role=False, replaces_rejected=False, now=NOW, reserve_code=False)


def sales(table: Table, month: str, uid: str, fen: int) -> None:
    """A settled level-1 commission record of ``uid`` on a ``fen`` order paid mid-``month``, and its team order."""
    order_id = f"o_{month}_{uid}"
    paid_at = datetime.fromisoformat(f"{month}-15T04:00:00+00:00")
    record = CommissionRecord(
        commission_id=commission_id(order_id, "1", 1), order_id=order_id, line_id="1", level=1, beneficiary_id=uid,
        buyer_id="u_buyer", product_id="p", product_name="Tea", quantity=1, base_fen=fen, amount_fen=fen // 10,
        status=CommissionStatus.SETTLED, rule={}, created_at=paid_at, settled_at=paid_at)
    table.put(commission_item(record))
    table.put(team_order_item(uid, month, order_id, paid_at, ["COMMISSION#1#1"]))


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


class Api:
    """GET a route of a function (loaded once) with query parameters: (status, json body)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def __call__(self, function: str, path: str, headers: dict[str, str], **query: str) -> tuple[int, Any]:
        module = self._loaded.setdefault(function, load_function(function))
        event = http_event("GET", path, headers=headers)
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = module.handler(event, FakeContext())
        return result["statusCode"], json.loads(result["body"])


def fire(module: Any, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, FakeContext())
    return result


def world() -> Table:
    table = main_table()
    enable(table)
    for uid, fen, status in [("u_alpha", 2_000_000, "active"), ("u_bravo", 150_000, "active"),
                             ("u_charlie", 99_999, "active"), ("u_delta", 5_000_000, "frozen")]:
        promoter(table, uid, status)
        sales(table, "2026-10", uid, fen)
    sales(table, "2026-10", "u_not_a_promoter", 3_000_000)
    return table


def test_the_schedule_firing_twice_pays_each_promoter_once() -> None:
    table = world()
    job = load_function("team_bonus")
    first = fire(job, {"month": "2026-10"})
    assert first["paid"] == 2 and first["paid_fen"] == 60_000 + 1_500, first
    assert first["below_tier"] == 1 and first["not_active"] == 2  # frozen + no promoter item
    again = fire(job, {"month": "2026-10"})
    assert again["paid"] == 0 and again["already_paid"] == 2
    ledger = LedgerRepository(table)
    assert ledger.wallet("u_alpha").balances.frozen == 60_000
    assert ledger.wallet("u_bravo").balances.frozen == 1_500
    assert ledger.wallet("u_delta").balances.frozen == 0
    assert ledger.merchant_balances()["merchant:commission"] == -61_500
    kinds = [p["kind"] for p in ledger.all_postings("u_alpha")]
    assert kinds == ["bonus_frozen"]


def test_the_schedule_time_picks_the_previous_china_month() -> None:
    table = world()
    job = load_function("team_bonus")
    # 2030-01-01T00:00Z is 08:00 on 1 January in China: December 2029 (nothing sold then) and November, whose
    # final date (45 days after its end) has not passed a week ago.
    result = fire(job, {"time": "2030-01-01T00:00:00Z"})
    assert [m["month"] for m in result["months"]] == ["2029-11", "2029-12"] and result["paid"] == 0
    assert table.get(bonus_key("u_alpha", "2026-10")) is None


def test_a_disabled_bonus_pays_nothing() -> None:
    table = main_table()
    promoter(table, "u_alpha")
    sales(table, "2026-10", "u_alpha", 5_000_000)
    result = fire(load_function("team_bonus"), {"month": "2026-10"})
    assert result["enabled"] is False and result["paid"] == 0


def test_promoters_see_only_their_own_bonuses_newest_first() -> None:
    get = Api()
    table = world()
    sales(table, "2026-09", "u_alpha", 120_000)
    job = load_function("team_bonus")
    fire(job, {"month": "2026-09"})
    fire(job, {"month": "2026-10"})
    me = auth("u_alpha", Role.CUSTOMER, Role.PROMOTER)
    status, page = get("promoter_bonuses", "/promoter/bonuses", me)
    assert status == 200, page
    assert [b["month"] for b in page["items"]] == ["2026-10", "2026-09"]
    october = page["items"][0]
    assert october["amount_fen"] == 60_000 and october["bonus_bp"] == 300 and october["status"] == "FROZEN"
    # Paid when final, due at the earliest the month's end + settlement days (the run is later than that here).
    assert october["tier_min_team_sales_fen"] == 1_000_000 and october["due_at"] >= "2026-11-07T16:00:00Z"
    assert "3.00%" in october["explanation"] and october["team_sales_fen"] == 2_000_000
    status, first = get("promoter_bonuses", "/promoter/bonuses", me, limit="1")
    assert status == 200 and len(first["items"]) == 1 and first["next_cursor"]
    status, other = get("promoter_bonuses", "/promoter/bonuses", auth("u_bravo", Role.PROMOTER))
    assert [b["amount_fen"] for b in other["items"]] == [1_500]
    # A cursor of another promoter's list is refused.
    status, refused = get("promoter_bonuses", "/promoter/bonuses", auth("u_bravo", Role.PROMOTER),
                          cursor=first["next_cursor"])
    assert status == 422 and refused["error"]["code"] == "invalid_cursor"
    status, _ = get("promoter_bonuses", "/promoter/bonuses", auth("u_x", Role.CUSTOMER))
    assert status == 403


def test_admins_list_a_month_with_risk_holds() -> None:
    get = Api()
    table = world()
    table.put({**risk_hold_key("u_bravo"), "entity": "risk_hold", "case_id": "rc_1", "opened_at": "2026-11-01"})
    fire(load_function("team_bonus"), {"month": "2026-10"})
    admin = auth("admin:alice", Role.ADMIN)
    status, page = get("admin_bonuses", "/admin/bonuses", admin, month="2026-10")
    assert status == 200, page
    rows = {b["promoter_id"]: b for b in page["items"]}
    assert set(rows) == {"u_alpha", "u_bravo"} and page["month"] == "2026-10"
    assert rows["u_bravo"]["risk_hold"] is True and rows["u_alpha"]["risk_hold"] is False
    assert rows["u_alpha"]["settings_version"] == 1
    status, page1 = get("admin_bonuses", "/admin/bonuses", admin, month="2026-10", limit="1")
    status, page2 = get("admin_bonuses", "/admin/bonuses", admin, month="2026-10", limit="1",
                        cursor=page1["next_cursor"])
    assert [page1["items"][0]["promoter_id"], page2["items"][0]["promoter_id"]] == ["u_alpha", "u_bravo"]
    status, bad = get("admin_bonuses", "/admin/bonuses", admin, month="2026-13")
    assert status == 422 and bad["error"]["fields"][0]["field"] == "query:month"
    status, _ = get("admin_bonuses", "/admin/bonuses", auth("u_alpha", Role.PROMOTER), month="2026-10")
    assert status == 403


def test_the_settlement_worker_settles_a_bonus_message() -> None:
    table = world()
    fire(load_function("team_bonus"), {"month": "2026-10"})
    worker = load_function("settlement_worker")
    key = bonus_key("u_alpha", "2026-10")
    paid = table.get(key)
    assert paid is not None
    body = json.dumps({"as_of": paid["due_at"], "keys": [key]})  # paid when the run found the month final
    event = {"Records": [{"messageId": "m1", "receiptHandle": "r1", "body": body, "attributes": {},
                          "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:SettlementQueue",
                          "awsRegion": "us-east-1"}]}
    assert worker.handler(event, FakeContext())["batchItemFailures"] == []
    assert worker.handler(event, FakeContext())["batchItemFailures"] == []  # redelivered: nothing twice
    wallet = LedgerRepository(table).wallet("u_alpha").balances
    assert (wallet.frozen, wallet.available) == (0, 60_000)
    item = table.get(key)
    assert item is not None and item["status"] == "SETTLED" and "gsi2pk" not in item
