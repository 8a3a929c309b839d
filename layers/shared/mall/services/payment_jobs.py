"""The payment jobs: closing unpaid orders that expired (订单超时关闭) and asking WeChat Pay about
unpaid orders whose notification may have been lost (对账). Both record a payment they find through
``mall.services.payments.apply_payment``, exactly as the webhook would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.dal.catalog import SkuTake
from mall.dal.settings import SettingsRepository
from mall.domain.orders import Order, OrderStatus, PaymentOutcome, reconcile_due
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayNotFound
from mall.integrations.wechatpay.factory import MerchantConfig
from mall.integrations.wechatpay.resources import TransactionResource
from mall.observability import metrics
from mall.services.catalog.stock import note_stock_levels
from mall.services.payments import PaymentRepositories, apply_payment

if TYPE_CHECKING:
    from mall.integrations.wechatpay.client import WeChatPayClient
    from mall.services.orders import OrderCatalog  # placing an order's use cases: annotations only here

logger = Logger(child=True)


@dataclass
class JobReport:
    examined: int = 0
    expired: int = 0
    paid: int = 0
    unchanged: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"examined": self.examined, "expired": self.expired, "paid": self.paid,
                "unchanged": self.unchanged, "errors": self.errors}


def _query(pay: WeChatPayClient, order_id: str) -> TransactionResource | None:
    """WeChat Pay's view of the order; None when it never got a prepay for it."""
    try:
        return pay.query_by_out_trade_no(order_id)
    except WeChatPayNotFound:
        return None


def _paid_at_wechatpay(client: WeChatPayClient, order: Order, *, repos: PaymentRepositories,
                       merchant: MerchantConfig, now: datetime) -> bool:
    """Before expiring: record the payment if WeChat Pay has one, else close the order there so it
    can no longer be paid. True when the order turned out paid. Raises ``WeChatPayError``."""
    tx = _query(client, order.order_id)
    if tx is not None and tx.trade_state == "SUCCESS":
        apply_payment(tx, repos=repos, merchant=merchant, pay=lambda: client, now=now, source="expiry")
        return True
    if tx is None or tx.trade_state in {"CLOSED", "REVOKED"}:
        return False
    try:
        client.close_order(order.order_id)
    except WeChatPayNotFound:
        return False
    except WeChatPayError as exc:
        if exc.code != "ORDERPAID":
            raise
        # Paid between our query and the close: record it now.
        paid = _query(client, order.order_id)
        if paid is not None:
            apply_payment(paid, repos=repos, merchant=merchant, pay=lambda: client, now=now, source="expiry")
        return True
    return False


#: How long after a settings version is saved a placement may still read the version before it (its
#: read is eventually consistent: DynamoDB's lag is well under a second).
SETTINGS_READ_LAG = timedelta(minutes=1)


def shortest_unpaid_window(settings: SettingsRepository, cutoff: datetime) -> int:
    """The shortest ``unpaid_expiry_minutes`` an order placed within the window in force before
    ``cutoff`` may carry: the window in force and that of every version it replaced in that time
    (each an order may have read up to ``SETTINGS_READ_LAG`` after it was replaced). An order placed
    earlier is due under any window; one placed later under a shorter window than the one in force
    would otherwise be expired that much after its ``expires_at_order``, its stock held, though
    WeChat Pay refuses its payment from then (its prepay's ``time_expire``).

    One eventually consistent read of the version in force a run; the versions before it only
    within a window of a change, each read once a container (versions are immutable)."""
    current = settings.current()
    since = cutoff - timedelta(minutes=current.settings.orders.unpaid_expiry_minutes)
    versions, _ = settings.in_force_since(since - SETTINGS_READ_LAG, current=current)
    return min(version.settings.orders.unpaid_expiry_minutes for version in versions)


