"""Units of the shipment and the buyer's receipt, priced by the bench's meter (``bench._meter``) on
DynamoDB Local, and what the cuts keep: an upload is sent to WeChat once however many deliveries of
its message run at once, and the reconciler still finds the uploads left unanswered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from local import shipping_sandbox
from mall.clock import utc_now
from mall.config import ConfigurationError, get_settings
from mall.dal.fulfilment import OrderTail
from mall.dal.keys import LEASED_UPLOADS_PARTITION, order_key, shipping_upload_key, shipping_uploads_partition
from mall.dal.order_items import history_item
from mall.dal.orders import OrderRepository
from mall.dal.table import Item, Key, Table
from mall.dal.tracking import TrackingRepository
from mall.domain.shipping import ParcelRequest, UploadStatus
from mall.domain.tokens import Role
from mall.schemas.fulfilment import OrderDetail
from mall.services.fulfilment import admin_order, confirm_receipt, my_order
from mall.services.order_changes import OrderChange, on_order_changes
from mall.services.shipping import (
    ShipOrder,
    ShippingRepositories,
    UploadRequests,
    forget_carriers,
    known_carriers,
    ship_parcels,
)
from mall.services.shipping_uploads import (
    Tracking,
    UploadPending,
    list_uploads,
    reconcile,
    upload_and_track,
    upload_order,
)
from tests.at_once import run_at_once
from tests.conftest import bearer, clear_caches
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.integration.test_lifecycle_read_units import read_units, shipped_by_sf
from tests.integration.test_parcel_tracking import ADMIN_AND_WEBHOOK_TRIPS, FakeProvider
from tests.integration.test_shipping_uploads import CARRIERS, MCHID, NOW, Outbox, SandboxApi, paid_order, ship
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_fulfilment_factory import Line
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    shipping_sandbox.reset()
    yield make_mall(monkeypatch)
    shipping_sandbox.reset()
    clear_caches()


def test_deliveries_of_one_upload_at_once_call_wechat_once(table: Table) -> None:
    repos = ShippingRepositories.on(table)
    order = paid_order(table)
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, order["order_id"])
    message = outbox.sent[0]

    def deliver() -> str:
        try:
            state = upload_order(message["order_id"], message["revision"], repos=repos, api=lambda: api,
                                 mchid=MCHID, now=NOW + timedelta(seconds=1))
        except UploadPending:
            return "pending"
        return state.status if state is not None else "none"

    for _ in range(3):
        outcomes = run_at_once([deliver] * 8)
        assert api.uploads == 1, outcomes
    state = repos.shipping.get(order["order_id"])
    assert state is not None and (state.status, state.attempts) == (UploadStatus.UPLOADED, 1)


def _leased_by_a_dead_worker(table: Table, repos: ShippingRepositories, outbox: Outbox, *, partition: str) -> str:
    order = paid_order(table)
    ship(repos, outbox, order["order_id"])
    assert repos.shipping.take_lease(order["order_id"], revision=1, now=NOW) is not None  # then it died
    table.update(shipping_upload_key(order["order_id"]), "SET gsi1pk = :g", values={":g": partition})
    return str(order["order_id"])


def test_the_reconciler_finds_uploads_left_sending_in_either_partition(table: Table) -> None:
    repos = ShippingRepositories.on(table)
    outbox, api = Outbox(), SandboxApi()
    kept = _leased_by_a_dead_worker(table, repos, outbox, partition=shipping_uploads_partition(UploadStatus.SENDING))
    moved = _leased_by_a_dead_worker(table, repos, outbox, partition=LEASED_UPLOADS_PARTITION)
    item = table.get(shipping_upload_key(kept), consistent=True)
    assert item is not None and item["gsi1pk"] == "SHIPUPLOADS#PENDING" and item["status"] == "SENDING"
    # The admin's lists tell the two statuses apart within the shared partition.
    sending = list_uploads(repos=repos, status=UploadStatus.SENDING, limit=20, cursor=None)
    assert [u.order_id for u in sending.items] == [kept]
    assert list_uploads(repos=repos, status=UploadStatus.PENDING, limit=20, cursor=None).items == []
    outbox.sent.clear()
    result = reconcile(repos=repos, uploads=UploadRequests(repos.shipping, outbox), api=lambda: api,
                       now=NOW + timedelta(minutes=30))
    assert result.resent == 2 and {m["order_id"] for m in outbox.sent} == {kept, moved}
    for message in list(outbox.sent):
        state = upload_order(message["order_id"], message["revision"], repos=repos, api=lambda: api, mchid=MCHID,
                             now=NOW + timedelta(minutes=31))
        assert state is not None and state.status == UploadStatus.UPLOADED
    assert api.uploads == 2
    uploaded = list_uploads(repos=repos, status=UploadStatus.UPLOADED, limit=20, cursor=None)
    assert {u.order_id for u in uploaded.items} == {kept, moved}


def _placed_and_paid(mall: Mall) -> str:
    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    assert mall.pay(str(placed["order_id"]))[0] == 204
    return str(placed["order_id"])


def _ship(table: Table, order_id: str, *parcels: ParcelRequest, now: datetime = NOW) -> OrderDetail:
    repos = ShippingRepositories.on(table)
    return ship_parcels(ShipOrder(order_id=order_id, parcels=parcels or (ParcelRequest("SF", "SF1001"),),
                                  admin="admin:li", now=now), repos=repos, carriers=CARRIERS,
                        uploads=UploadRequests(repos.shipping, Outbox()))


def _commission_items(table: Table, order_id: str) -> None:
    """Two commission records and the basis beside the order, as a promoter's sale has them."""
    for sk in ("COMMISSION#1#1", "COMMISSION#1#2", "COMMISSION_BASIS"):
        table.put({"pk": f"ORDER#{order_id}", "sk": sk, "entity": "test_filler", "blob": "x" * 700})


