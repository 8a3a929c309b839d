"""Rules disclosure (规则公示): the distribution rules in force, rendered from the settings document.

Pure: ``render(settings, version=..., effective_at=...)`` turns one settings version into sections of
items a mini-program can show as they are. Every item has a stable English ``key``, a Chinese
``label`` and ``text``, and — for numbers — the integer ``value`` with its ``unit`` (``fen`` for money,
``bp`` for rates: 1000 = 10%), so a client can render the text or format the number itself.

Exactly two earning levels are ever shown (一级 / 二级): the settings document cannot describe a
third and neither can this page. The sub-documents added later (``team_bonus``, ``risk``,
``notifications``) are shown only as far as they concern promoters, only when configured, and read
defensively (``getattr`` with defaults): a change of their shape must never break ``GET /rules``
(``mall.domain.rules_disclosure_optional``; the shapes of the page: ``rules_disclosure_items``).
Risk thresholds are never disclosed (they would teach fraud); only what a hit means for a promoter.
Every text passes ``_clean`` so no banned phrase (``DEFAULT_BANNED_PHRASES`` and the merchant's own)
can reach the page, whatever the merchant typed into a name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mall.domain import tracking
from mall.domain import withdrawal_limits as limits
from mall.domain.adjustments import adjustment_rule
from mall.domain.catalog import SKU_COMMISSION_RULE
from mall.domain.money import yuan_compact as yuan  # the rules' amounts: "¥50", "¥1,500.50"
from mall.domain.payment_snapshot import FIRST_PAYMENT_RULE, FIXED_AT_PAYMENT_RULE
from mall.domain.promoter_text import mask_banned
from mall.domain.referral import EFFECTIVE_MEMBER_DEFINITION, EFFECTIVE_MEMBER_TERM, PHONE_REQUIRED_TEXT
from mall.domain.refunds import HOLDING as REFUND_HOLDING
from mall.domain.refunds import RefundStatus
from mall.domain.rules_disclosure_coupons import coupons_section
from mall.domain.rules_disclosure_items import Disclosure, EarningLevel, LevelRule, RuleItem, RuleSection, percent
from mall.domain.rules_disclosure_optional import notifications_section, risk_section, team_bonus_section
from mall.domain.rules_disclosure_prizes import leaderboard_prizes_section
from mall.domain.settings_terms import BASIS_POINTS, BindingMode, is_headcount_only
from mall.domain.settlement import settles_for, voids_unsettled
from mall.domain.withdrawals import CANCELLED_BY_DEBT, check_promoter, debt_cancel_rule, returned_funds_rule

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings, PromoterLevel

TITLE = "分销规则公示"
EARNING_LEVEL_NAMES: tuple[str, str] = ("一级", "二级")


class _Cleaner:
    """Masks banned phrases in any text that reaches the page (the settings refuse them in names;
    this is the last line for texts that were never checked, e.g. a future sub-document, or a
    document saved under an older rule). The same normaliser as the check (mall.domain.promoter_text):
    a phrase spelt traditional, split by punctuation or zero-width characters is masked too."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = tuple(phrases)

    def __call__(self, text: str) -> str:
        return mask_banned(text, self.phrases)


# ---- sections -----------------------------------------------------------------------------------


def _overview(s: DistributionSettings) -> RuleSection:
    title = s.promoter_title
    return RuleSection("overview", "总则", [
        RuleItem("promoter_title", "推广身份名称", f"本商城的推广身份称为“{title}”。", title),
        RuleItem("earning_levels", "分佣层级",
                 "佣金只分两级：一级为直接推广的客户下单，二级为您邀请的推广员推广的客户下单；"
                 "不存在第三级及以上的佣金。", 2, "count"),
        RuleItem("pay_basis", "计酬依据",
                 "佣金和奖励只按真实成交的订单金额计算，邀请人数本身不产生任何收益；无需缴纳任何费用即可参与。"),
    ])


