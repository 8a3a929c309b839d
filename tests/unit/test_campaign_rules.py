"""Commission campaigns, pure: resolution and stacking of boosts, the cap refused at save for every
combination and clamped at compute (docs/incentives.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mall.domain.campaigns import (
    Boost,
    Campaign,
    CampaignScope,
    CatalogRates,
    boost_line,
    campaign_boost,
    campaign_cap_problems,
)
from mall.domain.catalog import Category, Product
from mall.domain.commission import ResolvedRates, cap_amount, decide_order_commissions, explain_rule, resolve_line_rates
from mall.domain.commission_cap import SAVING_SETTINGS, cap_problems
from mall.domain.payment_snapshot import PaymentSnapshot, PromoterState
from mall.domain.rules_disclosure_campaigns import campaigns_section
from mall.domain.settings import DistributionSettings
from tests.unit.test_commission_cap import Holder, configurations, make_settings, product

NOW = datetime(2026, 12, 12, 4, 0, tzinfo=UTC)  # a Saturday, noon in China


def campaign(cid: str = "cp1", *, boost: Boost | None = None, scope: CampaignScope | None = None,
             starts: datetime = NOW - timedelta(days=1), ends: datetime = NOW + timedelta(days=1),
             weekdays: tuple[int, ...] = ()) -> Campaign:
    return Campaign(campaign_id=cid, name=f"活动{cid}", starts_at=starts, ends_at=ends, scope=scope or CampaignScope(),
                    boost=boost or Boost("points", 200, 100), weekdays=weekdays)


def boosted(rates_product: Product, campaigns: list[Campaign], l1: Holder | None, l2: Holder | None,  # noqa: PLR0917
            s: DistributionSettings, category: Category | None = None, base: int = 10_000,
            quantity: int = 1) -> ResolvedRates:
    rates = resolve_line_rates(settings=s, product=rates_product, category=category, l1_promoter=l1, l2_promoter=l2)
    return boost_line(rates, campaigns=campaigns, product_id=rates_product.product_id,
                      category_id=rates_product.category_id, l1=l1, l2=l2, at=NOW, base_fen=base, quantity=quantity)


# ---- resolution and stacking ---------------------------------------------------------------------


def test_points_add_after_the_level_points_and_a_multiplier_applies_once_to_the_resolved_rate() -> None:
    s = make_settings(1000, 500, points=((300, 100),))
    holder = Holder("u1", "lv0")
    points = boosted(product(), [campaign(boost=Boost("points", 200, 50))], holder, holder, s)
    assert (points.l1.ratio_bp, points.l2.ratio_bp) == (1000 + 300 + 200, 500 + 100 + 50)
    assert (points.l1.campaign_bp, points.l1.level_points_bp) == (200, 300)
    double = boosted(product(), [campaign(boost=Boost("multiplier", multiplier_percent=150))], holder, holder, s)
    assert (double.l1.ratio_bp, double.l2.ratio_bp) == (1300 * 150 // 100, 600 * 150 // 100)
    doubled = [campaign(boost=Boost("multiplier", multiplier_percent=200))]
    fixed = boosted(product(mode="fixed", l1=500, l2=200), doubled, holder, holder, s)
    assert (fixed.l1.fixed_fen, fixed.l1.ratio_bp, fixed.l1.campaign_fen) == (1000, 600, 500)


def test_campaigns_do_not_stack_the_one_paying_most_applies_per_level() -> None:
    s = make_settings(1000, 500)
    holder = Holder("u1", "lv0")
    found = boosted(product(), [campaign("a", boost=Boost("points", 300, 0)),
                                campaign("b", boost=Boost("multiplier", multiplier_percent=200))], holder, holder, s)
    assert found.l1.ratio_bp == 2000 and found.l1.campaign is not None and found.l1.campaign["campaign_id"] == "b"
    assert found.l2.ratio_bp == 1000 and found.l2.campaign is not None and found.l2.campaign["campaign_id"] == "b"


def test_a_targeted_product_boosts_the_chosen_promoters_only() -> None:
    s = make_settings(1000, 500, points=((0, 0), (0, 0)))
    targeted = campaign(scope=CampaignScope(product_ids=("p1",), promoter_ids=("star",)),
                        boost=Boost("points", 500, 0))
    star, other = Holder("star", "lv0"), Holder("other", "lv0")
    assert boosted(product(), [targeted], star, other, s).l1.ratio_bp == 1500
    assert boosted(product(), [targeted], other, star, s).l1.ratio_bp == 1000
    assert boosted(product("p2"), [targeted], star, other, s).l1.ratio_bp == 1000
    by_level = campaign(scope=CampaignScope(level_ids=("lv1",)), boost=Boost("points", 500, 0))
    assert boosted(product(), [by_level], Holder("x", "lv1"), None, s).l1.ratio_bp == 1500
    assert boosted(product(), [by_level], Holder("x", "lv0"), None, s).l1.ratio_bp == 1000


def test_new_promoters_within_n_days_of_approval() -> None:
    s = make_settings(1000, 500)
    first_week = campaign(scope=CampaignScope(new_promoter_days=7), boost=Boost("multiplier", multiplier_percent=200))
    new = PromoterState("n", "active", "lv0", activated_at=NOW - timedelta(days=6, hours=23))
    old = PromoterState("o", "active", "lv0", activated_at=NOW - timedelta(days=7))
    rates = resolve_line_rates(settings=s, product=product(), category=None, l1_promoter=new, l2_promoter=old)
    found = boost_line(rates, campaigns=[first_week], product_id="p1", category_id="c1", l1=new, l2=old, at=NOW,
                       base_fen=10_000, quantity=1)
    assert (found.l1.ratio_bp, found.l2.ratio_bp) == (2000, 500)


def test_in_force_by_window_and_china_weekday() -> None:
    weekend = campaign(weekdays=(6, 7))
    assert weekend.in_force(NOW)  # Saturday noon in China
    assert not weekend.in_force(datetime(2026, 12, 13, 16, 0, tzinfo=UTC))  # Monday 00:00 in China
    assert weekend.in_force(datetime(2026, 12, 11, 16, 0, tzinfo=UTC))  # Saturday 00:00 in China
    assert not weekend.in_force(datetime(2026, 12, 11, 15, 59, tzinfo=UTC))  # Friday 23:59 in China
    ended = replace(campaign(), ended_at=NOW - timedelta(minutes=1))
    assert not ended.in_force(NOW) and campaign().in_force(NOW)


def test_the_rule_snapshot_and_explanation_name_the_campaign() -> None:
    s = make_settings(1000, 500)
    holder = PromoterState("u1", "active", "lv0")
    line = {"line_id": "0", "product_id": "p1", "category_id": "c1", "unit_price_fen": 10_000, "paid_fen": 10_000,
            "quantity": 1, "commission": {"mode": "inherit"}}
    cp = campaign(boost=Boost("points", 200, 0))
    decisions = decide_order_commissions(lines=[line], l1=holder, l2=None, l1_id="u1", l2_id=None, settings=s,
                                         categories={}, context={},
                                         boost=campaign_boost([cp], at=NOW, l1=holder, l2=None))
    rule = decisions[0].rule
    assert rule["campaign"]["campaign_id"] == "cp1" and rule["campaign_bp"] == 200
    assert decisions[0].amount_fen == 1200
    assert "2% of it from the campaign “活动cp1”" in explain_rule(rule, 1200)


def test_the_basis_keeps_the_campaigns_as_they_were_at_payment() -> None:
    basis = PaymentSnapshot(order_id="o1", buyer_id="b", taken_at=NOW, settings_version=1, basis="binding",
                            self_purchase=False, l1_promoter_id="u1", l2_promoter_id=None,
                            promoters={"u1": PromoterState("u1", "active", "lv0", activated_at=NOW)},
                            campaigns=(campaign(weekdays=(6,), scope=CampaignScope(product_ids=("p1",))),))
    again = PaymentSnapshot.from_dict(basis.as_dict())
    assert again == basis


# ---- the cap: refused at save for every combination, clamped at compute -----------------------------

BOOSTS = st.one_of(
    st.builds(lambda a, b: Boost("points", a, b), st.integers(0, 800), st.integers(0, 800)),
    st.builds(lambda m: Boost("multiplier", multiplier_percent=m), st.integers(101, 300)))


@st.composite
def campaign_sets(draw: st.DrawFn, product_ids: list[str], category_ids: list[str], user_ids: list[str],
                  level_ids: list[str]) -> list[Campaign]:
    found = []
    for i in range(draw(st.integers(1, 3))):
        def pick(options: list[str]) -> tuple[str, ...]:
            return tuple(draw(st.lists(st.sampled_from(options), max_size=2, unique=True))) if options else ()

        scope = CampaignScope(pick(product_ids), pick(category_ids), pick(user_ids), pick(level_ids))
        found.append(campaign(f"cp{i}", boost=draw(BOOSTS), scope=scope))
    return found


def _worst_boosted(s: DistributionSettings, categories: list[Category], products: list[Product],
                   holders: list[Holder], campaigns: list[Campaign]) -> tuple[int, int]:
    by_id = {c.category_id: c for c in categories}
    lines = products + [product(f"any-{c}", c) for c in [*by_id, "gone"]]
    levels = [lv.id for lv in s.levels]
    # two promoters without an override (a campaign may choose one of them), at every level; one
    # promoter is never both levels of a line (the order pays them once), so pairs are of two people
    promoters = [Holder(name, lv) for name in ("plain", "plain2") for lv in levels] + [
        Holder(h.user_id, lv, h.l1_override_bp, h.l2_override_bp) for h in holders for lv in levels]
    worst = (0, 0)
    for item in lines:
        base = item.price_fen
        for first in promoters:
            for second in promoters:
                if first.user_id == second.user_id:
                    continue
                rates = boosted(item, campaigns, first, second, s, by_id.get(item.category_id), base=base)
                wanted = rates.l1.amount(base, 1) + rates.l2.amount(base, 1)
                ceiling = cap_amount(base, s.commission.cap_bp)
                if wanted - ceiling > worst[0] - worst[1]:
                    worst = (wanted, ceiling)
    return worst


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(configurations(), st.data())
def test_accepted_campaigns_never_take_a_line_over_the_cap(
        config: tuple[DistributionSettings, list[Category], list[Product], list[Holder]], data: st.DataObject) -> None:
    """Every combination of override, product/SKU/category/global rate, level points and campaign
    points or multiplier (targeted or not, several at once) that the saves accepted stays within the cap."""
    s, categories, products, holders = config
    assume(not cap_problems(settings=s, categories=categories, products=products, promoters=holders,
                            saving=SAVING_SETTINGS))
    proposed = data.draw(campaign_sets([p.product_id for p in products], [c.category_id for c in categories],
                                       [h.user_id for h in holders] + ["plain"], [lv.id for lv in s.levels]))
    accepted: list[Campaign] = []
    for candidate in proposed:
        if not campaign_cap_problems(candidate, others=accepted, settings=s,
                                     rates=CatalogRates(categories, products, holders)):
            accepted.append(candidate)
    wanted, ceiling = _worst_boosted(s, categories, products, holders, accepted)
    assert wanted <= ceiling


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.integers(0, 1200), st.integers(0, 600), st.integers(1500, 3000), st.integers(0, 400), st.integers(0, 400),
       BOOSTS)
def test_a_refused_campaign_could_take_a_line_over_the_cap(  # noqa: PLR0917
        l1: int, l2: int, cap: int, p1: int, p2: int, boost: Boost) -> None:
    """Not stricter than needed: with the global rates only, a campaign on every line is refused
    exactly when some pair of promoters would want more than the cap."""
    s = make_settings(l1, l2, cap, points=((p1, p2), (0, 0)))
    assume(l1 + l2 + p1 + p2 <= cap)
    cp = campaign(boost=boost)
    refused = campaign_cap_problems(cp, others=[], settings=s, rates=CatalogRates())
    wanted, ceiling = _worst_boosted(s, [], [], [], [cp])
    assert bool(refused) == (wanted > ceiling)
    if refused:
        assert {p.field for p in refused} <= {"boost.l1_points_bp", "boost.l2_points_bp", "boost.multiplier_percent"}


def test_two_campaigns_for_two_promoters_of_one_line_are_refused_together() -> None:
    """L1 and L2 are two promoters: each may fall in another campaign's scope."""
    s = make_settings(1000, 500, 3000)
    first = campaign("a", boost=Boost("points", 1000, 0), scope=CampaignScope(promoter_ids=("x",)))
    assert not campaign_cap_problems(first, others=[], settings=s, rates=CatalogRates())
    second = campaign("b", boost=Boost("points", 0, 1000), scope=CampaignScope(promoter_ids=("y",)))
    assert not campaign_cap_problems(second, others=[], settings=s, rates=CatalogRates())
    problems = campaign_cap_problems(second, others=[first], settings=s, rates=CatalogRates())
    assert [p.field for p in problems] == ["boost.l2_points_bp"]
    later = replace(second, starts_at=NOW + timedelta(days=2), ends_at=NOW + timedelta(days=3))
    assert not campaign_cap_problems(later, others=[first], settings=s, rates=CatalogRates())


