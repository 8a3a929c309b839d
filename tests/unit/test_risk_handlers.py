"""Risk cases through the admin handler against moto: opening holds the promoter's unsettled
records (out of the due index) once; the queue by status and by promoter, paginated; the detail
with evidence and held amounts; release lifts the hold only when no case stays open; confirm voids
with ledger reversals, freezes the promoter and keeps the hold; each decision audited once with
its source IP; 409 naming the state; an interrupted decision is finished by repeating it."""

from __future__ import annotations

import json
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.commissions import commission_item
from mall.dal.keys import audit_entity_partition, commission_key, risk_hold_key
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Item, Table, Write, main_table
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from mall.services import risk
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function

PROMOTER = "u_risky"
OTHER = "u_clean"
ADMIN = "admin:alice"
NOW = utc_now().replace(microsecond=0)


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


class Admin:
    def __init__(self) -> None:
        self.module: ModuleType = load_function("admin_risk_cases")

    def call(self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        event = http_event(method, path, body=body, headers=headers if headers is not None else auth(ADMIN, Role.ADMIN))
        event["requestContext"]["http"]["sourceIp"] = "198.51.100.9"
        if query:
            event["queryStringParameters"] = query
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = self.module.handler(event, FakeContext())
        return int(result["statusCode"]), json.loads(result.get("body") or "{}")

    def release(self, case_id: str, note: str = "正常团购") -> tuple[int, Any]:
        return self.call("POST", f"/admin/risk/cases/{case_id}/release", body={"note": note})

    def confirm(self, case_id: str, note: str = "刷单") -> tuple[int, Any]:
        return self.call("POST", f"/admin/risk/cases/{case_id}/confirm", body={"note": note})


@pytest.fixture
def admin(moto_table: str) -> Admin:
    for uid in (PROMOTER, OTHER):
        PromoterRepository(main_table()).create(
            Promoter(user_id=uid, code=f"C{uid[-4:].upper()}", status="active", level_id="basic", applied_at=NOW,
                     activated_at=NOW), grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    return Admin()


def seed(order: str, amount: int, *, beneficiary: str = PROMOTER, due: bool = True, level: int = 1) -> CommissionRecord:
    """A FROZEN record and its ``commission_frozen`` posting (one transaction), due yesterday or undated."""
    table = main_table()
    cid = commission_id(order, "l1", level)
    record = CommissionRecord(
        commission_id=cid, order_id=order, line_id="l1", level=level, beneficiary_id=beneficiary,  # type: ignore[arg-type]
        buyer_id="u_buyer", product_id="p1", product_name="Tea", quantity=1, base_fen=amount * 10, amount_fen=amount,
        status=CommissionStatus.FROZEN, rule={}, created_at=NOW - timedelta(days=10),
        due_at=NOW - timedelta(days=1) if due else None)
    LedgerRepository(table).post(
        [L.commission_frozen(promoter_id=beneficiary, commission_id=cid, amount_fen=amount, at=record.created_at,
                             ref={"commission_id": cid})],
        also=[Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])
    return record


def stored(record: CommissionRecord) -> Item:
    item = main_table().get(commission_key(record.order_id, record.line_id, record.level), consistent=True)
    assert item is not None
    return item


def open_case(rule: str = "same_device", window: str = "2026-11-19", uid: str = PROMOTER,
              at: Any = None) -> str:
    view = risk.open_case(repos=risk.RiskRepositories.on(main_table()), promoter_id=uid, rule=rule, window_key=window,
                          evidence={"accounts": 7, "device": "dev-hash-1", "ratio": 0.5}, now=at or NOW)
    assert view is not None
    return view.case_id


def audits(case_id: str) -> list[Item]:
    table: Table = main_table()
    return table.query(partition=("gsi2pk", audit_entity_partition("risk_case", case_id)), index="gsi2", limit=50).items


def hold() -> Item | None:
    return main_table().get(risk_hold_key(PROMOTER), consistent=True)


def test_opening_holds_unsettled_records_once_and_the_admin_sees_the_case(admin: Admin) -> None:
    due = seed("o1", 300)
    undated = seed("o2", 200, due=False)
    settled_elsewhere = seed("o3", 100, beneficiary=OTHER)
    case_id = open_case()
    assert (stored(due)["hold"], stored(undated)["hold"]) == (case_id, case_id)
    assert "gsi2pk" not in stored(due) and stored(due)["version"] == 2
    assert stored(due)["history"][-1]["hold"] == case_id
    assert "hold" not in stored(settled_elsewhere) and "gsi2pk" in stored(settled_elsewhere)
    h = hold()
    assert h is not None and h["case_id"] == case_id and set(h["open_cases"]) == {case_id}
    # The same hit again: no second case, nothing changes.
    assert risk.open_case(repos=risk.RiskRepositories.on(main_table()),
                          promoter_id=PROMOTER, rule="same_device", window_key="2026-11-19",
                          evidence={}, now=NOW + timedelta(hours=1)) is None
    assert stored(due)["version"] == 2
    assert [a["action"] for a in audits(case_id)] == ["risk_case.open"]

    status, page = admin.call("GET", "/admin/risk/cases")
    assert status == 200 and [c["case_id"] for c in page["items"]] == [case_id]
    assert page["items"][0]["status"] == "OPEN" and page["items"][0]["evidence"]["ratio"] == 0.5
    status, detail = admin.call("GET", f"/admin/risk/cases/{case_id}")
    assert status == 200, detail
    assert detail["case"]["rule"] == "same_device" and detail["case"]["evidence"]["accounts"] == 7
    assert detail["held"] == {"count": 2, "amount_fen": 500} and detail["voided"] == {"count": 0, "amount_fen": 0}
    assert detail["hold"]["case_id"] == case_id and detail["hold"]["open_cases"] == [case_id]
    assert detail["promoter_status"] == "active"


def test_release_lifts_the_hold_and_puts_records_back_into_the_due_index(admin: Admin) -> None:
    due = seed("o1", 300)
    undated = seed("o2", 200, due=False)
    case_id = open_case()
    status, body = admin.release(case_id, note="核实无误")
    assert status == 200, body
    assert (body["status"], body["resolved_by"], body["note"], body["resolution_pending"]) == (
        "RELEASED", ADMIN, "核实无误", False)
    assert hold() is None
    assert "hold" not in stored(due) and stored(due)["gsi2pk"].startswith("SETTLE_DUE#")
    assert "hold" not in stored(undated) and "gsi2pk" not in stored(undated)  # no due date yet: not in the index
    assert stored(due)["status"] == "FROZEN" and LedgerRepository(main_table()).wallet(PROMOTER).balances.frozen == 500
    entries = {a["action"]: a for a in audits(case_id)}
    release = entries["risk_case.release"]
    assert (release["actor"], release["source_ip"], release["before"], release["after"]) == (
        ADMIN, "198.51.100.9", {"status": "OPEN"}, {"status": "RELEASED", "hold": "lifted"})
    assert release["details"]["note"] == "核实无误" and release["subject_user"] == PROMOTER

    status, again = admin.release(case_id)
    assert status == 409 and again["error"]["code"] == "risk_case_not_open"
    status, other = admin.confirm(case_id)
    assert status == 409 and other["error"]["code"] == "risk_case_not_open"
    assert len(audits(case_id)) == 2  # open + release, nothing more
    assert admin.call("GET", "/admin/risk/cases", query={"status": "RELEASED"})[1]["items"][0]["case_id"] == case_id
    assert admin.call("GET", "/admin/risk/cases")[1]["items"] == []


def test_confirm_voids_with_reversals_freezes_the_promoter_and_keeps_the_hold(admin: Admin) -> None:
    first = seed("o1", 300)
    second = seed("o2", 200, level=2)
    other = seed("o3", 100, beneficiary=OTHER)
    case_id = open_case()
    status, body = admin.confirm(case_id, note="同设备刷单")
    assert status == 200, body
    assert body["status"] == "CONFIRMED"
    ledger = LedgerRepository(main_table())
    assert ledger.wallet(PROMOTER).balances == L.Balances()  # frozen 500 → 0
    assert ledger.wallet(OTHER).balances == L.Balances(frozen=100)
    voided = [p for p in ledger.all_postings(PROMOTER) if p["kind"] == "commission_voided"]
    assert sorted((p["posting_id"], p["amount_fen"]) for p in voided) == sorted([
        (f"{first.commission_id}.cancel.void_{case_id}", 300), (f"{second.commission_id}.cancel.void_{case_id}", 200)])
    for record in (first, second):
        item = stored(record)
        assert (item["status"], item["cancelled_fen"], item["voided_by"]) == ("CANCELLED", record.amount_fen, case_id)
        assert "gsi2pk" not in item
    assert stored(other)["status"] == "FROZEN"
    promoter = PromoterRepository(main_table()).get(PROMOTER, consistent=True)
    assert promoter is not None and promoter.status == "frozen" and case_id in (promoter.reason or "")
    h = hold()
    assert h is not None and h["confirmed_case_id"] == case_id and h["open_cases"] == {}
    status, detail = admin.call("GET", f"/admin/risk/cases/{case_id}")
    assert detail["voided"] == {"count": 2, "amount_fen": 500} and detail["held"]["count"] == 0
    assert detail["promoter_status"] == "frozen"
    assert [a["action"] for a in audits(case_id)].count("risk_case.confirm") == 1
    # Unfreezing the promoter later lets the confirmed hold be lifted (nothing open).
    assert not risk.lift_hold_after_unfreeze(repos=risk.RiskRepositories.on(main_table()),
                                             promoter_id=PROMOTER, now=NOW)  # still frozen
    main_table().update({"pk": f"USER#{PROMOTER}", "sk": "PROMOTER"}, "SET #s = :a", names={"#s": "status"},
                        values={":a": "active"})
    assert risk.lift_hold_after_unfreeze(repos=risk.RiskRepositories.on(main_table()), promoter_id=PROMOTER, now=NOW)
    assert hold() is None


def test_a_second_open_case_keeps_the_hold_until_both_are_resolved(admin: Admin) -> None:
    record = seed("o1", 300)
    first = open_case(rule="same_device", at=NOW)
    second = open_case(rule="commission_spike", at=NOW + timedelta(minutes=5))
    h = hold()
    assert h is not None and h["case_id"] == first and set(h["open_cases"]) == {first, second}
    assert admin.release(first)[0] == 200
    h = hold()
    assert h is not None and h["case_id"] == second and set(h["open_cases"]) == {second}
    assert stored(record)["hold"] == first and "gsi2pk" not in stored(record)  # still held
    new = seed("o2", 50)  # a record created meanwhile is held by the remaining case (the sweep of a re-run)
    assert risk.open_case(repos=risk.RiskRepositories.on(main_table()),
                          promoter_id=PROMOTER, rule="commission_spike", window_key="2026-11-19",
                          evidence={}, now=NOW) is None
    assert stored(new)["hold"] == second
    status, body = admin.release(second)
    assert status == 200 and body["status"] == "RELEASED"
    assert hold() is None and "hold" not in stored(record) and "hold" not in stored(new)
    status, page = admin.call("GET", "/admin/risk/cases", query={"promoter_id": PROMOTER})
    assert [c["case_id"] for c in page["items"]] == [second, first]


def test_lists_paginate_newest_first_by_status_and_by_promoter(admin: Admin) -> None:
    ids = [open_case(rule=f"r{i}", at=NOW + timedelta(minutes=i)) for i in range(3)]
    other = open_case(rule="r9", uid=OTHER, at=NOW + timedelta(minutes=9))
    status, page = admin.call("GET", "/admin/risk/cases", query={"limit": "2"})
    assert status == 200 and [c["case_id"] for c in page["items"]] == [other, ids[2]]
    status, rest = admin.call("GET", "/admin/risk/cases", query={"limit": "2", "cursor": page["next_cursor"]})
    assert [c["case_id"] for c in rest["items"]] == [ids[1], ids[0]]
    status, mine = admin.call("GET", "/admin/risk/cases", query={"promoter_id": PROMOTER, "limit": "2"})
    assert [c["case_id"] for c in mine["items"]] == [ids[2], ids[1]]
    # A cursor of one list is refused by another.
    status, bad = admin.call("GET", "/admin/risk/cases", query={"promoter_id": OTHER, "cursor": mine["next_cursor"]})
    assert status == 422 and bad["error"]["code"] == "invalid_cursor"
    admin.release(ids[0])
    status, open_mine = admin.call("GET", "/admin/risk/cases", query={"promoter_id": PROMOTER, "status": "OPEN"})
    assert [c["case_id"] for c in open_mine["items"]] == [ids[2], ids[1]]


def test_refusals_change_nothing(admin: Admin) -> None:
    seed("o1", 300)
    case_id = open_case()
    customer = auth("u_buyer", Role.CUSTOMER, Role.PROMOTER)
    assert admin.call("GET", "/admin/risk/cases", headers=customer)[0] == 403
    assert admin.call("POST", f"/admin/risk/cases/{case_id}/confirm", body={"note": "x"}, headers=customer)[0] == 403
    assert admin.call("GET", "/admin/risk/cases", headers={})[0] == 401
    assert admin.call("GET", "/admin/risk/cases/rc_000000000000000000000000")[0] == 404
    status, missing = admin.release("rc_000000000000000000000000")
    assert status == 404 and missing["error"]["code"] == "risk_case_not_found"
    status, body = admin.call("POST", f"/admin/risk/cases/{case_id}/release", body={})
    assert status == 422 and body["error"]["fields"][0]["field"].endswith("note")
    assert admin.call("POST", f"/admin/risk/cases/{case_id}/release", body={"note": "  "})[0] == 422
    assert admin.call("GET", "/admin/risk/cases", query={"status": "DONE"})[0] == 422
    assert admin.call("GET", f"/admin/risk/cases/{case_id}")[1]["case"]["status"] == "OPEN"
    assert [a["action"] for a in audits(case_id)] == ["risk_case.open"]


def test_an_interrupted_confirm_is_finished_by_confirming_again(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [seed(f"o{i}", 100 + i) for i in range(3)]
    case_id = open_case()
    real_post = LedgerRepository.post
    calls = {"n": 0}

    def crash_on_second(self: LedgerRepository, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the Lambda died here")
        real_post(self, *args, **kwargs)

    monkeypatch.setattr(LedgerRepository, "post", crash_on_second)
    status, _ = admin.confirm(case_id)
    assert status == 500
    monkeypatch.setattr(LedgerRepository, "post", real_post)
    status, detail = admin.call("GET", f"/admin/risk/cases/{case_id}")
    assert detail["case"]["status"] == "CONFIRMED" and detail["case"]["resolution_pending"] is True
    assert detail["voided"]["count"] == 1
    assert admin.release(case_id)[0] == 409  # another action is refused
    status, body = admin.confirm(case_id, note="again")
    assert status == 200 and body["resolution_pending"] is False and body["note"] != "again"  # the first decision
    assert all(stored(r)["status"] == "CANCELLED" for r in records)
    assert LedgerRepository(main_table()).wallet(PROMOTER).balances == L.Balances()
    assert admin.confirm(case_id)[0] == 409  # finished: nothing left to resume
    assert [a["action"] for a in audits(case_id)].count("risk_case.confirm") == 1
