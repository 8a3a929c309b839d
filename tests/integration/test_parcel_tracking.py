"""Parcel tracking on DynamoDB Local: a signed push stored through the webhook, a bad signature
changing nothing, repeats and out-of-order pushes, subscriptions once per parcel, the buyer's,
promoter's and admin's views with their authorisation and round trips, the admin's rate-limited
refresh, and a delivery moving the auto-confirm countdown."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.logistics_sandbox import china_time, push_form
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Page, Table
from mall.dal.tracking import TrackingRepository
from mall.domain.settings import DistributionSettings, OrderRules
from mall.domain.tokens import Role
from mall.domain.tracking import Parcel, Trail
from mall.errors import NotFound, TooManyRequests
from mall.integrations.tracking import TrackingProviderError
from mall.integrations.tracking.kuaidi100 import parse_result
from mall.services import fulfilment
from mall.services import tracking as service
from mall.services.order_changes import needs_subscription
from tests.at_once import after_first_read, run_at_once
from tests.conftest import bearer
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_fulfilment_factory import ADDRESS, put_order

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SALT = "test-kuaidi100-salt"  # tests/conftest.py's secrets
BUYER, PROMOTER, OTHER = "u_buyer_0001", "u_promoter_l1", "u_promoter_other"


class FakeProvider:
    """Stands in for the provider's network side (subscribe, query); pushes use the real verifier."""

    name = "fake"

    def __init__(self) -> None:
        self.subscribed: list[tuple[str, str]] = []
        self.phones: list[str | None] = []
        self.queried: list[str] = []
        self.fail_subscribe = False
        self.answer: Trail | None = None

    def subscribe(self, parcel: Parcel, *, callback_url: str, phone: str | None) -> None:
        if self.fail_subscribe:
            raise TrackingProviderError("refused: 700", code="tracking_subscription_refused")
        self.subscribed.append((parcel.tracking_no, callback_url))
        self.phones.append(phone)

    def query(self, parcel: Parcel, *, phone: str | None) -> Trail:
        self.queried.append(parcel.tracking_no)
        assert self.answer is not None
        return self.answer

    def verify_push(self, form: Any) -> Trail:
        from mall.integrations.tracking.kuaidi100 import verify_push
        return verify_push(form, salt=SALT)

    def acknowledgement(self) -> dict[str, object]:
        return {"result": True, "returnCode": "200", "message": "成功"}


def events(*pairs: tuple[datetime, str]) -> list[dict[str, str]]:
    return [{"time": china_time(t), "ftime": china_time(t), "context": c, "status": "在途"} for t, c in pairs]


def form(number: str, *steps: tuple[datetime, str], delivered: bool = False, salt: str = SALT) -> dict[str, str]:
    ordered = sorted(steps, reverse=True)
    return push_form(salt=salt, company="shunfeng", number=number, state=3 if delivered else 0, signed=delivered,
                     events=events(*ordered))


@pytest.fixture
def shipped(table: Table) -> Iterator[dict[str, Any]]:
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-10T08:00:00Z", carrier="SF",
                      tracking_no="SF100", gsi2pk="AUTOCONFIRM", gsi2sk="2026-11-10T08:00:00Z#x",
                      attribution={"l1_promoter_id": PROMOTER, "l2_promoter_id": None, "basis": "binding"})
    table.update({"pk": order["pk"], "sk": "ORDER"}, "SET gsi2sk = :sk",
                 values={":sk": f"2026-11-10T08:00:00Z#{order['order_id']}"})
    TrackingRepository(table).register(order["order_id"], Parcel(0, "SF", "SF100"), now=NOW)
    yield order


def webhook(fn: Any, order_id: str | None, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    event = http_event("POST", "/webhooks/tracking", raw_body=urllib.parse.urlencode(fields),
                       headers={"content-type": "application/x-www-form-urlencoded"})
    if order_id:
        event["queryStringParameters"] = {"order_id": order_id}
        event["rawQueryString"] = f"order_id={order_id}"
    result = fn.handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result["body"])


def trail_item(table: Table, order_id: str) -> dict[str, Any]:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": "PARCEL#T#SF100"}, consistent=True)
    assert item is not None
    return item