def _commission(s: DistributionSettings) -> RuleSection:
    c = s.commission
    self_purchase = {
        "rebate": "推广员本人下单：本人获得一级佣金，其上级获得二级佣金。",
        "none": "推广员本人下单不给本人佣金：视为其上级推广的订单，上级获得一级佣金，上级的上级获得二级佣金。",
        "discount": "推广员本人下单：本应获得的一级佣金直接从商品价格中减免，不再另计佣金。",
    }[c.self_purchase]
    return RuleSection("commission", "佣金规则", [
        RuleItem("l1_rate", "一级佣金比例", f"直接推广的客户下单，按商品实付金额的 {percent(c.l1_rate_bp)} 计佣金。",
                 c.l1_rate_bp, "bp"),
        RuleItem("l2_rate", "二级佣金比例",
                 f"您邀请的推广员推广的客户下单，按商品实付金额的 {percent(c.l2_rate_bp)} 计佣金。",
                 c.l2_rate_bp, "bp"),
        RuleItem("cap", "佣金上限", f"每件商品的一级与二级佣金合计不超过其实付金额的 {percent(c.cap_bp)}。",
                 c.cap_bp, "bp"),
        RuleItem("base", "计佣基数",
                 "商品实付金额：扣除优惠后实际支付的金额，不含运费；佣金按分向下取整。"),
        RuleItem("rate_priority", "比例优先级",
                 "商品或商品分类单独设置的佣金比例优先于上述通用比例；等级加成另计（见“推广员等级”）。"),
        RuleItem("per_sku", "按规格计佣", SKU_COMMISSION_RULE),
        RuleItem("self_purchase", "自购规则", self_purchase, c.self_purchase),
        RuleItem("when_earned", "佣金产生", "订单支付成功后记为待结算佣金；只有状态正常的推广员获得佣金，"
                 "某一级的推广员状态异常时该级佣金不发放，也不转给他人。"),
        RuleItem("fixed_at_payment", "以支付时为准", FIXED_AT_PAYMENT_RULE),
    ])


def _level_rule(s: DistributionSettings, level: PromoterLevel) -> LevelRule:
    c = s.commission
    l1, l2 = c.l1_rate_bp + level.l1_points_bp, c.l2_rate_bp + level.l2_points_bp
    up = level.upgrade
    conditions: list[str] = []
    if is_headcount_only(up):
        # Never earned by recruiting alone (the engine never upgrades on it): only an admin sets it.
        text = f"一级佣金 {percent(l1)}、二级佣金 {percent(l2)}；仅由商家设定，邀请人数不能单独作为升级条件。"
        return LevelRule(level.id, level.name, level.l1_points_bp, level.l2_points_bp, l1, l2, text)
    if up.direct_members_at_least is not None:
        conditions.append(f"{EFFECTIVE_MEMBER_TERM}达到 {up.direct_members_at_least} 位")
    if up.own_sales_at_least_fen is not None:
        conditions.append(f"个人推广销售额达到 {yuan(up.own_sales_at_least_fen)}")
    if up.team_sales_at_least_fen is not None:
        conditions.append(f"团队销售额达到 {yuan(up.team_sales_at_least_fen)}")
    text = f"一级佣金 {percent(l1)}、二级佣金 {percent(l2)}"
    if level.l1_points_bp or level.l2_points_bp:
        text += f"（通用比例另加 {percent(level.l1_points_bp)} / {percent(level.l2_points_bp)}）"
    text += "；升级条件：" + "且".join(conditions) + "。" if conditions else "。"
    return LevelRule(level.id, level.name, level.l1_points_bp, level.l2_points_bp, l1, l2, text)


def _levels(s: DistributionSettings, rules: Sequence[LevelRule]) -> RuleSection:
    items = [RuleItem(f"level.{r.id}", r.name, r.text, r.l1_rate_bp, "bp") for r in rules]
    items.append(RuleItem("upgrade", "升级方式", "满足下一等级的全部条件后自动升级。"))
    items.append(RuleItem("effective_members", EFFECTIVE_MEMBER_TERM,
                          f"{EFFECTIVE_MEMBER_TERM}指{EFFECTIVE_MEMBER_DEFINITION}。每位客户只计一次，"
                          "改绑后计入新的上级；邀请人数不能单独作为升级条件，更高的佣金比例只能通过销售获得。"))
    items.append(RuleItem("sales_base", "业绩计算",
                          "个人与团队销售额按参与分销的商品实付金额计算，不含运费；订单退款成功后，"
                          "退款部分从销售额中扣除。"))
    items.append(RuleItem("refund_reevaluation", "退款后等级",
                          "因退款使销售额不再满足当前等级条件的，自动调整到仍满足条件的最高等级（记录在等级变动记录中）；"
                          "由商家设定的等级不因退款调整。"))
    items.append(RuleItem("downgrade_inactive_days", "降级",
                          f"连续 {s.level_downgrade_inactive_days} 天没有推广业绩（无新客户、无推广订单）时，"
                          f"等级自动下调一级。", s.level_downgrade_inactive_days, "days"))
    return RuleSection("levels", "推广员等级", items)


