"""Coupons (优惠券): the terms of a template, what a claimed coupon is worth on an order, and how
that discount is spread over the order's lines. Pure: no I/O, no boto3, no storage keys.

Rules decided here (docs/coupons.md):

- A template takes an amount off (``amount_off_fen``) or a percent off (``percent_off_bp``) with a
  ceiling (``max_off_fen``), above a minimum spend (``min_spend_fen``) counted on the lines in its
  scope (all lines, some categories, or some products), before any other discount.
- The discount never exceeds the eligible lines' amount; percent off floors to the fen.
- The discount is spread over the eligible lines pro rata to their amount by the **largest
  remainder** rule: each line first gets ``floor(discount × line / eligible)``; the fen left over
  go one each to the lines with the largest dropped fractions, ties to the earlier line. The parts
  sum to the discount exactly and no line gets more than its amount.
- Validity is a window (``starts_at`` ≤ now < ``ends_at``) or N days after claiming: usable through
  the end of the N-th China day after the claim day (the claim day is day 0).
- A coupon is ``unused``, ``used`` (by one order) or ``expired`` (unused past its validity; computed
  on reading, never stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from mall.clock import CHINA, iso, parse_instant
from mall.domain.orders import Order, OrderStatus
from mall.domain.settings_terms import BindingMode
from mall.errors import Conflict, FieldProblem, InvalidInput

#: Percent off, in basis points: below 100% (a free order is not a coupon's job).
MAX_PERCENT_OFF_BP: Final = 9_900
MAX_VALID_DAYS: Final = 366


class CouponKind(StrEnum):
    AMOUNT = "amount"
    PERCENT = "percent"


class ScopeKind(StrEnum):
    ALL = "all"
    CATEGORIES = "categories"
    PRODUCTS = "products"


class RefundPolicy(StrEnum):
    """What a refund does to the coupon of the refunded order."""

    #: returned to the buyer (unused) when the whole order is refunded and the coupon is still valid.
    RETURN_IF_FULL = "return_if_full_refund"
    NEVER = "never"


class AutoIssue(StrEnum):
    """When the mall issues the template by itself, once per (user, template)."""

    NONE = "none"
    FIRST_LOGIN = "first_login"  # 新人礼
    BECOMES_PROMOTER = "becomes_promoter"


class ShareAction(StrEnum):
    """What claiming a promoter-bound coupon through a promoter's share does, by binding mode."""

    ENTER_CODE = "enter_code"  # invite_code: as if the customer entered the promoter's invite code
    SHARE_VISIT = "share_visit"  # first_click: a share visit (binds an unbound customer)
    SHARE_SOURCE = "share_source"  # first_payment: the share source of the order that uses the coupon


SHARE_ACTION_BY_MODE: Final[dict[BindingMode, ShareAction]] = {
    BindingMode.INVITE_CODE: ShareAction.ENTER_CODE,
    BindingMode.FIRST_CLICK: ShareAction.SHARE_VISIT,
    BindingMode.FIRST_PAYMENT: ShareAction.SHARE_SOURCE,
}

#: What the coupon does to commission and to a refund, as the code applies it (``spread``, ``discount_of``).
REMAINDER_RULE: Final = ("按各商品金额比例分摊到适用商品，分摊到分；不能整除时，余下的每一分依次分给小数部分最大的商品"
                         "（相同时给排在前面的商品），各商品分摊额之和恰好等于优惠金额")


class CouponStatus(StrEnum):
    UNUSED = "unused"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Terms:
    """What a coupon takes off, and from what: copied onto each coupon when it is claimed, so a
    template edited later changes only the coupons claimed after the edit."""

    kind: CouponKind
    amount_off_fen: int = 0
    percent_off_bp: int = 0
    max_off_fen: int | None = None
    min_spend_fen: int = 0
    scope: ScopeKind = ScopeKind.ALL
    scope_ids: tuple[str, ...] = ()
    on_refund: RefundPolicy = RefundPolicy.RETURN_IF_FULL