def test_an_override_and_a_fixed_product_count_in_the_campaign_check() -> None:
    s = make_settings(1000, 500, 3000)
    pointy = campaign(boost=Boost("points", 500, 0))
    assert not campaign_cap_problems(pointy, others=[], settings=s, rates=CatalogRates())
    assert campaign_cap_problems(pointy, others=[], settings=s,
                                 rates=CatalogRates(promoters=[Holder("vip", "lv0", 2100, None)]))
    fixed = product("pf", mode="fixed", l1=2100, l2=500, price_fen=10_000)  # 26% at list price
    assert campaign_cap_problems(pointy, others=[], settings=s, rates=CatalogRates(products=[fixed]))
    elsewhere = campaign(boost=Boost("points", 500, 0), scope=CampaignScope(product_ids=("p1",)))
    assert not campaign_cap_problems(elsewhere, others=[], settings=s, rates=CatalogRates(products=[fixed]))


@settings(max_examples=80, deadline=None)
@given(BOOSTS, st.integers(1, 200_000), st.integers(1, 5), st.integers(0, 3000))
def test_the_clamp_holds_whatever_campaign_is_stored(boost: Boost, base: int, quantity: int, cap: int) -> None:
    """A campaign stored before a stricter cap, or a discounted fixed line: the compute clamps."""
    s = make_settings(1500, 1500, cap, points=((800, 800),))
    holder = PromoterState("u1", "active", "lv0")
    line = {"line_id": "0", "product_id": "p1", "category_id": "c1", "unit_price_fen": base, "paid_fen": base,
            "quantity": quantity, "commission": {"mode": "fixed", "l1": 3000, "l2": 3000}}
    decisions = decide_order_commissions(lines=[line], l1=holder, l2=PromoterState("u2", "active", "lv0"),
                                         l1_id="u1", l2_id="u2", settings=s, categories={}, context={},
                                         boost=campaign_boost([campaign(boost=boost)], at=NOW, l1=holder, l2=None))
    assert sum(d.amount_fen for d in decisions) <= cap_amount(base, cap)