def _binding(s: DistributionSettings) -> RuleSection:
    mode = {
        BindingMode.FIRST_CLICK: "客户首次通过推广员的分享链接、海报或小程序码进入商城时，与该推广员绑定。",
        BindingMode.FIRST_PAYMENT: "客户首次支付的订单来自哪位推广员的分享，即与该推广员绑定。",
        BindingMode.INVITE_CODE: "客户只有主动填写推广员的邀请码才会绑定。",
    }[s.binding_mode]
    validity = s.binding_validity
    if validity.kind == "permanent" or validity.protection_days is None:
        validity_item = RuleItem("validity", "绑定有效期", "绑定长期有效，不会被其他推广员的链接改绑。", "permanent")
    else:
        days = validity.protection_days
        validity_item = RuleItem("protection_days", "客户保护期",
                                 f"绑定后 {days} 天内为保护期；保护期满后，客户通过其他推广员的链接进入可改绑。",
                                 days, "days")
    items = [
        RuleItem("mode", "绑定方式", mode, s.binding_mode.value),
        RuleItem("invite_code", "邀请码", "在任何绑定方式下，客户主动填写邀请码都可以绑定（须符合下列限制）。"),
        validity_item,
        RuleItem("only_new_customers", "仅限新客户",
                 "只有从未在本商城付款的新客户可以被绑定。" if s.only_new_customers else "老客户也可以被绑定。",
                 s.only_new_customers),
        RuleItem("limits", "绑定限制", "不能绑定自己，不能绑定自己团队中的成员，只能绑定状态正常的推广员；"
                 "每次绑定、改绑和解绑都会记录来源。"),
    ]
    if s.binding_mode == BindingMode.FIRST_PAYMENT:
        items.insert(1, RuleItem("first_payment_attribution", "首单绑定与佣金归属", FIRST_PAYMENT_RULE))
    return RuleSection("binding", "客户绑定", items)


def _settlement(s: DistributionSettings) -> RuleSection:
    days = s.commission.settlement_days
    return RuleSection("settlement", "佣金结算", [
        RuleItem("settlement_days", "结算周期",
                 f"订单完成（确认收货、超时自动确认或到店核销）后 {days} 天，待结算佣金转为可提现余额。",
                 days, "days"),
        RuleItem("auto_confirm_days", "自动确认收货",
                 f"{'签收' if s.orders.auto_confirm_from == 'delivery' else '发货'}后 {s.orders.auto_confirm_days} "
                 "天未确认收货的订单自动确认。", s.orders.auto_confirm_days, "days"),
        RuleItem("auto_confirm_from", "自动确认起算",
                 tracking.countdown_rule(s.orders.auto_confirm_from, s.orders.auto_confirm_days),
                 s.orders.auto_confirm_from),
        *_settlement_conditions(days),
    ])


#: How each status of a refund request that holds money on its order line is shown.
_REFUND_STATUS_NAMES = {"REQUESTED": "待审核", "PROCESSING": "退款中", "FAILED": "退款异常"}