@dataclass(frozen=True, slots=True)
class Validity:
    """A window (``starts_at``/``ends_at``, ISO instants) or ``days`` after claiming."""

    starts_at: str | None = None
    ends_at: str | None = None
    days: int | None = None

    def window_on_claim(self, claimed_at: datetime) -> tuple[str, str]:
        """The coupon's own [from, until) for a claim at ``claimed_at``."""
        if self.days is not None:
            day = claimed_at.astimezone(CHINA).date() + timedelta(days=self.days + 1)
            until = datetime(day.year, day.month, day.day, tzinfo=CHINA)
            return iso(claimed_at), iso(until)
        return str(self.starts_at), str(self.ends_at)


@dataclass(frozen=True, slots=True)
class Template:
    """优惠券模板: the merchant's definition; ``issued`` counts the coupons claimed or issued of it."""

    template_id: str
    name: str
    terms: Terms
    validity: Validity
    total_quantity: int
    per_user_limit: int
    enabled: bool
    auto_issue: AutoIssue
    #: 推广员专属券: promoters share it, and a claim through a share follows the binding mode.
    promoter_bound: bool
    issued: int
    version: int
    created_at: str
    updated_at: str

    def claimable(self, now: datetime) -> bool:
        """Open for claiming: enabled, not sold out, and (a window) not over."""
        if not self.enabled or self.issued >= self.total_quantity:
            return False
        return self.validity.ends_at is None or now < parse_instant(self.validity.ends_at)


def check_template(terms: Terms, validity: Validity, *, total_quantity: int, per_user_limit: int) -> None:
    """422 naming each field that makes no coupon: the cross-field rules the request model cannot say."""
    problems = [*_terms_problems(terms), *_validity_problems(validity)]
    if per_user_limit > total_quantity:
        problems.append(FieldProblem("per_user_limit", "must not exceed total_quantity"))
    if problems:
        raise InvalidInput("the coupon template is not valid", code="invalid_coupon_template", fields=problems)


def _terms_problems(terms: Terms) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if terms.kind == CouponKind.AMOUNT:
        if terms.amount_off_fen < 1:
            problems.append(FieldProblem("amount_off_fen", "at least 1 fen for an amount-off coupon"))
        elif terms.min_spend_fen and terms.amount_off_fen > terms.min_spend_fen:
            problems.append(FieldProblem("amount_off_fen", "must not exceed min_spend_fen"))
    else:
        if not 1 <= terms.percent_off_bp <= MAX_PERCENT_OFF_BP:
            problems.append(FieldProblem("percent_off_bp", f"between 1 and {MAX_PERCENT_OFF_BP} for a percent coupon"))
        if terms.max_off_fen is None or terms.max_off_fen < 1:
            problems.append(FieldProblem("max_off_fen", "a percent coupon needs a ceiling of at least 1 fen"))
    if terms.scope != ScopeKind.ALL and not terms.scope_ids:
        problems.append(FieldProblem("scope_ids", f"name at least one of the {terms.scope.value}"))
    if terms.scope == ScopeKind.ALL and terms.scope_ids:
        problems.append(FieldProblem("scope_ids", "must be empty when scope is all"))
    return problems


def _validity_problems(validity: Validity) -> list[FieldProblem]:
    if validity.days is None:
        if validity.starts_at is None or validity.ends_at is None:
            return [FieldProblem("valid_days", "give valid_days, or starts_at and ends_at")]
        if parse_instant(validity.ends_at) <= parse_instant(validity.starts_at):
            return [FieldProblem("ends_at", "must be after starts_at")]
        return []
    if validity.starts_at is not None or validity.ends_at is not None:
        return [FieldProblem("valid_days", "either valid_days or a window, not both")]
    if not 1 <= validity.days <= MAX_VALID_DAYS:
        return [FieldProblem("valid_days", f"between 1 and {MAX_VALID_DAYS}")]
    return []


@dataclass(frozen=True, slots=True)
class PricedLineRef:
    """What the coupon needs of an order line: its amount and what it is."""

    line_id: str
    product_id: str
    category_id: str | None
    paid_fen: int


def in_scope(terms: Terms, line: PricedLineRef) -> bool:
    if terms.scope == ScopeKind.ALL:
        return True
    if terms.scope == ScopeKind.PRODUCTS:
        return line.product_id in terms.scope_ids
    return line.category_id is not None and line.category_id in terms.scope_ids


