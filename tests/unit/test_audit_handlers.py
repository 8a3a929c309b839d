"""GET /admin/audit and GET /promoter/history through the real handlers (moto): filters, windows,
422s naming the field, pagination, roles, and a promoter seeing only their own history."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import iso, utc_now
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.commissions import commission_item
from mall.dal.table import main_table
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.tokens import Role
from mall.domain.withdrawals import WithdrawalStatus
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_payouts import approved_withdrawal
from tests.unit.test_referral_handlers import customer

pytestmark = pytest.mark.usefixtures("moto_table")

ALICE = "admin:alice"
BOB = "admin:bob"


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


class Api:
    def __init__(self) -> None:
        self.modules: dict[str, Any] = {}

    def call(self, function: str, method: str, path: str, *, headers: dict[str, str] | None = None,
             body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
        if function not in self.modules:
            self.modules[function] = load_function(function)
        event = http_event(method, path, body=body, headers=headers or {})
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = self.modules[function].handler(event, FakeContext())
        return int(result["statusCode"]), json.loads(result.get("body") or "null")

    def audit(self, who: str = ALICE, **query: str) -> tuple[int, Any]:
        return self.call("admin_audit", "GET", "/admin/audit", headers=auth(who, Role.ADMIN), query=query)

    def history(self, uid: str, **query: str) -> tuple[int, Any]:
        return self.call("promoter_history", "GET", "/promoter/history",
                         headers=auth(uid, Role.CUSTOMER, Role.PROMOTER), query=query)


@pytest.fixture
def api() -> Api:
    return Api()


def fields(body: Any) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


def entry(action: str, actor: str = ALICE, entity_type: str = "promoter", entity_id: str = "u_a",
          ago: timedelta = timedelta(0)) -> None:
    AuditLog(main_table()).append(AuditEntry(action=action, actor=actor, entity_type=entity_type, entity_id=entity_id,
                                             source_ip="203.0.113.9", before={"status": "active"},
                                             after={"status": "frozen"}), utc_now() - ago)


# ---- GET /admin/audit -----------------------------------------------------------------------------------


def test_a_settings_change_is_found_by_entity_with_its_before_and_after(api: Api) -> None:
    status, _ = api.call("admin_settings", "PUT", "/admin/settings/distribution", headers=auth(ALICE, Role.ADMIN),
                         body={"based_on_version": 0, "promoter_title": "推客"})
    assert status == 200
    status, _ = api.call("admin_settings", "PUT", "/admin/settings/distribution", headers=auth(BOB, Role.ADMIN),
                         body={"based_on_version": 1, "promoter_title": "合伙人"})
    assert status == 200
    status, page = api.audit(entity_type="settings", entity_id="distribution")
    assert status == 200, page
    assert [(i["actor"], i["after"]["promoter_title"]) for i in page["items"]] == [(BOB, "合伙人"), (ALICE, "推客")]
    newest = page["items"][0]
    assert newest["before"] == {"promoter_title": "推客"} and newest["details"]["version"] == 2
    assert newest["source_ip"] == "127.0.0.1" and newest["action"] == "settings.save"
    status, only_alice = api.audit(entity_type="settings", entity_id="distribution", actor=ALICE)
    assert [i["actor"] for i in only_alice["items"]] == [ALICE]


def test_by_actor_by_action_and_by_time_newest_first(api: Api) -> None:
    entry("promoter.freeze", entity_id="u_1", ago=timedelta(minutes=3))
    entry("promoter.approve", entity_id="u_2", ago=timedelta(minutes=2))
    entry("promoter.freeze", actor=BOB, entity_id="u_3", ago=timedelta(minutes=1))
    status, mine = api.audit(actor=ALICE)
    assert status == 200 and [i["entity_id"] for i in mine["items"]] == ["u_2", "u_1"]
    status, frozen = api.audit(action="promoter.freeze")
    assert [i["entity_id"] for i in frozen["items"]] == ["u_3", "u_1"]
    status, everything = api.audit()
    assert [i["entity_id"] for i in everything["items"]] == ["u_3", "u_2", "u_1"]
    recent = iso(utc_now() - timedelta(seconds=150))
    status, later = api.audit(**{"from": recent})
    assert [i["entity_id"] for i in later["items"]] == ["u_3", "u_2"]


def test_a_window_spans_day_partitions_and_pages_with_a_cursor(api: Api) -> None:
    for days in (0, 1, 3, 5):
        entry("product.update", entity_type="product", entity_id=f"p_{days}", ago=timedelta(days=days, minutes=1))
    start = iso(utc_now() - timedelta(days=4))
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query = {"from": start, "limit": "1", **({"cursor": cursor} if cursor else {})}
        status, page = api.audit(**query)
        assert status == 200, page
        seen += [i["entity_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["p_0", "p_1", "p_3"]
    status, page = api.audit(limit="1")
    status, wrong = api.audit(limit="1", action="x.y", cursor=page["next_cursor"])
    assert status == 422 and wrong["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(("query", "field", "code"), [
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "query:from", "audit_window_too_long"),
    ({"from": "2026-03-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "query:from", "invalid_time_range"),
    ({"from": "yesterday"}, "query:from", "invalid_time"),
    ({"to": "2026-13-01T00:00:00Z"}, "query:to", "invalid_time"),
    ({"entity_type": "settings"}, "query:entity_id", "invalid_audit_filter"),
    ({"entity_id": "distribution"}, "query:entity_type", "invalid_audit_filter"),
    ({"limit": "0"}, "query:limit", "validation_error"),
    ({"actor": "admin alice"}, "query:actor", "validation_error"),
])
def test_bad_filters_are_422_naming_the_field(api: Api, query: dict[str, str], field: str, code: str) -> None:
    status, body = api.audit(**query)
    assert status == 422 and body["error"]["code"] == code and field in fields(body), body


def test_a_long_window_is_fine_for_one_actor_or_entity(api: Api) -> None:
    entry("promoter.freeze", entity_id="u_old", ago=timedelta(days=200))
    window = {"from": iso(utc_now() - timedelta(days=400)), "to": iso(utc_now())}
    status, page = api.audit(actor=ALICE, **window)
    assert status == 200 and [i["entity_id"] for i in page["items"]] == ["u_old"]
    status, page = api.audit(entity_type="promoter", entity_id="u_old", **window)
    assert status == 200 and len(page["items"]) == 1


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ("customer", 403),
    ("promoter", 403),
])
def test_only_admins_query_the_audit_trail(api: Api, headers: Any, status: int) -> None:
    sent = {"customer": auth("u_c", Role.CUSTOMER), "promoter": auth("u_p", Role.CUSTOMER, Role.PROMOTER)}.get(
        headers, {}) if isinstance(headers, str) else headers
    got, _ = api.call("admin_audit", "GET", "/admin/audit", headers=sent)
    assert got == status


# ---- GET /promoter/history ------------------------------------------------------------------------------


def approve(api: Api, uid: str) -> str:
    """An applied-then-approved promoter; returns the share code."""
    customer(uid, nickname="小艾")
    status, body = api.call("promoter_apply", "POST", "/promoter/apply", body={"accepted_rules_version": 0},
                            headers={**auth(uid, Role.CUSTOMER), "idempotency-key": f"apply-{uid}"})
    assert status == 201, body
    assert api.call("admin_promoters", "POST", f"/admin/promoters/{uid}/approve", body={},
                    headers=auth(ALICE, Role.ADMIN))[0] == 200
    return str(body["code"])


def bind(api: Api, member: str, code: str) -> None:
    status, body = api.call("admin_bindings", "PUT", f"/admin/customers/{member}/binding",
                            body={"promoter_code": code, "reason": "客户要求"}, headers=auth(ALICE, Role.ADMIN))
    assert status == 200, body


def test_binding_history_shows_my_own_binding_members_who_joined_and_who_left(api: Api) -> None:
    boss = approve(api, "u_boss")
    mine = approve(api, "u_me")
    other = approve(api, "u_other")
    bind(api, "u_me", boss)  # my own binding
    customer("u_member_1")
    customer("u_member_2")
    bind(api, "u_member_1", mine)  # joined
    bind(api, "u_member_2", mine)  # joined ...
    bind(api, "u_member_2", other)  # ... and left for another promoter
    status, page = api.history("u_me", kind="binding")
    assert status == 200, page
    got = [(i["direction"], i["action"], i["member"], i["by"]) for i in page["items"]]
    assert got == [("left", "rebind", "u_me****er_2", "admin"), ("joined", "bind", "u_me****er_2", "admin"),
                   ("joined", "bind", "u_me****er_1", "admin"), ("own", "bind", None, "admin")]
    assert page["items"][0]["promoter_code"] is None  # where the member went is not mine to know
    assert "u_other" not in json.dumps(page) and ALICE not in json.dumps(page)
    # The other promoter sees the member joining, not my history.
    status, theirs = api.history("u_other", kind="binding")
    assert [(i["direction"], i["member"]) for i in theirs["items"]] == [("joined", "u_me****er_2")]
    # Page by page through the three streams, one at a time, the same order.
    seen: list[tuple[str, str | None]] = []
    cursor = None
    for _ in range(6):
        status, one = api.history("u_me", kind="binding", limit="1", **({"cursor": cursor} if cursor else {}))
        assert status == 200 and len(one["items"]) <= 1
        seen += [(i["direction"], i["member"]) for i in one["items"]]
        cursor = one["next_cursor"]
        if cursor is None:
            break
    assert seen == [(d, m) for d, _, m, _ in got]
    # Someone else's cursor is refused (it reads my partitions).
    status, first = api.history("u_me", kind="binding", limit="1")
    status, stolen = api.history("u_other", kind="binding", limit="1", cursor=first["next_cursor"])
    assert status == 422 and stolen["error"]["code"] == "invalid_cursor"


def record(uid: str, n: int, *, days_ago: int = 0, status: CommissionStatus = CommissionStatus.FROZEN) -> None:
    at = utc_now() - timedelta(days=days_ago)
    main_table().put(commission_item(CommissionRecord(
        commission_id=f"cm_{uid}_{n}", order_id=f"o_{uid}_{n}", line_id="1", level=1, beneficiary_id=uid,
        buyer_id="u_buyer_with_long_id", product_id="p_1", product_name="棉麻衬衫", quantity=1, base_fen=10_000,
        amount_fen=1_000, status=status, rule={}, created_at=at,
        history=[{"at": iso(at), "status": "FROZEN", "amount_fen": 1_000},
                 {"at": iso(at), "status": status.value, "settled_fen": 1_000}])))


def test_commission_history_is_mine_with_status_changes_and_a_time_window(api: Api) -> None:
    record("u_me", 1, days_ago=10, status=CommissionStatus.SETTLED)
    record("u_me", 2, days_ago=1)
    record("u_other", 1)
    status, page = api.history("u_me", kind="commission")
    assert status == 200, page
    assert [i["commission_id"] for i in page["items"]] == ["cm_u_me_2", "cm_u_me_1"]
    settled = page["items"][1]
    assert settled["status"] == "SETTLED" and [e["status"] for e in settled["events"]] == ["FROZEN", "SETTLED"]
    assert settled["buyer_id"] == "u_bu****g_id"
    status, recent = api.history("u_me", kind="commission", **{"from": iso(utc_now() - timedelta(days=5))})
    assert [i["commission_id"] for i in recent["items"]] == ["cm_u_me_2"]
    status, bad = api.history("u_me", kind="commission", **{"from": "2026-02-01T00:00:00Z",
                                                             "to": "2026-01-01T00:00:00Z"})
    assert status == 422 and "query:from" in fields(bad)


def test_withdrawal_history_is_mine_with_its_timeline_and_no_admin_names(api: Api) -> None:
    customer("u_me")
    customer("u_other")
    table = main_table()
    mine = approved_withdrawal(table, "u_me", method="bank", status=WithdrawalStatus.PENDING_REVIEW)
    approved_withdrawal(table, "u_other", method="bank", status=WithdrawalStatus.PENDING_REVIEW)
    status, _ = api.call("admin_withdrawal_review", "POST", f"/admin/withdrawals/{mine.withdrawal_id}/reject",
                         body={"reason": "资料不符"}, headers=auth(ALICE, Role.ADMIN))
    assert status == 200
    status, page = api.history("u_me", kind="withdrawal")
    assert status == 200, page
    assert [i["withdrawal_id"] for i in page["items"]] == [mine.withdrawal_id]
    item = page["items"][0]
    assert item["status"] == "REJECTED" and item["reason"] == "资料不符"
    assert [e["by"] for e in item["events"]][-1] == "admin" and ALICE not in json.dumps(page)


@pytest.mark.parametrize(("roles", "status"), [((), 401), ((Role.CUSTOMER,), 403), ((Role.ADMIN,), 403)])
def test_only_promoters_see_a_history(api: Api, roles: tuple[Role, ...], status: int) -> None:
    headers = auth("u_me", *roles) if roles else {}
    got, _ = api.call("promoter_history", "GET", "/promoter/history", headers=headers, query={"kind": "binding"})
    assert got == status


def test_history_needs_a_known_kind(api: Api) -> None:
    status, body = api.history("u_me", kind="orders")
    assert status == 422 and "query:kind" in fields(body)
    status, body = api.history("u_me")
    assert status == 422 and "query:kind" in fields(body)
