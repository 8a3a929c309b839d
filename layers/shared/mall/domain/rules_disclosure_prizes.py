"""The leaderboard prizes' section of the rules disclosure (规则公示): the standing table and every
month's own table, the measure, the tie rule and when prizes are paid — from the same settings and
constants the monthly run applies (``mall.domain.leaderboard_prizes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mall.domain.leaderboard_prizes import MEASURE_NAMES, TIE_RULE, LeaderboardPrizes, PrizeTable, table_text
from mall.domain.money import yuan_compact as yuan
from mall.domain.rules_disclosure_items import RuleItem, RuleSection

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

_MEASURE_TEXT: dict[str, str] = {
    "sales": "当月（北京时间）支付的、您获得一级佣金的订单（不含您本人下单）的商品实付金额（不含运费），扣除退款",
    "commission": "当月（北京时间）支付的订单为您带来的一级和二级佣金（不含您本人下单），扣除退款取消或追回的部分",
}


def _table_items(key: str, label: str, table: PrizeTable) -> list[RuleItem]:
    items = [RuleItem(key, label, table_text(table), table.total_fen, "fen"),
             RuleItem(f"{key}.measure", f"{label}排名依据",
                      f"{MEASURE_NAMES[table.measure]}：{_MEASURE_TEXT[table.measure]}。")]
    items += [RuleItem(f"{key}.rank.{p.rank}", f"{label}第 {p.rank} 名", yuan(p.amount_fen), p.amount_fen, "fen")
              for p in table.prizes]
    return items


def leaderboard_prizes_section(s: DistributionSettings) -> RuleSection | None:
    rules: LeaderboardPrizes | None = getattr(s, "leaderboard_prizes", None)
    if rules is None or not rules.enabled:
        return None
    items: list[RuleItem] = []
    if rules.standing is not None:
        items += _table_items("standing", "每月奖励", rules.standing)
    for month in sorted(rules.months):
        items += _table_items(f"month.{month}", f"{month} 奖励", rules.months[month])
    final_days = s.team_bonus.final_after_days
    items += [
        RuleItem("tie_rule", "同分排序", TIE_RULE + "。"),
        RuleItem("paid_when", "奖励发放",
                 f"当月订单全部结算或退款后（最迟于月末后 {final_days} 天）按最终数据排名，奖励直接计入可提现余额"
                 "（有欠款的先抵扣欠款）；排名确定前发生的退款会降低成绩。", final_days, "days"),
        RuleItem("who", "获奖资格",
                 "排名确定当日状态正常的推广员参与排名（已冻结或停用的不参与，由下一名递补）；存在风控审查的，"
                 "奖励待审查结束后发放，审查确认违规的不予发放。只按销售业绩评奖，与团队人数无关。"),
    ]
    return RuleSection("leaderboard_prizes", "排行榜奖励", items)
