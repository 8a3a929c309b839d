"""Manual commission adjustments on DynamoDB Local, through the real handler: a credit or debit moves
money only through the ledger (balanced postings the reconciliation finds clean), below the
dual-approval amount at once, from it only once a different admin approves; a repeated request is
the same adjustment; the promoter sees it in their ledger with the reason; every step is audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.api.auth import _admin_session
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.tokens import Role
from mall.services.ledger import reconcile
from tests.conftest import bearer
from tests.integration import test_admin_round_trips as admin_trips
from tests.integration.test_admin_round_trips import Answer, Call, promoter
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.integration

#: The admin round-trip tests' counting fixture: any function, any caller's headers.
call = admin_trips.call

ALICE = bearer("admin:alice", Role.ADMIN)
BOB = bearer("admin:bob", Role.ADMIN)
UID = "u_pro"
SMALL, LARGE = 1_500, 150_000  # the default dual-approval amount is 100,000 fen


def fund(table: Table, available: int) -> None:
    """Settled commission the promoter can lose to a debit (through the ledger builders)."""
    at = datetime(2026, 11, 20, tzinfo=UTC)
    ref = {"commission_id": "cm_o_1_0_1"}
    ledger = LedgerRepository(table)
    ledger.post([L.commission_frozen(promoter_id=UID, commission_id="cm_o_1_0_1", amount_fen=available, at=at,
                                     ref=ref)])
    ledger.post(L.commission_settled(balances=ledger.wallet(UID).balances, promoter_id=UID,
                                     commission_id="cm_o_1_0_1", amount_fen=available, at=at, ref=ref))


def adjust(call: Call, body: dict[str, Any], key: str, headers: dict[str, str] = ALICE) -> Answer:
    return call("admin_promoters", "POST", f"/admin/promoters/{UID}/adjustments", body, key, headers=headers)


def wallet(table: Table) -> L.Balances:
    return LedgerRepository(table).wallet(UID).balances


def assert_reconciles(table: Table) -> None:
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=datetime.now(UTC))
    assert report.mismatches == [] and report.clean and report.run.global_checked


@pytest.fixture(autouse=True)
def _promoter(table: Table) -> None:
    promoter(table, UID)
    _admin_session("bob", at_least=0)


def test_a_small_credit_applies_at_once_once_and_shows_in_the_promoters_ledger(table: Table, call: Call) -> None:
    body = {"direction": "credit", "amount_fen": SMALL, "reason": "线下活动补发佣金"}
    first = adjust(call, body, "adj-key-0001")
    assert first.status == 201 and first.body["status"] == "APPLIED", first.body
    assert first.trips <= 5, first.sent
    assert wallet(table).available == SMALL

    again = adjust(call, body, "adj-key-0001")
    assert again.status == 201 and again.body == first.body
    assert wallet(table).available == SMALL  # a retry moves nothing

    other = adjust(call, {**body, "amount_fen": SMALL + 1}, "adj-key-0001")
    assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"

    mine = load_function("promoter_ledger").handler(
        http_event("GET", "/promoter/ledger", headers=bearer(UID, Role.CUSTOMER, Role.PROMOTER)), FakeContext())
    entry = json.loads(mine["body"])["items"][0]
    assert entry["kind"] == "commission_adjusted" and entry["memo"] == "线下活动补发佣金"
    assert entry["ref"]["adjustment_id"] == first.body["adjustment_id"] and entry["effect"]["available_fen"] == SMALL
    entries = table.query(partition=("gsi2pk", f"AUDIT_ENTITY#adjustment#{first.body['adjustment_id']}"),
                          index="gsi2").items
    assert [e["action"] for e in entries] == ["adjustment.create"] and entries[0]["actor"] == "admin:alice"
    assert_reconciles(table)


def test_a_large_debit_waits_for_a_different_admin_and_may_leave_a_debt(table: Table, call: Call) -> None:
    fund(table, 100_000)
    asked = adjust(call, {"direction": "debit", "amount_fen": LARGE, "reason": "重复计佣, 扣回"}, "adj-key-0002")
    assert asked.status == 201 and asked.body["status"] == "PENDING" and asked.body["required_approvals"] == 2
    assert wallet(table).available == 100_000  # nothing moved yet
    adjustment_id = asked.body["adjustment_id"]

    listed = call("admin_promoters", "GET", "/admin/adjustments", query={"status": "PENDING"})
    assert [i["adjustment_id"] for i in listed.body["items"]] == [adjustment_id]

    same = call("admin_promoters", "POST", f"/admin/adjustments/{adjustment_id}/approve")
    assert same.status == 409 and same.body["error"]["code"] == "already_approved_by_you"
    assert wallet(table).available == 100_000

    approved = call("admin_promoters", "POST", f"/admin/adjustments/{adjustment_id}/approve", headers=BOB)
    assert approved.status == 200 and approved.body["status"] == "APPLIED", approved.body
    assert approved.body["approvals"] == ["admin:alice", "admin:bob"] and approved.trips <= 5, approved.sent
    after = wallet(table)
    assert after.available == 0 and after.owed_fen == LARGE - 100_000  # the shortfall is a debt, as a clawback

    twice = call("admin_promoters", "POST", f"/admin/adjustments/{adjustment_id}/approve", headers=BOB)
    assert twice.status == 409 and twice.body["error"]["code"] == "adjustment_not_pending"
    assert wallet(table) == after

    # A credit repays the debt first.
    credit = adjust(call, {"direction": "credit", "amount_fen": 80_000, "reason": "申诉成功, 退还"}, "adj-key-0003")
    assert credit.body["status"] == "APPLIED"
    assert wallet(table).owed_fen == 0 and wallet(table).available == 30_000
    assert_reconciles(table)


def test_a_rejected_adjustment_moves_nothing(table: Table, call: Call) -> None:
    asked = adjust(call, {"direction": "credit", "amount_fen": LARGE, "reason": "补发"}, "adj-key-0004")
    adjustment_id = asked.body["adjustment_id"]
    rejected = call("admin_promoters", "POST", f"/admin/adjustments/{adjustment_id}/reject", {"reason": "金额有误"},
                    headers=BOB)
    assert rejected.status == 200 and rejected.body["status"] == "REJECTED"
    assert rejected.body["reject_reason"] == "金额有误"
    late = call("admin_promoters", "POST", f"/admin/adjustments/{adjustment_id}/approve", headers=BOB)
    assert late.status == 409 and wallet(table) == L.Balances()


def test_bad_input_names_the_field_and_changes_nothing(table: Table, call: Call) -> None:
    for body, field in (({"direction": "credit", "amount_fen": 0, "reason": "x"}, "amount_fen"),
                        ({"direction": "credit", "amount_fen": 100, "reason": ""}, "reason"),
                        ({"direction": "refund", "amount_fen": 100, "reason": "x"}, "direction")):
        answer = adjust(call, body, "adj-key-0005")
        assert answer.status == 422, answer.body
        assert any(field in f["field"] for f in answer.body["error"]["fields"]), answer.body
    missing = call("admin_promoters", "POST", "/admin/promoters/u_nobody/adjustments",
                   {"direction": "credit", "amount_fen": 100, "reason": "x"}, "adj-key-0006")
    assert missing.status == 404
    assert wallet(table) == L.Balances()