def test_a_signed_push_is_stored_and_a_bad_signature_changes_nothing(table: Table, shipped: dict[str, Any]) -> None:
    fn = load_function("tracking_webhook")
    oid = shipped["order_id"]
    before = trail_item(table, oid)
    status, body = webhook(fn, oid, form("SF100", (NOW, "已发出"), salt="forged"))
    assert status == 401 and body["result"] is False
    assert trail_item(table, oid) == before  # nothing written
    status, body = webhook(fn, oid, form("SF100", (NOW, "已发出")))
    assert (status, body) == (200, {"result": True, "returnCode": "200", "message": "成功"})
    stored = trail_item(table, oid)
    assert stored["state"] == 0 and stored["events"][0]["context"] == "已发出"
    assert stored["latest_at"] == "2026-11-22T08:00:00Z"
    status, body = webhook(fn, oid, form("SF999", (NOW, "别人的包裹")))  # not a parcel of this order
    assert status == 200 and table.get({"pk": f"ORDER#{oid}", "sk": "PARCEL#T#SF999"}) is None


def test_repeats_and_out_of_order_pushes_never_bring_an_older_trail_back(table: Table, shipped: dict[str, Any]) -> None:
    repo, settings = TrackingRepository(table), SettingsRepository(table)
    oid = shipped["order_id"]
    first = (NOW - timedelta(hours=5), "揽收")
    second = (NOW - timedelta(hours=2), "在途")
    third = (NOW, "派件")
    push = service.handle_push
    provider = FakeProvider()
    assert push(repo=repo, settings=settings, provider=provider, form=form("SF100", first, second, third),
                order_id=oid, now=NOW)
    assert not push(repo=repo, settings=settings, provider=provider, form=form("SF100", first, second, third),
                    order_id=oid, now=NOW)  # a repeat
    assert not push(repo=repo, settings=settings, provider=provider, form=form("SF100", first, second),
                    order_id=oid, now=NOW)  # a late, older push
    stored = trail_item(table, oid)
    assert [e["context"] for e in stored["events"]] == ["派件", "在途", "揽收"]
    assert push(repo=repo, settings=settings, provider=provider,
                form=form("SF100", first, second, third, (NOW + timedelta(hours=1), "签收"), delivered=True),
                order_id=oid, now=NOW)
    assert trail_item(table, oid)["signed_at"] == "2026-11-22T09:00:00Z"


def _settings(table: Table, mode: str) -> None:
    repo = SettingsRepository(table)
    current = repo.current()
    changed = DistributionSettings.model_validate(
        {**current.settings.model_dump(), "orders": OrderRules(auto_confirm_days=10, auto_confirm_from=mode)})  # type: ignore[arg-type]
    repo.save(changed, based_on=current.version, saved_by="admin:test", now=NOW)


@pytest.mark.parametrize("mode", ["delivery", "shipment"])
def test_a_delivery_moves_the_auto_confirm_countdown_when_set(table: Table, shipped: dict[str, Any], mode: str) -> None:
    _settings(table, mode)
    repo, settings, orders = TrackingRepository(table), SettingsRepository(table), OrderRepository(table)
    oid = shipped["order_id"]
    signed = NOW - timedelta(days=2)  # shipped 12 days before NOW, signed for 2 days before
    service.handle_push(repo=repo, settings=settings, provider=FakeProvider(), order_id=oid, now=NOW,
                        form=form("SF100", (signed - timedelta(days=1), "在途"), (signed, "签收"), delivered=True))
    order = orders.get(oid)
    assert order is not None and order.extra.get("delivered_at") == "2026-11-20T08:00:00Z"
    view = service.admin_tracking(repo=repo, settings=settings, order_id=oid)
    assert view.delivered_at == "2026-11-20T08:00:00Z" and view.auto_confirm is not None
    # The order views say the same as the tracking view.
    assert fulfilment.admin_order(repo=orders, order_id=oid, settings=settings).auto_confirm == view.auto_confirm
    result = fulfilment.auto_confirm(repo=orders, settings=settings, now=NOW)
    if mode == "shipment":
        assert view.auto_confirm.runs_from == "shipment" and view.auto_confirm.ends_at == "2026-11-20T08:00:00Z"
        assert result.completed == 1
        return
    assert view.auto_confirm.runs_from == "delivery" and view.auto_confirm.ends_at == "2026-11-30T08:00:00Z"
    assert result.completed == 0 and orders.get(oid).status == "SHIPPED"  # type: ignore[union-attr]
    # a repeated delivered push does not move it again
    service.handle_push(repo=repo, settings=settings, provider=FakeProvider(), order_id=oid, now=NOW,
                        form=form("SF100", (signed - timedelta(days=1), "在途"), (signed, "签收"),
                                  (NOW, "再次签收"), delivered=True))
    assert orders.get(oid).extra["gsi2sk"].startswith("2026-11-20T08:00:00Z")  # type: ignore[union-attr]
    later = fulfilment.auto_confirm(repo=orders, settings=settings, now=signed + timedelta(days=10, seconds=1))
    assert later.completed == 1 and orders.get(oid).status == "COMPLETED"  # type: ignore[union-attr]
    bundle = orders.bundle(oid)
    assert bundle is not None and bundle.history[-1].note == "confirmed automatically 10 days after delivery"


