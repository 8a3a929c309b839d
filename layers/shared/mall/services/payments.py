"""Payments: the WeChat Pay webhook, recording a payment exactly once, expiry and reconciliation.

``apply_payment`` is the one way a payment is recorded; the webhook (TRANSACTION.SUCCESS), the
reconciliation job (a query result) and the expiry job (a last query before closing) all call it,
so a lost notification never loses a payment and a repeated one never records it twice.

Webhook replies (docs/protocols.md): 204 = handled or already handled; 4xx ``{"code":"FAIL"}`` = refused
and nothing changed (a bad signature, a stale or probe message, an amount that is not the order's,
a currency other than CNY, a REFUND.* whose refund_status is not its event, a transfer bill without
our mch_id, an unsupported event: docs/webhook-checks.md); 5xx ``{"code":"FAIL"}`` = our failure,
WeChat Pay redelivers later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.config import function_environment
from mall.dal.orders import OrderRepository
from mall.dal.payment_snapshot import PaymentSnapshotStore
from mall.domain.orders import (
    Order,
    OrderStatus,
    PaymentDecision,
    PaymentFacts,
    PaymentOutcome,
    decide_payment,
)
from mall.domain.refund_ids import paid_after_expiry_refund_id
from mall.errors import DomainError
from mall.integrations.wechatpay.errors import NotificationRejected
from mall.integrations.wechatpay.factory import MerchantConfig
from mall.integrations.wechatpay.notifications import (
    EVENT_TRANSFER_FINISHED,
    failure_reply,
    rejection_reply,
    success_reply,
    verify_and_decrypt,
)
from mall.integrations.wechatpay.resources import TransactionResource, parse_transaction
from mall.observability import metrics
from mall.services.payment_snapshot import prepare_basis

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from mall.dal.payouts import PayoutRepository
    from mall.dal.refunds import RefundRepository
    from mall.dal.table import Table
    from mall.integrations.wechatpay.client import WeChatPayClient
    from mall.services.risk import RiskRepositories

logger = Logger(child=True)

_MAX_RACES = 3


@dataclass(frozen=True, slots=True)
class PaymentRepositories:
    """What recording a payment and answering WeChat Pay's notifications read and write."""

    orders: OrderRepository
    #: Refund notifications arrive on the same webhook.
    refunds_of: Callable[[], RefundRepository]
    snapshots: PaymentSnapshotStore
    #: Transfer-bill notifications (payouts) arrive on the same webhook.
    payouts_of: Callable[[], PayoutRepository]
    #: A payment by someone other than the buyer opens a risk case.
    risk_of: Callable[[], RiskRepositories]

    @classmethod
    def on(cls, table: Table) -> PaymentRepositories:
        # The refunds', the payouts' and the risk cases' repositories (the refund rules; withdrawals; the
        # risk bundle with the team bonus's) are a large share of the webhook's cold start, and only a
        # refund or transfer notification or a payer mismatch uses them: built, with their modules
        # imported, the first time one arrives.
        def refunds() -> RefundRepository:
            from mall.dal.refunds import RefundRepository

            return RefundRepository(table)

        def payouts() -> PayoutRepository:
            from mall.dal.payouts import PayoutRepository

            return PayoutRepository(table)

        def risk() -> RiskRepositories:
            from mall.services.risk import RiskRepositories

            return RiskRepositories.on(table)

        return cls(orders=OrderRepository(table, status_list=function_environment().order_status_list),
                   refunds_of=cache(refunds), snapshots=PaymentSnapshotStore(table),
                   payouts_of=cache(payouts), risk_of=cache(risk))

    @property
    def refunds(self) -> RefundRepository:
        return self.refunds_of()

    @property
    def payouts(self) -> PayoutRepository:
        return self.payouts_of()

    @property
    def risk(self) -> RiskRepositories:
        return self.risk_of()


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What ``apply_payment`` did. ``order`` is None for an unknown ``out_trade_no``."""

    decision: PaymentDecision
    order: Order | None

    @property
    def unknown_order(self) -> bool:
        return self.order is None


def _facts(tx: TransactionResource) -> PaymentFacts:
    return PaymentFacts(mchid=tx.mchid, appid=tx.appid, trade_state=tx.trade_state,
                        amount_fen=tx.amount.total if tx.amount is not None else None,
                        transaction_id=tx.transaction_id)


def _start_refund(order: Order, *, orders: OrderRepository, pay: WeChatPayClient, merchant: MerchantConfig,
                  now: datetime) -> None:
    """Ask WeChat Pay for the full refund of a paid-after-expiry order. Safe to repeat: the
    ``out_refund_no`` is deterministic and asked for only until WeChat Pay has accepted it."""
    refund_id = paid_after_expiry_refund_id(order.order_id)
    refund = orders.refund_item(order.order_id, refund_id)
    if refund is None or refund.get("wechat_refund_id"):
        return
    result = pay.create_refund(refund_id, out_trade_no=order.order_id, refund_fen=order.amount_fen,
                               total_fen=order.amount_fen, reason="订单已超时关闭，自动退款",
                               notify_url=merchant.notify_url)
    orders.record_refund_started(order.order_id, refund_id, wechat_refund_id=result.refund_id, now=now)
    metrics.add_metric(name="PaidAfterExpiryRefundsStarted", unit="Count", value=1)


def apply_payment(tx: TransactionResource, *, repos: PaymentRepositories, merchant: MerchantConfig,
                  pay: Callable[[], WeChatPayClient], now: datetime, source: str) -> PaymentResult:
    """Record what WeChat Pay says about one order, exactly once.

    CREATED → PAID (with the buyer's counters); EXPIRED → PAID_AFTER_EXPIRY with a full refund;
    an already-recorded transaction changes nothing. A concurrent delivery that wins the
    conditional write first makes this one re-read and see a duplicate. Raises ``WeChatPayError``
    only when starting a paid-after-expiry refund failed (the caller answers 5xx: redelivery retries)."""
    orders = repos.orders
    # An eventually consistent read (half the units): everything the payment decides from is written
    # with the order and not changed while it awaits payment, except its status and transaction, and
    # every write below is conditional on the status as read, so a stale one loses that condition and
    # reads again (consistently). An order not found is read again consistently before it is unknown.
    order = orders.get(tx.out_trade_no, consistent=False) or orders.get(tx.out_trade_no)
    if order is None:
        logger.error("payment for an unknown order", extra={"out_trade_no": tx.out_trade_no, "source": source})
        metrics.add_metric(name="PaymentForUnknownOrder", unit="Count", value=1)
        return PaymentResult(PaymentDecision(PaymentOutcome.NOT_PAID, "unknown order"), None)
    facts = _facts(tx)
    paid_at = tx.success_time or now
    for _ in range(_MAX_RACES):
        decision = decide_payment(status=order.status, order_amount_fen=order.amount_fen,
                                  recorded_transaction_id=order.transaction_id, facts=facts,
                                  our_mchid=merchant.mchid, our_appid=merchant.appid)
        outcome = decision.outcome
        if outcome == PaymentOutcome.MARK_PAID:
            assert facts.transaction_id is not None  # noqa: S101 (decide_payment requires it)
            # Who earns, at which levels and rates, is fixed now and recorded with the payment.
            _, basis = prepare_basis(repos.snapshots, order, now=now)
            if orders.mark_paid(order, transaction_id=facts.transaction_id, paid_at=paid_at, now=now, basis=basis):
                logger.info("order paid", extra={"order_id": order.order_id, "source": source})
                metrics.add_metric(name="OrdersPaid", unit="Count", value=1)
                metrics.add_metric(name="PaidAmountFen", unit="Count", value=order.amount_fen)
                return PaymentResult(decision, order)
        elif outcome == PaymentOutcome.MARK_PAID_AFTER_EXPIRY:
            assert facts.transaction_id is not None  # noqa: S101
            refund_id = paid_after_expiry_refund_id(order.order_id)
            if orders.mark_paid_after_expiry(order, transaction_id=facts.transaction_id, paid_at=paid_at,
                                             refund_id=refund_id, now=now):
                logger.warning("order paid after it expired: refunding in full",
                               extra={"order_id": order.order_id, "source": source})
                metrics.add_metric(name="OrdersPaidAfterExpiry", unit="Count", value=1)
                _start_refund(order, orders=orders, pay=pay(), merchant=merchant, now=now)
                return PaymentResult(decision, order)
        else:
            if outcome == PaymentOutcome.DUPLICATE and order.status == OrderStatus.PAID_AFTER_EXPIRY:
                _start_refund(order, orders=orders, pay=pay(), merchant=merchant, now=now)
            elif outcome == PaymentOutcome.AMOUNT_MISMATCH:
                logger.error("paid amount does not match the order: refused",
                             extra={"order_id": order.order_id, "source": source, **decision.details})
                metrics.add_metric(name="PaymentAmountMismatch", unit="Count", value=1)
            elif outcome in {PaymentOutcome.WRONG_MERCHANT, PaymentOutcome.CONFLICTING_TRANSACTION}:
                logger.error("payment refused", extra={"order_id": order.order_id, "source": source,
                                                       "outcome": outcome.value})
                metrics.add_metric(name="PaymentRefused", unit="Count", value=1)
            return PaymentResult(decision, order)
        # Lost a race (another delivery, or the expiry job): read again and decide again.
        reread = orders.get(order.order_id)
        assert reread is not None  # noqa: S101 (orders are never deleted)
        order = reread
    raise RuntimeError(f"order {order.order_id} kept changing while recording its payment")


# ---- the webhook --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WebhookReply:
    status: int
    body: bytes
    outcome: str


def _fail(status: int, message: str, outcome: str) -> WebhookReply:
    code, body = failure_reply(message, status)
    return WebhookReply(code, body, outcome)


def _ok(outcome: str) -> WebhookReply:
    code, body = success_reply()
    return WebhookReply(code, body, outcome)


def handle_notification(*, headers: Mapping[str, str], raw_body: bytes,  # noqa: PLR0911 (one reply per case)
                        repos: PaymentRepositories,
                        merchant: MerchantConfig, public_keys: Mapping[str, RSAPublicKey], apiv3_key: bytes,
                        pay: Callable[[], WeChatPayClient], now: datetime) -> WebhookReply:
    """Verify, decrypt and dispatch one notification (docs/protocols.md). Never raises for a bad message."""
    try:
        note = verify_and_decrypt(headers, raw_body, public_keys=public_keys, apiv3_key=apiv3_key, now=now)
    except NotificationRejected as exc:
        logger.warning("notification rejected", extra={"reason": exc.reason_code})
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        code, body = rejection_reply(exc)
        return WebhookReply(code, body, exc.reason_code)

    event = note.event_type
    try:
        if event == "TRANSACTION.SUCCESS":
            return _on_transaction(note.resource, repos=repos, merchant=merchant, pay=pay, now=now)
        if event.startswith("REFUND."):
            # A refund's resource models, imported with its handler below: most notifications are payments.
            from mall.integrations.wechatpay.refund_resources import parse_refund

            refund = parse_refund(note.resource)
            if refund.mchid != merchant.mchid:
                logger.error("refund notification for another merchant")
                return _fail(400, "mchid mismatch", "wrong_merchant")
            if event != f"REFUND.{refund.refund_status}":  # the signed envelope and the resource must agree
                logger.error("refund notification whose event and refund_status disagree",
                             extra={"event_type": event[:64], "refund_status": refund.refund_status[:32]})
                return _fail(400, "refund_status does not match the event", "refund_status_mismatch")
            # Imported here, as the transfers' handler below: most notifications are payments, and the
            # webhook's cold start would otherwise load the refund and payout services for each.
            from mall.services.refunds import handle_refund_notification

            handle_refund_notification(orders=repos.orders, refunds=repos.refunds, refund=refund, now=now)
            return _ok("refund_handled")
        if event == EVENT_TRANSFER_FINISHED:  # payouts
            return _on_transfer(note.resource, payouts=repos.payouts, merchant=merchant, now=now)
    except NotificationRejected as exc:  # a decrypted resource that does not have the documented shape
        logger.warning("notification resource refused", extra={"reason": exc.reason_code})
        code, body = rejection_reply(exc)
        return WebhookReply(code, body, exc.reason_code)
    except DomainError as exc:
        logger.warning("notification refused by the domain", extra={"error_code": exc.code})
        return _fail(409, exc.code, exc.code)
    logger.warning("unsupported notification event", extra={"event_type": event[:64]})
    return _fail(400, "unsupported event", "unsupported_event")


def _on_transaction(resource: Mapping[str, Any], *, repos: PaymentRepositories, merchant: MerchantConfig,
                    pay: Callable[[], WeChatPayClient], now: datetime) -> WebhookReply:
    tx = parse_transaction(resource)
    if tx.amount is None or tx.amount.currency != CURRENCY:
        logger.error("payment notification not in CNY: refused", extra={"out_trade_no": tx.out_trade_no})
        return _fail(400, "currency is not CNY", "wrong_currency")
    result = apply_payment(tx, repos=repos, merchant=merchant, pay=pay, now=now, source="webhook")
    outcome = result.decision.outcome
    if result.unknown_order:
        return _fail(404, "unknown out_trade_no", "unknown_order")
    if result.decision.acknowledged:
        if result.order is not None:
            _check_payer(tx, result.order, app_id=merchant.appid, risk=repos.risk_of, now=now)
        return _ok(outcome.value)
    messages = {
        PaymentOutcome.AMOUNT_MISMATCH: (400, "amount mismatch"),
        PaymentOutcome.WRONG_MERCHANT: (400, "mchid or appid mismatch"),
        PaymentOutcome.NOT_PAID: (400, "trade_state is not SUCCESS"),
        PaymentOutcome.CONFLICTING_TRANSACTION: (409, "order already paid by another transaction"),
    }
    status, message = messages.get(outcome, (400, "refused"))
    return _fail(status, message, outcome.value)


#: The only currency of a domestic merchant (境内商户号仅支持人民币).
CURRENCY = "CNY"
PAYER_MISMATCH_RULE = "payer_mismatch"


def _check_payer(tx: TransactionResource, order: Order, *, app_id: str, risk: Callable[[], RiskRepositories],
                 now: datetime) -> None:
    """The money arrived, so the payment stands; but a payer other than the order's buyer is
    looked into: a risk case on the order (docs/risk.md, "Payer mismatch"). Repeated deliveries
    find the same case (keyed by the order). A customer's id is derived from the app id and the
    openid, so comparing costs no read."""
    payer = tx.payer_openid
    if not payer:
        return
    from mall.dal.identity import customer_id_for

    if customer_id_for(app_id, payer) == order.buyer_id:
        return
    promoter = (order.attribution or {}).get("l1_promoter_id")
    subject = str(promoter) if promoter else order.buyer_id
    logger.warning("payment by someone other than the buyer: risk case", extra={"order_id": order.order_id})
    metrics.add_metric(name="PaymentPayerMismatch", unit="Count", value=1)
    from mall.services.risk import open_case

    open_case(repos=risk(), promoter_id=subject, rule=PAYER_MISMATCH_RULE,
              window_key=order.order_id,
              evidence={"order_id": order.order_id, "buyer_id": order.buyer_id,
                        "subject": "promoter" if promoter else "customer", "transaction_id": tx.transaction_id,
                        "amount_fen": order.amount_fen},
              now=now)


# ---- payouts ----
def _on_transfer(resource: Mapping[str, Any], *, payouts: PayoutRepository, merchant: MerchantConfig,
                 now: datetime) -> WebhookReply:
    # A transfer bill's resource models, imported with its handler below: most notifications are payments.
    from mall.integrations.wechatpay.transfer_resources import parse_transfer_bill

    bill = parse_transfer_bill(resource)
    if bill.mch_id != merchant.mchid:  # a notification without the merchant id is not known to be ours
        logger.error("transfer notification for another merchant, or without mch_id")
        return _fail(400, "mch_id mismatch", "wrong_merchant")
    from mall.services.payouts.bills import handle_transfer_notification

    handled = handle_transfer_notification(payouts=payouts, bill=bill, now=now)
    if handled.acknowledged:
        return _ok(handled.outcome)
    status, message = handled.refusal
    return _fail(status, message, handled.outcome)
