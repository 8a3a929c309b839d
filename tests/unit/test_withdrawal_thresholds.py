"""Every withdrawal threshold `GET /rules` states says what the code does, on both sides of the
boundary: the page's words are read as Chinese usage reads them (以上、以下 include the number; 低于
and 超过 do not) and compared with the fee, the limits and the review the code applies."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mall.domain.rules_disclosure import render
from mall.domain.settings import DistributionSettings, WithdrawalRules
from mall.domain.withdrawals import Today, check_amount, check_daily, quote, review_of

Compare = Callable[[int, int], bool]

#: Comparator words, longest first so "及以下" is not read as "以下".
_BEFORE: list[tuple[str, Compare]] = [("不低于", operator.ge), ("不超过", operator.le), ("低于", operator.lt),
                                      ("超过", operator.gt), ("高于", operator.gt), ("不足", operator.lt)]
_AFTER: list[tuple[str, Compare]] = [("及以下", operator.le), ("及以上", operator.ge), ("以下", operator.le),
                                     ("以上", operator.ge), ("以内", operator.le)]
_AMOUNT = r"¥([\d,]+(?:\.\d{2})?)"


def fen(text: str) -> int:
    whole, _, cents = text.replace(",", "").partition(".")
    return int(whole) * 100 + int(cents or 0)


def claims(text: str) -> list[tuple[Compare, int, str]]:
    """Each clause's (comparison, bound in fen, the rest of the clause) for the bound it states on a
    request (单笔) or a day's total (合计); other amounts (a minimum fee) are not thresholds."""
    found = []
    for clause in re.split(r"[；。]", text):
        match = re.search(r"(?:单笔|合计)须?\s*(不低于|不超过|低于|超过|高于|不足)?\s*" + _AMOUNT
                          + r"\s*(及以下|及以上|以下|以上|以内)?", clause)
        if match is None:
            continue
        before, amount, after = match.groups()
        words = [c for w, c in _BEFORE if w == before] + [c for w, c in _AFTER if w == after]
        assert len(words) == 1, f"one comparison word expected around the amount in {clause!r}"
        found.append((words[0], fen(amount), clause[match.end():]))
    return found


def withdrawal_texts(rules: WithdrawalRules) -> dict[str, str]:
    disclosure = render(DistributionSettings(withdrawal=rules), version=1, effective_at=None)
    section = next(s for s in disclosure.sections if s.key == "withdrawal")
    return {item.key: item.text for item in section.items}


def around(bound: int) -> list[int]:
    return [a for a in (bound - 1, bound, bound + 1) if a >= 0]


# ---- each threshold: the words against the behaviour ----------------------------------------------


