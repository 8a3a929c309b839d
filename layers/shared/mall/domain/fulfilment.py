"""After payment (发货、确认收货、自动确认、核销): the order's fulfilment rules. Pure: no I/O.

Which road an order takes after payment is decided by its lines (docs/data-model.md, "after payment"):

- any physical line → the admin ships it (PAID → SHIPPED), then the buyer confirms receipt or the
  schedule confirms it ``auto_confirm_days`` after shipping (SHIPPED → COMPLETED);
- else any service line → the buyer shows a 核销 code, the admin verifies it (PAID → COMPLETED);
- physical and service lines together (mixed) → shipped and received as above, and the service
  lines verified by the order's 核销 code at any point after payment (``service_verified_at``, no
  status change): each line's commission settles on its own completion;
- else (virtual goods only) → delivered on payment: completed as soon as the order is PAID
  (PAID → COMPLETED, ``completed_by = auto``) by the order stream worker.

Every transition is conditional on the status read here, and puts a history item.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from mall.clock import parse_instant
from mall.domain.orders import Order, OrderStatus
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound, TooManyRequests

CompletedBy = Literal["buyer", "auto", "verify"]

#: 核销码: 12 digits shown to the buyer (a wrong guess costs one of MAX_VERIFY_ATTEMPTS).
VERIFY_CODE_DIGITS: Final = 12
MAX_VERIFY_ATTEMPTS: Final = 5
VERIFY_LOCK_MINUTES: Final = 15


def ensure_owner(order: Order | None, buyer_id: str) -> Order:
    """A customer sees only their own orders: someone else's is "not found", not "forbidden"."""
    if order is None or order.buyer_id != buyer_id:
        raise NotFound("no such order", code="order_not_found")
    return order


def _state_conflict(message: str, code: str, order: Order) -> Conflict:
    return Conflict(message, code=code, details={"status": order.status, "order_id": order.order_id})


# ---- shipping (发货) --------------------------------------------------------------------------

def check_ship(order: Order, *, carrier: str, tracking_no: str) -> bool:
    """True to ship now; False when the order is already shipped with this very parcel (a retry).
    Raises Conflict otherwise."""
    if order.status == OrderStatus.SHIPPED and order.carrier == carrier and order.tracking_no == tracking_no:
        return False
    if order.status != OrderStatus.PAID:
        raise _state_conflict(f"an order in status {order.status} cannot be shipped", "order_not_shippable", order)
    if order.fulfilment != "physical":
        raise _state_conflict("this order has no physical goods to ship", "order_not_physical", order)
    if order.nothing_left:
        raise _state_conflict("every line is refunded or being refunded: nothing to ship", "nothing_to_ship", order)
    return True


# ---- receipt (确认收货) -----------------------------------------------------------------------

#: Who completes an order on the buyer's word: our route, or WeChat's message push (completed_by wechat).
BUYER_CONFIRMATIONS = frozenset({"buyer", "wechat"})


def check_confirm_receipt(order: Order) -> bool:
    """True to complete now; False when the buyer already confirmed, here or in WeChat's own
    confirm-receipt component (a retry)."""
    if order.status == OrderStatus.COMPLETED and order.completed_by in BUYER_CONFIRMATIONS:
        return False
    if order.status != OrderStatus.SHIPPED:
        raise _state_conflict(f"only a shipped order can be confirmed (it is {order.status})",
                              "order_not_shipped", order)
    return True


def auto_confirm_cutoff(now: datetime, auto_confirm_days: int) -> datetime:
    """Orders shipped before this moment are confirmed automatically (自动确认收货)."""
    return now - timedelta(days=auto_confirm_days)


# ---- service verification (核销) --------------------------------------------------------------

def normalise_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


def format_code(code: str) -> str:
    """1234 5678 9012: easier to read out at the counter."""
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


def verify_code_hash(order_id: str, code: str) -> str:
    """Only this hash is compared; bound to the order so one code cannot verify another order."""
    return hashlib.sha256(f"verify:{order_id}:{normalise_code(code)}".encode()).hexdigest()


#: Statuses in which a mixed order's service lines can be verified (before or after the parcel).
MIXED_VERIFIABLE_STATUSES: Final = frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED})


def shows_verify_code(order: Order) -> bool:
    """The buyer sees a 核销 code on a paid order that is fulfilled by verification, and on a mixed
    order whose service lines are not verified yet."""
    if order.mixed:
        return (order.status in MIXED_VERIFIABLE_STATUSES and order.service_verified_at is None
                and order.service_left)
    return order.status == OrderStatus.PAID and order.fulfilment == "service" and not order.nothing_left


def check_verify(order: Order, code: str, now: datetime) -> None:
    """Raises unless ``code`` verifies ``order`` now. Attempt counting is the caller's (it writes).
    A service order is completed by it; a mixed order only has its service lines verified."""
    if order.mixed:
        if order.service_verified_at is not None:
            raise _state_conflict("this order's services were already verified", "order_already_verified", order)
        if order.status not in MIXED_VERIFIABLE_STATUSES:
            raise _state_conflict(f"an order in status {order.status} cannot be verified", "order_not_verifiable",
                                  order)
        if not order.service_left:
            raise _state_conflict("every service line is refunded or being refunded", "nothing_to_verify", order)
    else:
        if order.status == OrderStatus.COMPLETED and order.completed_by == "verify":
            raise _state_conflict("this order was already verified", "order_already_verified", order)
        if order.status != OrderStatus.PAID or order.fulfilment != "service":
            raise _state_conflict(f"an order in status {order.status} cannot be verified", "order_not_verifiable",
                                  order)
        if order.nothing_left:
            raise _state_conflict("every line is refunded or being refunded", "nothing_to_verify", order)
    if order.verify_locked_until and parse_instant(order.verify_locked_until) > now:
        wait = int((parse_instant(order.verify_locked_until) - now).total_seconds()) + 1
        raise TooManyRequests("too many wrong codes for this order; try again later", retry_after_seconds=wait,
                              code="verify_locked")
    expected = order.verify_code_hash
    if expected is None or not hmac.compare_digest(expected, verify_code_hash(order.order_id, code)):
        raise wrong_code()


def wrong_code() -> InvalidInput:
    return InvalidInput("the verification code is not right for this order", code="wrong_verify_code",
                        fields=[FieldProblem("code", "does not match this order's code")])


def lock_after_wrong_code(failed_attempts: int, now: datetime) -> datetime | None:
    if failed_attempts >= MAX_VERIFY_ATTEMPTS:
        return now + timedelta(minutes=VERIFY_LOCK_MINUTES)
    return None


# ---- history ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """状态记录: one transition of the order."""

    status: str
    at: str
    by: str
    note: str | None = None
