"""The coupon rules a promoter is bound by (规则公示, section ``coupons``): what a customer's coupon does
to commission and refunds, and what a customer claiming a promoter's own coupon (推广员专属券) through
their share does under the binding mode in force. Produced from the constants the code applies. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mall.domain.coupons import REMAINDER_RULE, SHARE_ACTION_BY_MODE, ShareAction
from mall.domain.rules_disclosure_items import RuleItem, RuleSection

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

SHARE_ACTION_TEXT: Final[dict[ShareAction, str]] = {
    ShareAction.ENTER_CODE: "客户通过您分享的专属券领券，视同填写了您的邀请码：符合绑定规则时与您绑定。",
    ShareAction.SHARE_VISIT: "客户通过您分享的专属券领券，视同一次通过您的分享链接访问："
                             "未绑定的客户符合绑定规则时与您绑定。",
    ShareAction.SHARE_SOURCE: "客户通过您分享的专属券领券，不立即绑定；客户用这张券下单时，您是这笔订单的分享来源，"
                              "按首单绑定规则决定绑定与佣金归属。",
}


def coupons_section(s: DistributionSettings) -> RuleSection:
    action = SHARE_ACTION_BY_MODE[s.binding_mode]
    return RuleSection("coupons", "优惠券", [
        RuleItem("commission_base", "优惠券与佣金",
                 f"订单使用优惠券时，优惠金额{REMAINDER_RULE}；每件商品的佣金按分摊后的实付金额计算，"
                 "佣金上限同样按实付金额计算。"),
        RuleItem("refund", "优惠券与退款",
                 "退款金额以每件商品分摊优惠后的实付金额为限；退款按退款金额比例取消相应佣金。"),
        RuleItem("promoter_bound", "推广员专属券",
                 f"{SHARE_ACTION_TEXT[action]}不能绑定自己或自己团队中的成员，客户保护期与“仅限新客户”等绑定限制同样适用；"
                 "领券本身不产生任何奖励，佣金只来自客户实际支付的订单。", action.value),
    ])
