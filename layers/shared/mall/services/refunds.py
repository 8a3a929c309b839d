"""Use cases of refunds (退款): request, approve (WeChat Pay refund API), reject, and the REFUND.*
notifications. Rules: ``mall.domain.refunds``; items: ``mall.dal.refunds``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.dal.audit import AuditEntry
from mall.dal.keys import refunds_partition
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository, TransactionCancelled, refund_from_item
from mall.dal.request_markers import MarkedRequest
from mall.domain import refunds as rules
from mall.domain.coupons import coupon_returns
from mall.domain.fulfilment import ensure_owner
from mall.domain.orders import Order
from mall.domain.refund_ids import refund_id_for
from mall.domain.refunds import LineRequest, Outcome, Refund, RefundStatus
from mall.errors import Conflict, NotFound, UpstreamUnavailable
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayInvalidResponse
from mall.integrations.wechatpay.refund_resources import RefundResource, RefundResult
from mall.schemas.refunds import RefundList, RefundPage, RefundView
from mall.services.refund_views import refund_view
from mall.services.request_replay import replay, replay_refused

logger = Logger(child=True)

MAX_ATTEMPTS = 3  # a request re-reads the order after losing a race on its version
MAX_OUTCOME_ATTEMPTS = 6  # an outcome re-reads after a concurrent change of the refund or the order
WECHAT_REASON_MAX = 80


class RefundGateway(Protocol):
    """What approval needs of ``mall.integrations.wechatpay.client.WeChatPayClient``."""

    def create_refund(self, out_refund_no: str, *, out_trade_no: str, refund_fen: int, total_fen: int,
                      reason: str | None, notify_url: str, funds_account: str | None = None) -> RefundResult: ...


def _buyer_response(refund: Refund) -> str:
    return refund_view(refund, for_buyer=True).model_dump_json()


def _out_trade_no(order: Order) -> str:
    value = order.extra.get("out_trade_no")
    return value if isinstance(value, str) and value else order.order_id


# ---- customers ----------------------------------------------------------------------------------

def request_refund(*, orders: OrderRepository, refunds: RefundRepository, buyer_id: str, order_id: str,
                   reason: str, lines: Sequence[LineRequest], now: datetime,
                   marked: MarkedRequest | None = None) -> RefundView:
    """申请退款: REQUESTED, its amounts held on the order lines in the same transaction (conditional
    on the order's version, so concurrent requests can never add up to more than was paid).

    With an ``Idempotency-Key`` (``marked``): the order and the key's marker are read together and
    the marker is written with the refund, so a retry gets the first refund back (two round trips)."""
    for _ in range(MAX_ATTEMPTS):
        if marked is not None:
            found, state = refunds.order_and_marker(order_id, marked)
            earlier = replay(state, marked, RefundView)
            if earlier is not None:
                return earlier
        else:
            found = orders.get(order_id)
        order = ensure_owner(found, buyer_id)
        plan = rules.plan_refund(order, lines)
        refund_id = refund_id_for(order.order_id, order.refund_count + 1)
        try:
            refund = refunds.create(order, plan, refund_id=refund_id, reason=reason, now=now, requested_by=buyer_id,
                                    marked=marked, response=_buyer_response)
        except TransactionCancelled as exc:
            earlier = replay_refused(exc, 2, marked, RefundView) if marked is not None else None
            if earlier is not None:  # a concurrent request with the same key committed first
                return earlier
            continue  # another request or a refund outcome moved the order: recompute from the new amounts
        logger.info("refund requested", extra={"order_id": order_id, "refund_id": refund_id,
                                               "amount_fen": plan.amount_fen})
        return refund_view(refund, for_buyer=True)
    raise Conflict("the order changed while this request ran; retry", code="order_changed",
                   details={"order_id": order_id})


def list_order_refunds(*, orders: OrderRepository, refunds: RefundRepository, buyer_id: str,
                       order_id: str) -> RefundList:
    ensure_owner(orders.get(order_id, consistent=False), buyer_id)
    return RefundList(items=[refund_view(r, for_buyer=True) for r in refunds.list_for_order(order_id)])


# ---- admins -------------------------------------------------------------------------------------

def admin_list_refunds(*, refunds: RefundRepository, status: str, limit: int, cursor: str | None) -> RefundPage:
    start = cursors.decode(cursor, partition=("gsi1pk", refunds_partition(status)))
    page = refunds.list_by_status(status, limit=limit, start_key=start)
    return RefundPage(items=[refund_view(refund_from_item(i), for_buyer=False) for i in page.items],
                      next_cursor=cursors.encode(page.last_key))


def _get(refunds: RefundRepository, refund_id: str) -> Refund:
    refund = refunds.get(refund_id)
    if refund is None:
        raise NotFound("no such refund", code="refund_not_found")
    return refund


def _order_of(orders: OrderRepository, refund: Refund) -> Order:
    order = orders.get(refund.order_id)
    if order is None:
        raise NotFound("the refund's order does not exist", code="order_not_found")
    return order


def _refund_audit(action: str, refund: Refund, *, admin: str, source_ip: str | None, to: RefundStatus,
                  details: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(action=action, actor=admin, entity_type="refund", entity_id=refund.refund_id,
                      source_ip=source_ip, before={"status": refund.status.value}, after={"status": to.value},
                      details={"order_id": refund.order_id, "amount_fen": refund.amount_fen, **(details or {})},
                      subject_user=refund.buyer_id)


def approve_refund(*, orders: OrderRepository, refunds: RefundRepository, refund_id: str, admin: str,
                   now: datetime, gateway: RefundGateway, notify_url: str,
                   source_ip: str | None = None) -> RefundView:
    """同意退款: REQUESTED → PROCESSING, then the WeChat Pay refund with ``out_refund_no = refund_id``.

    The status moves first, so a notification that overtakes the API's answer finds a PROCESSING
    refund. Approving a PROCESSING refund again re-sends the same number (WeChat Pay answers the
    refund it already has: no second refund). No answer → 503, the refund stays PROCESSING; a
    definitive refusal closes it (amounts released) and the view says why. The approval is audited
    with the status change; approving a PROCESSING refund again is audited on its own (a re-send)."""
    refund = _get(refunds, refund_id)
    resend = not rules.check_approvable(refund.status, refund_id)
    if not resend:
        try:
            refunds.approve(refund, by=admin, now=now,
                            audit=_refund_audit("refund.approve", refund, admin=admin, source_ip=source_ip,
                                                to=RefundStatus.PROCESSING))
        except TransactionCancelled:
            refund = _get(refunds, refund_id)
            rules.check_approvable(refund.status, refund_id)  # another admin approved it: re-send is safe
            resend = True
    if resend:
        refunds.append_audit(_refund_audit("refund.approve_resend", refund, admin=admin, source_ip=source_ip,
                                           to=refund.status), now)
    order = _order_of(orders, refund)
    reason = refund.reason[:WECHAT_REASON_MAX] or None
    try:
        result = gateway.create_refund(refund.refund_id, out_trade_no=_out_trade_no(order),
                                       refund_fen=refund.amount_fen, total_fen=order.amount_fen, reason=reason,
                                       notify_url=notify_url)
    except WeChatPayError as exc:
        refunds.record_error(refund, code=exc.code, message=exc.message, now=now)
        if exc.retryable or isinstance(exc, WeChatPayInvalidResponse) or exc.code == "HTTP_ERROR":
            # It may have taken effect: never close it on a guess. Approve again re-sends the same number.
            raise UpstreamUnavailable("WeChat Pay did not confirm the refund; it stays PROCESSING, approve again "
                                      "to retry", code="wechatpay_unavailable") from exc
        logger.warning("WeChat Pay refused a refund", extra={"refund_id": refund_id, "wechatpay_code": exc.code})
        apply_outcome(orders=orders, refunds=refunds, refund_id=refund_id, wechat_status="CLOSED",
                      wechat_refund_id=None, now=now, failure=(exc.code, exc.message))
        return refund_view(_get(refunds, refund_id), for_buyer=False)
    refunds.record_wechat_refund_id(refund, result.refund_id)
    if result.status in {"SUCCESS", "ABNORMAL", "CLOSED"}:
        apply_outcome(orders=orders, refunds=refunds, refund_id=refund_id, wechat_status=result.status,
                      wechat_refund_id=result.refund_id, now=now)
    return refund_view(_get(refunds, refund_id), for_buyer=False)


def reject_refund(*, orders: OrderRepository, refunds: RefundRepository, refund_id: str, admin: str,
                  reason: str, now: datetime, source_ip: str | None = None) -> RefundView:
    """拒绝退款: REQUESTED → REJECTED with the reason; the held amounts become refundable again."""
    for _ in range(MAX_ATTEMPTS):
        refund = _get(refunds, refund_id)
        rules.check_rejectable(refund.status, refund_id)
        order = _order_of(orders, refund)
        try:
            refunds.reject(refund, order, rules.plan_of(refund, order), by=admin, reason=reason, now=now,
                           audit=_refund_audit("refund.reject", refund, admin=admin, source_ip=source_ip,
                                               to=RefundStatus.REJECTED, details={"reason": reason}))
        except TransactionCancelled:
            continue
        return refund_view(_get(refunds, refund_id), for_buyer=False)
    raise Conflict("the refund changed while this request ran; retry", code="refund_changed")


# ---- outcomes: notifications and API answers ----------------------------------------------------

def apply_outcome(*, orders: OrderRepository, refunds: RefundRepository, refund_id: str, wechat_status: str,
                  wechat_refund_id: str | None, now: datetime,
                  failure: tuple[str, str] | None = None) -> Refund:
    """Apply SUCCESS / ABNORMAL / CLOSED once: the refund's status is the condition, so duplicates
    and concurrent deliveries change nothing after the first."""
    for _ in range(MAX_OUTCOME_ATTEMPTS):
        refund = _get(refunds, refund_id)
        outcome = rules.outcome_of(refund.status, wechat_status)
        if outcome == Outcome.NOTHING:
            return refund
        order = _order_of(orders, refund)
        plan = rules.plan_of(refund, order)
        try:
            if outcome == Outcome.SUCCEED:
                closing = rules.closes_order(order, plan)
                refunds.succeed(refund, order, plan, now=now, wechat_refund_id=wechat_refund_id,
                                close_order=closing, shipping_due_fen=rules.shipping_due_after(order, plan),
                                coupon_back=closing and coupon_returns(order, now=now))
            elif outcome == Outcome.FAIL:
                refunds.fail(refund, now=now, wechat_refund_id=wechat_refund_id)
            else:
                code, message = failure or ("CLOSED", "WeChat Pay closed the refund (退款关闭)")
                refunds.close(refund, order, plan, now=now, code=code, message=message,
                              wechat_refund_id=wechat_refund_id)
        except TransactionCancelled:
            continue  # a duplicate won, or the order moved: look again
        logger.info("refund outcome applied", extra={"refund_id": refund_id, "outcome": outcome.value})
        return _get(refunds, refund_id)
    raise Conflict("the refund kept changing; retry later", code="refund_changed", details={"refund_id": refund_id})


def handle_refund_notification(*, orders: OrderRepository, refunds: RefundRepository, refund: RefundResource,
                               now: datetime) -> None:
    """REFUND.SUCCESS / ABNORMAL / CLOSED, after the webhook verified and decrypted it.

    Unknown refund → ``NotFound`` (the webhook answers 4xx: WeChat Pay retries later, by which time
    the approval that created it has been recorded); a resource that does not match the refund
    (order, amount) → ``Conflict``. Duplicates return quietly (the webhook answers success)."""
    stored = refunds.get(refund.out_refund_no)
    if stored is None:
        raise NotFound("no such refund (yet)", code="refund_unknown",
                       details={"out_refund_no": refund.out_refund_no})
    order = _order_of(orders, stored)
    if refund.out_trade_no != _out_trade_no(order) or refund.amount.refund != stored.amount_fen:
        logger.error("refund notification does not match the refund",
                     extra={"refund_id": stored.refund_id, "amount_fen": stored.amount_fen,
                            "notified_fen": refund.amount.refund})
        raise Conflict("the notification does not match the refund", code="refund_mismatch",
                       details={"refund_id": stored.refund_id})
    if refund.refund_status not in {"SUCCESS", "ABNORMAL", "CLOSED"}:
        return
    apply_outcome(orders=orders, refunds=refunds, refund_id=stored.refund_id, wechat_status=refund.refund_status,
                  wechat_refund_id=refund.refund_id, now=now)


__all__ = ["RefundGateway", "RefundStatus", "approve_refund", "handle_refund_notification", "refund_view"]
