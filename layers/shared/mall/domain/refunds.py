"""Refunds (退款): what may be refunded, and what each WeChat Pay outcome does. Pure: no I/O.

Arithmetic (per order line, integer fen):
``refundable = paid_fen − refunded_fen − refund_held_fen``. A request holds its amounts on the
order line (``refund_held_fen``) in the same transaction that creates it, conditional on the
order's ``version``: two requests racing for the same money cannot both pass. Rejected or closed
refunds release their hold; a succeeded refund moves it into ``refunded_fen``; a failed
(ABNORMAL) one keeps it, because WeChat Pay may still complete it (manual handling).

Shipping (运费) goes back only with the last unit, and only once every line is refunded by refunds
that succeeded: a request carries the order's ``shipping_fen`` when it takes every line's last
refundable fen *and* no other request holds anything (amounts merely held may still be rejected
or closed). When requests overlapped, none of them carries it; the success that leaves every line
refunded then opens a shipping refund (kind ``shipping``, REQUESTED, its amount held) in the same
transaction, which the admin approves like any other (once: held/refunded shipping is tracked).

Statuses: REQUESTED → PROCESSING (approved, sent to WeChat Pay) | REJECTED;
PROCESSING → SUCCEEDED | FAILED (REFUND.ABNORMAL) | CLOSED (REFUND.CLOSED or refused by WeChat Pay);
FAILED → SUCCEEDED | CLOSED (a later notification). Terminal: REJECTED, SUCCEEDED, CLOSED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from mall.domain.orders import Order, OrderStatus
from mall.errors import Conflict, FieldProblem, InvalidInput

MAX_REFUND_LINES: Final = 20
REFUNDABLE_ORDER_STATUSES: Final = frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED})


class RefundStatus(StrEnum):
    REQUESTED = "REQUESTED"  # 待审核
    REJECTED = "REJECTED"  # 已拒绝
    PROCESSING = "PROCESSING"  # 退款中
    SUCCEEDED = "SUCCEEDED"  # 已退款
    FAILED = "FAILED"  # 退款异常 (REFUND.ABNORMAL): the admin follows it up at the merchant platform
    CLOSED = "CLOSED"  # 退款关闭


#: Statuses whose amounts are held on the order lines.
HOLDING: Final = frozenset({RefundStatus.REQUESTED, RefundStatus.PROCESSING, RefundStatus.FAILED})


class RefundKind(StrEnum):
    CUSTOMER = "customer"
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    ADMIN = "admin"
    SHIPPING = "shipping"  # the shipping alone, opened when the last line's refund succeeded


@dataclass(frozen=True, slots=True)
class LineRequest:
    line_id: str
    amount_fen: int | None = None  # None: everything still refundable on the line


@dataclass(frozen=True, slots=True)
class PlannedLine:
    line_id: str
    index: int  # position in the order's ``lines`` list (the update path)
    amount_fen: int


@dataclass(frozen=True, slots=True)
class RefundPlan:
    lines: tuple[PlannedLine, ...]
    shipping_fen: int

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines) + self.shipping_fen


def plan_refund(order: Order, requested: Sequence[LineRequest]) -> RefundPlan:
    """What a customer's request refunds. Raises Conflict (order state) or InvalidInput (amounts)."""
    if order.status == OrderStatus.CREATED:
        raise Conflict("the payment of this order is not confirmed yet; a refund can be asked once it is paid",
                       code="order_not_paid", details={"status": order.status, "order_id": order.order_id})
    if order.status not in REFUNDABLE_ORDER_STATUSES:
        raise Conflict(f"an order in status {order.status} cannot be refunded", code="order_not_refundable",
                       details={"status": order.status, "order_id": order.order_id})
    if not requested:
        raise InvalidInput("name at least one line to refund", code="invalid_refund",
                           fields=[FieldProblem("lines", "at least one line")])
    if len(requested) > MAX_REFUND_LINES:
        raise InvalidInput("too many lines", code="invalid_refund",
                           fields=[FieldProblem("lines", f"at most {MAX_REFUND_LINES}")])
    problems: list[FieldProblem] = []
    planned: list[PlannedLine] = []
    seen: set[str] = set()
    for position, want in enumerate(requested):
        where = f"lines.{position}"
        if want.line_id in seen:
            problems.append(FieldProblem(f"{where}.line_id", "line listed twice"))
            continue
        seen.add(want.line_id)
        index = order.line_index(want.line_id)
        if index is None:
            problems.append(FieldProblem(f"{where}.line_id", "no such line in this order"))
            continue
        refundable = order.lines[index].refundable_fen
        amount = refundable if want.amount_fen is None else want.amount_fen
        if amount <= 0:
            reason = "must be at least 1 fen" if want.amount_fen is not None else "nothing left to refund on this line"
            problems.append(FieldProblem(f"{where}.amount_fen", reason))
        elif amount > refundable:
            problems.append(FieldProblem(f"{where}.amount_fen",
                                         f"at most {refundable} fen (paid minus refunded and pending refunds)"))
        else:
            planned.append(PlannedLine(want.line_id, index, amount))
    if problems:
        nothing = all(line.refundable_fen == 0 for line in order.lines)
        if nothing:
            raise Conflict("everything in this order is already refunded or being refunded",
                           code="nothing_to_refund", details={"order_id": order.order_id})
        raise InvalidInput("the refund asks for more than can be refunded", code="refund_exceeds_refundable",
                           fields=problems)
    return RefundPlan(lines=tuple(planned), shipping_fen=shipping_with(order, planned))


