"""What a promoter is shown or discounted before payment is what the payment would pay them (pure):
``rates_at`` is the payment's own resolution (the campaign in force for them included, the cap
clamping the same way); the save-time checks weigh the wake-up rule's future boosts; GET /rules
says so (docs/incentives.md)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mall.domain.campaigns import Boost, CampaignScope, campaign_boost, rates_at
from mall.domain.commission import decide_order_commissions, line_commission, self_purchase_discount
from mall.domain.payment_snapshot import PromoterState
from mall.domain.rules_disclosure_campaigns import campaigns_section
from mall.domain.settings import CommissionRates
from mall.domain.wake_up import WakeUpRule, weighed_at_save
from tests.unit.test_campaign_rules import NOW, campaign
from tests.unit.test_commission_cap import Holder, make_settings, product

RATE = st.integers(min_value=0, max_value=2500)
BOOSTS = st.one_of(st.builds(lambda a, b: Boost("points", a, b), RATE, RATE),
                   st.builds(lambda m: Boost("multiplier", multiplier_percent=m), st.integers(101, 300)))


@settings(max_examples=200, deadline=None)
@given(l1=RATE, l2=RATE, cap=st.integers(0, 3000), points=RATE, boosts=st.lists(BOOSTS, max_size=3),
       fixed=st.booleans(), own=st.integers(0, 3000), override=st.none() | RATE, chosen=st.booleans(),
       price=st.integers(1, 100_000))
def test_the_figure_shown_is_what_the_payment_pays_the_promoter_at_l1(  # noqa: PLR0917
        l1: int, l2: int, cap: int, points: int, boosts: list[Boost], fixed: bool, own: int, override: int | None,
        chosen: bool, price: int) -> None:
    s = make_settings(l1, l2, cap, points=((points, 0),))
    me = PromoterState("u_me", "active", "lv0", l1_override_bp=override)
    item = product(mode="fixed" if fixed else "inherit", l1=own, l2=0, price_fen=price)
    campaigns = [campaign(f"cp{i}", boost=b, scope=CampaignScope(promoter_ids=("u_me",) if chosen else ("u_x",)))
                 for i, b in enumerate(boosts)]
    shown, _, _ = line_commission(price, 1, rates_at(settings=s, product=item, category=None, promoter=me,
                                                     campaigns=campaigns, at=NOW, base_fen=price), cap)
    line = {"line_id": "l1", "product_id": "p1", "category_id": "c1", "unit_price_fen": price, "paid_fen": price,
            "quantity": 1, "commission": item.commission.as_dict()}
    paid = decide_order_commissions(lines=[line], l1=me, l2=None, l1_id="u_me", l2_id=None, settings=s,
                                    categories={}, context={},
                                    boost=campaign_boost(campaigns, at=NOW, l1=me, l2=None))
    assert [d.amount_fen for d in paid if d.level == 1] == [shown]


def test_only_campaigns_in_force_then_and_for_that_promoter_count_and_the_cap_clamps() -> None:
    s = make_settings(1000, 500, 3000)
    me, other = Holder("u_me", "lv0"), Holder("u_other", "lv0")
    mine = campaign("cp_t", boost=Boost("multiplier", multiplier_percent=300),
                    scope=CampaignScope(product_ids=("p1",), promoter_ids=("u_me",)))
    later = campaign("cp_later", boost=Boost("points", 500, 0), starts=NOW + timedelta(days=1),
                     ends=NOW + timedelta(days=2))
    rates = rates_at(settings=s, product=product(), category=None, promoter=me, campaigns=[mine, later], at=NOW,
                     base_fen=10_000)
    assert (rates.l1.ratio_bp, rates.l1.campaign_bp, (rates.l1.campaign or {}).get("campaign_id")) == (
        3000, 2000, "cp_t")
    assert line_commission(10_000, 1, rates, 2500)[0] == 2500  # clamped to the cap, as at payment
    assert self_purchase_discount(base_fen=10_000, quantity=1, rates=rates, cap_bp=2500) == 2500
    theirs = rates_at(settings=s, product=product(), category=None, promoter=other, campaigns=[mine, later], at=NOW,
                      base_fen=10_000)
    assert (theirs.l1.ratio_bp, theirs.l1.campaign) == (1000, None)


def test_a_rate_save_weighs_the_boosts_the_wake_up_rule_will_grant_and_no_closed_campaign() -> None:
    closed = campaign("cp_closed", starts=NOW - timedelta(days=3), ends=NOW - timedelta(days=1))
    upcoming = campaign("cp_next", starts=NOW + timedelta(days=3), ends=NOW + timedelta(days=4))
    assert [c.campaign_id for c in weighed_at_save([closed, upcoming], WakeUpRule(), NOW)] == ["cp_next"]
    rule = WakeUpRule(enabled=True, boost=Boost("points", 500, 0))
    weighed = weighed_at_save([closed, upcoming], rule, NOW)
    assert [c.origin for c in weighed] == ["merchant", "wake_up"]
    assert weighed[1].boost == rule.boost and len(weighed[1].scope.promoter_ids) > 1  # both levels may wake
    assert weighed[1].in_force(NOW) and weighed[1].closes_at > NOW + timedelta(days=365)


def test_get_rules_says_estimates_and_a_self_purchase_discount_include_the_campaign() -> None:
    s = make_settings()
    rebate = {i.key: i.text for i in campaigns_section([], s, now=NOW).items}["campaign_rule"]
    assert "预估佣金已按您此刻适用的活动加成计算" in rebate and "自购减免" not in rebate
    discount = make_settings().model_copy(update={"commission": CommissionRates(self_purchase="discount")})
    text = {i.key: i.text for i in campaigns_section([], discount, now=NOW).items}["campaign_rule"]
    assert "自购减免按下单时您适用的活动加成计算" in text