def expire_due_orders(*, repos: PaymentRepositories, products: OrderCatalog, merchant: MerchantConfig,
                      pay: Callable[[], WeChatPayClient], now: datetime,
                      due_until: datetime | None = None, limit: int = 200,
                      settings: SettingsRepository | None = None) -> JobReport:
    """Close unpaid orders past ``expires_at_order`` and release their stock exactly once.

    Each order is first asked about at WeChat Pay (a lost notification must not expire a paid
    order) and closed there (so it can no longer be paid); the CREATED → EXPIRED transaction is
    conditional on CREATED, so overlapping runs release stock once. An order WeChat Pay cannot be
    asked about now is left for the next run. ``due_until`` (default ``now``) is the cut-off: a
    manual run may pretend to be later; records are stamped with ``now``.

    Candidates from the by-status list (``OrderRepository.unpaid_from_status_list``, sorted by
    creation) are the orders placed ``shortest_unpaid_window`` or longer before the cut-off; each is
    decided on its own ``expires_at_order``, as read: one placed under a longer window is left until
    it is due (docs/data-model.md, O3)."""
    orders = repos.orders
    cutoff = due_until or now
    placed_until = cutoff
    if orders.unpaid_from_status_list:
        window = shortest_unpaid_window(settings or SettingsRepository(orders.table), cutoff)
        placed_until = cutoff - timedelta(minutes=window)
    report = JobReport()
    released: set[str] = set()
    client: WeChatPayClient | None = None
    for marker in orders.unpaid_due(placed_until=placed_until, expiring_until=cutoff, limit=limit):
        report.examined += 1
        order = orders.get(marker.order_id)
        if order is None or order.status != OrderStatus.CREATED:
            orders.drop_marker(marker.order_id)
            report.unchanged += 1
            continue
        if order.expires > cutoff:
            report.unchanged += 1
            continue
        client = client or pay()
        try:
            if _paid_at_wechatpay(client, order, repos=repos, merchant=merchant, now=now):
                report.paid += 1
                continue
        except WeChatPayError as exc:
            logger.warning("expiry: WeChat Pay unavailable for an order; next run retries",
                           extra={"order_id": order.order_id, "wechatpay_code": exc.code})
            report.errors += 1
            continue
        release = [products.release_stock(pid, q, _sku_takes(order, pid)) for pid, q in order.quantities().items()]
        if orders.expire(order, release_writes=release, now=now):
            report.expired += 1
            released.update(order.quantities())
        else:
            report.unchanged += 1
    if released:
        try:
            note_stock_levels(products=products, product_ids=sorted(released), now=now)
        except Exception:  # the low-stock list is advisory; the release itself is committed
            logger.exception("note_stock_levels failed after expiry")
    metrics.add_metric(name="OrdersExpired", unit="Count", value=report.expired)
    return report


def _sku_takes(order: Order, product_id: str) -> list[SkuTake]:
    """The units each SKU line of ``product_id`` took, at the SKU's position (empty: its one SKU)."""
    return [SkuTake(line.sku_index, line.sku_id, line.quantity) for line in order.lines
            if line.product_id == product_id and line.sku_index is not None and line.sku_id is not None]


def reconcile_unpaid(*, repos: PaymentRepositories, merchant: MerchantConfig, pay: Callable[[], WeChatPayClient],
                     min_age_seconds: int, now: datetime, horizon_until: datetime, as_of: datetime | None = None,
                     limit: int = 200) -> JobReport:
    """Ask WeChat Pay about unpaid orders placed at least ``min_age_seconds`` before ``as_of`` (default
    ``now``; from the gsi2 entries, those expiring before ``horizon_until``) and record any SUCCESS
    exactly like the webhook would."""
    report = JobReport()
    placed_until = (as_of or now) - timedelta(seconds=min_age_seconds)
    due = [m for m in repos.orders.unpaid_due(placed_until=placed_until, expiring_until=horizon_until, limit=limit)
           if reconcile_due(m.created_at, as_of or now, min_age_seconds)]
    if not due:
        return report
    client = pay()
    for marker in due:
        report.examined += 1
        try:
            tx = _query(client, marker.order_id)
        except WeChatPayError as exc:
            logger.warning("reconcile: query failed", extra={"order_id": marker.order_id, "wechatpay_code": exc.code})
            report.errors += 1
            continue
        if tx is None or tx.trade_state != "SUCCESS":
            report.unchanged += 1
            continue
        try:
            result = apply_payment(tx, repos=repos, merchant=merchant, pay=lambda: client, now=now,
                                   source="reconcile")
        except WeChatPayError:
            report.errors += 1
            continue
        if result.decision.outcome in {PaymentOutcome.MARK_PAID, PaymentOutcome.MARK_PAID_AFTER_EXPIRY}:
            report.paid += 1
            logger.warning("payment found by reconciliation (its notification was lost or late)",
                           extra={"order_id": marker.order_id})
            metrics.add_metric(name="PaymentsReconciled", unit="Count", value=1)
        else:
            report.unchanged += 1
    return report
