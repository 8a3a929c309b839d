"""Shipping with parcels and the upload of shipping information to WeChat, on DynamoDB Local, against
the local WeChat sandbox's shipping service (local.shipping_sandbox, called in process): once per
shipment under redelivery, a failure recorded and listed, the admin's retry, the reconciler, and the
parcels refused 422."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local import shipping_sandbox
from mall.clock import iso
from mall.dal.keys import customer_profile_key, order_key
from mall.dal.table import Table
from mall.domain.orders import OrderStatus
from mall.domain.shipping import ParcelRequest, UploadStatus
from mall.errors import Conflict, InvalidInput
from mall.integrations.wechat_shipping import WeChatOrder, _order
from mall.services import fulfilment, order_changes
from mall.services.order_changes import UploadRequests
from mall.services.shipping import ShipOrder, ShippingRepositories, ship_parcels
from mall.services.shipping_uploads import (
    MAX_UPLOAD_ATTEMPTS,
    UploadPending,
    list_uploads,
    reconcile,
    retry_upload,
    upload_order,
)
from tests.unit.test_fulfilment_factory import Line, put_order

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
MCHID = "1900000109"
CARRIERS = dict(shipping_sandbox.SANDBOX_CARRIERS)


class SandboxApi:
    """WeChat's shipping service as the local sandbox plays it (its documented errcodes)."""

    def __init__(self) -> None:
        self.uploads = 0

    def upload_shipping_info(self, body: dict[str, object]) -> tuple[int, str]:
        self.uploads += 1
        answer = json.loads(shipping_sandbox.upload_shipping_info(json.loads(json.dumps(body)))[2])
        return int(answer["errcode"]), str(answer["errmsg"])

    def get_order(self, *, transaction_id: str | None = None, merchant_id: str | None = None,
                  merchant_trade_no: str | None = None) -> WeChatOrder | None:
        answer = json.loads(shipping_sandbox.get_order({"transaction_id": transaction_id, "merchant_id": merchant_id,
                                                        "merchant_trade_no": merchant_trade_no})[2])
        return _order(answer["order"]) if answer["errcode"] == 0 else None

    def get_order_list(self, *, order_state: int, last_index: str | None = None, page_size: int = 50,
                       pay_time_range: dict[str, int] | None = None) -> tuple[list[WeChatOrder], str | None]:
        answer = json.loads(shipping_sandbox.get_order_list({"order_state": order_state, "last_index": last_index,
                                                             "page_size": page_size})[2])
        return [_order(o) for o in answer["order_list"]], answer["last_index"] or None


class Outbox:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, body: Mapping[str, Any], /) -> None:
        self.sent.append(dict(body))


@pytest.fixture(autouse=True)
def clean_sandbox() -> Iterator[None]:
    shipping_sandbox.reset()
    yield
    shipping_sandbox.reset()


@pytest.fixture
def repos(table: Table) -> ShippingRepositories:
    return ShippingRepositories.on(table)


def paid_order(table: Table, *lines: Line, buyer: str = "u_buyer", openid: str = "osbx_buyer") -> dict[str, Any]:
    item = put_order(table, buyer_id=buyer, lines=lines or (Line(),))
    table.put({**customer_profile_key(buyer), "entity": "customer", "user_id": buyer, "openid": openid,
               "roles": ["customer"], "created_at": "2026-11-01T00:00:00Z"})
    shipping_sandbox.register_payment({"transaction_id": item["transaction_id"], "out_trade_no": item["order_id"],
                                       "mchid": MCHID, "openid": openid})
    return item


def ship(repos: ShippingRepositories, outbox: Outbox, order_id: str, *parcels: ParcelRequest) -> None:
    ship_parcels(ShipOrder(order_id=order_id, parcels=parcels or (ParcelRequest("SF", "SF1001"),), admin="admin:li",
                           now=NOW), repos=repos, carriers=CARRIERS, uploads=UploadRequests(repos.shipping, outbox))


def deliver(repos: ShippingRepositories, api: SandboxApi, message: dict[str, Any], at: datetime = NOW) -> Any:
    return upload_order(message["order_id"], message["revision"], repos=repos, api=lambda: api, mchid=MCHID, now=at)


