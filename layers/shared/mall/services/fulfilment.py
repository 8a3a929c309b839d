"""Use cases after payment: order views, shipping, receipt, auto-confirmation, 核销, and the order
stream worker (the admin's by-status entries, delivery of virtual goods)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import buyer_partition
from mall.dal.order_items import OrderBundle, address_context, order_from_item
from mall.dal.orders import OrderRepository, TransactionCancelled
from mall.dal.refunds import refund_from_item
from mall.domain import fulfilment as rules
from mall.domain import masking
from mall.domain.orders import Order, OrderStatus
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.integrations import pii_crypto
from mall.schemas.countdown import CountdownView
from mall.schemas.fulfilment import AutoConfirmResult, HistoryView, OrderDetail, OrderLineView, OrderPage, OrderSummary
from mall.schemas.order_address import AddressView
from mall.services.day_range import created_range
from mall.services.refund_views import refund_view

if TYPE_CHECKING:
    from mall.dal.settings import SettingsRepository
    from mall.schemas.fulfilment_admin import AdminOrderPage, ShippingAddress
    from mall.services.order_changes import UploadRequests

logger = Logger(child=True)

MAX_ATTEMPTS = 3  # re-reads after a lost race on the order's version


# ---- views --------------------------------------------------------------------------------------

def _refunded(order: Order) -> int:
    return sum(line.refunded_fen for line in order.lines) + order.shipping_refunded_fen


def _summary_fields(order: Order) -> dict[str, Any]:
    return {"order_id": order.order_id, "status": order.status, "fulfilment": order.fulfilment,
            "amount_fen": order.amount_fen, "refunded_fen": _refunded(order),
            "title": order.lines[0].name if order.lines else "", "line_count": len(order.lines),
            "created_at": order.created_at, "paid_at": order.paid_at, "shipped_at": order.shipped_at,
            "completed_at": order.completed_at}


def _reveal(token: Any, order_id: str) -> str | None:
    if not isinstance(token, str) or not token or masking.is_erased(token):
        return None  # erased at the customer's request (mall.services.erasure): shown as stars
    try:
        return pii_crypto.decrypt(token, context=address_context(order_id))
    except Exception:  # a token that does not open is shown as stars, never as a 500
        logger.warning("address field does not decrypt", extra={"order_id": order_id})
        return None


def masked_address(order: Order) -> AddressView | None:
    """The delivery address, decrypted only to be masked (never returned or logged in clear)."""
    address = order.address
    if not isinstance(address, Mapping):
        return None
    name = _reveal(address.get("name_enc"), order.order_id)
    phone = _reveal(address.get("phone_enc"), order.order_id)
    detail = _reveal(address.get("detail_enc"), order.order_id)
    return AddressView(
        name=masking.mask_name(name) if name else "**", phone=masking.mask_phone(phone) if phone else "****",
        province=address.get("province"), city=address.get("city"),
        detail=masking.mask_address(detail) if detail else "****",
    )


def auto_confirm_of(order: Order, settings: SettingsRepository | None) -> CountdownView | None:
    """When a shipped order confirms itself (自动确认收货): from its shipment, or from its delivery once
    tracking knows it, as the merchant's setting says. Read only for a SHIPPED order (one GetItem)."""
    if settings is None or order.status != OrderStatus.SHIPPED:
        return None
    # Imported for a shipped order only: the receipt's confirmation answers without a countdown.
    from mall.domain import tracking as tracking_rules

    rules_now = settings.current().settings.orders
    countdown = tracking_rules.countdown_of(order, mode=rules_now.auto_confirm_from, days=rules_now.auto_confirm_days)
    if countdown is None:
        return None
    return CountdownView(runs_from=countdown.runs_from, started_at=countdown.started_at, ends_at=countdown.ends_at,
                         days=rules_now.auto_confirm_days)