def shipping_with(order: Order, planned: Sequence[PlannedLine]) -> int:
    """The order's shipping, when this refund takes every line's last refundable fen (a full refund)
    and no other open request holds an amount: then its success leaves every line refunded."""
    if order.shipping_fen <= 0 or order.shipping_refunded_fen or order.shipping_refund_held_fen:
        return 0
    if any(line.refund_held_fen for line in order.lines):
        return 0
    taking = {line.index: line.amount_fen for line in planned}
    for index, line in enumerate(order.lines):
        if line.refundable_fen - taking.get(index, 0) != 0:
            return 0
    return order.shipping_fen


def whole_order_plan(order: Order) -> RefundPlan:
    """A refund item with no lines (paid-after-expiry): everything not yet refunded, shipping included."""
    lines = tuple(PlannedLine(line.line_id, index, line.paid_fen - line.refunded_fen)
                  for index, line in enumerate(order.lines) if line.paid_fen - line.refunded_fen > 0)
    return RefundPlan(lines=lines, shipping_fen=max(order.shipping_fen - order.shipping_refunded_fen, 0))


def shipping_due_after(order: Order, plan: RefundPlan) -> int:
    """The shipping a shipping refund must return once ``plan`` succeeds: every line is then refunded
    by succeeded refunds, and the shipping is neither refunded nor carried by an open request (0
    otherwise)."""
    if order.shipping_fen <= 0 or order.shipping_refund_held_fen - plan.shipping_fen > 0:
        return 0
    adding = {line.index: line.amount_fen for line in plan.lines}
    if any(line.refunded_fen + adding.get(i, 0) < line.paid_fen for i, line in enumerate(order.lines)):
        return 0
    return max(order.shipping_fen - order.shipping_refunded_fen - plan.shipping_fen, 0)


def fully_refunded_after(order: Order, plan: RefundPlan) -> bool:
    """Whether every line (and the shipping) is refunded once ``plan`` succeeds."""
    adding = {line.index: line.amount_fen for line in plan.lines}
    lines_done = all(line.refunded_fen + adding.get(i, 0) >= line.paid_fen for i, line in enumerate(order.lines))
    return lines_done and order.shipping_refunded_fen + plan.shipping_fen >= order.shipping_fen


# ---- WeChat Pay outcomes ------------------------------------------------------------------------

class Outcome(StrEnum):
    SUCCEED = "succeed"
    FAIL = "fail"
    CLOSE = "close"
    NOTHING = "nothing"  # duplicate, or a state that an outcome can no longer change


def outcome_of(current: RefundStatus, wechat_status: str) -> Outcome:
    """What a REFUND.* notification (or the API's answer) does to a refund in ``current``."""
    if wechat_status == "SUCCESS" and current in {RefundStatus.PROCESSING, RefundStatus.FAILED}:
        return Outcome.SUCCEED
    if wechat_status == "ABNORMAL" and current == RefundStatus.PROCESSING:
        return Outcome.FAIL
    if wechat_status == "CLOSED" and current in {RefundStatus.PROCESSING, RefundStatus.FAILED}:
        return Outcome.CLOSE
    return Outcome.NOTHING


def check_approvable(status: RefundStatus, refund_id: str) -> bool:
    """True to move REQUESTED → PROCESSING; False to re-send a PROCESSING refund (safe: same number)."""
    if status == RefundStatus.REQUESTED:
        return True
    if status == RefundStatus.PROCESSING:
        return False
    raise Conflict(f"a refund in status {status} cannot be approved", code="refund_not_approvable",
                   details={"status": str(status), "refund_id": refund_id})


def check_rejectable(status: RefundStatus, refund_id: str) -> None:
    if status != RefundStatus.REQUESTED:
        raise Conflict(f"a refund in status {status} cannot be rejected", code="refund_not_rejectable",
                       details={"status": str(status), "refund_id": refund_id})


# ---- the refund item ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Refund:
    """退款单: ``refund_id`` is WeChat Pay's ``out_refund_no``."""

    refund_id: str
    order_id: str
    buyer_id: str
    kind: str
    status: RefundStatus
    amount_fen: int
    lines: tuple[RefundLine, ...]
    reason: str
    created_at: str
    version: int = 0
    shipping_fen: int = 0
    #: whether the request held its amounts on the order lines (customer refunds do; the
    #: paid-after-expiry refund of a late payment does not)
    held_on_order: bool = False
    decided_by: str | None = None
    decided_at: str | None = None
    reject_reason: str | None = None
    wechat_refund_id: str | None = None
    succeeded_at: str | None = None
    closed_at: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


def plan_of(refund: Refund, order: Order) -> RefundPlan:
    """The order lines a stored refund moves (for the update paths)."""
    if refund.kind == RefundKind.SHIPPING:
        return RefundPlan(lines=(), shipping_fen=refund.shipping_fen)
    if not refund.lines:
        return whole_order_plan(order)
    planned = []
    for line in refund.lines:
        index = order.line_index(line.line_id)
        if index is None:
            raise ValueError(f"refund {refund.refund_id} names line {line.line_id} the order does not have")
        planned.append(PlannedLine(line.line_id, index, line.amount_fen))
    return RefundPlan(lines=tuple(planned), shipping_fen=refund.shipping_fen)


def closes_order(order: Order, plan: RefundPlan) -> bool:
    """A refund that leaves nothing paid closes a paid, shipped or completed order (全额退款 → 已关闭)."""
    return order.status in REFUNDABLE_ORDER_STATUSES and fully_refunded_after(order, plan)
