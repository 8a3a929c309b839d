"""A coupon used at ``POST /orders`` (docs/coupons.md, "Using a coupon"): its discount spread over
the lines in its scope (so each line's ``paid_fen``, the commission base, is what was really paid),
and its use written in the order's own transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mall.dal.request_markers import TransactionCancelled, Write
from mall.domain.orders import PricedOrder
from mall.domain.referral import ShareSource
from mall.errors import Conflict

if TYPE_CHECKING:
    from mall.dal.coupons import CouponRepository
    from mall.domain.coupons import Coupon


@dataclass(frozen=True, slots=True)
class CouponUse:
    """The order priced with the coupon, what the order stores of it, and the write that uses it."""

    priced: PricedOrder
    stored: dict[str, Any] | None
    writes: list[Write]
    #: 推广员专属券 in first_payment mode: the share the order carries when it names none itself.
    share: ShareSource | None = None


def use_coupon(priced: PricedOrder, *, coupons_of: Callable[[], CouponRepository], facts_coupon: Coupon | None,
               coupon_id: str | None, buyer_id: str, order_id: str, now: datetime) -> CouponUse:
    """The coupon's discount taken off the lines in its scope (422/409 naming why it cannot be used).
    Applied before any other discount: its minimum spend is counted on the catalog prices."""
    if coupon_id is None:
        return CouponUse(priced=priced, stored=None, writes=[])
    # The coupons' rules are imported by an order that names a coupon, not at every placing cold start.
    from mall.domain.commission import apply_line_discounts
    from mall.domain.coupons import PricedLineRef, coupon_discounts

    refs = [PricedLineRef(line.line_id, line.product_id, line.category_id, line.paid_fen) for line in priced.lines]
    coupon = facts_coupon if facts_coupon is not None and facts_coupon.coupon_id == coupon_id else None
    parts = coupon_discounts(coupon, refs, buyer_id=buyer_id, now=now)
    if coupon is None:  # pragma: no cover - coupon_discounts refuses a missing coupon
        raise Conflict("no such coupon", code="coupon_not_found")
    stored = {"coupon_id": coupon.coupon_id, "template_id": coupon.template_id, "discount_fen": sum(parts.values()),
              "lines": parts, "on_refund": coupon.terms.on_refund.value, "valid_until": coupon.valid_until}
    share = ShareSource(promoter_code=coupon.sharer_code, source="link") if coupon.sharer_code else None
    if share is not None:
        stored["sharer_code"] = coupon.sharer_code
    return CouponUse(priced=apply_line_discounts(priced, parts), stored=stored,
                     writes=[coupons_of().use_write(coupon, order_id=order_id, now=now)], share=share)


def with_coupon_lines(lines: list[dict[str, Any]], stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each stored line says what the coupon took off it (``coupon_fen``): the commission rule
    snapshot shows it next to the base ("why this amount")."""
    if not stored:
        return lines
    parts: dict[str, int] = stored["lines"]
    return [{**line, "coupon_fen": parts[line["line_id"]]} if line["line_id"] in parts else line for line in lines]


def coupon_refusal(exc: TransactionCancelled, *, coupon_writes: int, after: int) -> Conflict | None:
    """409 ``coupon_used`` when the order's transaction was cancelled by its coupon write (placed
    just before the ``after`` last writes): another order used the coupon first, or it expired."""
    end = len(exc.reasons) - after
    if coupon_writes and "ConditionalCheckFailed" in exc.reasons[end - coupon_writes:end]:
        return Conflict("the coupon was used by another order, or is no longer valid", code="coupon_used")
    return None