def order_detail(bundle: OrderBundle, *, for_buyer: bool, verify_code: str | None = None,
                 auto_confirm: CountdownView | None = None) -> OrderDetail:
    order = bundle.order
    lines = [OrderLineView(line_id=line.line_id, product_id=line.product_id, name=line.name, type=line.type,
                           quantity=line.quantity, unit_price_fen=line.unit_price_fen, paid_fen=line.paid_fen,
                           refunded_fen=line.refunded_fen, refund_pending_fen=line.refund_held_fen,
                           refundable_fen=line.refundable_fen) for line in order.lines]
    return OrderDetail(
        **_summary_fields(order), buyer_id=order.buyer_id, shipping_fen=order.shipping_fen, lines=lines,
        address=masked_address(order), carrier=order.carrier, tracking_no=order.tracking_no,
        completed_by=order.completed_by, verify_code=verify_code, auto_confirm=auto_confirm,
        history=[HistoryView(status=h.status, at=h.at, by=h.by, note=h.note) for h in bundle.history],
        refunds=[refund_view(refund_from_item(r), for_buyer=for_buyer)
                 for r in sorted(bundle.refunds, key=lambda r: r.get("created_at", ""), reverse=True)],
    )


def _bundle(repo: OrderRepository, order_id: str) -> OrderBundle:
    bundle = repo.bundle(order_id)
    if bundle is None:
        raise NotFound("no such order", code="order_not_found")
    return bundle


# ---- customers ----------------------------------------------------------------------------------

def list_my_orders(*, repo: OrderRepository, buyer_id: str, status: str | None, limit: int,
                   cursor: str | None) -> OrderPage:
    start = cursors.decode(cursor, partition=("gsi1pk", buyer_partition(buyer_id)))
    page = repo.list_for_buyer(buyer_id, status=status, limit=limit, start_key=start)
    items = [OrderSummary(**_summary_fields(order_from_item(item))) for item in page.items]
    return OrderPage(items=items, next_cursor=cursors.encode(page.last_key))


def my_order(*, repo: OrderRepository, buyer_id: str, order_id: str,
             settings: SettingsRepository | None = None) -> OrderDetail:
    """The buyer's order with its history and refunds; a paid service order shows its 核销 code
    (made on the first view: only its hash and an encrypted copy are stored)."""
    bundle = repo.bundle(order_id)
    if bundle is None:
        raise NotFound("no such order", code="order_not_found")
    order = rules.ensure_owner(bundle.order, buyer_id)
    code = verify_code_for(repo, order) if rules.shows_verify_code(order) else None
    return order_detail(bundle, for_buyer=True, verify_code=rules.format_code(code) if code else None,
                        auto_confirm=auto_confirm_of(order, settings))


def _code_context(order_id: str) -> str:
    return f"{order_id}:verify"


def verify_code_for(repo: OrderRepository, order: Order) -> str | None:
    stored = order.extra.get("verify_code_enc")
    if isinstance(stored, str):
        return pii_crypto.decrypt(stored, context=_code_context(order.order_id))
    code = f"{secrets.randbelow(10 ** rules.VERIFY_CODE_DIGITS):0{rules.VERIFY_CODE_DIGITS}d}"
    winner = repo.save_verify_code(order.order_id, code_hash=rules.verify_code_hash(order.order_id, code),
                                   code_enc=pii_crypto.encrypt(code, context=_code_context(order.order_id)))
    if winner is None:
        return code
    other = winner.get("verify_code_enc")  # two first views at once: both show the code that was stored
    return pii_crypto.decrypt(other, context=_code_context(order.order_id)) if isinstance(other, str) else None


def confirm_receipt(*, repo: OrderRepository, buyer_id: str, order_id: str, now: datetime) -> OrderDetail:
    """确认收货: SHIPPED → COMPLETED (completed_by buyer). Repeating it answers the same order.

    The order is read with its history and refunds in one Query (not its commission items) and
    answered from what was read and what the update returned, when the update was the order's only
    change since the read (its version is one more); else the whole order is read again."""
    for _ in range(MAX_ATTEMPTS):
        tail = repo.tail(order_id)
        if tail is None:
            raise NotFound("no such order", code="order_not_found")
        order = rules.ensure_owner(order_from_item(tail.order_item), buyer_id)
        if not rules.check_confirm_receipt(order):
            written: dict[str, Any] | None = tail.order_item
            version = order.version
            break
        try:
            written = repo.complete(order, completed_by="buyer", now=now, by="buyer", note="receipt confirmed")
            version = order.version + 1
            break
        except TransactionCancelled:
            continue  # the order moved meanwhile: look again (the checks say what happened)
    else:
        raise _changed(order_id)
    if written is None or int(written.get("version") or 0) != version:
        return order_detail(_bundle(repo, order_id), for_buyer=True)
    return order_detail(tail.bundle(order_item=written, address=repo.view_address(written)), for_buyer=True)


