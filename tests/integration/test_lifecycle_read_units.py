"""Read units of one order's lifecycle that stay pinned, by the kind of item read: what a worker or a
route reads, billed by AWS's rules (4 KB units, half for an eventually consistent read, at least half a
unit per key asked for) as the bench's meter (``bench._meter``) counts them on DynamoDB Local."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import boto3
import pytest

from bench._meter import Index, Meter
from local import shipping_sandbox
from mall.dal.changes import Change
from mall.dal.keys import basis_key, commission_key, customer_profile_key, order_key, referral_counted_key
from mall.dal.notifications import NotificationRepository
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.tracking import TrackingRepository
from mall.domain.orders import Order
from mall.domain.shipping import ParcelRequest, UploadStatus
from mall.services import tracking
from mall.services.notifications import deliver_change
from mall.services.order_changes import UploadRequests
from mall.services.payments import PaymentRepositories, apply_payment
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.settlement import SettlementRepositories, plan, settle_slice
from mall.services.shipping import ShipOrder, ShippingRepositories, ship_parcels
from mall.services.shipping_uploads import upload_order
from tests.conftest import clear_caches, table_request
from tests.integration.test_commission_sync import complete, records, set_refunded
from tests.integration.test_parcel_tracking import FakeProvider
from tests.integration.test_payment_snapshot import MERCHANT, T0, World, _chain, _no_pay
from tests.integration.test_settlement_conditions import AFTER_DUE, UPLINE, paid_order
from tests.integration.test_settlement_conditions import complete as complete_order
from tests.integration.test_settlement_conditions import make_world as make_settlement_world
from tests.integration.test_settlement_conditions import record as settlement_record
from tests.integration.test_shipping_uploads import CARRIERS, MCHID, NOW, Outbox, SandboxApi
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    shipping_sandbox.reset()
    yield make_mall(monkeypatch)
    shipping_sandbox.reset()
    clear_caches()


def read_units(table: Table, work: Callable[[], Any]) -> dict[str, Any]:
    """The window summary (``rcu``, ``rcu_by_item_kind``, ``calls`` …) of what ``work`` does through
    ``table``'s client, measured by the bench's own meter."""
    indexes = [Index.from_template(ix, ("pk", "sk")) for ix in table_request()["GlobalSecondaryIndexes"]]  # type: ignore[attr-defined]
    meta = table.client.meta
    meter = Meter(lambda: boto3.client("dynamodb", endpoint_url=meta.endpoint_url, region_name=meta.region_name),
                  key_names=("pk", "sk"), indexes=indexes)
    meter._register(meta.events)
    try:
        with meter.window("measured") as window:
            meter.in_process("work", work)
    finally:
        meter.uninstall()
    return window.summary()


def test_a_paid_order_s_referral_worker_reads_the_settings_and_each_promoter_once(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)  # the buyer's first paid order: B is both the L1 and the paying invitee's parent
    order_id = world.pay(world.place(buyer))
    image = table.get(order_key(order_id), consistent=True)
    assert image is not None
    repos = OrderPaidRepositories.on(table)
    seen = read_units(table, lambda: on_order_paid(repos=repos, order=image, now=T0 + timedelta(hours=1)))
    kinds = seen["rcu_by_item_kind"]
    # The settings once per invocation (was once, then again for each promoter evaluated); each
    # promoter's level once after the sale's transaction (was B twice: as the L1 and as the invitee's
    # parent), eventually consistent when the read shows this sale counted (was consistent: 1 each).
    assert kinds["SETTINGS#/CURRENT"] == 0.5
    assert kinds["USER#/PROMOTER"] == 1.0
    assert [c["operation"] for c in seen["calls"] if c["rcu"]].count("GetItem") == 4  # settings, binding, A, B
    # The basis is not read: the attribution the payment wrote on the order (binding, no first-payment
    # claim) names the earners the basis holds.
    assert "ORDER#/COMMISSION_BASIS" not in kinds
    # The buyer's binding eventually consistent (was 1): the sale's writes hold only for it as read.
    assert kinds["USER#/BINDING"] == 0.5
    assert seen["rcu"] == 3.0  # the settings ½, the binding ½, the activity markers 2 × ½, the promoters 2 × ½
    assert world.level(b) == "senior" and world.level(a) == "basic"  # the upgrade still happens
    counted = table.get(referral_counted_key(order_id), consistent=True)
    assert counted is not None and (counted["l1_promoter_id"], counted["l2_promoter_id"]) == (b, a)


def test_the_notification_worker_reads_settings_only_for_a_change_that_notifies(table: Table) -> None:
    """The stream's changes of one order as the notification worker gets them: placed, paid, its first
    commission record created, completed. Only the record created is an event (commission earned)."""
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    placed = table.get(order_key(order_id), consistent=True)
    world.pay(order_id)
    paid = table.get(order_key(order_id), consistent=True)
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    created = records(table, order_id)[next(iter(records(table, order_id)))]
    record_item = table.get(commission_key(order_id, created.line_id, created.level), consistent=True)
    complete(table, order_id)
    completed = table.get(order_key(order_id), consistent=True)
    assert placed is not None and paid is not None and record_item is not None and completed is not None
    settings = SettingsRepository(table)
    repo, sender = NotificationRepository(table), lambda: None

    def deliver(old: dict[str, Any] | None, new: dict[str, Any], event_id: str) -> list[Any]:
        return deliver_change(Change(event_id, "MODIFY", "1", old, new),
                              settings=lambda: settings.current().settings.notifications, repo=repo,
                              openid_of=lambda _: None, sender=sender, now=T0)  # type: ignore[arg-type]

    changes: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [(None, placed), (placed, paid), (paid, completed)]
    for event_id, (old, new) in enumerate(changes):
        seen = read_units(table, partial(deliver, old, new, f"e{event_id}"))
        assert seen["rcu"] == 0, seen["rcu_by_item_kind"]  # was ½ each: the settings
    seen = read_units(table, lambda: deliver(None, record_item, "e9"))
    assert seen["rcu_by_item_kind"] == {"SETTINGS#/CURRENT": 0.5}  # an event: the settings in force, read afresh


def test_the_payment_reads_the_order_eventually_consistent(table: Table) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    tx = world.notification(order_id)
    seen = read_units(table, lambda: world.apply(tx))
    # The order item (under 4 KB) for ½ (was 1, consistent); the batches of the basis stay consistent.
    assert seen["rcu_by_item_kind"]["ORDER#/ORDER"] == 0.5
    assert _calls(seen, "GetItem") == 1
    assert world.records(order_id) == {} and table.get(basis_key(order_id), consistent=True) is not None


def _stale_reads(monkeypatch: pytest.MonkeyPatch, stale: Callable[[str], Order | None]) -> None:
    """An eventually consistent read of an order answers ``stale(order_id)``; consistent ones the truth."""
    real = OrderRepository.get

    def get(self: OrderRepository, order_id: str, *, consistent: bool = True) -> Order | None:
        return real(self, order_id, consistent=True) if consistent else stale(order_id)

    monkeypatch.setattr(OrderRepository, "get", get)


def test_a_payment_for_an_order_an_eventual_read_does_not_show_yet_is_recorded(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    _stale_reads(monkeypatch, lambda _: None)  # just placed: not visible to an eventual read yet
    world.pay(order_id)  # mark_paid, not "unknown order"
    order = OrderRepository(table).get(order_id)
    assert order is not None and order.status.value == "PAID"


def test_a_payment_decided_on_a_stale_unpaid_order_is_a_duplicate_and_writes_nothing(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    unpaid = OrderRepository(table).get(order_id)
    tx = world.notification(order_id)
    world.apply(tx)
    paid = table.get(order_key(order_id), consistent=True)
    profile = table.get(customer_profile_key(buyer), consistent=True)
    _stale_reads(monkeypatch, lambda _: unpaid)  # the redelivery reads the order as it was before the payment
    result = apply_payment(tx, repos=PaymentRepositories.on(table), merchant=MERCHANT, pay=_no_pay, now=T0,
                           source="webhook")
    assert result.decision.outcome.value == "duplicate"
    assert table.get(order_key(order_id), consistent=True) == paid
    assert table.get(customer_profile_key(buyer), consistent=True) == profile  # counted once


def shipped_by_sf(mall: Mall, table: Table) -> tuple[str, dict[str, Any]]:
    """A placed (the address in its item apart), paid order shipped by 顺丰 (whose upload and
    tracking need the receiver's phone); returns it and the upload's queue message."""
    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    order_id = str(placed["order_id"])
    assert mall.pay(order_id)[0] == 204
    outbox = Outbox()
    ship_parcels(ShipOrder(order_id=order_id, parcels=(ParcelRequest("SF", "SF1001"),), admin="admin:li", now=NOW),
                 repos=ShippingRepositories.on(table), carriers=CARRIERS,
                 uploads=UploadRequests(ShippingRepositories.on(table).shipping, outbox))
    order = table.get(order_key(order_id), consistent=True)
    assert order is not None and "address" not in order  # kept in its own item
    buyer = table.get(customer_profile_key(str(order["buyer_id"])), consistent=True)
    assert buyer is not None
    shipping_sandbox.register_payment({"transaction_id": order["transaction_id"], "out_trade_no": order_id,
                                       "mchid": MCHID, "openid": buyer["openid"]})
    return order_id, outbox.sent[0]


def test_the_shipping_upload_reads_the_order_once_and_its_answer_is_not_read_back(mall: Mall, table: Table) -> None:
    order_id, message = shipped_by_sf(mall, table)
    repos, api = ShippingRepositories.on(table), SandboxApi()
    answered: list[Any] = []
    seen = read_units(table, lambda: answered.append(
        upload_order(order_id, message["revision"], repos=repos, api=lambda: api, mchid=MCHID, now=NOW)))
    kinds = seen["rcu_by_item_kind"]
    # The receiver's phone: the address item alone (was the order again with it, in a BatchGetItem);
    # the upload's state as the answer's write returned it (was read again after it), and as the
    # lease's write returned it before (tests/integration/test_shipment_units.py).
    assert kinds["ORDER#/ORDER"] < 1.0 and kinds["ORDER#/ADDRESS"] == 1.0  # the order shares a Query
    assert "ORDER#/SHIPPING_UPLOAD" not in kinds
    # The upload is not read before its lease (the conditional write says what it was); the order and
    # its parcels are one Query; the profile for the openid and the address for 顺丰's phone as before.
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem", "GetItem"]
    assert seen["rcu"] == 2.5  # was 4.5
    # The lease rewrites the upload's index entry in place (1 + 1); the answer moves it to UPLOADED
    # (1 + a delete and a put).
    assert [c["wcu"] for c in seen["calls"] if c["operation"] == "UpdateItem"] == [2.0, 3.0]  # was [3.0, 3.0]
    [state] = answered
    assert api.uploads == 1 and state.status == UploadStatus.UPLOADED and state.errcode == 0
    assert state == repos.shipping.get(order_id)
    (uploaded,) = json.loads(shipping_sandbox.list_uploads(order_id)[2])["uploads"]
    assert uploaded["shipping_list"][0]["contact"] == {"receiver_contact": "138****1234"}


def test_the_tracking_subscription_reads_the_order_once(mall: Mall, table: Table) -> None:
    order_id, _ = shipped_by_sf(mall, table)
    provider = FakeProvider()
    seen = read_units(table, lambda: tracking.subscribe_order(
        repo=TrackingRepository(table), provider=provider, order_id=order_id, callback_url="https://x", now=NOW,
        orders=OrderRepository(table)))
    kinds = seen["rcu_by_item_kind"]
    # Was the order twice; now once, in the Query of its parcels.
    assert kinds["ORDER#/ORDER"] < 1.0 and kinds["ORDER#/ADDRESS"] == 1.0 and seen["rcu"] == 2.0
    assert [c["operation"] for c in seen["calls"] if c["rcu"]] == ["Query", "GetItem"]
    assert provider.phones == [ADDRESS["phone"]] and len(provider.subscribed) == 1


def test_the_commission_sync_reads_a_saved_settings_version_once_per_container(table: Table) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    first = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(minutes=1)))
    assert first["rcu_by_item_kind"]["SETTINGS#/V#"] == 0.5  # the version the order was priced with
    # The beneficiaries' holds, eventually consistent (½ each, was 1): the creation's transaction
    # commits only if each is still held or not as read.
    assert first["rcu_by_item_kind"]["USER#/RISK_HOLD"] == 1.0
    # The next change of the order (here a repeat): the version is immutable and kept.
    again = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(minutes=2)))
    assert "SETTINGS#/V#" not in again["rcu_by_item_kind"]
    assert again["rcu"] == 2.0  # only the order and its commission items, consistent


def _calls(seen: dict[str, Any], operation: str) -> int:
    return sum(1 for call in seen["calls"] if call["operation"] == operation)


def test_the_commission_sync_does_not_read_back_the_records_it_created(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    seen = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(minutes=1)))
    # The order and its commission items once (was twice: again after the creation, to confirm it).
    assert seen["rcu_by_item_kind"]["ORDER#/ORDER"] == 1.0
    assert (_calls(seen, "GetItem"), _calls(seen, "Query")) == (2, 1)  # the order, the settings version; the items
    created = records(table, order_id)
    assert {(k[1], r.beneficiary_id) for k, r in created.items()} == {(1, b), (2, a)}
    # Nothing was left to do: a repeat reads and writes nothing more.
    again = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(minutes=2)))
    assert again["wcu"] == 0 and records(table, order_id) == created


def test_the_commission_sync_does_not_read_back_the_due_dates_it_set(table: Table) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    complete(table, order_id)
    seen = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(days=1)))
    assert seen["rcu_by_item_kind"]["ORDER#/ORDER"] == 1.0  # was 2: read again after the due dates' writes
    due = records(table, order_id)
    assert len(due) == 2 and all(r.due_at is not None and r.version == 2 for r in due.values())
    again = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(days=2)))
    assert again["wcu"] == 0 and records(table, order_id) == due


def test_a_sync_that_creates_then_adjusts_reads_once_and_applies_each_change_once(table: Table) -> None:
    """An order completed and partly refunded before its first sync: the records are created, then
    given their due date and reduced, from what the creation wrote (no read in between)."""
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    order = table.get(order_key(order_id), consistent=True)
    assert order is not None
    complete(table, order_id)
    set_refunded(table, order_id, 0, int(order["lines"][0]["paid_fen"]) // 2)
    seen = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(days=1)))
    assert seen["rcu_by_item_kind"]["ORDER#/ORDER"] == 1.0  # was 3: after the creation and after the adjustments
    after = records(table, order_id)
    assert len(after) == 2
    for record in after.values():
        assert record.due_at is not None and record.cancelled_fen == record.amount_fen - record.current_fen > 0
        assert record.version == 2  # one adjustment each, not two
    again = read_units(table, lambda: world.commission_worker(order_id, now=T0 + timedelta(days=2)))
    assert again["wcu"] == 0 and records(table, order_id) == after


def test_one_order_s_settlement_reads_four_shard_queries_and_its_items_eventually_consistent(table: Table) -> None:
    """The lifecycle's settle step: the planner's Queries of the due index, then the worker's two
    BatchGetItem rounds (the two records with their order; the two promoters' wallets)."""
    make_settlement_world(table)
    paid_order(table, "o_settle", l2=UPLINE)
    complete_order(table, "o_settle")
    repos = SettlementRepositories.on(table)
    slices: list[dict[str, Any]] = []
    planned = read_units(table, lambda: plan(repos, as_of=AFTER_DUE, send=slices.extend))
    # One Query per shard of the due index, ½ each whatever it finds (was 16 shards: 8.0).
    assert _calls(planned, "Query") == 4 and planned["rcu"] == 2.0
    [message] = slices
    settled = read_units(table, lambda: settle_slice(repos, keys=message["keys"], as_of=AFTER_DUE, now=AFTER_DUE))
    kinds = settled["rcu_by_item_kind"]
    # ½ per item, eventually consistent (was 1, consistent): the transaction's conditions on each
    # record's version, each wallet's version and flags and the order's lines refuse a stale answer.
    assert kinds == {"ORDER#/COMMISSION#": 1.0, "ORDER#/ORDER": 0.5, "USER#/WALLET": 1.0}
    assert [c["rcu"] for c in settled["calls"] if c["operation"] == "BatchGetItem"] == [1.5, 1.0]  # was [3.0, 2.0]
    assert settled["rcu"] == 2.5
    assert {settlement_record(table, "o_settle", level=level).status for level in (1, 2)} == {"SETTLED"}
