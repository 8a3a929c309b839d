"""Pure withdrawal rules: the settings' withdrawal rules, the fee at its boundaries, each limit
naming its rule and limit, the review decision and maker-checker approval."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mall.domain import withdrawals as rules
from mall.domain.settings import WECHAT_REAL_NAME_FROM_FEN, DistributionSettings, WithdrawalRules
from mall.domain.tokens import Role
from mall.domain.withdrawals import Today, WithdrawalStatus
from mall.errors import Conflict, Forbidden, InvalidInput

DEFAULT = WithdrawalRules()
AT = "2026-11-01T00:00:00Z"


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate({"withdrawal": document})
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


# ---- settings ------------------------------------------------------------------------------------


def test_documents_saved_before_withdrawals_existed_stay_valid_with_the_defaults() -> None:
    old = DistributionSettings.model_validate({"promoter_review": "auto", "commission": {"l1_rate_bp": 800}})
    assert old.withdrawal == DEFAULT
    assert DEFAULT.min_fen == 5_000 and DEFAULT.methods == ["wechat"]
    # The default maximum stays below WeChat's real-name threshold (¥2,000).
    assert DEFAULT.max_fen < WECHAT_REAL_NAME_FROM_FEN


def test_inconsistent_withdrawal_rules_name_their_field() -> None:
    assert "withdrawal.min_fen" in problems({"min_fen": 10_000, "max_fen": 9_000})
    assert "withdrawal.max_fen" in problems({"max_fen": 600_000, "daily_amount_fen": 500_000})
    found = problems({"fee_min_fen": 10_000})  # the fee at ¥100 would take all of it
    assert list(found) == ["withdrawal.fee_min_fen"] and "not below the amount" in found["withdrawal.fee_min_fen"]
    assert "withdrawal.auto_review_below_fen" in problems({"auto_review_below_fen": 200_000})
    assert "withdrawal.methods" in problems({"methods": ["bank", "bank"]})
    assert "withdrawal.methods" in problems({"methods": []})
    assert "withdrawal.methods.0" in problems({"methods": ["alipay"]})
    assert "withdrawal.fee_rate_bp" in problems({"fee_rate_bp": 2001})
    assert "withdrawal.withdraw_all" in problems({"withdraw_all": True})


# ---- fee -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "fee"), [
    (5_000, 0), (9_999, 0),  # free under ¥100
    (10_000, 100),  # from ¥100: 1% = ¥1.00, which is also the minimum fee
    (15_050, 150),  # 1% floored: 150.5 → 150
    (25_099, 250),
    (199_999, 1_999),
])
def test_the_fee_at_its_boundaries(amount: int, fee: int) -> None:
    q = rules.quote(amount, DEFAULT)
    assert (q.fee_fen, q.net_fen) == (fee, amount - fee)
    assert type(q.fee_fen) is int


def test_the_minimum_fee_applies_below_the_rate() -> None:
    custom = WithdrawalRules(fee_min_fen=200, fee_rate_bp=100)
    assert custom.fee_for(9_999) == 0 and custom.fee_for(10_000) == 200 and custom.fee_for(19_999) == 200
    assert custom.fee_for(20_000) == 200 and custom.fee_for(20_100) == 201


# ---- limits --------------------------------------------------------------------------------------


def refusal(found: rules.Refusal | None) -> rules.Refusal:
    assert found is not None
    return found


def test_each_amount_rule_names_itself_and_its_limit() -> None:
    below = refusal(rules.check_amount(4_999, "wechat", DEFAULT))
    assert (below.code, below.rule, below.limit) == ("amount_below_minimum", "withdrawal.min_fen", 5_000)
    assert rules.check_amount(5_000, "wechat", DEFAULT) is None
    above = refusal(rules.check_amount(200_000, "wechat", DEFAULT))
    assert (above.code, above.rule, above.limit) == ("amount_above_maximum", "withdrawal.max_fen", 199_999)
    method = refusal(rules.check_amount(5_000, "bank", DEFAULT))
    assert (method.code, method.rule, method.limit) == ("method_not_allowed", "withdrawal.methods", ["wechat"])
    error = method.error()
    assert isinstance(error, InvalidInput) and error.fields[0].field == "method"
    assert error.details == {"rule": "withdrawal.methods", "limit": ["wechat"], "actual": "bank"}


def test_wechat_needs_a_real_name_from_2000_yuan_so_it_is_refused_there() -> None:
    big = WithdrawalRules(max_fen=300_000, methods=["wechat", "bank"], dual_approval_from_fen=100_000)
    found = refusal(rules.check_amount(200_000, "wechat", big))
    assert (found.code, found.rule, found.limit) == ("wechat_real_name_required", "wechat_real_name", 199_999)
    assert rules.check_amount(199_999, "wechat", big) is None
    assert rules.check_amount(200_000, "bank", big) is None


def test_the_daily_limits() -> None:
    custom = WithdrawalRules(daily_count=2, daily_amount_fen=300_000)
    assert rules.check_daily(10_000, Today(1, 100_000), custom) is None
    count = refusal(rules.check_daily(10_000, Today(2, 20_000), custom))
    assert (count.code, count.rule, count.limit, count.actual) == ("daily_count_exceeded", "withdrawal.daily_count",
                                                                   2, 2)
    assert isinstance(count.error(), Conflict)
    assert rules.check_daily(100_000, Today(1, 200_000), custom) is None  # exactly the daily amount
    amount = refusal(rules.check_daily(100_001, Today(1, 200_000), custom))
    assert (amount.code, amount.rule, amount.limit) == ("daily_amount_exceeded", "withdrawal.daily_amount_fen",
                                                        300_000)
    assert amount.extra == {"remaining_fen": 100_000}


def test_the_account_rules() -> None:
    debt = refusal(rules.check_account(5_000, available_fen=90_000, owed_fen=1))
    assert (debt.code, debt.rule, debt.limit, debt.actual) == ("outstanding_debt", "debt_fen", 0, 1)
    short = refusal(rules.check_account(5_001, available_fen=5_000, owed_fen=0))
    assert (short.code, short.rule, short.limit) == ("insufficient_balance", "available_fen", 5_000)
    assert rules.check_account(5_000, available_fen=5_000, owed_fen=0) is None
    hold = refusal(rules.check_risk_hold(True))
    assert hold.code == "risk_hold" and isinstance(hold.error(), Conflict)
    inactive = refusal(rules.check_promoter("frozen"))
    assert inactive.code == "promoter_not_active" and isinstance(inactive.error(), Forbidden)
    assert rules.check_promoter("active") is None and rules.check_promoter(None) is not None


# ---- review --------------------------------------------------------------------------------------


def test_review_auto_below_the_threshold_manual_above_and_two_admins_from_the_dual_amount() -> None:
    assert rules.review_of(19_999, DEFAULT, risk_flag=False) == rules.ReviewDecision("auto", 1)
    assert rules.review_of(19_999, DEFAULT, risk_flag=True) == rules.ReviewDecision("manual", 1)
    assert rules.review_of(20_000, DEFAULT, risk_flag=False) == rules.ReviewDecision("manual", 1)
    assert rules.review_of(99_999, DEFAULT, risk_flag=False) == rules.ReviewDecision("manual", 1)
    assert rules.review_of(100_000, DEFAULT, risk_flag=False) == rules.ReviewDecision("manual", 2)
    none_auto = WithdrawalRules(auto_review_below_fen=0)
    assert rules.review_of(5_000, none_auto, risk_flag=False).review == "manual"


def new(amount: int) -> rules.Withdrawal:
    return rules.new_withdrawal(withdrawal_id="w_0123456789abcdefghjkmn", promoter_id="u1", amount_fen=amount,
                                method="wechat", rules=DEFAULT, decision=rules.review_of(amount, DEFAULT,
                                                                                         risk_flag=False), at=AT)


def test_a_new_record() -> None:
    auto = new(10_000)
    assert auto.status == WithdrawalStatus.APPROVED and auto.approved_at == AT and auto.net_fen == 9_900
    assert [e.status for e in auto.timeline] == ["PENDING_REVIEW", "APPROVED"] and auto.timeline[1].by == "auto"
    assert auto.out_bill_no == "w0123456789abcdefghjkmn" and auto.out_bill_no.isalnum()
    manual = new(50_000)
    assert manual.status == WithdrawalStatus.PENDING_REVIEW and manual.approved_at is None


def test_maker_checker() -> None:
    w = new(150_000)
    assert w.required_approvals == 2
    first = rules.approve(w, admin_id="admin:a", at=AT, roles={Role.FINANCE})
    assert not first.final and first.status == WithdrawalStatus.PENDING_REVIEW
    once = rules.Withdrawal(**{**{f: getattr(w, f) for f in w.__dataclass_fields__}, "approvals": first.approvals})
    with pytest.raises(Conflict) as same:
        rules.approve(once, admin_id="admin:a", at=AT, roles={Role.FINANCE})
    assert same.value.code == "already_approved_by_you"
    second = rules.approve(once, admin_id="admin:b", at=AT, roles={Role.OWNER})
    assert second.final and [a.admin_id for a in second.approvals] == ["admin:a", "admin:b"]


def test_only_a_pending_withdrawal_is_reviewed() -> None:
    auto = new(10_000)
    with pytest.raises(Conflict) as approved:
        rules.approve(auto, admin_id="admin:a", at=AT, roles={Role.FINANCE})
    assert approved.value.code == "withdrawal_not_approvable" and approved.value.details["status"] == "APPROVED"
    with pytest.raises(Conflict) as rejected:
        rules.check_rejectable(auto)
    assert rejected.value.code == "withdrawal_not_rejectable"


def test_the_status_machine() -> None:
    assert rules.can_move(WithdrawalStatus.PENDING_REVIEW, WithdrawalStatus.REJECTED)
    assert rules.can_move(WithdrawalStatus.APPROVED, WithdrawalStatus.PAYING)
    assert rules.can_move(WithdrawalStatus.PAYING, WithdrawalStatus.FAILED)
    assert not rules.can_move(WithdrawalStatus.PENDING_REVIEW, WithdrawalStatus.PAID)
    for terminal in rules.TERMINAL:
        assert not any(rules.can_move(terminal, to) for to in WithdrawalStatus)
