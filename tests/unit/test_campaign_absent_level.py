"""A campaign on a level nobody earns (docs/incentives.md, "A level nobody earns"): that level keeps
the plain rate, so its share of the cap does not grow and the other level is not cut for nobody."""

from __future__ import annotations

from mall.domain.campaigns import NO_BENEFICIARY_RULE, Boost, CampaignScope
from mall.domain.commission import line_commission
from mall.domain.rules_disclosure_campaigns import campaigns_section
from tests.unit.test_campaign_rules import NOW, boosted, campaign
from tests.unit.test_commission_cap import Holder, make_settings, product


def test_an_untargeted_campaign_boosts_only_the_levels_somebody_earns() -> None:
    s = make_settings()
    cup = product(mode="fixed", l1=300, l2=120, price_fen=2_000)
    every_cup = [campaign(boost=Boost("points", 100, 100), scope=CampaignScope(product_ids=("p1",)))]
    a = Holder("a", "lv0")
    nobody_l1 = boosted(cup, every_cup, None, a, s, base=1_200)
    assert (nobody_l1.l1.ratio_bp, nobody_l1.l1.campaign) == (0, None)
    assert nobody_l1.l2.ratio_bp == 100 and nobody_l1.l2.campaign is not None
    # The cap (360 of 1,200) leaves L2 what L1's plain 300 fen does not take.
    assert line_commission(1_200, 1, nobody_l1, s.commission.cap_bp)[:2] == (300, 60)
    nobody_l2 = boosted(cup, every_cup, a, None, s, base=1_200)
    assert (nobody_l2.l1.ratio_bp, nobody_l2.l2.ratio_bp, nobody_l2.l2.campaign) == (100, 0, None)
    both = boosted(cup, every_cup, a, a, s, base=1_200)
    assert line_commission(1_200, 1, both, s.commission.cap_bp)[:2] == (312, 48)


def test_get_rules_says_a_campaign_is_not_counted_for_a_level_nobody_earns() -> None:
    texts = {i.key: i.text for i in campaigns_section([], make_settings(), now=NOW).items}
    assert NO_BENEFICIARY_RULE in texts["campaign_rule"]
