"""Manual commission adjustments, pure: two different admins from the dual-approval amount, the ledger
postings balance (a debit's shortfall becomes debt, a credit repays debt first), and GET /rules says
the amount the code applies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mall.domain import adjustments as A
from mall.domain import ledger as L
from mall.domain import rules_disclosure as rd
from mall.domain.money import yuan_compact
from mall.domain.settings import DistributionSettings, WithdrawalRules
from mall.errors import Conflict

AT = datetime(2026, 11, 20, tzinfo=UTC)


def ask(amount: int, threshold: int = 100_000) -> A.Adjustment:
    return A.new_adjustment(adjustment_id="adj_1", promoter_id="u_1", promoter_status="active", direction="credit",
                            amount_fen=amount, reason="补发", admin="admin:a", at="2026-11-20T00:00:00Z",
                            dual_approval_from_fen=threshold)


def test_from_the_dual_approval_amount_a_different_admin_must_approve() -> None:
    assert ask(99_999).status == A.AdjustmentStatus.APPLIED
    pending = ask(100_000)
    assert pending.status == A.AdjustmentStatus.PENDING and pending.required_approvals == 2
    with pytest.raises(Conflict, match="different admin"):
        A.approve(pending, admin="admin:a", at="t")
    applied = A.approve(pending, admin="admin:b", at="t")
    assert applied.status == A.AdjustmentStatus.APPLIED and applied.approvals == ("admin:a", "admin:b")
    with pytest.raises(Conflict):
        A.approve(applied, admin="admin:c", at="t")


def test_an_applicant_has_no_commission_to_adjust() -> None:
    with pytest.raises(Conflict):
        A.new_adjustment(adjustment_id="adj_1", promoter_id="u_1", promoter_status="applied", direction="debit",
                         amount_fen=1, reason="x", admin="admin:a", at="t", dual_approval_from_fen=10)


def test_the_same_request_is_the_same_adjustment() -> None:
    one = A.adjustment_id_for(admin="admin:a", promoter_id="u_1", idempotency_key="k-1")
    assert one == A.adjustment_id_for(admin="admin:a", promoter_id="u_1", idempotency_key="k-1")
    assert one != A.adjustment_id_for(admin="admin:b", promoter_id="u_1", idempotency_key="k-1")


def test_postings_balance_and_follow_the_clawback_and_repayment_rules() -> None:
    debit = L.commission_adjusted(balances=L.Balances(available=300), promoter_id="u_1", adjustment_id="adj_1",
                                  amount_fen=1_000, credit=False, at=AT, reason="扣回")
    after = L.Balances(available=300).apply(*debit)
    assert after.available == 0 and after.owed_fen == 700 and debit[0].memo == "扣回"
    credit = L.commission_adjusted(balances=after, promoter_id="u_1", adjustment_id="adj_2", amount_fen=1_000,
                                   credit=True, at=AT, reason="补发")
    assert after.apply(*credit) == L.Balances(available=300)
    assert all(sum(leg.delta_fen for leg in p.legs) == 0 for p in (*debit, *credit))


def test_get_rules_states_the_amount_from_which_two_admins_are_needed() -> None:
    settings = DistributionSettings(withdrawal=WithdrawalRules(dual_approval_from_fen=150_000))
    page = rd.render(settings, version=3, effective_at=None)
    item = next(i for s in page.sections for i in s.items if i.key == "manual_adjustment")
    assert yuan_compact(150_000) in item.text and item.value == 150_000
    assert A.approvals_needed(150_000, settings.withdrawal.dual_approval_from_fen) == 2