def test_get_rules_discloses_the_stacking_rule_and_every_open_campaign_without_naming_chosen_promoters() -> None:
    s = make_settings(1000, 500, 2800, points=((0, 0),))
    targeted = campaign("t", boost=Boost("points", 300, 0), scope=CampaignScope(product_ids=("p1",),
                                                                                 promoter_ids=("u_secret",)))
    weekend = campaign("w", boost=Boost("multiplier", multiplier_percent=200), weekdays=(6, 7))
    over = replace(campaign("o"), ended_at=NOW - timedelta(hours=1))
    section = campaigns_section([targeted, weekend, over], s, now=NOW)
    texts = {item.key: item.text for item in section.items}
    assert "28%" in texts["campaign_rule"] and "不叠加" in texts["campaign_rule"]
    assert set(texts) == {"campaign_rule", "campaign_t", "campaign_w"}
    assert "一级佣金比例+3%" in texts["campaign_t"] and "u_secret" not in texts["campaign_t"]
    assert "佣金比例×2" in texts["campaign_w"] and "周六、周日" in texts["campaign_w"]
    assert "2026-12-11 12:00" in texts["campaign_w"]  # China time


def test_a_far_off_time_is_refused_naming_the_field_not_a_server_error() -> None:
    from pydantic import ValidationError

    from mall.schemas.campaigns import CampaignRequest
    body = {"name": "x", "starts_at": "0001-01-01T00:00:00", "ends_at": "2026-01-01T00:00:00",
            "boost": {"kind": "points", "l1_points_bp": 1}}
    try:
        CampaignRequest.model_validate(body)
    except ValidationError as refused:
        assert refused.errors()[0]["loc"] == ("starts_at",)
    else:
        raise AssertionError("year 1 accepted")