def test_the_schedule_decides_on_the_order_not_on_an_index_entry_a_delivery_has_moved(
        table: Table, shipped: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery restarts the countdown on the order item; the schedule, handed the entry as it was
    before (an index lagging behind the order), reads the order and leaves it for a later run."""
    _settings(table, "delivery")
    orders, oid = OrderRepository(table), shipped["order_id"]
    stale = orders.due_for_auto_confirm(NOW - timedelta(days=10), limit=10).items
    assert [entry["order_id"] for entry in stale] == [oid]  # shipped 12 days before NOW: due from the shipment
    assert TrackingRepository(table).restart_countdown(orders.get(oid), delivered_at="2026-11-20T08:00:00Z")  # type: ignore[arg-type]
    monkeypatch.setattr(OrderRepository, "due_for_auto_confirm",
                        lambda self, cutoff, **kwargs: Page(items=stale, last_key=None))
    result = fulfilment.auto_confirm(repo=orders, settings=SettingsRepository(table), now=NOW)
    assert (result.completed, result.skipped) == (0, 1) and orders.get(oid).status == "SHIPPED"  # type: ignore[union-attr]


def test_a_delivery_recorded_after_the_schedule_read_the_order_leaves_it_shipped(
        table: Table, shipped: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _settings(table, "delivery")
    orders, oid = OrderRepository(table), shipped["order_id"]
    before = orders.get(oid)
    assert before is not None
    moved = after_first_read(monkeypatch, OrderRepository, "get", lambda: TrackingRepository(table).restart_countdown(
        before, delivered_at="2026-11-20T08:00:00Z"))
    result = fulfilment.auto_confirm(repo=orders, settings=SettingsRepository(table), now=NOW)
    assert moved == [True]
    assert (result.completed, result.skipped) == (0, 1)
    order = orders.get(oid)
    assert order is not None and order.status == "SHIPPED" and order.extra["gsi2sk"].startswith("2026-11-20")


def test_each_parcel_is_subscribed_once_and_a_refusal_is_recorded(table: Table) -> None:
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-20T08:00:00Z", carrier="YTO",
                      tracking_no="YT1")
    repo, provider = TrackingRepository(table), FakeProvider()
    provider.fail_subscribe = True
    with pytest.raises(TrackingProviderError):
        service.subscribe_order(repo=repo, provider=provider, order_id=order["order_id"],
                                callback_url="https://api.example/webhooks/tracking", now=NOW)
    stored = table.get({"pk": f"ORDER#{order['order_id']}", "sk": "PARCEL#T#YT1"})
    assert stored is not None and "subscribed_at" not in stored and "700" in stored["subscribe_error"]
    provider.fail_subscribe = False
    for _ in range(3):  # the queue redelivers
        service.subscribe_order(repo=repo, provider=provider, order_id=order["order_id"],
                                callback_url="https://api.example/webhooks/tracking", now=NOW)
    assert provider.subscribed == [("YT1", f"https://api.example/webhooks/tracking?order_id={order['order_id']}")]
    stored = table.get({"pk": f"ORDER#{order['order_id']}", "sk": "PARCEL#T#YT1"})
    assert stored is not None and stored["subscribed_at"] and "subscribe_error" not in stored
    paid = put_order(table, status="PAID")
    assert service.subscribe_order(repo=repo, provider=provider, order_id=paid["order_id"],
                                   callback_url="https://x", now=NOW) == 0


def test_a_carrier_that_needs_the_phone_gets_the_receivers_only(table: Table) -> None:
    repo, orders, provider = TrackingRepository(table), OrderRepository(table), FakeProvider()
    for carrier, number in (("SF", "SF9"), ("ZTO", "ZT9")):
        order = put_order(table, status="SHIPPED", shipped_at="2026-11-20T08:00:00Z", carrier=carrier,
                          tracking_no=number)
        service.subscribe_order(repo=repo, provider=provider, order_id=order["order_id"], callback_url="https://x",
                                now=NOW, orders=orders)
    assert provider.phones == [ADDRESS["phone"], None]


def test_the_stream_sends_an_order_to_subscription_when_it_ships(table: Table) -> None:
    paid = put_order(table, status="PAID")
    shipped = {**paid, "status": "SHIPPED", "carrier": "SF", "tracking_no": "SF1", "shipped_at": "2026-11-22T08:00:00Z"}
    assert needs_subscription(paid, shipped)
    assert not needs_subscription(shipped, {**shipped, "version": 9})
    assert not needs_subscription(None, paid)


def test_views_answer_only_their_own_and_mask_for_promoters(table: Table, shipped: dict[str, Any]) -> None:
    repo, settings = TrackingRepository(table), SettingsRepository(table)
    oid = shipped["order_id"]
    service.handle_push(repo=repo, settings=settings, provider=FakeProvider(), order_id=oid, now=NOW,
                        form=form("SF100", (NOW, "【上海市】已签收，签收人：张三丰，电话 13900139000"), delivered=True))
    mine = service.buyer_tracking(repo=repo, settings=settings, buyer_id=BUYER, order_id=oid)
    assert mine.parcels[0].state == "delivered" and "张三丰" in mine.parcels[0].events[0].context
    assert mine.buyer is None
    with pytest.raises(NotFound):
        service.buyer_tracking(repo=repo, settings=settings, buyer_id="u_else", order_id=oid)
    theirs = service.promoter_tracking(repo=repo, settings=settings, promoter_id=PROMOTER, order_id=oid)
    assert theirs.buyer == "u_bu****0001"
    assert theirs.parcels[0].events[0].context == "【上海市】已签收，签收人：张**，电话 139****9000"
    with pytest.raises(NotFound):
        service.promoter_tracking(repo=repo, settings=settings, promoter_id=OTHER, order_id=oid)
    with pytest.raises(NotFound):
        service.admin_tracking(repo=repo, settings=settings, order_id="o_missing")


def _get(fn: Any, route: str, order_id: str, *roles: Role, subject: str) -> tuple[int, dict[str, Any]]:
    path = route.format(order_id=order_id)
    event = http_event(route.split(" ", maxsplit=1)[0], path.split(" ", 1)[1], headers=bearer(subject, *roles))
    event["routeKey"] = route
    event["pathParameters"] = {"order_id": order_id}
    result = fn.handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result["body"])


def test_customer_and_promoter_routes_take_at_most_three_round_trips(table: Table, shipped: dict[str, Any]) -> None:
    fn = load_function("orders_read")
    oid = shipped["order_id"]
    trips = Trips()
    status, body = trips.of(lambda: _get(fn, "GET /orders/{order_id}/tracking", oid, Role.CUSTOMER, subject=BUYER))
    assert status == 200 and body["parcels"][0]["tracking_no"] == "SF100" and body["auto_confirm"]["days"] == 10
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, body = trips.of(lambda: _get(fn, "GET /promoter/orders/{order_id}/tracking", oid, Role.CUSTOMER,
                                         Role.PROMOTER, subject=PROMOTER))
    assert status == 200 and body["buyer"] == "u_bu****0001"
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, body = _get(fn, "GET /promoter/orders/{order_id}/tracking", oid, Role.CUSTOMER, Role.PROMOTER,
                        subject=OTHER)
    assert status == 404
    # The order's own view says when the countdown ends, within the same class of round trips.
    status, body = trips.of(lambda: _get(fn, "GET /orders/{order_id}", oid, Role.CUSTOMER, subject=BUYER))
    assert status == 200 and body["auto_confirm"] == {**body["auto_confirm"], "days": 10, "runs_from": "shipment"}
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, body = _get(fn, "GET /orders/{order_id}/tracking", oid, Role.CUSTOMER, subject="u_else")
    assert status == 404
    status, _ = _get(fn, "GET /promoter/orders/{order_id}/tracking", oid, Role.CUSTOMER, subject=BUYER)
    assert status == 403


def test_the_admin_refresh_asks_once_per_parcel_per_window(table: Table, shipped: dict[str, Any]) -> None:
    repo, settings, provider = TrackingRepository(table), SettingsRepository(table), FakeProvider()
    oid = shipped["order_id"]
    provider.answer = parse_result({"state": "5", "ischeck": "0", "com": "shunfeng", "nu": "SF100",
                                    "data": events((NOW, "派件中"))})
    view = service.refresh_tracking(repo=repo, settings=settings, provider=provider, order_id=oid, now=NOW)
    assert view.parcels[0].state == "out_for_delivery" and provider.queried == ["SF100"]
    with pytest.raises(TooManyRequests):
        service.refresh_tracking(repo=repo, settings=settings, provider=provider, order_id=oid,
                                 now=NOW + timedelta(minutes=10))
    assert provider.queried == ["SF100"]
    service.refresh_tracking(repo=repo, settings=settings, provider=provider, order_id=oid,
                             now=NOW + timedelta(minutes=31))
    assert provider.queried == ["SF100", "SF100"]


ADMIN_AND_WEBHOOK_TRIPS = 5  # bench/_route_classes.py: admin routes and signed webhooks


def test_a_push_and_a_refresh_stay_within_their_round_trips(table: Table, shipped: dict[str, Any]) -> None:
    repo, settings, provider = TrackingRepository(table), SettingsRepository(table), FakeProvider()
    oid = shipped["order_id"]
    trips = Trips(table.client)
    provider.answer = parse_result({"state": "0", "ischeck": "0", "com": "shunfeng", "nu": "SF100",
                                    "data": events((NOW, "运输中"))})
    view = trips.of(lambda: service.refresh_tracking(repo=repo, settings=settings, provider=provider, order_id=oid,
                                                     now=NOW))
    assert view.parcels[0].state == "in_transit" and view.parcels[0].events[0].context == "运输中"
    assert len(trips.sent) <= ADMIN_AND_WEBHOOK_TRIPS, trips.sent
    delivered = form("SF100", (NOW, "运输中"), (NOW + timedelta(hours=3), "签收"), delivered=True)
    assert trips.of(lambda: service.handle_push(repo=repo, settings=settings, provider=provider, form=delivered,
                                                order_id=oid, now=NOW))
    assert len(trips.sent) <= ADMIN_AND_WEBHOOK_TRIPS, trips.sent
    trips.of(lambda: service.handle_push(repo=repo, settings=settings, provider=provider, form=delivered,
                                         order_id=oid, now=NOW))
    assert len(trips.sent) == 1, trips.sent  # a repeat: one conditional write, refused


def test_a_push_before_the_subscription_is_recorded_is_stored_and_the_record_keeps_it(table: Table) -> None:
    """The worker writes the parcel's item once, after the provider accepted: a push answering the
    subscription before that write finds the parcel among the order's and creates the item."""
    _settings(table, "delivery")
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-10T08:00:00Z", carrier="SF",
                      tracking_no="SF100", gsi2pk="AUTOCONFIRM", gsi2sk="2026-11-10T08:00:00Z#x")
    oid = order["order_id"]
    repo, settings, orders = TrackingRepository(table), SettingsRepository(table), OrderRepository(table)
    signed = NOW - timedelta(hours=1)
    pushed = form("SF100", (signed - timedelta(days=1), "在途"), (signed, "签收"), delivered=True)

    class PushesAtOnce(FakeProvider):
        def subscribe(self, parcel: Parcel, *, callback_url: str, phone: str | None) -> None:
            super().subscribe(parcel, callback_url=callback_url, phone=phone)
            assert service.handle_push(repo=repo, settings=settings, provider=self, form=pushed, order_id=oid,
                                       now=NOW)  # stored, though the worker has not written the parcel yet

    provider = PushesAtOnce()
    assert service.subscribe_order(repo=repo, provider=provider, order_id=oid, callback_url="https://x",
                                   now=NOW) == 1
    stored = trail_item(table, oid)
    # The push's trail, kept by the worker's record of the subscription, which completed the item.
    assert stored["signed_at"] == "2026-11-22T07:00:00Z" and stored["events"][0]["context"] == "签收"
    assert stored["subscribed_at"] == "2026-11-22T08:00:00Z" and stored["provider"] == "fake"
    assert (stored["entity"], stored["order_id"], stored["parcel_index"], stored["carrier"]) == (
        "parcel_trail", oid, 0, "SF")
    delivered = orders.get(oid)
    assert delivered is not None and delivered.extra.get("delivered_at") == "2026-11-22T07:00:00Z"
    # A repeat changes nothing; a parcel that is not the order's gets no item.
    assert not service.handle_push(repo=repo, settings=settings, provider=provider, form=pushed, order_id=oid,
                                   now=NOW)
    assert not service.handle_push(repo=repo, settings=settings, provider=provider,
                                   form=form("SF999", (NOW, "别人的包裹")), order_id=oid, now=NOW)
    assert table.get({"pk": f"ORDER#{oid}", "sk": "PARCEL#T#SF999"}) is None
    assert len(provider.subscribed) == 1


