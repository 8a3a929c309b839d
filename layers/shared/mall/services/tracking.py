"""Parcel tracking (物流轨迹): subscribe each shipped parcel with the logistics provider, store the
trails it pushes, show them to the buyer, the promoter the order is attributed to and the admin, and
let a delivery restart the auto-confirm countdown (docs/shipping.md, "Parcel tracking")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.order_items import address_context
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository, SettingsVersion, current_from_item
from mall.dal.tracking import StoredParcel, TrackingRepository, TrailStored
from mall.domain import masking
from mall.domain import tracking as rules
from mall.domain.fulfilment import ensure_owner
from mall.domain.orders import Order, OrderStatus
from mall.errors import NotFound, TooManyRequests
from mall.integrations import pii_crypto
from mall.integrations.tracking import TrackingProvider, TrackingProviderError
from mall.schemas.tracking import CountdownView, ParcelView, TrackEventView, TrackingView

logger = Logger(child=True)


# ---- subscription (the queue worker) ------------------------------------------------------------

def receiver_phone(orders: OrderRepository | None, parcel: rules.Parcel, order_id: str, *,
                   order: Order | None = None, without_address: Order | None = None) -> str | None:
    """The receiver's phone, only for a carrier that tracks nothing without it (顺丰: 必填); decrypted
    here to be sent to the provider, never stored or logged. ``order``: already read with its
    address (nothing more is read); ``without_address``: already read without it (only its address
    item is read)."""
    if orders is None or not rules.needs_phone(parcel):
        return None
    if order is None and without_address is not None:
        address = orders.address_of(without_address)
    else:
        if order is None:
            order = orders.get_with_address(order_id)
        address = order.address if order is not None else None
    token = address.get("phone_enc") if isinstance(address, Mapping) else None
    if not isinstance(token, str) or not token or masking.is_erased(token):
        return None
    try:
        return pii_crypto.decrypt(token, context=address_context(order_id))
    except Exception:  # a phone that does not open: subscribe without it (the provider may refuse)
        logger.warning("receiver phone does not decrypt", extra={"order_id": order_id})
        return None


def subscribe_order(*, repo: TrackingRepository, provider: TrackingProvider | None, order_id: str,
                    callback_url: str, now: datetime, orders: OrderRepository | None = None) -> int:
    """Subscribe every parcel of a shipped order that is not subscribed yet; returns how many were.
    Reads the order, its parcels and their items (one Query), then ``subscribe_parcels``."""
    if provider is None:
        return 0
    order, shipped, stored = repo.order_and_parcels(order_id)
    if order is None:
        return 0
    return subscribe_parcels(repo=repo, provider=provider, order=order, shipped=shipped, stored=stored,
                             callback_url=callback_url, now=now,
                             phone=lambda parcel: receiver_phone(orders, parcel, order_id, without_address=order))


def subscribe_parcels(*, repo: TrackingRepository, provider: TrackingProvider, order: Order,
                      shipped: Sequence[rules.Parcel], stored: Sequence[StoredParcel], callback_url: str,
                      now: datetime, phone: Callable[[rules.Parcel], str | None]) -> int:
    """Subscribe the parcels of ``order`` (read with ``shipped``, its parcel items, and ``stored``,
    their tracking items) not subscribed yet; returns how many were. ``phone``: the receiver's phone
    for a parcel whose carrier needs it (``receiver_phone``).

    Idempotent per parcel: a parcel read subscribed calls nobody; one that is not is asked for (a
    repeat the provider accepts, as when two deliveries read it before either recorded it), and its
    item is created and marked subscribed in one write after the provider accepted. A push that
    comes before that write finds the parcel among the order's and creates the item itself
    (``store``). A provider failure is recorded on the parcel and raised (the message is retried,
    then its DLQ)."""
    if order.status not in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        return 0
    order_id = order.order_id
    subscribed_already = {p.tracking_no for p in stored if p.subscribed_at}
    subscribed = 0
    for parcel in rules.parcels_of(order, shipped):
        if parcel.tracking_no in subscribed_already:
            continue
        try:
            provider.subscribe(parcel, callback_url=_callback(callback_url, order_id), phone=phone(parcel))
        except TrackingProviderError as exc:
            repo.record_subscribe_failure(order_id, parcel, error=exc.message, now=now)
            raise
        repo.record_subscription(order_id, parcel, provider=provider.name, now=now)
        subscribed += 1
    return subscribed


def _callback(base: str, order_id: str) -> str:
    """The push names its order in the callback URL; the parcel comes from the signed ``nu``."""
    return f"{base}{'&' if '?' in base else '?'}order_id={order_id}"


# ---- pushes (the webhook) -----------------------------------------------------------------------

def handle_push(*, repo: TrackingRepository, settings: SettingsRepository, provider: TrackingProvider,
                form: Mapping[str, str], order_id: str | None, now: datetime) -> bool:
    """Verify the push (before anything else is read), then store its trail if newer than the one
    stored. Returns whether anything changed. A push for a parcel with no item is stored only when
    the order's parcels include it (one Query, then the item created); one that is not the order's
    changes nothing (acknowledged, so the provider stops). One write, and three more round trips once
    every parcel is signed for (the order with its parcels, the settings, the order's update); a
    first push that found no item: the Query and the put more, and no read after it for an order of
    one parcel."""
    trail = provider.verify_push(form)
    if not order_id:
        logger.warning("tracking push without order_id", extra={"company": trail.company})
        return False
    changed = store(repo=repo, settings=settings, order_id=order_id, trail=trail, now=now)
    if not changed:
        logger.info("tracking push changed nothing (a repeat, an older trail or an unknown parcel)",
                    extra={"order_id": order_id})
    return changed


def store(*, repo: TrackingRepository, settings: SettingsRepository, order_id: str, trail: rules.Trail,
          now: datetime) -> bool:
    stored = repo.store_trail(order_id, trail, now=now)
    known: _Shipment | None = None
    if stored == TrailStored.NO_PARCEL:
        # No item yet: a push answering a subscription the worker has not recorded yet (or a parcel
        # that is not this order's). The order's parcels say which; only then is the item created.
        stored, known = _store_first(repo=repo, order_id=order_id, trail=trail, now=now)
    if stored != TrailStored.STORED:
        return False  # a repeat, an older trail or not a parcel of this order
    if trail.delivered:
        _on_delivery(repo=repo, settings=settings, order_id=order_id, known=known)
    return True


_Shipment = tuple[Order | None, tuple[rules.Parcel, ...], list[StoredParcel]]


def _store_first(*, repo: TrackingRepository, order_id: str, trail: rules.Trail,
                 now: datetime) -> tuple[TrailStored, _Shipment | None]:
    """Create the item of the order's parcel ``trail`` is about, with it. Returns what was stored
    and, for an order of that one parcel, the order as read with the trail now stored (the delivery
    check needs no read after the write: no other parcel's push can race it)."""
    order, shipped, _ = repo.order_and_parcels(order_id)
    parcels = rules.parcels_of(order, shipped) if order is not None else ()
    parcel = next((p for p in parcels if p.tracking_no == trail.tracking_no), None)
    if order is None or parcel is None:
        return TrailStored.NO_PARCEL, None
    stored = repo.store_first_trail(order_id, parcel, trail, now=now)
    if stored != TrailStored.STORED or len(parcels) != 1:
        return stored, None
    item = StoredParcel(order_id=order_id, index=parcel.index, carrier=parcel.carrier, tracking_no=parcel.tracking_no,
                        subscribed_at=None, subscribe_error=None, trail=trail, updated_at=iso(now), queried_at=None)
    return stored, (order, shipped, [item])


def _on_delivery(*, repo: TrackingRepository, settings: SettingsRepository, order_id: str,
                 known: _Shipment | None = None) -> None:
    """Once every parcel is signed for, record the delivery (the latest signing) on the order and,
    when the countdown runs from delivery, restart it there. Conditional: once, while SHIPPED.
    ``known``: the order, its parcels and trails as they stand after the trail's write (else read)."""
    order, shipped, parcels = known or repo.order_and_parcels(order_id)
    if order is None or order.status != OrderStatus.SHIPPED:
        return
    by_number = {p.tracking_no: p for p in parcels}
    expected = rules.parcels_of(order, shipped)
    signings = [by_number[p.tracking_no].trail for p in expected if p.tracking_no in by_number]
    if not signings or len(signings) < len(expected):
        return
    times = [t.signed_at for t in signings if t is not None and t.signed_at]
    if len(times) < len(signings):
        return  # a parcel is still on its way
    delivered_at = max(times)
    mode = settings.current().settings.orders.auto_confirm_from
    if rules.moves_countdown(order, mode=mode, delivered_at=delivered_at):
        moved = repo.restart_countdown(order, delivered_at=delivered_at)
    else:
        moved = repo.record_delivery(order_id, delivered_at=delivered_at)
    logger.info("order delivered", extra={"order_id": order_id, "countdown_moved": moved and mode == "delivery"})


# ---- views --------------------------------------------------------------------------------------

def _parcel_view(parcel: rules.Parcel, stored: StoredParcel | None, *, masked: bool) -> ParcelView:
    trail = stored.trail if stored is not None else None
    text = masking.mask_text if masked else (lambda t: t)
    return ParcelView(
        index=parcel.index, carrier=parcel.carrier, tracking_no=parcel.tracking_no,
        tracked=bool(stored and stored.subscribed_at),
        state=rules.state_name(trail.state) if trail is not None else "pending",
        signed=bool(trail and trail.signed), signed_at=trail.signed_at if trail is not None else None,
        updated_at=stored.updated_at if stored is not None else None,
        events=[TrackEventView(at=e.at, context=text(e.context), status=e.status, area=e.area)
                for e in (trail.events if trail is not None else ())])


def _view(order: Order, shipped: tuple[rules.Parcel, ...], parcels: list[StoredParcel],
          settings: SettingsRepository | SettingsVersion, *, masked: bool, buyer: str | None = None) -> TrackingView:
    by_number = {p.tracking_no: p for p in parcels}
    version = settings if isinstance(settings, SettingsVersion) else settings.current()
    rules_now = version.settings.orders
    countdown = rules.countdown_of(order, mode=rules_now.auto_confirm_from, days=rules_now.auto_confirm_days)
    delivered_at = order.extra.get("delivered_at")
    return TrackingView(
        order_id=order.order_id, status=order.status, shipped_at=order.shipped_at,
        delivered_at=delivered_at if isinstance(delivered_at, str) else None, buyer=buyer,
        parcels=[_parcel_view(p, by_number.get(p.tracking_no), masked=masked)
                 for p in rules.parcels_of(order, shipped)],
        auto_confirm=CountdownView(runs_from=countdown.runs_from, started_at=countdown.started_at,
                                   ends_at=countdown.ends_at, days=rules_now.auto_confirm_days)
        if countdown is not None and order.status == OrderStatus.SHIPPED else None)


def buyer_tracking(*, repo: TrackingRepository, settings: SettingsRepository, buyer_id: str,
                   order_id: str) -> TrackingView:
    """The buyer's own order (someone else's is 404): three reads."""
    order, shipped, parcels = repo.order_and_parcels(order_id)
    return _view(ensure_owner(order, buyer_id), shipped, parcels, settings, masked=False)


def attributed_to(order: Order, promoter_id: str) -> bool:
    """The order earns ``promoter_id`` commission (level 1 or 2), as fixed at payment."""
    attribution = order.attribution or {}
    return promoter_id in (attribution.get("l1_promoter_id"), attribution.get("l2_promoter_id"))


def promoter_tracking(*, repo: TrackingRepository, settings: SettingsRepository, promoter_id: str,
                      order_id: str) -> TrackingView:
    """An order attributed to the promoter, the buyer and the carriers' texts masked; any other is 404."""
    order, shipped, parcels = repo.order_and_parcels(order_id)
    if order is None or not attributed_to(order, promoter_id):
        raise NotFound("no such order", code="order_not_found")
    return _view(order, shipped, parcels, settings, masked=True, buyer=masking.mask_user_id(order.buyer_id))


def admin_tracking(*, repo: TrackingRepository, settings: SettingsRepository, order_id: str) -> TrackingView:
    order, shipped, parcels = repo.order_and_parcels(order_id)
    if order is None:
        raise NotFound("no such order", code="order_not_found")
    return _view(order, shipped, parcels, settings, masked=False)


def refresh_tracking(*, repo: TrackingRepository, settings: SettingsRepository, provider: TrackingProvider | None,
                     order_id: str, now: datetime, orders: OrderRepository | None = None) -> TrackingView:
    """An admin asks the provider now (real-time query) for each parcel not asked in the last
    ``REFRESH_MINUTES``; a parcel asked recently is 429 when no parcel could be asked. For one parcel
    in transit: four round trips (the order with its address and the settings of the view in one
    BatchGetItem, parcels, the query's slot, the trail), five with the admin's session read."""
    order, shipped, parcels, settings_item = repo.order_parcels_and(order_id, address=orders is not None,
                                                                    extra=settings.current_key)
    if order is None:
        raise NotFound("no such order", code="order_not_found")
    if provider is None:
        raise TrackingProviderError("parcel tracking is off (TRACKING_PROVIDER=none)", code="tracking_off")
    known = {p.tracking_no: p for p in parcels}
    asked, delivered = 0, False
    for parcel in rules.parcels_of(order, shipped):
        if parcel.tracking_no not in known:  # shipped before tracking existed, or its message is still queued
            known[parcel.tracking_no] = repo.register(order_id, parcel, now=now)
        if not repo.take_query_slot(order_id, parcel.tracking_no, now=now,
                                    not_before=now - timedelta(minutes=rules.REFRESH_MINUTES)):
            continue
        asked += 1
        trail = provider.query(parcel, phone=receiver_phone(orders, parcel, order_id, order=order))
        if store(repo=repo, settings=settings, order_id=order_id, trail=trail, now=now):
            known[parcel.tracking_no] = replace(known[parcel.tracking_no], trail=trail, updated_at=iso(now))
            delivered = delivered or trail.delivered
    if rules.parcels_of(order, shipped) and asked == 0:
        raise TooManyRequests(f"these parcels were asked for less than {rules.REFRESH_MINUTES} minutes ago",
                              retry_after_seconds=rules.REFRESH_MINUTES * 60, code="tracking_refresh_too_soon")
    if delivered:  # the order itself may have changed (its delivery, its countdown): read it again
        return admin_tracking(repo=repo, settings=settings, order_id=order_id)
    return _view(order, shipped, list(known.values()), current_from_item(settings_item), masked=False)