def test_a_shipment_is_uploaded_once_however_often_its_message_arrives(table: Table,
                                                                       repos: ShippingRepositories) -> None:
    order = paid_order(table, Line(name="茶"), Line(name="杯"))
    outbox, api = Outbox(), SandboxApi()
    parcels = (ParcelRequest("SF", "SF1001", ("1",)), ParcelRequest("ZTO", "ZT2002", ("2",)))
    ship(repos, outbox, order["order_id"], *parcels)
    ship(repos, outbox, order["order_id"], *parcels)
    assert outbox.sent[0] == {"order_id": order["order_id"], "revision": 1}
    for message in [*outbox.sent, outbox.sent[0]]:  # the retried request re-queued it; SQS redelivers too
        state = deliver(repos, api, message, NOW + timedelta(seconds=5))
    assert api.uploads == 1 and state.status == UploadStatus.UPLOADED and state.errcode == 0
    (uploaded,) = json.loads(shipping_sandbox.list_uploads(order["order_id"])[2])["uploads"]
    assert uploaded["delivery_mode"] == 2 and [p["tracking_no"] for p in uploaded["shipping_list"]] == \
        ["SF1001", "ZT2002"]
    assert uploaded["shipping_list"][0]["contact"] == {"receiver_contact": "138****5678"}
    stored = table.get(order_key(order["order_id"]))
    assert stored is not None and stored["status"] == "SHIPPED" and stored["parcel_count"] == 2
    assert len(json.dumps(stored, default=str).encode()) < 1024 * 2  # the order item stays small
    assert [(p.index, p.carrier_id, p.tracking_no) for p in repos.shipping.parcels(order["order_id"])] == \
        [(0, "SF", "SF1001"), (1, "ZTO", "ZT2002")]


def test_a_worker_that_died_mid_call_does_not_spend_the_one_change(table: Table,
                                                                    repos: ShippingRepositories) -> None:
    order = paid_order(table)
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, order["order_id"])
    leased = repos.shipping.take_lease(order["order_id"], revision=1, now=NOW)
    assert leased is not None
    api.upload_shipping_info(_body_of_first_upload(repos, order["order_id"]))  # landed, then the worker died
    with pytest.raises(UploadPending):  # while the lease runs, another delivery waits
        deliver(repos, api, outbox.sent[0], NOW + timedelta(seconds=30))
    state = deliver(repos, api, outbox.sent[0], NOW + timedelta(minutes=5))
    assert state.status == UploadStatus.UPLOADED and api.uploads == 1
    shipment = json.loads(shipping_sandbox.get_order({"transaction_id": order["transaction_id"]})[2])["order"]
    assert shipment["shipping"]["finish_shipping_count"] == 0  # no re-shipment was spent


def _body_of_first_upload(repos: ShippingRepositories, order_id: str) -> dict[str, object]:
    from mall.domain.shipping import UploadFacts, upload_body

    found = repos.orders.get(order_id)
    assert found is not None
    return upload_body(UploadFacts(order=found, parcels=repos.shipping.parcels(order_id), payer_openid="osbx_buyer",
                                   mchid=MCHID, receiver_phone="13812345678", now=NOW))


def test_a_refusal_is_recorded_listed_and_retried_by_the_admin(table: Table, repos: ShippingRepositories) -> None:
    order = paid_order(table)
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, order["order_id"])
    shipping_sandbox.fail_next({"errcode": 10060004})
    state = deliver(repos, api, outbox.sent[0])
    assert (state.status, state.errcode, state.attempts) == (UploadStatus.FAILED, 10060004, 1)
    assert deliver(repos, api, outbox.sent[0]).status == UploadStatus.FAILED and api.uploads == 1  # not re-sent
    page = list_uploads(repos=repos, status=UploadStatus.FAILED, limit=20, cursor=None)
    assert [(u.order_id, u.errcode) for u in page.items] == [(order["order_id"], 10060004)]
    assert page.items[0].explanation and "不可发货" in page.items[0].explanation
    retried = retry_upload(repos=repos, uploads=UploadRequests(repos.shipping, outbox), order_id=order["order_id"],
                           now=NOW)
    assert retried.status == UploadStatus.PENDING and outbox.sent[-1] == outbox.sent[0]
    assert deliver(repos, api, outbox.sent[-1]).status == UploadStatus.UPLOADED
    assert list_uploads(repos=repos, status=UploadStatus.FAILED, limit=20, cursor=None).items == []
    with pytest.raises(Conflict):
        retry_upload(repos=repos, uploads=UploadRequests(repos.shipping, outbox), order_id=order["order_id"], now=NOW)


def test_wechat_busy_is_retried_then_failed_for_the_admin(table: Table, repos: ShippingRepositories) -> None:
    order = paid_order(table)
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, order["order_id"])
    shipping_sandbox.fail_next({"errcode": 10060012, "times": MAX_UPLOAD_ATTEMPTS})
    for _ in range(MAX_UPLOAD_ATTEMPTS - 1):
        with pytest.raises(UploadPending):
            deliver(repos, api, outbox.sent[0])
    state = deliver(repos, api, outbox.sent[0])
    assert (state.status, state.errcode, state.attempts) == (UploadStatus.FAILED, 10060012, MAX_UPLOAD_ATTEMPTS)