def _changed(order_id: str) -> Conflict:
    return Conflict("the order changed while this request ran; retry", code="order_changed",
                    details={"order_id": order_id})


# ---- admins -------------------------------------------------------------------------------------

def admin_order(*, repo: OrderRepository, order_id: str, settings: SettingsRepository | None = None) -> OrderDetail:
    bundle = _bundle(repo, order_id)
    return order_detail(bundle, for_buyer=False, auto_confirm=auto_confirm_of(bundle.order, settings))


def reveal_shipping_address(*, repo: OrderRepository, audit: AuditLog, order_id: str, admin: str,
                            source_ip: str | None, now: datetime) -> ShippingAddress:
    """The full delivery address of one order, for the merchant to ship it (查看完整收货地址).

    Every reveal is audited first (who, which order, when, from where): if the audit record cannot
    be written, nothing is revealed. The address itself is never logged."""
    order = repo.get_with_address(order_id)
    if order is None:
        raise NotFound("no such order", code="order_not_found")
    address = order.address
    if not isinstance(address, Mapping):
        raise NotFound("this order has no delivery address (nothing physical to ship)", code="no_shipping_address")
    context = address_context(order_id)
    name, phone, detail = (pii_crypto.decrypt(str(address.get(field, "")), context=context)
                           for field in ("name_enc", "phone_enc", "detail_enc"))
    audit.record(action="reveal_shipping_address", actor=admin, order_id=order_id, source_ip=source_ip, now=now)
    # The console's models, imported where the console uses them (its function builds them at init): the
    # buyer's functions share this module.
    from mall.schemas.fulfilment_admin import ShippingAddress

    return ShippingAddress(order_id=order_id, name=name, phone=phone, province=address.get("province"),
                           city=address.get("city"), detail=detail)


def admin_list_orders(*, repo: OrderRepository, status: str, limit: int, cursor: str | None,
                      date_from: str | None = None, date_to: str | None = None) -> AdminOrderPage:
    """Orders in ``status`` created on the China days ``date_from``..``date_to`` (inclusive, either
    optional), newest first. A cursor of another status or range is refused (422 ``invalid_cursor``)."""
    # The console's models, as in reveal_shipping_address.
    from mall.schemas.fulfilment_admin import AdminOrderPage, AdminOrderSummary

    created_from, created_before = created_range(date_from, date_to)
    start = cursors.decode(cursor, partition=repo.status_cursor_partition(status))
    if start is not None and not repo.status_position_within(start, created_from=created_from,
                                                              created_before=created_before):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list with these "
                                                                "dates")])
    page = repo.list_by_status(status, limit=limit, start_key=start, created_from=created_from,
                               created_before=created_before)
    items = [AdminOrderSummary(
        order_id=i["order_id"], buyer_id=i["buyer_id"], status=i["status"], fulfilment=i.get("fulfilment", "physical"),
        amount_fen=int(i.get("amount_fen", 0)), refunded_fen=int(i.get("refunded_fen", 0)), title=i.get("title", ""),
        line_count=int(i.get("line_count", 0)), created_at=i.get("created_at", ""), paid_at=i.get("paid_at"),
        shipped_at=i.get("shipped_at"), completed_at=i.get("completed_at"),
    ) for i in page.items]
    return AdminOrderPage(items=items, next_cursor=cursors.encode(page.last_key))


def ship_order(*, repo: OrderRepository, order_id: str, carrier: str, tracking_no: str, admin: str,
               now: datetime, source_ip: str | None = None) -> OrderDetail:
    """发货: PAID → SHIPPED with the parcel; repeating it with the same parcel answers the same order.
    The shipment is audited in its own transaction (a repeat writes nothing)."""
    for _ in range(MAX_ATTEMPTS):
        order = repo.get(order_id)
        if order is None:
            raise NotFound("no such order", code="order_not_found")
        if not rules.check_ship(order, carrier=carrier, tracking_no=tracking_no):
            break
        try:
            repo.ship(order, carrier=carrier, tracking_no=tracking_no, now=now, by=admin,
                      audit=AuditEntry(action="order.ship", actor=admin, entity_type="order", entity_id=order_id,
                                       source_ip=source_ip, before={"status": order.status},
                                       after={"status": OrderStatus.SHIPPED, "carrier": carrier,
                                              "tracking_no": tracking_no},
                                       subject_user=order.buyer_id))
            break
        except TransactionCancelled:
            continue
    else:
        raise _changed(order_id)
    return admin_order(repo=repo, order_id=order_id)


