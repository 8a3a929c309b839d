"""Coupons, pure: what a coupon takes off, the pro-rata spread in integer fen (largest remainder),
the percent ceiling, the scope, the minimum spend and validity."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from mall.domain.coupons import (
    Coupon,
    CouponKind,
    CouponStatus,
    PricedLineRef,
    ScopeKind,
    Terms,
    Validity,
    check_template,
    coupon_discounts,
    discount_of,
    spread,
)
from mall.errors import Conflict, InvalidInput

NOW = datetime(2026, 11, 10, 8, tzinfo=UTC)


def test_the_spread_sums_exactly_and_gives_the_leftover_fen_to_the_largest_remainders() -> None:
    # 100 fen over 3 equal lines: 33.33 each; the one fen left goes to the first (ties: earlier line).
    assert spread(100, [("a", 500), ("b", 500), ("c", 500)]) == {"a": 34, "b": 33, "c": 33}
    # 10 fen over 1000 / 2000 / 3001: exact shares 1.666 / 3.332 / 5.001 -> floors 1/3/5, left 1 -> "a" (0.666).
    assert spread(10, [("a", 1000), ("b", 2000), ("c", 3001)]) == {"a": 2, "b": 3, "c": 5}


def test_the_spread_sums_exactly_and_never_exceeds_a_line_for_any_amounts() -> None:
    rnd = random.Random(22)
    for _ in range(2_000):
        lines = [(f"l{i}", rnd.randint(1, 50_000)) for i in range(rnd.randint(1, 8))]
        total = sum(amount for _, amount in lines)
        off = rnd.randint(1, total)
        parts = spread(off, lines)
        assert sum(parts.values()) == off
        assert all(0 < parts[line_id] <= amount for line_id, amount in lines if line_id in parts)
        assert all(isinstance(v, int) for v in parts.values())


def test_a_discount_above_the_lines_is_refused_by_the_spread() -> None:
    with pytest.raises(ValueError, match="exceed"):
        spread(101, [("a", 100)])


def test_percent_off_floors_to_the_fen_and_stops_at_its_ceiling() -> None:
    terms = Terms(kind=CouponKind.PERCENT, percent_off_bp=1500, max_off_fen=2000)
    assert discount_of(terms, 9_999) == 1_499  # 15% of 99.99 = 14.9985 -> 14.99
    assert discount_of(terms, 20_000) == 2_000  # 3000 capped at the ceiling
    assert discount_of(Terms(kind=CouponKind.AMOUNT, amount_off_fen=5000), 3_000) == 3_000  # never above the lines


def test_the_minimum_spend_counts_only_the_lines_in_scope() -> None:
    terms = Terms(kind=CouponKind.AMOUNT, amount_off_fen=1000, min_spend_fen=10_000, scope=ScopeKind.CATEGORIES,
                  scope_ids=("c_tea",))
    coupon = _coupon(terms)
    lines = [PricedLineRef("l1", "p_tea", "c_tea", 6_000), PricedLineRef("l2", "p_cup", "c_cup", 9_000)]
    with pytest.raises(InvalidInput) as refused:
        coupon_discounts(coupon, lines, buyer_id="u_1", now=NOW)
    assert refused.value.code == "coupon_min_spend"
    lines.append(PricedLineRef("l3", "p_tea2", "c_tea", 4_000))
    assert coupon_discounts(coupon, lines, buyer_id="u_1", now=NOW) == {"l1": 600, "l3": 400}


def test_product_scope_and_out_of_scope_orders() -> None:
    coupon = _coupon(Terms(kind=CouponKind.AMOUNT, amount_off_fen=300, scope=ScopeKind.PRODUCTS, scope_ids=("p_x",)))
    lines = [PricedLineRef("l1", "p_y", None, 1000)]
    with pytest.raises(InvalidInput) as refused:
        coupon_discounts(coupon, lines, buyer_id="u_1", now=NOW)
    assert refused.value.code == "coupon_out_of_scope"
    assert coupon_discounts(coupon, [*lines, PricedLineRef("l2", "p_x", None, 200)], buyer_id="u_1",
                            now=NOW) == {"l2": 200}


def test_a_used_expired_or_foreign_coupon_is_refused() -> None:
    terms = Terms(kind=CouponKind.AMOUNT, amount_off_fen=100)
    lines = [PricedLineRef("l1", "p", None, 1000)]
    with pytest.raises(Conflict, match="already used"):
        coupon_discounts(_coupon(terms, status=CouponStatus.USED), lines, buyer_id="u_1", now=NOW)
    with pytest.raises(Conflict, match="not valid now"):
        coupon_discounts(_coupon(terms), lines, buyer_id="u_1", now=NOW + timedelta(days=30))
    with pytest.raises(InvalidInput):
        coupon_discounts(_coupon(terms), lines, buyer_id="u_2", now=NOW)


def test_days_after_claiming_run_to_the_end_of_the_china_day() -> None:
    # Claimed 2026-11-10 23:30 China time (15:30 UTC): 3 days -> through 11-13, until 11-14 00:00 China.
    start, until = Validity(days=3).window_on_claim(datetime(2026, 11, 10, 15, 30, tzinfo=UTC))
    assert (start, until) == ("2026-11-10T15:30:00Z", "2026-11-13T16:00:00Z")


def test_a_template_that_makes_no_coupon_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_template(Terms(kind=CouponKind.PERCENT, percent_off_bp=1000), Validity(days=7), total_quantity=10,
                       per_user_limit=20)
    assert {p.field for p in refused.value.fields} == {"max_off_fen", "per_user_limit"}
    with pytest.raises(InvalidInput) as refused:
        check_template(Terms(kind=CouponKind.AMOUNT, amount_off_fen=100, scope=ScopeKind.PRODUCTS), Validity(),
                       total_quantity=1, per_user_limit=1)
    assert {p.field for p in refused.value.fields} == {"scope_ids", "valid_days"}


def _coupon(terms: Terms, *, status: CouponStatus = CouponStatus.UNUSED) -> Coupon:
    return Coupon(coupon_id="cp_1", user_id="u_1", template_id="ct_1", name="券", terms=terms,
                  valid_from="2026-11-01T00:00:00Z", valid_until="2026-11-20T00:00:00Z", status=status,
                  claimed_at="2026-11-01T00:00:00Z")


@pytest.mark.parametrize("mode", ["invite_code", "first_click", "first_payment"])
def test_get_rules_says_what_a_promoter_bound_coupon_does_under_the_binding_mode_in_force(mode: str) -> None:
    from mall.domain.coupons import SHARE_ACTION_BY_MODE
    from mall.domain.rules_disclosure import render
    from mall.domain.rules_disclosure_coupons import SHARE_ACTION_TEXT
    from mall.domain.settings import BindingMode, DistributionSettings

    settings = DistributionSettings(binding_mode=BindingMode(mode))
    section = next(s for s in render(settings, version=1, effective_at=None).sections if s.key == "coupons")
    items = {i.key: i for i in section.items}
    action = SHARE_ACTION_BY_MODE[BindingMode(mode)]
    assert items["promoter_bound"].value == action.value
    assert SHARE_ACTION_TEXT[action] in items["promoter_bound"].text
    assert "实付金额" in items["commission_base"].text and "余下的每一分" in items["commission_base"].text