def check_fee(rules: WithdrawalRules) -> None:
    texts = withdrawal_texts(rules)
    stated = claims(texts["fee"]) + claims(texts["fee_free_below_fen"])
    if rules.fee_rate_bp == 0 and rules.fee_min_fen == 0:
        assert "不收手续费" in texts["fee"]
        assert all(quote(a, rules).fee_fen == 0 for a in (0, 1, rules.fee_free_below_fen, 10**9))
        return
    assert stated or rules.fee_free_below_fen == 0, texts
    if not stated:  # no fee-free part: every amount pays the formula
        assert "每笔提现" in texts["fee"]
        for amount in (1, 100, 10_000):
            assert quote(amount, rules).fee_fen == max(rules.fee_min_fen, amount * rules.fee_rate_bp // 10_000)
    for compare, bound, rest in stated:
        for amount in around(bound):
            if not compare(amount, bound):
                continue
            fee = quote(amount, rules).fee_fen
            if "免手续费" in rest:
                assert fee == 0, (texts["fee"], amount, fee)
            else:
                assert "收取" in rest, rest
                assert fee == max(rules.fee_min_fen, amount * rules.fee_rate_bp // 10_000), (texts["fee"], amount)
                assert fee > 0 or rules.fee_min_fen == 0, (texts["fee"], amount)


def check_review(rules: WithdrawalRules) -> None:
    text = withdrawal_texts(rules)["review"]
    if rules.auto_review_below_fen == 0:
        assert "均需人工审核" in text
        assert all(review_of(a, rules, risk_flag=False).review == "manual" for a in (0, 1, 10**6))
        return
    [(compare, bound, rest)] = claims(text)
    assert "自动审核" in rest
    for amount in around(bound):
        assert (review_of(amount, rules, risk_flag=False).review == "auto") == compare(amount, bound), (text, amount)
        assert review_of(amount, rules, risk_flag=True).review == "manual"


def check_limits(rules: WithdrawalRules) -> None:
    texts = withdrawal_texts(rules)
    [(at_least, minimum, _)] = claims(texts["min_fen"])
    for amount in around(minimum):
        refusal = check_amount(amount, "bank", rules.model_copy(update={"methods": ["bank"]}))
        refused_low = refusal is not None and refusal.code == "amount_below_minimum"
        assert refused_low != at_least(amount, minimum), (texts["min_fen"], amount)
    max_claims = claims(texts["max_fen"])
    at_most, maximum, _ = max_claims[0]
    for amount in around(maximum):
        refusal = check_amount(amount, "bank", rules.model_copy(update={"methods": ["bank"]}))
        refused_high = refusal is not None and refusal.code == "amount_above_maximum"
        assert refused_high != at_most(amount, maximum), (texts["max_fen"], amount)
    for compare, bound, _ in max_claims[1:]:  # the WeChat real-name bound, when the maximum passes it
        for amount in around(bound):
            refusal = check_amount(amount, "wechat", rules)
            refused = refusal is not None and refusal.code == "wechat_real_name_required"
            assert refused != compare(amount, bound) or amount > rules.max_fen, (texts["max_fen"], amount)
    [(at_most_day, daily, _)] = claims(texts["daily_amount_fen"])
    for amount in around(daily):
        refusal = check_daily(amount, Today(count=0, amount_fen=0), rules)
        assert (refusal is None) == at_most_day(amount, daily), (texts["daily_amount_fen"], amount)
    count = int(re.search(r"最多提现 (\d+) 次", texts["daily_count"]).group(1))  # type: ignore[union-attr]
    for made in (count - 1, count):
        refusal = check_daily(1, Today(count=made, amount_fen=0), rules)
        assert (refusal is None) == (made + 1 <= count), (texts["daily_count"], made)


# ---- the cases -------------------------------------------------------------------------------------


def test_a_withdrawal_of_exactly_the_fee_free_bound_pays_a_fee_and_the_page_says_so() -> None:
    rules = WithdrawalRules(min_fen=100, fee_free_below_fen=1_000, fee_rate_bp=100, fee_min_fen=100)
    assert quote(999, rules).fee_fen == 0 and quote(1_000, rules).fee_fen == 100
    texts = withdrawal_texts(rules)
    assert "单笔低于 ¥10 免手续费" in texts["fee"] and "¥10 及以上" in texts["fee"]
    assert texts["fee_free_below_fen"] == "单笔低于 ¥10 免手续费。"
    check_fee(rules)


def test_automatic_review_is_strictly_below_its_bound_and_the_page_says_so() -> None:
    rules = WithdrawalRules(auto_review_below_fen=20_000)
    assert review_of(19_999, rules, risk_flag=False).review == "auto"
    assert review_of(20_000, rules, risk_flag=False).review == "manual"
    assert "单笔低于 ¥200 且无风险提示时自动审核" in withdrawal_texts(rules)["review"]
    check_review(rules)


@pytest.mark.parametrize("rules", [
    WithdrawalRules(),
    WithdrawalRules(fee_rate_bp=0, fee_min_fen=0),
    WithdrawalRules(fee_rate_bp=0, fee_min_fen=200),
    WithdrawalRules(fee_free_below_fen=0),
    WithdrawalRules(fee_min_fen=0, fee_rate_bp=50),
    WithdrawalRules(auto_review_below_fen=0),
    WithdrawalRules(max_fen=300_000, daily_amount_fen=500_000, dual_approval_from_fen=300_000),
    WithdrawalRules(max_fen=300_000, daily_amount_fen=500_000, methods=["bank"]),
])
def test_every_threshold_text_matches_its_behaviour(rules: WithdrawalRules) -> None:
    check_fee(rules)
    check_review(rules)
    check_limits(rules)


@settings(max_examples=150, deadline=None)
@given(min_fen=st.integers(100, 20_000), span=st.integers(0, 300_000), free=st.integers(0, 50_000),
       rate=st.integers(0, 2_000), fee_min=st.integers(0, 99), auto=st.integers(0, 100_000),
       count=st.integers(1, 10), wechat=st.booleans())
def test_any_valid_rules_say_what_they_do(*, min_fen: int, span: int, free: int, rate: int, fee_min: int, auto: int,
                                          count: int, wechat: bool) -> None:
    try:
        rules = WithdrawalRules(min_fen=min_fen, max_fen=min_fen + span, daily_amount_fen=min_fen + span + 1_000,
                                daily_count=count, fee_free_below_fen=free, fee_rate_bp=rate, fee_min_fen=fee_min,
                                auto_review_below_fen=auto, dual_approval_from_fen=max(auto, 100_000),
                                methods=["wechat", "bank"] if wechat else ["bank"])
    except ValidationError:
        assume(False)
        return
    check_fee(rules)
    check_review(rules)
    check_limits(rules)
