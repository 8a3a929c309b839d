"""The withdrawal thresholds a promoter is bound by (提现门槛): for each, the predicate the code
applies and the sentence ``GET /rules`` shows, side by side.

A text is written from its predicate's comparison, boundary included, with the words of Chinese
usage (《民法典》第一千二百五十九条: 以上、以下、以内 include the number itself):

| predicate | words |
|---|---|
| ``amount < bound`` | 低于 ¥X |
| ``amount >= bound`` | ¥X 及以上 / 不低于 ¥X |
| ``amount <= bound`` | 不超过 ¥X |

so a text can never say 以下 (≤) where the code says below (<). Pure; the settings document
(``mall.domain.settings.WithdrawalRules``) calls these for its fee, the request checks
(``mall.domain.withdrawals``) for the limits and the review, the disclosure for the words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mall.domain.money import yuan_compact

_BASIS_POINTS = 10_000

#: WeChat merchant transfers of ¥2,000 or more need the payee's real name (``user_name``,
#: docs/protocols.md). Promoters' real names are not collected, so a WeChat withdrawal stays below this.
WECHAT_REAL_NAME_FROM_FEN = 200_000


class Limits(Protocol):
    """What the thresholds read of the withdrawal rules (``WithdrawalRules`` fits)."""

    @property
    def min_fen(self) -> int: ...
    @property
    def max_fen(self) -> int: ...
    @property
    def daily_count(self) -> int: ...
    @property
    def daily_amount_fen(self) -> int: ...
    @property
    def fee_free_below_fen(self) -> int: ...
    @property
    def fee_rate_bp(self) -> int: ...
    @property
    def fee_min_fen(self) -> int: ...
    @property
    def auto_review_below_fen(self) -> int: ...
    @property
    def methods(self) -> Sequence[str]: ...


def percent(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


# ---- the amount of one request ----------------------------------------------------------------


def below_minimum(amount_fen: int, rules: Limits) -> bool:
    return amount_fen < rules.min_fen


def minimum_text(rules: Limits) -> str:
    return f"单笔不低于 {yuan_compact(rules.min_fen)}。"


def above_maximum(amount_fen: int, rules: Limits) -> bool:
    return amount_fen > rules.max_fen


def wechat_needs_real_name(amount_fen: int) -> bool:
    return amount_fen >= WECHAT_REAL_NAME_FROM_FEN


def maximum_text(rules: Limits) -> str:
    text = f"单笔不超过 {yuan_compact(rules.max_fen)}"
    if "wechat" in rules.methods and wechat_needs_real_name(rules.max_fen):
        text += f"；提现到微信零钱的，单笔须低于 {yuan_compact(WECHAT_REAL_NAME_FROM_FEN)}"
    return text + "。"


# ---- the day (China day) -------------------------------------------------------------------------


def daily_count_reached(count_today: int, rules: Limits) -> bool:
    """No further request once today's requests reach the count."""
    return count_today >= rules.daily_count


def daily_count_text(rules: Limits) -> str:
    return f"每天最多提现 {rules.daily_count} 次（按北京时间计）。"


def over_daily_amount(requested_today_fen: int, amount_fen: int, rules: Limits) -> bool:
    return requested_today_fen + amount_fen > rules.daily_amount_fen


def daily_amount_text(rules: Limits) -> str:
    return f"每天合计不超过 {yuan_compact(rules.daily_amount_fen)}。"


# ---- the fee ------------------------------------------------------------------------------------


def fee_free(amount_fen: int, rules: Limits) -> bool:
    """免手续费: strictly below ``fee_free_below_fen``."""
    return amount_fen < rules.fee_free_below_fen


def fee_of(amount_fen: int, rules: Limits) -> int:
    """0 when fee-free, else ``max(fee_min_fen, floor(amount × fee_rate_bp / 10000))``."""
    if fee_free(amount_fen, rules):
        return 0
    return max(rules.fee_min_fen, amount_fen * rules.fee_rate_bp // _BASIS_POINTS)


def never_charged(rules: Limits) -> bool:
    return rules.fee_rate_bp == 0 and rules.fee_min_fen == 0


def fee_free_text(rules: Limits) -> str:
    """The fee-free bound alone (its own item on the page)."""
    if never_charged(rules):
        return "提现不收手续费。"
    if rules.fee_free_below_fen == 0:
        return "没有免手续费额度。"
    return f"单笔低于 {yuan_compact(rules.fee_free_below_fen)} 免手续费。"


def fee_text(rules: Limits) -> str:
    """The whole fee rule: the free part, and what the rest pays."""
    if never_charged(rules):
        return "提现不收手续费。"
    if rules.fee_rate_bp == 0:
        charge = f"收取 {yuan_compact(rules.fee_min_fen)}"
    elif rules.fee_min_fen == 0:
        charge = f"按提现金额的 {percent(rules.fee_rate_bp)} 收取（按分向下取整）"
    else:
        charge = f"按提现金额的 {percent(rules.fee_rate_bp)} 收取，最低 {yuan_compact(rules.fee_min_fen)}"
    if rules.fee_free_below_fen == 0:
        return f"每笔提现{charge}。"
    bound = yuan_compact(rules.fee_free_below_fen)
    return f"单笔低于 {bound} 免手续费；单笔 {bound} 及以上{charge}。"


# ---- the review -----------------------------------------------------------------------------------


def small_enough_for_auto_review(amount_fen: int, rules: Limits) -> bool:
    """The amount part of automatic approval (the promoter must also have no risk flag)."""
    return amount_fen < rules.auto_review_below_fen


def review_text(rules: Limits) -> str:
    if rules.auto_review_below_fen == 0:
        return "每笔提现均需人工审核。"
    return f"单笔低于 {yuan_compact(rules.auto_review_below_fen)} 且无风险提示时自动审核，其余人工审核。"