def test_a_push_for_a_parcel_of_the_order_with_no_item_yet_is_stored(table: Table) -> None:
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-10T08:00:00Z", carrier="SF",
                      tracking_no="SF100")
    oid = order["order_id"]
    fn = load_function("tracking_webhook")
    status, body = webhook(fn, oid, form("SF100", (NOW, "已揽收")))
    assert (status, body["result"]) == (200, True)
    stored = trail_item(table, oid)
    assert stored["events"][0]["context"] == "已揽收" and "subscribed_at" not in stored
    assert (stored["entity"], stored["order_id"], stored["parcel_index"], stored["carrier"]) == (
        "parcel_trail", oid, 0, "SF")


def test_a_first_push_that_completes_the_delivery_stays_within_the_webhook_s_round_trips(table: Table) -> None:
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-10T08:00:00Z", carrier="SF",
                      tracking_no="SF100", gsi2pk="AUTOCONFIRM", gsi2sk="2026-11-10T08:00:00Z#x")
    oid = order["order_id"]
    repo, settings, trips = TrackingRepository(table), SettingsRepository(table), Trips(table.client)
    delivered = form("SF100", (NOW - timedelta(hours=3), "运输中"), (NOW, "签收"), delivered=True)
    assert trips.of(lambda: service.handle_push(repo=repo, settings=settings, provider=FakeProvider(),
                                                form=delivered, order_id=oid, now=NOW))
    # The refused write, the order's parcels, the item's put (its one parcel: no read after it), the
    # settings, the order's update.
    assert trips.sent == ["UpdateItem", "Query", "PutItem", "GetItem", "UpdateItem"], trips.sent
    assert len(trips.sent) <= ADMIN_AND_WEBHOOK_TRIPS
    assert OrderRepository(table).get(oid).extra.get("delivered_at") == "2026-11-22T08:00:00Z"  # type: ignore[union-attr]