def test_the_ship_route_answers_from_what_it_read_and_wrote(mall: Mall, table: Table) -> None:
    order_id = _placed_and_paid(mall)
    _commission_items(table, order_id)
    answered: list[OrderDetail] = []
    seen = read_units(table, lambda: answered.append(_ship(table, order_id)))
    # The order with its history, refunds and shipment in one Query (not its address and commission
    # items), its address after the write; was the order, then the whole partition after the write.
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem"]
    kinds = seen["rcu_by_item_kind"]
    # The address eventually consistent (½, was 1): put at placing, unchanged while the order ships.
    assert not {"ORDER#/COMMISSION#", "ORDER#/COMMISSION_BASIS"} & set(kinds) and kinds["ORDER#/ADDRESS"] == 0.5
    assert seen["rcu"] == 1.5  # was 2.0; 1.0 + 2.0 with these items before the Query of the tail
    [detail] = answered
    assert detail == admin_order(repo=OrderRepository(table), order_id=order_id)  # what a read after says
    assert detail.status == "SHIPPED" and detail.address is not None
    assert "顺丰速运 SF1001" in [h.note for h in detail.history]
    # A repeat answers the same order; a correction answers the corrected one, both from the same reads.
    assert _ship(table, order_id) == detail
    table.update(shipping_upload_key(order_id), "SET #s = :s", names={"#s": "status"},
                 values={":s": UploadStatus.UPLOADED})  # WeChat has it: the one change may be made
    corrected = _ship(table, order_id, ParcelRequest("ZTO", "ZT3003"), now=NOW + timedelta(hours=1))
    assert corrected == admin_order(repo=OrderRepository(table), order_id=order_id)
    assert corrected.tracking_no == "ZT3003" and "shipment corrected: 中通快递 ZT3003" in [
        h.note for h in corrected.history]


def test_the_receipt_answers_from_what_it_read_and_the_update_returned(mall: Mall, table: Table) -> None:
    order_id = _placed_and_paid(mall)
    _commission_items(table, order_id)
    _ship(table, order_id)
    repo = OrderRepository(table)
    buyer = str(repo.get(order_id).buyer_id)  # type: ignore[union-attr]
    answered: list[OrderDetail] = []
    seen = read_units(table, lambda: answered.append(
        confirm_receipt(repo=repo, buyer_id=buyer, order_id=order_id, now=NOW + timedelta(days=1))))
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem"]
    assert seen["rcu_by_item_kind"]["ORDER#/ADDRESS"] == 0.5  # eventually consistent (was 1)
    assert seen["rcu"] == 1.5  # was 2.0; 1.0 + 2.0 with these items before the Query of the tail
    [detail] = answered
    assert detail == my_order(repo=repo, buyer_id=buyer, order_id=order_id)
    assert detail.status == "COMPLETED" and detail.completed_by == "buyer"
    assert confirm_receipt(repo=repo, buyer_id=buyer, order_id=order_id, now=NOW + timedelta(days=2)) == detail