def discount_of(terms: Terms, eligible_fen: int) -> int:
    """What the coupon takes off ``eligible_fen`` (the lines in scope): 0 below the minimum spend."""
    if eligible_fen <= 0 or eligible_fen < terms.min_spend_fen:
        return 0
    if terms.kind == CouponKind.AMOUNT:
        off = terms.amount_off_fen
    else:
        off = eligible_fen * terms.percent_off_bp // 10_000
        if terms.max_off_fen is not None:
            off = min(off, terms.max_off_fen)
    return max(min(off, eligible_fen), 0)


def spread(discount_fen: int, lines: Sequence[tuple[str, int]]) -> dict[str, int]:
    """``discount_fen`` over ``lines`` ((line_id, amount)) pro rata, largest remainder first; the
    parts sum to ``discount_fen`` exactly and none exceeds its line's amount."""
    total = sum(amount for _, amount in lines)
    if discount_fen <= 0 or total <= 0:
        return {}
    if discount_fen > total:
        raise ValueError("a discount cannot exceed the lines it is spread over")
    parts = {line_id: discount_fen * amount // total for line_id, amount in lines}
    left = discount_fen - sum(parts.values())
    order = sorted(range(len(lines)), key=lambda i: (-(discount_fen * lines[i][1] % total), i))
    for i in order[:left]:
        parts[lines[i][0]] += 1
    return {line_id: fen for line_id, fen in parts.items() if fen}


@dataclass(frozen=True, slots=True)
class Coupon:
    """A claimed coupon (a user's own), as stored."""

    coupon_id: str
    user_id: str
    template_id: str
    name: str
    terms: Terms
    valid_from: str
    valid_until: str
    status: CouponStatus
    claimed_at: str
    order_id: str | None = None
    used_at: str | None = None
    #: a promoter-bound coupon claimed through a promoter's share: that promoter's code.
    sharer_code: str | None = None

    def status_at(self, now: datetime) -> CouponStatus:
        if self.status == CouponStatus.UNUSED and now >= parse_instant(self.valid_until):
            return CouponStatus.EXPIRED
        return self.status

    def valid_at(self, now: datetime) -> bool:
        return parse_instant(self.valid_from) <= now < parse_instant(self.valid_until)


def coupon_discounts(coupon: Coupon | None, lines: Sequence[PricedLineRef], *, buyer_id: str,
                     now: datetime) -> dict[str, int]:
    """The fen the buyer's ``coupon`` takes off each line (line_id → fen), or a 409/422 naming why it
    cannot be used on these lines now."""
    if coupon is None or coupon.user_id != buyer_id:
        raise InvalidInput("no such coupon of yours", code="coupon_not_found",
                           fields=[FieldProblem("coupon_id", "not a coupon you hold")])
    if coupon.status != CouponStatus.UNUSED:
        raise Conflict("the coupon was already used", code="coupon_used", details={"coupon_id": coupon.coupon_id})
    if not coupon.valid_at(now):
        raise Conflict("the coupon is not valid now", code="coupon_not_valid_now",
                       details={"coupon_id": coupon.coupon_id, "valid_from": coupon.valid_from,
                                "valid_until": coupon.valid_until})
    eligible = [line for line in lines if in_scope(coupon.terms, line)]
    eligible_fen = sum(line.paid_fen for line in eligible)
    if not eligible:
        raise InvalidInput("the coupon applies to none of these products", code="coupon_out_of_scope",
                           fields=[FieldProblem("coupon_id", "no line of the order is in the coupon's scope")])
    off = discount_of(coupon.terms, eligible_fen)
    if off == 0:
        raise InvalidInput("the order does not reach the coupon's minimum spend", code="coupon_min_spend",
                           fields=[FieldProblem("coupon_id", f"needs {coupon.terms.min_spend_fen} fen of products "
                                                             f"in its scope; the order has {eligible_fen}")])
    return spread(off, [(line.line_id, line.paid_fen) for line in eligible])


def coupon_returns(order: Order, *, now: datetime) -> bool:
    """Whether the order's coupon goes back to the buyer when a refund closes it (全额退款): its
    policy (copied from the template when it was used) says so and the coupon is still valid. An
    order paid after it expired already gave its coupon back at expiry."""
    used = order.extra.get("coupon") if order.extra else None
    if not used or order.status == OrderStatus.PAID_AFTER_EXPIRY:
        return False
    return (used.get("on_refund") == RefundPolicy.RETURN_IF_FULL.value
            and now < parse_instant(str(used.get("valid_until"))))
