"""The commission campaigns' part of the rules disclosure (规则公示): the rule every campaign
follows, then each campaign in force or starting later, from the same objects the commission
applies (``mall.domain.campaigns``). Promoters a campaign targets are never named: the page is public."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from mall.clock import CHINA
from mall.domain.campaigns import NO_BENEFICIARY_RULE, Campaign, CampaignScope, current_and_upcoming
from mall.domain.rules_disclosure_items import RuleItem, RuleSection, percent
from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP
from mall.domain.wake_up import WakeUpRule, wake_up_rule_text

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

_WEEKDAYS = "一二三四五六日"


#: What a promoter is shown before payment (``mall.domain.campaigns.rates_at``): the same resolution.
ESTIMATES_RULE = ("佣金预估和商品列表中的预估佣金已按您此刻适用的活动加成计算（同样受佣金上限约束），"
                  "实际佣金以支付时为准。")
#: 自购优惠 (``discount``): the price is fixed when the order is placed, so the campaign in force then counts.
SELF_PURCHASE_DISCOUNT_RULE = "自购减免按下单时您适用的活动加成计算，减免后的价格即为实付价格。"


def stacking_rule(cap_bp: int, self_purchase: str = "rebate") -> str:
    return ("活动期间，符合活动范围的订单按活动加成计算佣金：加点直接加在佣金比例上，倍数只对原佣金比例（含等级加成）"
            "计算一次；同一笔佣金同时符合多个活动时，只按金额最高的一个计算，活动之间不叠加；"
            f"一级与二级佣金合计始终不超过商品实付金额的 {percent(min(cap_bp, COMMISSION_CAP_LIMIT_BP))}；"
            + NO_BENEFICIARY_RULE
            + "以订单支付成功时正在进行的活动为准，活动结束后支付的订单不再加成。" + ESTIMATES_RULE
            + (SELF_PURCHASE_DISCOUNT_RULE if self_purchase == "discount" else ""))


def _when(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _scope(scope: CampaignScope, settings: DistributionSettings) -> str:
    parts = []
    if scope.product_ids:
        parts.append(f"指定的 {len(scope.product_ids)} 件商品")
    if scope.category_ids:
        parts.append(f"指定的 {len(scope.category_ids)} 个商品分类")
    if scope.level_ids:
        names = {level.id: level.name for level in settings.levels}
        parts.append("等级为" + "、".join(names.get(lid, lid) for lid in scope.level_ids) + "的推广员")
    if scope.promoter_ids:
        parts.append("活动指定的推广员（已单独通知）")
    if scope.new_promoter_days:
        parts.append(f"成为推广员 {scope.new_promoter_days} 天内的推广员")
    return "，".join(parts) or "全部商品、全部推广员"


def campaign_item(campaign: Campaign, settings: DistributionSettings) -> RuleItem:
    days = ""
    if campaign.weekdays:
        days = "，每周" + "、".join(f"周{_WEEKDAYS[d - 1]}" for d in sorted(campaign.weekdays)) + "（北京时间）"
    text = (f"{_when(campaign.starts_at)} 至 {_when(campaign.closes_at)}（北京时间）{days}；"
            f"适用：{_scope(campaign.scope, settings)}；加成：{campaign.boost.text()}。")
    return RuleItem(key=f"campaign_{campaign.campaign_id}", label=campaign.name, text=text)


def campaigns_section(campaigns: Iterable[Campaign], settings: DistributionSettings, *,
                      now: datetime, wake_up: WakeUpRule | None = None) -> RuleSection:
    items = [RuleItem(key="campaign_rule", label="佣金活动规则", text=stacking_rule(settings.commission.cap_bp,
                                                                              settings.commission.self_purchase))]
    if wake_up is not None and wake_up.enabled:
        items.append(RuleItem(key="wake_up_rule", label="沉睡唤醒加成", text=wake_up_rule_text(wake_up)))
    items += [campaign_item(c, settings) for c in current_and_upcoming(campaigns, now)]
    return RuleSection(key="campaigns", title="佣金活动", items=items)