def _address_not_yet_visible(table: Table, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """An eventually consistent read of an order's address item finds nothing (put moments ago, by the
    migration that moves addresses apart, say); a consistent one finds it. Returns the reads' modes."""
    real, modes = table.get, []

    def get(key: Key, *, consistent: bool = False) -> Item | None:
        if key["sk"] != "ADDRESS":
            return real(key, consistent=consistent)
        modes.append(consistent)
        return real(key, consistent=True) if consistent else None

    monkeypatch.setattr(table, "get", get)
    return modes


def test_a_shipment_whose_eventual_address_read_finds_nothing_reads_it_again_consistent(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = _placed_and_paid(mall)
    modes = _address_not_yet_visible(table, monkeypatch)
    detail = _ship(table, order_id)
    assert modes == [False, True]
    monkeypatch.undo()
    assert detail.address is not None and detail == admin_order(repo=OrderRepository(table), order_id=order_id)


def test_a_receipt_whose_eventual_address_read_finds_nothing_reads_it_again_consistent(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = _placed_and_paid(mall)
    _ship(table, order_id)
    repo = OrderRepository(table)
    buyer = str(repo.get(order_id).buyer_id)  # type: ignore[union-attr]
    modes = _address_not_yet_visible(table, monkeypatch)
    detail = confirm_receipt(repo=repo, buyer_id=buyer, order_id=order_id, now=NOW + timedelta(days=1))
    assert modes == [False, True]
    monkeypatch.undo()
    assert detail.address is not None and detail == my_order(repo=repo, buyer_id=buyer, order_id=order_id)


def test_a_receipt_racing_another_change_of_the_order_answers_both(mall: Mall, table: Table,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = _placed_and_paid(mall)
    _ship(table, order_id)
    repo = OrderRepository(table)
    buyer = str(repo.get(order_id).buyer_id)  # type: ignore[union-attr]
    read = repo.tail

    def then_changed(oid: str) -> OrderTail | None:
        tail = read(oid)  # another writer changes the order between this read and the receipt's update
        table.put(history_item(oid, "SHIPPED", at=NOW + timedelta(hours=1), by="admin:li", note="parcel re-sent"))
        table.update(order_key(oid), "SET #v = #v + :one", names={"#v": "version"}, values={":one": 1})
        return tail

    monkeypatch.setattr(repo, "tail", then_changed)
    detail = confirm_receipt(repo=repo, buyer_id=buyer, order_id=order_id, now=NOW + timedelta(days=1))
    assert detail.status == "COMPLETED" and "parcel re-sent" in [h.note for h in detail.history]
    monkeypatch.undo()
    assert detail == my_order(repo=repo, buyer_id=buyer, order_id=order_id)


class _Carriers:
    def __init__(self) -> None:
        self.asked = 0

    def delivery_list(self) -> dict[str, str]:
        self.asked += 1
        return dict(CARRIERS)


def test_the_carrier_list_is_written_once_a_day_not_per_shipment(table: Table) -> None:
    repos, source = ShippingRepositories.on(table), _Carriers()

    def carriers() -> dict[str, str]:
        forget_carriers()  # another container: nothing in memory
        return known_carriers(shipping=repos.shipping, source=lambda: source, app_id="wx_units", now=NOW)

    first = read_units(table, carriers)
    assert (first["wcu"], source.asked) == (1.0, 1)  # the first shipment of the day asks WeChat and keeps it
    later = read_units(table, carriers)
    assert (later["wcu"], later["rcu"], source.asked) == (0.0, 0.5, 1)  # the next ones read it (a cold container)
    assert read_units(table, lambda: known_carriers(shipping=repos.shipping, source=lambda: source,
                                                    app_id="wx_units", now=NOW))["rcu"] == 0.0  # a warm one


def _route(fn: Any, path: str, subject: str, *roles: Role, body: dict[str, Any] | None = None,
           ) -> tuple[int, dict[str, Any]]:
    event = http_event("POST", path, headers=bearer(subject, *roles), body=body)
    event["pathParameters"] = {"order_id": path.split("/")[-2]}
    result = fn.handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result["body"])


def test_the_ship_and_receipt_routes_stay_within_their_round_trips(mall: Mall, table: Table) -> None:
    order_id = _placed_and_paid(mall)
    repos = ShippingRepositories.on(table)
    repos.shipping.cache_carriers(get_settings().wechat_app_id, CARRIERS, now=utc_now(), ttl_seconds=3600)
    forget_carriers()
    trips = Trips()
    status, shipped = trips.of(lambda: _route(load_function("admin_orders"), f"/admin/orders/{order_id}/ship",
                                              "admin:li", Role.ADMIN,
                                              body={"carrier": "顺丰速运", "tracking_no": "SF2002"}))
    assert status == 200 and shipped["status"] == "SHIPPED", shipped
    # The staff check and the carriers (a cold container), the order's Query, the transaction, its address.
    assert trips.sent[-3:] == ["Query", "TransactWriteItems", "GetItem"], trips.sent
    assert len(trips.sent) <= ADMIN_AND_WEBHOOK_TRIPS
    buyer = str(OrderRepository(table).get(order_id).buyer_id)  # type: ignore[union-attr]
    status, confirmed = trips.of(lambda: _route(load_function("order_confirm_receipt"),
                                                f"/orders/{order_id}/confirm-receipt", buyer, Role.CUSTOMER))
    assert status == 200 and confirmed["status"] == "COMPLETED", confirmed
    assert trips.sent == ["Query", "UpdateItem", "GetItem"], trips.sent
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS


# ---- the shipment's one message: its upload and its parcels' subscription -----------------------

class _BusyOnce(SandboxApi):
    """WeChat answering busy (-1) to the first upload, then as the sandbox does."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = 1

    def upload_shipping_info(self, body: dict[str, object]) -> tuple[int, str]:
        if self.busy:
            self.busy -= 1
            self.uploads += 1
            return -1, "system busy"
        return super().upload_shipping_info(body)


def _upload_worker(table: Table, monkeypatch: pytest.MonkeyPatch, api: SandboxApi,
                   provider: FakeProvider | None) -> Any:
    """The upload worker's handler on this table, WeChat the sandbox and the tracking provider ``provider``."""
    fn = load_function("shipping_upload_worker")
    monkeypatch.setattr(fn, "repos", ShippingRepositories.on(table))
    monkeypatch.setattr(fn, "trails", TrackingRepository(table))
    monkeypatch.setattr(fn, "wechat", lambda: api)
    monkeypatch.setattr(fn, "_mchid", lambda: MCHID)
    monkeypatch.setattr(fn, "provider_from_env", lambda: provider)
    monkeypatch.setattr(fn, "callback_url", lambda: "https://api.example/webhooks/tracking")
    return fn


def _deliver(fn: Any, message: dict[str, Any]) -> list[dict[str, str]]:
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": json.dumps(message),
                          "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                          "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                          "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ShippingUploadQueue"}]}
    return list(fn.handler(event, FakeContext())["batchItemFailures"])


