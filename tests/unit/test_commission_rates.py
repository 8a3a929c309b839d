"""Rate resolution and per-line commission (mall.domain.commission): pure, exhaustive."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.commission import (
    LevelRate,
    ResolvedRates,
    category_rate_problems,
    highest_level_points,
    line_commission,
    product_commission_problems,
    resolve_line_rates,
    resolve_rates,
)
from mall.domain.settings import COMMISSION_CAP_LIMIT_BP, CommissionRates, DistributionSettings, PromoterLevel


@dataclass(frozen=True)
class FakePromoter:
    level_id: str | None = None
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    status: str = "active"


SETTINGS = DistributionSettings(
    levels=[PromoterLevel(id="basic", name="普通"),
            PromoterLevel(id="senior", name="高级", l1_points_bp=300, l2_points_bp=100),
            PromoterLevel(id="partner", name="合伙人", l1_points_bp=500, l2_points_bp=0)],
)
PRODUCT = Product(product_id="p_1", name="Tea", type="physical", category_id="c_1", price_fen=10_000, stock=5)
CATEGORY = Category(category_id="c_1", name="Drinks", l1_rate_bp=1200, l2_rate_bp=600)


def test_global_rates_when_nothing_else_is_set() -> None:
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=None, promoter=None)
    assert (rates.l1.source, rates.l1.ratio_bp, rates.l2.source, rates.l2.ratio_bp) == ("global", 1000, "global", 500)
    assert rates.enabled and rates.l1.mode == "ratio"


def test_category_beats_global_and_each_level_falls_back_on_its_own() -> None:
    half = replace(CATEGORY, l2_rate_bp=None)
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=half, promoter=None)
    assert (rates.l1.source, rates.l1.ratio_bp) == ("category", 1200)
    assert (rates.l2.source, rates.l2.ratio_bp) == ("global", 500)


def test_product_ratio_beats_category() -> None:
    product = replace(PRODUCT, commission=CommissionSetting("ratio", 800, 300))
    rates = resolve_rates(settings=SETTINGS, product=product, category=CATEGORY, promoter=None)
    assert (rates.l1.source, rates.l1.ratio_bp, rates.l2.ratio_bp) == ("product", 800, 300)


def test_product_fixed_is_fen_per_unit_and_level_points_are_a_ratio_on_top() -> None:
    product = replace(PRODUCT, commission=CommissionSetting("fixed", 500, 200))
    rates = resolve_rates(settings=SETTINGS, product=product, category=CATEGORY,
                          promoter=FakePromoter(level_id="senior"))
    assert rates.l1 == LevelRate("fixed", "product", ratio_bp=300, fixed_fen=500, level_points_bp=300)
    assert rates.l2 == LevelRate("fixed", "product", ratio_bp=100, fixed_fen=200, level_points_bp=100)
    # 3 units paid 30000: L1 = 3 × 500 + 3% of 30000; L2 = 3 × 200 + 1% of 30000
    assert line_commission(30_000, 3, rates, 3000) == (1500 + 900, 600 + 300, False)


def test_override_beats_everything_and_level_points_are_added() -> None:
    product = replace(PRODUCT, commission=CommissionSetting("fixed", 500, 200))
    promoter = FakePromoter(level_id="senior", l1_override_bp=1500)
    rates = resolve_rates(settings=SETTINGS, product=product, category=CATEGORY, promoter=promoter)
    assert (rates.l1.source, rates.l1.mode, rates.l1.ratio_bp, rates.l1.fixed_fen) == ("override", "ratio", 1800, 0)
    assert rates.l2.source == "product" and rates.l2.fixed_fen == 200


def test_unknown_level_counts_as_the_entry_level() -> None:
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=None, promoter=FakePromoter(level_id="gone"))
    assert rates.l1.level_points_bp == 0 and rates.l1.ratio_bp == 1000


def test_level_points_add_to_category_and_global() -> None:
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=CATEGORY,
                          promoter=FakePromoter(level_id="partner"))
    assert (rates.l1.ratio_bp, rates.l1.level_points_bp, rates.l2.ratio_bp) == (1700, 500, 600)


def test_distribution_disabled_pays_nothing() -> None:
    product = replace(PRODUCT, distribution_enabled=False, commission=CommissionSetting("ratio", 2000, 500))
    rates = resolve_rates(settings=SETTINGS, product=product, category=CATEGORY, promoter=FakePromoter())
    assert not rates.enabled
    assert line_commission(10_000, 1, rates, 3000) == (0, 0, False)


def test_line_rates_take_each_level_from_its_own_beneficiary() -> None:
    rates = resolve_line_rates(settings=SETTINGS, product=PRODUCT, category=None,
                               l1_promoter=FakePromoter(level_id="partner"),
                               l2_promoter=FakePromoter(level_id="senior", l2_override_bp=700))
    assert (rates.l1.ratio_bp, rates.l1.source) == (1500, "global")
    assert (rates.l2.ratio_bp, rates.l2.source) == (800, "override")
    assert rates.snapshot()["l2"]["source"] == "override"


def test_amounts_floor_to_the_fen() -> None:
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=None, promoter=None)
    assert line_commission(999, 1, rates, 3000) == (99, 49, False)  # 99.9 → 99, 49.95 → 49
    assert line_commission(0, 1, rates, 3000) == (0, 0, False)


def test_cap_clamps_l2_first_then_l1_and_reports_it() -> None:
    product = replace(PRODUCT, commission=CommissionSetting("fixed", 2000, 2000))
    rates = resolve_rates(settings=SETTINGS, product=product, category=None, promoter=None)
    # A discounted line: 5000 paid; the cap allows 1500 in all.
    assert line_commission(5000, 1, rates, 3000) == (1500, 0, True)
    assert line_commission(10_000, 1, rates, 3000) == (2000, 1000, True)
    assert line_commission(20_000, 1, rates, 3000) == (2000, 2000, False)


def test_a_cap_above_the_fixed_limit_counts_as_the_limit() -> None:
    rates = ResolvedRates(l1=LevelRate("ratio", "override", ratio_bp=9000), l2=LevelRate("ratio", "global"))
    assert line_commission(10_000, 1, rates, 9000) == (COMMISSION_CAP_LIMIT_BP, 0, True)


@pytest.mark.parametrize(("base", "quantity"), [(-1, 1), (100, 0)])
def test_line_commission_refuses_nonsense(base: int, quantity: int) -> None:
    rates = resolve_rates(settings=SETTINGS, product=PRODUCT, category=None, promoter=None)
    with pytest.raises(ValueError, match="must"):
        line_commission(base, quantity, rates, 3000)


# ---- save-time checks ------------------------------------------------------------------------


def test_highest_points_take_each_level_separately() -> None:
    assert highest_level_points(SETTINGS) == (500, 100)


@pytest.mark.parametrize(("setting", "ok"), [
    (CommissionSetting("inherit"), True),
    (CommissionSetting("ratio", 2000, 400), True),   # 2000 + 400 + 500 + 100 = 3000
    (CommissionSetting("ratio", 2000, 401), False),
    (CommissionSetting("fixed", 2000, 400), True),   # 2400 fen + 6% of 10000 = 3000 = 30%
    (CommissionSetting("fixed", 2000, 401), False),
])
def test_product_setting_over_the_cap_is_refused_naming_the_fields(setting: CommissionSetting, ok: bool) -> None:
    problems = product_commission_problems(replace(PRODUCT, commission=setting), SETTINGS)
    assert (problems == []) is ok
    if not ok:
        assert {p.field for p in problems} == {"commission.l1", "commission.l2"}
        assert "3000" in problems[0].reason or "30%" in problems[0].reason


def test_a_lower_cap_is_respected() -> None:
    low_cap = SETTINGS.model_copy(update={"commission": CommissionRates(l1_rate_bp=500, l2_rate_bp=200, cap_bp=1500)})
    assert product_commission_problems(replace(PRODUCT, commission=CommissionSetting("ratio", 900, 100)), low_cap)
    assert not product_commission_problems(replace(PRODUCT, commission=CommissionSetting("ratio", 900, 100)),
                                           SETTINGS)


def test_distribution_disabled_products_are_not_checked() -> None:
    product = replace(PRODUCT, distribution_enabled=False, commission=CommissionSetting("ratio", 3000, 3000))
    assert product_commission_problems(product, SETTINGS) == []


@pytest.mark.parametrize(("l1", "l2", "fields"), [
    (None, None, set()),
    (2000, 400, set()),
    (2000, 401, {"l1_rate_bp", "l2_rate_bp"}),
    (2500, None, {"l1_rate_bp"}),  # 2500 + global 500 + points 600 > 3000
    (None, 1900, {"l2_rate_bp"}),  # global 1000 + 1900 + 600 > 3000
])
def test_category_rates_over_the_cap_are_refused(l1: int | None, l2: int | None, fields: set[str]) -> None:
    assert {p.field for p in category_rate_problems(l1, l2, SETTINGS)} == fields


# ---- properties ------------------------------------------------------------------------------

bases = st.integers(min_value=0, max_value=10_000_000_000)
quantities = st.integers(min_value=1, max_value=1000)
level_rates = st.builds(
    LevelRate,
    mode=st.sampled_from(["ratio", "fixed"]),
    source=st.sampled_from(["override", "product", "category", "global"]),
    ratio_bp=st.integers(min_value=0, max_value=20_000),
    fixed_fen=st.integers(min_value=0, max_value=10_000_000),
)
caps = st.integers(min_value=-100, max_value=20_000)


@given(base=bases, quantity=quantities, l1=level_rates, l2=level_rates, cap=caps)
def test_commission_is_never_negative_and_never_above_the_cap(*, base: int, quantity: int, l1: LevelRate,
                                                              l2: LevelRate, cap: int) -> None:
    first, second, capped = line_commission(base, quantity, ResolvedRates(l1=l1, l2=l2), cap)
    assert first >= 0 and second >= 0
    effective_cap = min(max(cap, 0), COMMISSION_CAP_LIMIT_BP)
    assert (first + second) * 10_000 <= base * effective_cap
    assert isinstance(first, int) and isinstance(second, int)
    wanted = (l1.amount(base, quantity), l2.amount(base, quantity))
    assert capped == ((first, second) != wanted)
    assert first <= wanted[0] and second <= wanted[1]


@given(base=bases, quantity=quantities, bp=st.integers(min_value=0, max_value=1500),
       bp2=st.integers(min_value=0, max_value=1500))
def test_uncapped_ratio_amounts_are_the_exact_floor(base: int, quantity: int, bp: int, bp2: int) -> None:
    rates = ResolvedRates(l1=LevelRate("ratio", "product", ratio_bp=bp), l2=LevelRate("ratio", "product", ratio_bp=bp2))
    first, second, capped = line_commission(base, quantity, rates, COMMISSION_CAP_LIMIT_BP)
    assert not capped
    # floor(base × bp / 10000): the greatest integer n with n × 10000 ≤ base × bp
    assert first * 10_000 <= base * bp < (first + 1) * 10_000
    assert second * 10_000 <= base * bp2 < (second + 1) * 10_000


@given(l1=st.integers(min_value=0, max_value=5000), l2=st.integers(min_value=0, max_value=5000),
       mode=st.sampled_from(["ratio", "fixed"]), price=st.integers(min_value=1, max_value=10_000_000),
       points=st.sampled_from(["basic", "senior", "partner"]))
def test_a_setting_accepted_at_save_time_is_never_clamped_at_list_price(
        *, l1: int, l2: int, mode: str, price: int, points: str) -> None:
    product = replace(PRODUCT, price_fen=price, commission=CommissionSetting(mode, l1, l2))  # type: ignore[arg-type]
    if product_commission_problems(product, SETTINGS):
        return
    promoter = FakePromoter(level_id=points)
    rates = resolve_rates(settings=SETTINGS, product=product, category=None, promoter=promoter)
    assert line_commission(price, 1, rates, SETTINGS.commission.cap_bp)[2] is False
