"""The sections of the rules disclosure (规则公示) for the sub-documents added later (``team_bonus``,
``risk``, ``notifications``): shown only as far as they concern promoters, only when configured, and
read defensively (``getattr`` with defaults), so a change of their shape never breaks ``GET /rules``.
Risk thresholds are never disclosed (they would teach fraud); only what a hit means for a promoter.
Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.domain.money import yuan_compact as yuan  # the rules' amounts: "¥50", "¥1,500.50"
from mall.domain.rules_disclosure_items import RuleItem, RuleSection, percent

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings


def _field(document: Any, name: str, default: Any = None) -> Any:
    try:
        return getattr(document, name, default)
    except Exception:  # a sub-document that changed shape hides its section, never a 500
        return default


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def team_bonus_section(s: DistributionSettings) -> RuleSection | None:
    rules = _field(s, "team_bonus")
    if rules is None or not _field(rules, "enabled", False):
        return None
    items: list[RuleItem] = []
    for index, tier in enumerate(_field(rules, "tiers", []) or []):
        threshold, rate = _int(_field(tier, "min_team_sales_fen")), _int(_field(tier, "bonus_bp"))
        if threshold is None or rate is None:
            continue
        items.append(RuleItem(f"tier.{index + 1}", f"第 {index + 1} 档",
                              f"当月团队销售额达到 {yuan(threshold)}，按团队销售额的 {percent(rate)} 发放分红。",
                              rate, "bp"))
        items.append(RuleItem(f"tier.{index + 1}.min_team_sales_fen", f"第 {index + 1} 档门槛", yuan(threshold),
                              threshold, "fen"))
    if not items:
        return None
    items.append(RuleItem("team_sales", "团队销售额",
                          "当月（北京时间）支付的、您获得一级或二级佣金的订单（不含您本人下单）的商品实付金额"
                          "（不含运费），扣除这些订单的退款；只按销售额计算，与团队人数无关。"))
    final_days = _int(_field(rules, "final_after_days"))
    if final_days is not None:
        items.append(RuleItem("final_after_days", "分红发放",
                              f"当月订单全部结算或退款后发放分红；仍有订单未结算的，最迟于月末后 {final_days} 天"
                              "按当时的团队销售额发放。", final_days, "days"))
        items.append(RuleItem("refund_after_payment", "发放后退款",
                              "分红发放后，该月订单再发生退款的，按退款后的团队销售额重新计算（只计入分红发放时已入账的订单，"
                              "此后才入账的该月订单不计入），多发的分红从待结算或可提现余额中扣回，余额不足的部分记为欠款，"
                              "由之后的收入优先抵扣。"))
    days = _int(_field(rules, "settlement_days"))
    settle = days if days is not None else s.commission.settlement_days
    items.append(RuleItem("settlement_days", "分红结算",
                          f"分红发放后转为可提现余额，最早于月末后 {settle} 天。", settle, "days"))
    return RuleSection("team_bonus", "团队分红", items)


_RISK_RULE_TEXT: dict[str, str] = {
    "shared_device": "同一设备或网络短时间内大量新账户绑定同一推广员",
    "self_dealing": "推广员通过本人的设备、手机号或收货地址为他人账户下单获取佣金",
    "refund_ratio": "推广订单退款比例异常偏高",
    "commission_spike": "单日佣金远高于近期平均水平",
    "withdrawal_burst": "大量新成员绑定后集中提现",
}


def risk_section(s: DistributionSettings) -> RuleSection | None:
    rules = _field(s, "risk")
    if rules is None:
        return None
    enforced = [name for name, text in _RISK_RULE_TEXT.items() if _field(_field(rules, name), "mode") == "enforce"]
    if not enforced:
        return None  # rules that only observe change nothing for a promoter
    items = [RuleItem(f"check.{name}", "风险核查", _RISK_RULE_TEXT[name] + "。") for name in enforced]
    items.append(RuleItem("effect", "核查期间", "触发核查后，您未结算的佣金暂缓结算、提现暂停，由商家人工核实："
                          "核实无误的恢复正常；确认违规的取消相关佣金并冻结推广资格。"))
    return RuleSection("risk", "风险核查", items)


_NOTIFICATION_TEXT: dict[str, str] = {
    "commission_earned": "佣金入账",
    "commission_settled": "佣金结算",
    "withdrawal_status": "提现进度",
    "team_member_joined": "新成员加入",
    "wake_up_boost": "获得唤醒加成",
}


def notifications_section(s: DistributionSettings) -> RuleSection | None:
    settings = _field(s, "notifications")
    if settings is None:
        return None
    items = [RuleItem(f"event.{name}", label, f"{label}时，您可收到微信订阅消息（需在小程序中同意订阅）。", True)
             for name, label in _NOTIFICATION_TEXT.items()
             if _field(_field(settings, name), "enabled", False) is True and _field(_field(settings, name),
                                                                                     "template_id")]
    return RuleSection("notifications", "消息通知", items) if items else None