def _settlement_conditions(days: int) -> list[RuleItem]:
    """Per-line completion, open refunds and the promoter's status at settlement: each text is
    chosen by the predicate the settlement applies (``mall.domain.settlement``, ``.withdrawals``)."""
    holding = "、".join(_REFUND_STATUS_NAMES[status.value] for status in sorted(REFUND_HOLDING, key=list(
        RefundStatus).index))
    frozen_held = not settles_for("frozen")
    disabled_voided = voids_unsettled("disabled")
    disabled_withdraws = check_promoter("disabled") is None
    items = [
        RuleItem("line_completion", "按商品分别结算",
                 f"同一订单中既有实物商品又有服务项目的，实物商品自确认收货（或超时自动确认）起、服务项目自到店核销起，"
                 f"分别计算 {days} 天结算周期。", days, "days"),
        RuleItem("refund_open", "退款处理中",
                 f"订单商品有未结束的退款申请（{holding}）时，该商品的佣金暂不结算，退款申请结束后再按结果结算。",
                 "wait_for_refund"),
    ]
    if frozen_held:
        items.append(RuleItem("promoter_frozen", "账户冻结",
                              "账户被商家冻结期间，到期的佣金暂缓结算；解除冻结后照常结算，金额不变。",
                              "held_until_unfrozen"))
    if disabled_voided:
        kept = ("已结算的可提现余额仍归您所有，可以继续提现（有未结案的风险核查时暂停）。" if disabled_withdraws
                else "已结算的可提现余额仍归您所有。")
        items.append(RuleItem("promoter_disabled", "账户停用", f"账户被停用时，尚未结算的佣金作废；{kept}",
                              "unsettled_voided"))
    return items


def _withdrawal(s: DistributionSettings) -> RuleSection:
    w = s.withdrawal
    # Each threshold's words come from beside the predicate the code applies (withdrawal_limits).
    fee_text = limits.fee_text(w)
    methods = "、".join({"wechat": "微信零钱", "bank": "银行卡"}[m] for m in w.methods)
    review = limits.review_text(w)
    return RuleSection("withdrawal", "提现规则", [
        RuleItem("min_fen", "最低提现金额", limits.minimum_text(w), w.min_fen, "fen"),
        RuleItem("max_fen", "最高提现金额", limits.maximum_text(w), w.max_fen, "fen"),
        RuleItem("daily_count", "每日次数", limits.daily_count_text(w), w.daily_count, "count"),
        RuleItem("daily_amount_fen", "每日额度", limits.daily_amount_text(w), w.daily_amount_fen, "fen"),
        RuleItem("fee", "手续费", fee_text),
        RuleItem("fee_free_below_fen", "免手续费额度", limits.fee_free_text(w), w.fee_free_below_fen, "fen"),
        RuleItem("fee_rate", "手续费比例", f"{percent(w.fee_rate_bp)}", w.fee_rate_bp, "bp"),
        RuleItem("fee_min_fen", "最低手续费", f"{yuan(w.fee_min_fen)}", w.fee_min_fen, "fen"),
        RuleItem("methods", "到账方式", f"{methods}。", ",".join(w.methods)),
        RuleItem("review", "审核", review, w.auto_review_below_fen, "fen"),
        RuleItem("hold", "资金冻结", returned_funds_rule(), "debt_first"),
        RuleItem("debt_cancels_withdrawals", "欠款时的提现", debt_cancel_rule(),
                 ",".join(status.value for status in CANCELLED_BY_DEBT)),
    ])


def _refund(s: DistributionSettings) -> RuleSection:
    return RuleSection("refund", "退款对佣金的影响", [
        RuleItem("before_settlement", "结算前退款",
                 "订单在佣金结算前退款的，按退款金额占实付金额的比例取消对应佣金（部分退款按比例取消）。",
                 "pro_rata_cancel"),
        RuleItem("after_settlement", "结算后退款",
                 "佣金已结算后发生退款的，按比例从可提现余额中扣回；余额不足的部分记为欠款，由以后的佣金优先抵扣。",
                 "clawback_then_debt"),
        RuleItem("debt", "欠款期间", "存在欠款时暂不能提现，欠款还清后恢复。"),
        RuleItem("manual_adjustment", "人工调整", adjustment_rule(s.withdrawal.dual_approval_from_fen),
                 s.withdrawal.dual_approval_from_fen, "fen"),
    ])


