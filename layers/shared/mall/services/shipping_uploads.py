"""The shipping-information upload to WeChat (upload_shipping_info): the queue worker's use case
(the upload, then the tracking subscription of the shipment's parcels from the same read), the
admin's list of failures and retry, and the reconciler (docs/shipping.md).

Once per shipment: the upload item (``SHIPPING_UPLOAD``) carries a revision and a status; a worker
takes a lease on it (PENDING → SENDING) before calling WeChat, so two deliveries of the same message
never both call; an upload already answered is skipped. A worker that died while calling leaves an
expired lease: the next one first asks WeChat (get_order) whether the earlier call landed, so a
retry never spends the one change WeChat allows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.dal.keys import shipping_uploads_partition
from mall.dal.order_items import address_context
from mall.dal.shipping import UploadState
from mall.dal.tracking import StoredParcel, TrackingRepository
from mall.domain import masking
from mall.domain.orders import Order, OrderStatus
from mall.domain.shipping import (
    ERRCODE_TEXT,
    ORDER_STATE_WAITING,
    LogisticsType,
    Parcel,
    UploadFacts,
    UploadOutcome,
    UploadStatus,
    classify_answer,
    logistics_type_of,
    upload_body,
)
from mall.domain.tracking import Parcel as TrackedParcel
from mall.domain.tracking import needs_phone, parcels_of
from mall.errors import Conflict, NotFound, UpstreamUnavailable
from mall.integrations import pii_crypto
from mall.integrations.tracking import TrackingProvider
from mall.integrations.wechat_shipping import WeChatOrder
from mall.schemas.shipping import UploadPage, UploadView
from mall.services.order_changes import UploadRequests
from mall.services.shipping import ShippingRepositories
from mall.services.tracking import subscribe_parcels

logger = Logger(child=True)

#: After this many attempts answered "busy" (or unreachable), the upload is FAILED for the admin to
#: see and retry; the queue's maxReceiveCount is above it, so the worker marks it before the DLQ.
MAX_UPLOAD_ATTEMPTS = 5
#: A PENDING upload this old was not delivered by its message: the reconciler sends it again.
STALE_PENDING_MINUTES = 10


class ShippingApi(Protocol):
    def upload_shipping_info(self, body: dict[str, object]) -> tuple[int, str]: ...
    def get_order(self, *, transaction_id: str | None = None, merchant_id: str | None = None,
                  merchant_trade_no: str | None = None) -> WeChatOrder | None: ...
    def get_order_list(self, *, order_state: int, last_index: str | None = None, page_size: int = 50,
                       pay_time_range: dict[str, int] | None = None) -> tuple[list[WeChatOrder], str | None]: ...


class UploadPending(Exception):
    """Not answered for good yet (WeChat busy or unreachable, another worker on it): retry the message."""


def _legacy_parcels(order: Order) -> tuple[Parcel, ...]:
    """An order shipped before parcels were kept: its one carrier and tracking number."""
    if order.carrier and order.tracking_no:
        return (Parcel(order.order_id, 0, order.carrier, order.tracking_no,
                       tuple(line.line_id for line in order.lines)),)
    return ()


class ShipmentRead:
    """What one message of a shipment reads, once for both of its steps (the upload, then the
    parcels' tracking subscription): the order, its parcels and their tracking items in one Query
    when first asked, the receiver's phone (its address item) when first asked."""

    def __init__(self, order_id: str, repos: ShippingRepositories) -> None:
        self.order_id = order_id
        self._repos = repos
        self._shipment: tuple[Order | None, tuple[Parcel, ...], list[StoredParcel]] | None = None
        self._phone: list[str | None] = []

    @property
    def read(self) -> bool:
        return self._shipment is not None

    def shipment(self) -> tuple[Order | None, tuple[Parcel, ...], list[StoredParcel]]:
        if self._shipment is None:
            self._shipment = self._repos.shipping.shipment(self.order_id)
        return self._shipment

    def receiver_phone(self) -> str | None:
        """Decrypted to be sent (WeChat's contact for 顺丰, the tracking provider), never stored or logged."""
        if not self._phone:
            order = self.shipment()[0]
            self._phone.append(_receiver_phone(order, self._repos) if order is not None else None)
        return self._phone[0]


def _receiver_phone(order: Order, repos: ShippingRepositories) -> str | None:
    address = repos.orders.address_of(order)  # the order is read already: its address item alone
    token = address.get("phone_enc") if isinstance(address, Mapping) else None
    if not isinstance(token, str) or masking.is_erased(token):
        return None
    try:
        return pii_crypto.decrypt(token, context=address_context(order.order_id))
    except Exception:  # an unreadable phone only leaves the contact out; WeChat says if it needs it
        logger.warning("receiver phone does not decrypt", extra={"order_id": order.order_id})
        return None


def _landed_earlier(order: Order, api: ShippingApi, mchid: str) -> bool:
    found = (api.get_order(transaction_id=order.transaction_id) if order.transaction_id
             else api.get_order(merchant_id=mchid, merchant_trade_no=order.order_id))
    return found is not None and found.order_state not in (0, ORDER_STATE_WAITING)


def upload_order(order_id: str, revision: int, *, repos: ShippingRepositories, api: Callable[[], ShippingApi],
                 mchid: str, now: datetime, read: ShipmentRead | None = None) -> UploadState | None:
    """Send the order's upload ``revision`` to WeChat once and record the answer. Raises
    ``UploadPending`` when it must be tried again later (the queue redelivers). ``read``: the
    message's reads, kept for its tracking step (``upload_and_track``)."""
    read = read or ShipmentRead(order_id, repos)
    lease = repos.shipping.lease(order_id, revision=revision, now=now)  # no read first: the write tells
    leased, state = lease.taken, lease.before
    if leased is None:
        if state is None or state.revision != revision or state.status in (UploadStatus.UPLOADED,
                                                                          UploadStatus.FAILED):
            return state  # answered already (or superseded): once per shipment
        raise UploadPending(f"upload of {order_id} is being sent by another worker")
    def answer(status: UploadStatus, errcode: int, errmsg: str) -> UploadState | None:
        return repos.shipping.record_answer(order_id, revision=revision, status=status, errcode=errcode,
                                            errmsg=errmsg, now=now) or repos.shipping.get(order_id)

    order, shipped, _ = read.shipment()  # the order and its parcels: one Query
    if order is None:
        return answer(UploadStatus.FAILED, -2, "order not found")
    try:
        # Only a first upload can be told landed by WeChat's state; a change's retry after a dead worker
        # may be answered 10060003 and is then FAILED for the admin to look at.
        taken_over = state is not None and state.status == UploadStatus.SENDING  # its worker died mid-call
        if taken_over and revision == 1 and _landed_earlier(order, api(), mchid):
            return answer(UploadStatus.UPLOADED, 0, "ok (an earlier attempt landed: get_order)")
        customer = repos.customers.get(order.buyer_id)
        if customer is None:
            return answer(UploadStatus.FAILED, -2, "the buyer's openid is unknown")
        express = logistics_type_of(order) == LogisticsType.EXPRESS
        parcels = (shipped or _legacy_parcels(order)) if express else ()
        needs_phone = any(p.carrier_id == "SF" for p in parcels)
        body = upload_body(UploadFacts(order=order, parcels=parcels, payer_openid=customer.openid, mchid=mchid,
                                       receiver_phone=read.receiver_phone() if needs_phone else None,
                                       now=now))
        errcode, errmsg = api().upload_shipping_info(body)
    except UpstreamUnavailable as exc:
        errcode, errmsg = -1, f"WeChat unreachable: {exc.message}"
    outcome = classify_answer(errcode)
    if outcome == UploadOutcome.RETRY and leased.attempts < MAX_UPLOAD_ATTEMPTS:
        repos.shipping.record_answer(order_id, revision=revision, status=UploadStatus.PENDING, errcode=errcode,
                                     errmsg=errmsg, now=now)
        raise UploadPending(f"WeChat answered {errcode} for {order_id}: retried later")
    status = UploadStatus.UPLOADED if outcome == UploadOutcome.ACCEPTED else UploadStatus.FAILED
    answered = answer(status, errcode, errmsg)
    logger.info("shipping info uploaded" if status == UploadStatus.UPLOADED else "shipping info upload failed",
                extra={"order_id": order_id, "errcode": errcode, "attempts": leased.attempts})
    return answered


@dataclass(frozen=True)
class Tracking:
    """The parcels' tracking subscription run by the shipment's worker. ``provider`` (None: tracking
    is off) is asked after the upload, ``callback_url`` only when a parcel is to be subscribed: a
    provider that cannot be set up (its secrets, its URL) never holds the upload back."""

    repo: TrackingRepository
    provider: Callable[[], TrackingProvider | None]
    callback_url: Callable[[], str]


@dataclass(frozen=True)
class ShipmentHandled:
    upload: UploadState | None
    subscribed: int


def upload_and_track(order_id: str, revision: int, *, repos: ShippingRepositories, api: Callable[[], ShippingApi],
                     mchid: str, now: datetime, tracking: Tracking | None) -> ShipmentHandled:
    """One message of a shipment, two idempotent steps on one read: the upload to WeChat
    (``upload_order``: once per revision), then the tracking subscription of its parcels
    (``mall.services.tracking.subscribe_parcels``: once per parcel), whatever WeChat answered.

    A provider failure raises after the upload is recorded: the redelivery finds the upload
    answered (WeChat is not called again) and subscribes what is left. WeChat busy or unreachable
    still lets the parcels be subscribed, then raises ``UploadPending``; another worker holding the
    upload's lease leaves both steps to it and to the redelivery (nothing read here)."""
    read = ShipmentRead(order_id, repos)
    try:
        state = upload_order(order_id, revision, repos=repos, api=api, mchid=mchid, now=now, read=read)
    except UploadPending:
        if read.read:
            _track(read, tracking, now=now)
        raise
    return ShipmentHandled(upload=state, subscribed=_track(read, tracking, now=now))


def _track(read: ShipmentRead, tracking: Tracking | None, *, now: datetime) -> int:
    provider = tracking.provider() if tracking is not None else None
    if tracking is None or provider is None:
        return 0
    order, parcels, stored = read.shipment()
    if order is None:
        return 0
    shipped = tuple(TrackedParcel(p.index, p.carrier_id, p.tracking_no) for p in parcels)
    subscribed = {s.tracking_no for s in stored if s.subscribed_at}
    if order.status not in _DELIVERED or all(p.tracking_no in subscribed for p in parcels_of(order, shipped)):
        return 0  # nothing to subscribe (virtual goods, 核销, every parcel subscribed): no callback URL asked
    return subscribe_parcels(repo=tracking.repo, provider=provider, order=order, shipped=shipped,
                             stored=stored, callback_url=tracking.callback_url(), now=now,
                             phone=lambda p: read.receiver_phone() if needs_phone(p) else None)


# ---- the admin ----------------------------------------------------------------------------------

def upload_view(state: UploadState) -> UploadView:
    return UploadView(order_id=state.order_id, revision=state.revision, logistics_type=state.logistics_type,
                      status=state.status, attempts=state.attempts, requested_at=state.requested_at,
                      answered_at=state.answered_at, errcode=state.errcode, errmsg=state.errmsg,
                      explanation=ERRCODE_TEXT.get(state.errcode) if state.errcode else None)


def list_uploads(*, repos: ShippingRepositories, status: UploadStatus, limit: int, cursor: str | None) -> UploadPage:
    from mall.dal.shipping import upload_from_item

    start = cursors.decode(cursor, partition=("gsi1pk", shipping_uploads_partition(status)))
    page = repos.shipping.list_by_status(status, limit=limit, start_key=start)
    return UploadPage(items=[upload_view(upload_from_item(i)) for i in page.items],
                      next_cursor=cursors.encode(page.last_key))


def retry_upload(*, repos: ShippingRepositories, uploads: UploadRequests, order_id: str, now: datetime) -> UploadView:
    """The admin's retry of a FAILED upload (the same revision: a refused upload spent nothing)."""
    state = repos.shipping.retry(order_id, now=now)
    if state is None:
        current = repos.shipping.get(order_id)
        if current is None:
            raise NotFound("this order has no shipping upload", code="upload_not_found")
        if current.status == UploadStatus.PENDING:
            uploads.send(order_id, current.revision)  # a retry of a retry: queue it again, answer as it is
            return upload_view(current)
        raise Conflict(f"only a failed upload can be retried (it is {current.status})", code="upload_not_failed",
                       details={"status": current.status, "order_id": order_id})
    uploads.send(order_id, state.revision)
    return upload_view(state)


# ---- the reconciler -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReconcileResult:
    resent: int
    waiting_on_wechat: int
    requested: int
    not_ours_or_unshipped: int

    def as_dict(self) -> dict[str, Any]:
        return {"resent": self.resent, "waiting_on_wechat": self.waiting_on_wechat, "requested": self.requested,
                "not_ours_or_unshipped": self.not_ours_or_unshipped}


#: Statuses in which we have delivered what WeChat waits for (shipped, 核销'd, virtual delivered).
_DELIVERED = frozenset({OrderStatus.SHIPPED, OrderStatus.COMPLETED})


def reconcile(*, repos: ShippingRepositories, uploads: UploadRequests, api: Callable[[], ShippingApi],
              now: datetime, max_pages: int = 20) -> ReconcileResult:
    """Re-send the uploads whose message was lost, then ask WeChat which payments still wait for
    shipping information (get_order_list, order_state 1) and upload those we have delivered."""
    resent = 0
    cutoff = now - timedelta(minutes=STALE_PENDING_MINUTES)
    for item in repos.shipping.stale_in_flight(before=cutoff, limit=100):
        uploads.send(str(item["order_id"]), int(item.get("revision", 1)))
        resent += 1
    waiting = requested = skipped = 0
    last_index: str | None = None
    for _ in range(max_pages):
        orders, last_index = api().get_order_list(order_state=ORDER_STATE_WAITING, last_index=last_index)
        for entry in orders:
            waiting += 1
            order = repos.orders.get(entry.merchant_trade_no) if entry.merchant_trade_no else None
            if order is None or order.status not in _DELIVERED:
                skipped += 1
                continue
            state = repos.shipping.get(order.order_id)
            if state is None:
                uploads.request(order, now=now)
                requested += 1
            elif state.status == UploadStatus.PENDING:
                uploads.send(order.order_id, state.revision)
                requested += 1
            else:
                skipped += 1  # FAILED waits for the admin; UPLOADED and still waiting is logged below
                if state.status == UploadStatus.UPLOADED:
                    logger.warning("WeChat still waits for an uploaded shipment", extra={"order_id": order.order_id})
        if last_index is None:
            break
    result = ReconcileResult(resent=resent, waiting_on_wechat=waiting, requested=requested,
                             not_ours_or_unshipped=skipped)
    logger.info("shipping upload reconciliation", extra=result.as_dict())
    return result