def test_first_pushes_of_two_parcels_signed_at_once_record_the_delivery(table: Table) -> None:
    """Neither parcel has an item: each push creates its own; the delivery is decided from a read
    after each write, so two pushes at once cannot each miss the other's signing."""
    order = put_order(table, buyer_id=BUYER, status="SHIPPED", shipped_at="2026-11-10T08:00:00Z", carrier="SF",
                      tracking_no="SF100", gsi2pk="AUTOCONFIRM", gsi2sk="2026-11-10T08:00:00Z#x")
    oid = order["order_id"]
    for index, number in enumerate(("SF100", "SF200")):
        table.put({"pk": f"ORDER#{oid}", "sk": f"PARCEL#{index:02d}", "entity": "parcel", "order_id": oid,
                   "parcel_index": index, "carrier_id": "SF", "tracking_no": number, "line_ids": []})
    repo, settings = TrackingRepository(table), SettingsRepository(table)

    def push(number: str, at: datetime) -> Callable[[], bool]:
        pushed = form(number, (at - timedelta(hours=3), "运输中"), (at, "签收"), delivered=True)
        return lambda: service.handle_push(repo=repo, settings=settings, provider=FakeProvider(), form=pushed,
                                           order_id=oid, now=NOW)

    assert run_at_once([push("SF100", NOW - timedelta(hours=1)), push("SF200", NOW)]) == [True, True]
    assert {trail_item_of(table, oid, n)["signed_at"] for n in ("SF100", "SF200")} == {
        "2026-11-22T07:00:00Z", "2026-11-22T08:00:00Z"}
    assert OrderRepository(table).get(oid).extra.get("delivered_at") == "2026-11-22T08:00:00Z"  # type: ignore[union-attr]


def trail_item_of(table: Table, order_id: str, number: str) -> dict[str, Any]:
    item = table.get({"pk": f"ORDER#{order_id}", "sk": f"PARCEL#T#{number}"}, consistent=True)
    assert item is not None
    return item