def _trail(table: Table, order_id: str, tracking_no: str) -> dict[str, Any] | None:
    return table.get({"pk": f"ORDER#{order_id}", "sk": f"PARCEL#T#{tracking_no}"}, consistent=True)


def test_the_upload_worker_subscribes_the_parcels_from_the_read_of_its_upload(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    seen = read_units(table, lambda: _deliver(fn, message))
    # One Query (the order, its parcels and their tracking items), the buyer's openid, the address for
    # 顺丰's phone: the upload's reads alone serve the subscription (was another Query of the order and
    # its parcels and another read of the address, 2 RCU, in the tracking worker of a second queue).
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem", "GetItem"]
    assert seen["rcu"] == 2.5  # was 2.5 + 2.0
    # The lease and WeChat's answer, then the parcel's item created and marked subscribed in one write
    # after the provider accepted (was a put before the call and an update after it: 1 + 1 WCU).
    writes = [(c["operation"], c["wcu"]) for c in seen["calls"] if c["wcu"]]
    assert writes == [("UpdateItem", 2.0), ("UpdateItem", 3.0), ("UpdateItem", 1.0)], writes
    assert seen["wcu"] == 6.0  # was 7.0
    assert api.uploads == 1 and repos_state(table, order_id) == UploadStatus.UPLOADED
    assert provider.subscribed == [("SF1001", f"https://api.example/webhooks/tracking?order_id={order_id}")]
    assert provider.phones == [ADDRESS["phone"]]  # whole for the provider; masked in WeChat's upload
    trail = _trail(table, order_id, "SF1001")
    assert trail is not None and trail["subscribed_at"] and trail["provider"] == "fake"
    # The same item the put and the update left.
    assert trail == {"pk": f"ORDER#{order_id}", "sk": "PARCEL#T#SF1001", "entity": "parcel_trail",
                     "order_id": order_id, "parcel_index": 0, "carrier": "SF", "tracking_no": "SF1001",
                     "created_at": trail["subscribed_at"], "subscribed_at": trail["subscribed_at"], "provider": "fake"}
    # A repeat of the message calls neither WeChat nor the provider and writes nothing: the lease is
    # refused, the parcel is read subscribed.
    again = read_units(table, lambda: _deliver(fn, message))
    assert (api.uploads, len(provider.subscribed)) == (1, 1)
    assert [c["operation"] for c in again["calls"] if c["wcu"]] == ["UpdateItem"]  # the refused lease
    assert [c["operation"] for c in again["calls"] if c["rcu"]] == ["Query"]


def repos_state(table: Table, order_id: str) -> UploadStatus | None:
    state = ShippingRepositories.on(table).shipping.get(order_id)
    return state.status if state is not None else None


def test_a_provider_failure_after_the_upload_is_retried_without_uploading_again(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)

    def unconfigured() -> FakeProvider:
        raise ConfigurationError("kuaidi100_key is not set")

    monkeypatch.setattr(fn, "provider_from_env", unconfigured)  # the provider cannot even be set up
    assert _deliver(fn, message) == [{"itemIdentifier": "m-1"}]  # the queue redelivers it
    assert api.uploads == 1 and repos_state(table, order_id) == UploadStatus.UPLOADED  # not held back
    monkeypatch.setattr(fn, "provider_from_env", lambda: provider)
    provider.fail_subscribe = True  # then it refuses
    assert _deliver(fn, message) == [{"itemIdentifier": "m-1"}]
    assert api.uploads == 1 and repos_state(table, order_id) == UploadStatus.UPLOADED  # the upload is kept
    trail = _trail(table, order_id, "SF1001")
    assert trail is not None and "subscribed_at" not in trail and "700" in trail["subscribe_error"]
    provider.fail_subscribe = False
    assert _deliver(fn, message) == []
    assert api.uploads == 1  # WeChat is not called again: its answer is recorded
    assert [n for n, _ in provider.subscribed] == ["SF1001"] and provider.phones == [ADDRESS["phone"]]
    trail = _trail(table, order_id, "SF1001")
    assert trail is not None and trail["subscribed_at"] and "subscribe_error" not in trail
    assert _deliver(fn, message) == [] and (api.uploads, len(provider.subscribed)) == (1, 1)


def test_wechat_busy_still_lets_the_parcels_be_subscribed(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = _BusyOnce(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    assert _deliver(fn, message) == [{"itemIdentifier": "m-1"}]  # WeChat busy: the upload is retried
    assert repos_state(table, order_id) == UploadStatus.PENDING
    assert [n for n, _ in provider.subscribed] == ["SF1001"]  # not held back by WeChat
    assert _deliver(fn, message) == [] and repos_state(table, order_id) == UploadStatus.UPLOADED
    assert api.uploads == 2 and len(provider.subscribed) == 1  # subscribed once


def test_an_upload_refused_for_good_still_lets_the_parcels_be_subscribed(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    table.update(shipping_upload_key(order_id), "SET #s = :s, errcode = :e", names={"#s": "status"},
                 values={":s": UploadStatus.FAILED, ":e": 10060001})  # WeChat refused it: the admin's to retry
    assert _deliver(fn, message) == []
    assert api.uploads == 0 and [n for n, _ in provider.subscribed] == ["SF1001"]


def test_virtual_goods_and_tracking_off_subscribe_nothing(mall: Mall, table: Table,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    repos = ShippingRepositories.on(table)
    virtual = paid_order(table, Line(type="virtual"))
    outbox, api, provider = Outbox(), SandboxApi(), FakeProvider()
    on_order_changes(repo=repos.orders, changes=[OrderChange({**virtual, "status": "CREATED"},
                                                             table.get(order_key(virtual["order_id"])))],
                     now=NOW, uploads=UploadRequests(repos.shipping, outbox))
    fn = _upload_worker(table, monkeypatch, api, provider)
    monkeypatch.setattr(fn, "callback_url", lambda: pytest.fail("no parcel: no callback URL asked"))
    seen = read_units(table, lambda: _deliver(fn, outbox.sent[0]))
    # Delivered virtual goods have no parcel: the upload, and nothing read or written for tracking.
    assert api.uploads == 1 and provider.subscribed == []
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem"]  # the order, the openid
    assert [c["operation"] for c in seen["calls"] if c["wcu"]] == ["UpdateItem", "UpdateItem"]
    # Tracking off (TRACKING_PROVIDER=none): the shipped order's upload alone.
    order_id, message = shipped_by_sf(mall, table)
    off = _upload_worker(table, monkeypatch, api, None)
    seen = read_units(table, lambda: _deliver(off, message))
    assert api.uploads == 2 and _trail(table, order_id, "SF1001") is None
    assert [c["operation"] for c in seen["calls"] if c["wcu"]] == ["UpdateItem", "UpdateItem"]


def test_a_corrected_shipment_s_message_subscribes_its_new_parcel(mall: Mall, table: Table,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    assert _deliver(fn, message) == []
    repos, outbox = ShippingRepositories.on(table), Outbox()
    ship_parcels(ShipOrder(order_id=order_id, parcels=(ParcelRequest("ZTO", "ZT3003"),), admin="admin:li",
                           now=NOW + timedelta(hours=1)),
                 repos=repos, carriers=CARRIERS, uploads=UploadRequests(repos.shipping, outbox))
    [correction] = outbox.sent
    assert correction["revision"] == 2  # WeChat's one change
    assert _deliver(fn, correction) == []
    assert api.uploads == 2 and [n for n, _ in provider.subscribed] == ["SF1001", "ZT3003"]
    assert provider.phones == [ADDRESS["phone"], None]  # 中通 tracks without the phone


def test_a_tracking_message_redriven_into_the_upload_queue_subscribes_without_uploading(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the runbook does with a ``{"order_id"}`` parked from the retired TrackingQueue."""
    order_id, message = shipped_by_sf(mall, table)
    api = SandboxApi()
    assert _deliver(_upload_worker(table, monkeypatch, api, None), message) == []  # uploaded, not subscribed
    provider = FakeProvider()
    assert _deliver(_upload_worker(table, monkeypatch, api, provider), {"order_id": order_id}) == []
    assert api.uploads == 1 and [n for n, _ in provider.subscribed] == ["SF1001"]


def test_deliveries_of_one_shipment_at_once_upload_once_and_subscribe_its_parcel_once(
        mall: Mall, table: Table) -> None:
    order_id, message = shipped_by_sf(mall, table)
    repos, api, provider = ShippingRepositories.on(table), SandboxApi(), FakeProvider()
    tracking_step = Tracking(repo=TrackingRepository(table), provider=lambda: provider,
                             callback_url=lambda: "https://x")

    def deliver() -> str:
        try:
            handled = upload_and_track(order_id, message["revision"], repos=repos, api=lambda: api, mchid=MCHID,
                                       now=NOW + timedelta(seconds=1), tracking=tracking_step)
        except UploadPending:
            return "pending"  # another delivery holds the upload's lease: redelivered later
        return f"subscribed {handled.subscribed}"

    outcomes = [o for _ in range(3) for o in run_at_once([deliver] * 8)]
    assert api.uploads == 1, outcomes
    # The parcel's item is created once and marked subscribed once; a delivery that read it before
    # the mark may ask the provider again, which it accepts as a repeat.
    assert {n for n, _ in provider.subscribed} == {"SF1001"}
    assert sum(int(o.split()[1]) for o in outcomes if o.startswith("subscribed")) == len(provider.subscribed)
    trail = _trail(table, order_id, "SF1001")
    assert trail is not None and trail["subscribed_at"] and "subscribe_error" not in trail
    assert deliver() == "subscribed 0" and api.uploads == 1


def test_a_delivery_that_dies_before_recording_the_subscription_is_redelivered_and_recorded_once(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, message = shipped_by_sf(mall, table)
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    recorded = TrackingRepository.record_subscription

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died after the provider accepted")

    monkeypatch.setattr(TrackingRepository, "record_subscription", dies)
    assert _deliver(fn, message) == [{"itemIdentifier": "m-1"}]  # the queue redelivers it
    assert _trail(table, order_id, "SF1001") is None and [n for n, _ in provider.subscribed] == ["SF1001"]
    monkeypatch.setattr(TrackingRepository, "record_subscription", recorded)
    seen = read_units(table, lambda: _deliver(fn, message))
    # The upload is answered (its lease refused); the parcel, read not subscribed, is asked for again (a
    # repeat the provider accepts) and recorded in one write.
    assert api.uploads == 1 and [n for n, _ in provider.subscribed] == ["SF1001", "SF1001"]
    assert [(c["operation"], c["wcu"]) for c in seen["calls"] if c["wcu"]] == [("UpdateItem", 1.0),
                                                                               ("UpdateItem", 1.0)]
    trail = _trail(table, order_id, "SF1001")
    assert trail is not None and trail["subscribed_at"] and trail["provider"] == "fake"
    assert _deliver(fn, message) == [] and len(provider.subscribed) == 2  # then nothing more