def _promoter(s: DistributionSettings, version: int) -> RuleSection:
    t = s.promoter_threshold
    if t.kind == "spent_at_least" and t.spent_at_least_fen:
        threshold = RuleItem("threshold", "申请条件", f"在本商城累计实付满 {yuan(t.spent_at_least_fen)} 即可申请。",
                             t.spent_at_least_fen, "fen")
    elif t.kind == "bought_product":
        threshold = RuleItem("threshold", "申请条件", "购买过指定商品即可申请。", "bought_product")
    else:
        threshold = RuleItem("threshold", "申请条件", "无门槛，登录即可申请。", "none")
    review = "提交申请后自动通过。" if s.promoter_review == "auto" else "提交申请后由商家审核，审核通过后生效。"
    phone = [RuleItem("phone", "绑定手机号", PHONE_REQUIRED_TEXT, True)] if t.requires_phone else []
    return RuleSection("promoter", f"成为{s.promoter_title}", [
        threshold,
        *phone,
        RuleItem("review", "审核方式", review, s.promoter_review),
        RuleItem("agreement", "规则确认",
                 f"申请时须阅读并同意当前版本的规则（第 {version} 版）；规则更新后以新版本为准。", version, "count"),
        RuleItem("status", "账户状态", "推广员账户可能因风险核查或违反规则被冻结或停用，冻结期间不产生新佣金。"),
        _wording(s),
    ])


def _wording(s: DistributionSettings) -> RuleItem:
    """The banned-phrase and single-line rules of mall.domain.promoter_text, as a promoter meets them."""
    count = len(s.all_banned_phrases())
    return RuleItem("wording", "推广用语",
                    f"昵称、海报文字等推广内容不得含有本商城的 {count} 个禁用词（夸大收益、多级分销等用语）；"
                    "繁体写法、在字间夹入空格、标点、符号或不可见字符、反向显示的写法同样视为含有禁用词。"
                    "昵称和海报文字须为一行纯文本，不得含有换行、控制字符或改变显示方向的字符。", count, "count")


def _cleaned(sections: Iterable[RuleSection], clean: _Cleaner) -> list[RuleSection]:
    return [RuleSection(s.key, clean(s.title), [
        RuleItem(i.key, clean(i.label), clean(i.text), clean(i.value) if isinstance(i.value, str) else i.value, i.unit)
        for i in s.items]) for s in sections]


def render(settings: DistributionSettings, *, version: int, effective_at: datetime | None) -> Disclosure:
    """The disclosure of one settings version (pure; same input, same output)."""
    clean = _Cleaner(settings.all_banned_phrases())
    c = settings.commission
    level_rules = [_level_rule(settings, level) for level in settings.levels]
    sections: list[RuleSection | None] = [
        _overview(settings), _commission(settings), _levels(settings, level_rules), _binding(settings),
        _settlement(settings), _withdrawal(settings), _refund(settings), _promoter(settings, version),
        coupons_section(settings),  # always: any order may carry a coupon
        team_bonus_section(settings), risk_section(settings), notifications_section(settings),
        leaderboard_prizes_section(settings),
    ]
    earning = [EarningLevel(1, EARNING_LEVEL_NAMES[0], c.l1_rate_bp, percent(c.l1_rate_bp)),
               EarningLevel(2, EARNING_LEVEL_NAMES[1], c.l2_rate_bp, percent(c.l2_rate_bp))]
    return Disclosure(
        version=version, effective_at=effective_at, title=TITLE, promoter_title=clean(settings.promoter_title),
        earning_levels=earning,
        levels=[LevelRule(r.id, clean(r.name), r.l1_points_bp, r.l2_points_bp, r.l1_rate_bp, r.l2_rate_bp,
                          clean(r.text)) for r in level_rules],
        sections=_cleaned((s for s in sections if s is not None), clean),
    )


def cleaner(settings: DistributionSettings) -> _Cleaner:
    """The masking of banned phrases ``render`` applies, for a section rendered elsewhere."""
    return _Cleaner(settings.all_banned_phrases())


def cleaned(sections: Iterable[RuleSection], clean: _Cleaner) -> list[RuleSection]:
    return _cleaned(sections, clean)


def all_texts(disclosure: Disclosure) -> list[str]:
    """Every string a reader sees (for the banned-phrase checks)."""
    texts = [disclosure.title, disclosure.promoter_title]
    texts += [e.name for e in disclosure.earning_levels]
    texts += [t for r in disclosure.levels for t in (r.name, r.text)]
    for section in disclosure.sections:
        texts.append(section.title)
        for item in section.items:
            texts += [item.label, item.text]
            if isinstance(item.value, str):
                texts.append(item.value)
    return texts


__all__ = ["BASIS_POINTS", "Disclosure", "EarningLevel", "LevelRule", "RuleItem", "RuleSection", "all_texts",
           "cleaned", "cleaner", "percent", "render", "yuan"]