def verify_service_order(*, repo: OrderRepository, order_id: str, code: str, admin: str,
                         now: datetime, source_ip: str | None = None,
                         uploads: UploadRequests | None = None) -> OrderDetail:
    """核销: the buyer's code completes a paid service order (completed_by verify), or verifies the
    service lines of a mixed order (``service_verified_at``; receipt completes the order).
    A wrong code is 422 and counts; after MAX_VERIFY_ATTEMPTS the order refuses codes for a while."""
    order = repo.get(order_id)
    if order is None:
        raise NotFound("no such order", code="order_not_found")
    try:
        rules.check_verify(order, code, now)
    except InvalidInput:
        failures = repo.record_wrong_code(order_id)
        until = rules.lock_after_wrong_code(failures, now)
        if until is not None:
            repo.lock_verify(order_id, until)
            logger.warning("verification locked after wrong codes", extra={"order_id": order_id})
        raise
    try:
        if order.mixed:  # its physical lines complete on receipt; the code completes the service lines
            repo.verify_service_lines(order, now=now, by=admin, audit=AuditEntry(
                action="order.verify", actor=admin, entity_type="order", entity_id=order_id, source_ip=source_ip,
                before={"service_verified_at": None}, after={"service_verified_at": iso(now)},
                subject_user=order.buyer_id))
        else:
            repo.complete(order, completed_by="verify", now=now, by=admin, note="核销 code verified",
                          audit=AuditEntry(action="order.verify", actor=admin, entity_type="order",
                                           entity_id=order_id, source_ip=source_ip, before={"status": order.status},
                                           after={"status": OrderStatus.COMPLETED, "completed_by": "verify"},
                                           subject_user=order.buyer_id))
    except TransactionCancelled as exc:
        raise _changed(order_id) from exc
    if uploads is not None and not order.mixed:  # self-pickup: WeChat hears of it as a shipment
        uploads.request(order, now=now)
    return admin_order(repo=repo, order_id=order_id)


# ---- the schedule: auto-confirmation ------------------------------------------------------------

def auto_confirm(*, repo: OrderRepository, settings: SettingsRepository, now: datetime, limit: int = 500,
                 time_left: Callable[[], bool] = lambda: True) -> AutoConfirmResult:
    """自动确认收货: complete SHIPPED orders whose countdown (from the shipment, or from a reported delivery where
    ``auto_confirm_from`` says so: ``mall.services.tracking`` moves the entry) started ``auto_confirm_days`` ago.
    One Query of the ``AUTOCONFIRM`` entries finds them; each is decided on the order read (an entry may lag a
    delivery's move) and completed conditional on SHIPPED and the version read: once, whatever runs overlap."""
    rules_now = settings.current().settings.orders
    days = rules_now.auto_confirm_days
    cutoff = rules.auto_confirm_cutoff(now, days)
    examined = completed = skipped = 0
    start = None
    while examined < limit and time_left():
        page = repo.due_for_auto_confirm(cutoff, limit=min(100, limit - examined), start_key=start)
        for entry in page.items:
            examined += 1
            order = repo.get(entry["order_id"])
            if order is None or order.status != OrderStatus.SHIPPED:
                repo.drop_auto_confirm_entry(entry["order_id"])
                skipped += 1
                continue
            if (countdown := str(order.extra.get("gsi2sk") or "")) >= iso(cutoff):  # the entry lags a delivery's move
                skipped += 1
                continue
            try:
                since = "delivery" if countdown.startswith(str(order.extra.get("delivered_at") or "-")) else "shipping"
                repo.complete(order, completed_by="auto", now=now, by="auto",
                              note=f"confirmed automatically {days} days after {since}")
                completed += 1
            except TransactionCancelled:
                skipped += 1  # another run (or the buyer) completed it first
        start = page.last_key
        if start is None:
            break
    logger.info("auto-confirm run", extra={"examined": examined, "completed": completed, "skipped": skipped,
                                           "cutoff": cutoff.isoformat()})
    return AutoConfirmResult(examined=examined, completed=completed, skipped=skipped)


# ---- the order stream worker --------------------------------------------------------------------