def test_verify_and_virtual_delivery_upload_self_pickup_and_virtual(table: Table,
                                                                     repos: ShippingRepositories) -> None:
    service = paid_order(table, Line(type="service"))
    virtual = paid_order(table, Line(type="virtual"))
    outbox, api = Outbox(), SandboxApi()
    uploads = UploadRequests(repos.shipping, outbox)
    from mall.services.fulfilment import verify_code_for

    found = repos.orders.get(service["order_id"])
    assert found is not None
    code = verify_code_for(repos.orders, found)
    assert code is not None
    fulfilment.verify_service_order(repo=repos.orders, order_id=service["order_id"], code=code, admin="admin:li",
                                    now=NOW, uploads=uploads)
    paid_image = table.get(order_key(virtual["order_id"]))
    order_changes.on_order_changes(repo=repos.orders, changes=[order_changes.OrderChange(
        {**virtual, "status": "CREATED"}, paid_image)], now=NOW, uploads=uploads)
    for message in outbox.sent:
        deliver(repos, api, message)
    kinds = {u["out_trade_no"]: (u["logistics_type"], u["shipping_list"][0]["item_desc"])
             for u in json.loads(shipping_sandbox.list_uploads(None)[2])["uploads"]}
    assert kinds == {service["order_id"]: (4, "棉麻衬衫 1*1"), virtual["order_id"]: (3, "棉麻衬衫 1*1")}


def test_the_reconciler_uploads_what_wechat_still_waits_for(table: Table, repos: ShippingRepositories) -> None:
    shipped = paid_order(table)
    lost = paid_order(table)
    unshipped = paid_order(table)
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, lost["order_id"])  # its message was lost: PENDING, older than the stale age
    # shipped before uploads existed (no upload item): only WeChat's list says it waits
    table.update(order_key(shipped["order_id"]), "SET #s = :s, carrier = :c, tracking_no = :t, shipped_at = :at",
                 names={"#s": "status"}, values={":s": OrderStatus.SHIPPED, ":c": "SF", ":t": "SF777777",
                                                 ":at": iso(NOW)})
    result = reconcile(repos=repos, uploads=UploadRequests(repos.shipping, outbox), api=lambda: api,
                       now=NOW + timedelta(minutes=30))
    assert result.resent == 1 and result.waiting_on_wechat == 3 and result.not_ours_or_unshipped == 1
    for message in outbox.sent:
        deliver(repos, api, message, NOW + timedelta(minutes=31))
    waiting = {o.merchant_trade_no for o in api.get_order_list(order_state=1)[0]}
    assert waiting == {unshipped["order_id"]}
    assert api.uploads == 2  # lost and shipped once each, though lost was queued twice


def test_unknown_carrier_and_too_many_parcels_are_422_and_change_nothing(table: Table,
                                                                          repos: ShippingRepositories) -> None:
    order = paid_order(table, *[Line() for _ in range(16)])
    outbox = Outbox()
    with pytest.raises(InvalidInput) as unknown:
        ship(repos, outbox, order["order_id"], ParcelRequest("NOPE", "X12345"))
    assert [f.field for f in unknown.value.fields] == ["parcels.0.carrier_id"]
    with pytest.raises(InvalidInput) as many:
        ship(repos, outbox, order["order_id"], *[ParcelRequest("ZTO", f"ZT{i:05d}", (str(i + 1),)) for i in range(16)])
    assert many.value.fields[0].field == "parcels"
    stored = table.get(order_key(order["order_id"]))
    assert stored is not None and stored["status"] == "PAID" and outbox.sent == []
    assert repos.shipping.get(order["order_id"]) is None and repos.shipping.parcels(order["order_id"]) == ()


def test_a_shipped_order_is_corrected_once_with_wechats_one_change(table: Table,
                                                                   repos: ShippingRepositories) -> None:
    order = paid_order(table, Line(), Line())
    outbox, api = Outbox(), SandboxApi()
    ship(repos, outbox, order["order_id"], ParcelRequest("SF", "SF1001"))
    deliver(repos, api, outbox.sent[-1])
    corrected = (ParcelRequest("ZTO", "ZT3003", ("1",)), ParcelRequest("YTO", "YT4004", ("2",)))
    later = NOW + timedelta(hours=1)
    ship_parcels(ShipOrder(order_id=order["order_id"], parcels=corrected, admin="admin:li", now=later),
                 repos=repos, carriers=CARRIERS, uploads=UploadRequests(repos.shipping, outbox))
    assert outbox.sent[-1] == {"order_id": order["order_id"], "revision": 2}
    for message in (outbox.sent[-1], outbox.sent[-1]):
        state = deliver(repos, api, message, NOW + timedelta(hours=1, seconds=5))
    assert (state.status, state.revision, api.uploads) == (UploadStatus.UPLOADED, 2, 2)
    assert [(p.index, p.tracking_no) for p in repos.shipping.parcels(order["order_id"])] == \
        [(0, "ZT3003"), (1, "YT4004")]
    shipment = json.loads(shipping_sandbox.get_order({"transaction_id": order["transaction_id"]})[2])["order"]
    assert shipment["shipping"]["finish_shipping_count"] == 1
    with pytest.raises(Conflict) as used:
        ship(repos, outbox, order["order_id"], ParcelRequest("SF", "SF9009"))
    assert used.value.code == "shipment_change_used"
    assert len(repos.shipping.parcels(order["order_id"])) == 2 and api.uploads == 2
