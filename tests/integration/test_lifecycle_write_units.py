"""Write units of one order's lifecycle that stay pinned: the items a step writes and what DynamoDB
bills for them (a write per started KB of the item, twice inside a transaction, plus its index
entries), priced by the bench's meter (``bench._meter``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bench._meter import item_size
from mall.clock import iso
from mall.dal.keys import activity_key, activity_partition, promoter_key
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table, dynamodb_client, serialize
from mall.services.referral import ReferralRepositories
from mall.services.referral.levels import run_downgrades
from tests.integration.test_payment_snapshot import T0, World, _chain
from tests.integration.test_referral_paid_writes import written_keys
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration

KB = 1024


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    yield make_mall(monkeypatch)


def markers(table: Table) -> list[dict[str, Any]]:
    page = table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": "IDEMPOTENCY#PlaceOrderFunction"},
                             limit=None, consistent=True)
    return page.items


def test_the_order_answer_kept_for_its_idempotency_key_stays_under_one_kb_and_replays(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "PlaceOrderFunction")
    add_products(BOOK)
    _, token = customer_token()
    body = {"lines": [{"product_id": "book", "quantity": 2}], "address": ADDRESS}
    status, first = mall.place(token, body, key="order-key-units-1")
    assert status == 201 and first["payment"] is not None, first
    [marker] = markers(table)
    # 2 write units in the order's transaction instead of 4: the answer (order and payment
    # parameters, about 1 KB of JSON) is stored compressed.
    assert item_size(serialize(marker)) < KB
    status, again = mall.place(token, body, key="order-key-units-1")
    assert (status, again) == (201, first)


def sale_writes(world: World, order_id: str, now: datetime) -> list[tuple[str, str]]:
    """What the referral worker's sale transaction (the one with the order's counted marker) writes."""
    calls: list[list[tuple[str, str]]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append(written_keys(params, model.name))

    world.table.client.meta.events.register("before-parameter-build.dynamodb", seen, unique_id="activity-writes")
    try:
        world.referral_worker(order_id, now=now)
    finally:
        world.table.client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="activity-writes")
    [sale] = [keys for keys in calls if (f"REFERRAL_ORDER#{order_id}", "COUNTED") in keys]
    return sale


def test_a_sale_puts_a_promoters_activity_marker_only_when_today_has_none(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)  # both binds made A and B active today
    markers = [activity_key(b), activity_key(a)]
    marker_pairs = [(m["pk"], m["sk"]) for m in markers]
    first = world.pay(world.place(buyer))
    # Each marker is already in today's partition: 3 write units less per promoter (the put, twice
    # in the transaction, and its index entry); the sale still stamps the promoter item.
    assert not set(sale_writes(world, first, T0 + timedelta(hours=3))) & set(marker_pairs)
    for uid in (a, b):
        promoter = table.get(promoter_key(uid), consistent=True)
        assert promoter is not None and promoter["last_active_at"] == iso(T0 + timedelta(hours=3))
    # The next day's first sale moves them to that day's partition.
    tomorrow = T0 + timedelta(days=1)
    second = world.pay(world.place(buyer), now=tomorrow)
    assert set(marker_pairs) <= set(sale_writes(world, second, tomorrow))
    for marker in markers:
        item = table.get(marker, consistent=True)
        assert item is not None and item["gsi1pk"] == activity_partition(tomorrow.date().isoformat())


def test_the_downgrade_counts_idleness_from_the_latest_sale_of_the_markers_day(table: Table) -> None:
    world = World(table)
    _, b, buyer = _chain(world)
    first = world.pay(world.place(buyer))
    world.referral_worker(first, now=T0)  # lifts B to senior; B's marker is at T0
    promoters = PromoterRepository(table)
    assert promoters.get(b, consistent=True).level_id == "senior"  # type: ignore[union-attr]
    late = T0 + timedelta(hours=10)  # the same day
    second = world.pay(world.place(buyer), now=late)
    world.referral_worker(second, now=late)  # the marker keeps T0; B's own stamp is this sale's
    marker = table.get(activity_key(b), consistent=True)
    assert marker is not None and marker["last_active_at"] == iso(T0)
    days = SettingsRepository(table).current().settings.level_downgrade_inactive_days
    network = ReferralRepositories.on(table)
    assert run_downgrades(network=network, now=T0 + timedelta(days=days, hours=5)) == 0
    assert promoters.get(b, consistent=True).level_id == "senior"  # type: ignore[union-attr]
    assert run_downgrades(network=network, now=late + timedelta(days=days, hours=1)) == 1
    assert promoters.get(b, consistent=True).level_id == "basic"  # type: ignore[union-attr]


def test_the_ship_step_writes_23_units_and_the_receipt_5(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ship step as the bench's lifecycle runs it (the admin's route, then the upload worker's
    handler: WeChat's sandbox, one 顺丰 parcel subscribed), each write priced by the meter; the carrier
    list is cached already (the day's first shipment puts it: 1 more)."""
    from local import shipping_sandbox
    from mall.clock import utc_now
    from mall.config import get_settings
    from mall.dal.keys import customer_profile_key, order_key
    from mall.domain.tokens import Role
    from mall.services.shipping import ShippingRepositories, forget_carriers
    from tests.conftest import clear_caches
    from tests.integration.test_lifecycle_read_units import read_units
    from tests.integration.test_parcel_tracking import FakeProvider
    from tests.integration.test_shipment_units import _deliver, _placed_and_paid, _route, _upload_worker
    from tests.integration.test_shipping_uploads import CARRIERS, MCHID, SandboxApi
    from tests.unit.conftest import load_function

    clear_caches()
    shipping_sandbox.reset()
    mall = make_mall(monkeypatch)
    order_id = _placed_and_paid(mall)
    ShippingRepositories.on(table).shipping.cache_carriers(get_settings().wechat_app_id, CARRIERS, now=utc_now(),
                                                           ttl_seconds=3600)
    forget_carriers()
    functions = Table(table.name, client=dynamodb_client())  # the routes' own client
    shipped = read_units(functions, lambda: _route(load_function("admin_orders"), f"/admin/orders/{order_id}/ship",
                                               "admin:li", Role.ADMIN,
                                               body={"carrier": "顺丰速运", "tracking_no": "SF2002"}))
    # The order (2 + its gsi1 rewrite, gsi2 entry, gsi3 move), its history entry, the audit entry (2 + its
    # actor's and entity's entries), the parcel, the upload request (2 + its gsi1 entry).
    assert [(c["operation"], c["wcu"]) for c in shipped["calls"] if c["wcu"]] == [("TransactWriteItems", 17.0)]
    order = table.get(order_key(order_id), consistent=True)
    assert order is not None and order["status"] == "SHIPPED"
    buyer = table.get(customer_profile_key(str(order["buyer_id"])), consistent=True)
    assert buyer is not None
    shipping_sandbox.register_payment({"transaction_id": order["transaction_id"], "out_trade_no": order_id,
                                       "mchid": MCHID, "openid": buyer["openid"]})
    api, provider = SandboxApi(), FakeProvider()
    fn = _upload_worker(table, monkeypatch, api, provider)
    worked = read_units(table, lambda: _deliver(fn, {"order_id": order_id, "revision": 1}))
    # The lease (1 + its gsi1 rewrite), WeChat's answer (1 + its gsi1 move to UPLOADED), the parcel's
    # tracking item created subscribed (1; was its put before the provider call and an update after: 1 + 1).
    assert [(c["operation"], c["wcu"]) for c in worked["calls"] if c["wcu"]] == [
        ("UpdateItem", 2.0), ("UpdateItem", 3.0), ("UpdateItem", 1.0)]
    assert api.uploads == 1 and len(provider.subscribed) == 1
    assert shipped["wcu"] + worked["wcu"] == 23.0  # was 24.0
    confirmed = read_units(functions, lambda: _route(load_function("order_confirm_receipt"),
                                                 f"/orders/{order_id}/confirm-receipt", str(order["buyer_id"]),
                                                 Role.CUSTOMER))
    # The order alone: 1 + its gsi1 rewrite, its gsi2 (auto-confirm) entry leaving, its gsi3 move.
    assert [(c["operation"], c["wcu"]) for c in confirmed["calls"] if c["wcu"]] == [("UpdateItem", 5.0)]
