"""The fixed terms of the distribution settings (分销设置): the cap limit, basis points, the binding
modes, the withdrawal methods, the default banned phrases. Plain values with no pydantic model, so a
module that needs a term (or names the settings only in annotations) does not load the settings
document's validators at cold start; ``mall.domain.settings`` builds the document from these and
re-exports every name."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from mall.domain import withdrawal_limits

if TYPE_CHECKING:
    from mall.domain.settings import LevelUpgrade

#: L1 + L2 commission of a line may never exceed 30% of its base (fixed rule; docs/protocols.md, "Profit sharing").
COMMISSION_CAP_LIMIT_BP = 3000
BASIS_POINTS = 10_000

#: Phrases that promoter-facing text may never contain (pyramid-scheme vocabulary). The merchant can
#: add phrases through ``banned_phrases``; these defaults can never be removed.
DEFAULT_BANNED_PHRASES: tuple[str, ...] = (
    "无限代", "躺赚", "拉人头", "世袭", "三级分销", "多级分销", "发展下线", "人头费", "入门费", "静态收益",
    "动态收益", "躺着赚钱", "零风险高回报",
)


class BindingMode(StrEnum):
    """绑定方式."""

    FIRST_CLICK = "first_click"
    FIRST_PAYMENT = "first_payment"
    INVITE_CODE = "invite_code"


WithdrawalMethod = Literal["wechat", "bank"]

#: WeChat merchant transfers of ¥2,000 or more need the payee's real name (``user_name``,
#: docs/protocols.md). Promoters' real names are not collected, so a WeChat withdrawal stays below this
#: (``mall.domain.withdrawals`` refuses it otherwise) and the default maximum per request is under it.
WECHAT_REAL_NAME_FROM_FEN = withdrawal_limits.WECHAT_REAL_NAME_FROM_FEN


def is_headcount_only(upgrade: LevelUpgrade) -> bool:
    """A level whose only condition is a number of invitees: it would pay a higher rate for
    recruiting alone (拉人头), so it is refused at save and never earned automatically."""
    return (upgrade.direct_members_at_least is not None and upgrade.own_sales_at_least_fen is None
            and upgrade.team_sales_at_least_fen is None)
