"""Unpaid orders are found in the admin's by-status list, gsi3 ``ORDERS#CREATED`` sorted by creation,
at every stage of the by-status list that reads gsi3: the expiry asks for the orders placed the
shortest window an order still unpaid may carry before its cut-off, the reconciliation for those
placed its minimum age before. A placement enters gsi2 ``UNPAID_ORDERS`` only while the deploy can go
back to the stage that reads it (``ORDER_STATUS_LIST``, docs/runbook.md). Writes priced by the bench's
meter (``bench._meter``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bench._meter import item_size
from mall.clock import utc_now
from mall.config import OrderStatusList
from mall.dal.keys import order_key
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table, serialize
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.payment_jobs import JobReport, expire_due_orders, reconcile_unpaid, shortest_unpaid_window
from mall.services.payments import PaymentRepositories
from tests.conftest import clear_caches
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_orders_concurrency import MERCHANT, NOTIFY_URL, World
from tests.integration.test_purchase_counter_units import placing_transaction, priced
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration

NOW = utc_now().replace(microsecond=0)
WINDOW = 30  # the settings' default unpaid_expiry_minutes


@pytest.fixture
def world(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("ORDER_STATUS_LIST", raising=False)
    clear_caches()
    world = World(table)
    world.add_product("p1", 100)
    yield world
    clear_caches()


def place(world: World, at: datetime, *, buyer: int = 1) -> str:
    """An order of one unit placed at ``at`` under the window in force now."""
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p1", quantity=1)])
    return place_order(PlaceOrder(request=request, buyer_id=world.buyer(buyer), now=at),
                       repos=PlacementRepositories.on(world.table), pay=world.pay, notify_url=NOTIFY_URL).order_id


def expire(world: World, at: datetime, *, stage: OrderStatusList = "index", limit: int = 200) -> JobReport:
    repos = PaymentRepositories.on(world.table)
    repos = PaymentRepositories(orders=OrderRepository(world.table, status_list=stage), refunds_of=repos.refunds_of,
                                snapshots=repos.snapshots, payouts_of=repos.payouts_of, risk_of=repos.risk_of)
    return expire_due_orders(repos=repos, products=world.products, merchant=MERCHANT, pay=world.pay, now=at,
                             limit=limit)


def stored(table: Table, order_id: str) -> dict[str, Any]:
    item = table.get(order_key(order_id), consistent=True)
    assert item is not None
    return item


def status(table: Table, order_id: str) -> str:
    return str(stored(table, order_id)["status"])


def set_window(table: Table, minutes: int, *, at: datetime) -> None:
    repo = SettingsRepository(table)
    current = repo.current(consistent=True)
    orders = current.settings.orders.model_copy(update={"unpaid_expiry_minutes": minutes})
    repo.save(current.settings.model_copy(update={"orders": orders}), based_on=current.version,
              saved_by="admin:alice", now=at)


# ---- the units ---------------------------------------------------------------------------------------

@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


@pytest.mark.parametrize(("stage", "units_of_the_order"), [
    ("index", (4, 5)),  # the default, the last stage
    ("index-with-entries", (5, 6)),
    ("entries", (5, 6)),
])
def test_placing_and_paying_write_the_gsi2_entry_only_while_the_deploy_can_go_back_to_it(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch, stage: OrderStatusList,
        units_of_the_order: tuple[int, int]) -> None:
    place_units, pay_units = units_of_the_order
    monkeypatch.setenv("ORDER_STATUS_LIST", stage)
    add_products(BOOK)
    _, token = customer_token()
    (code, placed), units = priced(table, lambda: mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}],
                                                                   "address": ADDRESS}))
    assert code == 201, placed
    order_id = str(placed["order_id"])
    # The order's put in the placing transaction: 2 + its gsi1 and gsi3 entries (+ gsi2 while it enters it).
    assert placing_transaction(units)["ORDER"] == place_units
    item = stored(table, order_id)
    assert item["gsi3pk"] == "ORDERS#CREATED"
    if stage == "index":
        assert "gsi2pk" not in item and "gsi2sk" not in item
        # The order item is 70 bytes smaller (the two keys with a 24-character order id).
        entry = {"gsi2pk": "UNPAID_ORDERS", "gsi2sk": f"{item['expires_at_order']}#{order_id}"}
        assert item_size(serialize({**item, **entry})) - item_size(serialize(item)) == 70
    else:
        assert (item["gsi2pk"], item["gsi2sk"]) == ("UNPAID_ORDERS", f"{item['expires_at_order']}#{order_id}")
    (code, _), paid = priced(table, lambda: mall.pay(order_id))
    assert code == 204
    # The payment's update of the order: 2 + its gsi1 rewrite and gsi3 move (+ gsi2 while it leaves it).
    assert paid[("TransactWriteItems", "ORDER")] == pay_units
    assert "gsi2pk" not in stored(table, order_id)


# ---- the expiry --------------------------------------------------------------------------------------

def test_the_expiry_finds_due_orders_in_the_status_list_and_those_placed_by_the_code_before(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    due = place(world, NOW - timedelta(minutes=WINDOW + 1))
    within = place(world, NOW - timedelta(minutes=WINDOW - 1))
    monkeypatch.setenv("ORDER_STATUS_LIST", "entries")  # placed by the code before: in gsi2 as well
    before = place(world, NOW - timedelta(minutes=WINDOW + 10))
    monkeypatch.delenv("ORDER_STATUS_LIST")
    assert stored(world.table, before)["gsi2pk"] == "UNPAID_ORDERS"
    assert "gsi2pk" not in stored(world.table, due) and "gsi2pk" not in stored(world.table, within)
    assert world.stock("p1") == 97

    report = expire(world, NOW)
    assert (report.examined, report.expired, report.unchanged) == (2, 2, 0)
    assert status(world.table, due) == status(world.table, before) == "EXPIRED"
    assert status(world.table, within) == "CREATED"
    assert "gsi2pk" not in stored(world.table, before)  # the expiry's update removes it
    assert world.stock("p1") == 99
    again = expire(world, NOW)  # an overlapping or repeated run finds nothing more
    assert (again.examined, again.expired) == (0, 0) and world.stock("p1") == 99
    assert expire(world, NOW + timedelta(minutes=2)).expired == 1 and world.stock("p1") == 100


@pytest.mark.parametrize(("stage", "settings_read", "expiry_units"), [
    ("index", [("GetItem", 0.5)], 8.0),
    ("entries", [], 9.0),
])
def test_what_an_expiry_run_reads_and_writes(world: World, monkeypatch: pytest.MonkeyPatch, stage: OrderStatusList,
                                              settings_read: list[tuple[str, float]], expiry_units: float) -> None:
    """Priced by the bench's meter: two orders due, one not. From gsi3 the run first reads the window in
    force (one eventually consistent GetItem); the Query page is the same half unit either way. Each
    expiry's transaction writes 1 unit less on an order that is in no gsi2 partition."""
    monkeypatch.setenv("ORDER_STATUS_LIST", stage)
    for minutes in (WINDOW + 3, WINDOW + 2, WINDOW - 1):
        place(world, NOW - timedelta(minutes=minutes))
    run = read_units(world.table, lambda: expire(world, NOW, stage=stage))
    # Then per order the consistent read the expiry makes anyway and its transaction; at the end the
    # released product's stock flags (one BatchGetItem).
    assert [(c["operation"], c["rcu"]) for c in run["calls"] if c["rcu"]] == [
        *settings_read, ("Query", 0.5), ("GetItem", 1.0), ("GetItem", 1.0), ("BatchGetItem", 2.0)]
    assert [c["wcu"] for c in run["calls"] if c["wcu"]] == [expiry_units] * 2


def test_the_expiry_pages_through_due_orders_oldest_first(world: World) -> None:
    orders = [place(world, NOW - timedelta(minutes=WINDOW + 10 - i), buyer=i) for i in range(5)]
    repo = OrderRepository(world.table)
    until = NOW - timedelta(minutes=WINDOW)
    assert [m.order_id for m in repo.unpaid_due(placed_until=until, expiring_until=NOW, limit=3)] == orders[:3]
    first = expire(world, NOW, limit=2)
    assert (first.examined, first.expired) == (2, 2)
    assert [status(world.table, o) for o in orders] == ["EXPIRED"] * 2 + ["CREATED"] * 3
    assert expire(world, NOW, limit=2).expired == 2
    assert expire(world, NOW, limit=2).expired == 1
    assert all(status(world.table, o) == "EXPIRED" for o in orders) and world.stock("p1") == 100


def test_a_lengthened_window_still_expires_the_orders_placed_before_it_on_time(world: World) -> None:
    """30 → 60 minutes 20 minutes ago: an order placed under 30 is expired at its own expires_at_order
    (WeChat Pay refuses its payment from then), not 60 minutes after its placement."""
    old = place(world, NOW - timedelta(minutes=35))  # expires 5 minutes ago
    set_window(world.table, 60, at=NOW - timedelta(minutes=20))
    new = place(world, NOW - timedelta(minutes=15))  # expires in 45 minutes
    assert shortest_unpaid_window(SettingsRepository(world.table), NOW) == WINDOW
    report = expire(world, NOW)
    assert (report.examined, report.expired) == (1, 1)
    assert status(world.table, old) == "EXPIRED" and status(world.table, new) == "CREATED"
    # Within a window of the change, an order placed under 60 is read early and left until it is due.
    early = expire(world, NOW + timedelta(minutes=20))
    assert (early.examined, early.expired, early.unchanged) == (1, 0, 1)
    assert status(world.table, new) == "CREATED"
    # A window after the change only 60 applies: the order is asked about once it is due.
    assert shortest_unpaid_window(SettingsRepository(world.table), NOW + timedelta(minutes=42)) == 60
    assert expire(world, NOW + timedelta(minutes=44)).examined == 0
    assert expire(world, NOW + timedelta(minutes=45)).expired == 1 and status(world.table, new) == "EXPIRED"


def test_a_shortened_window_leaves_the_orders_placed_before_it_until_they_are_due(world: World) -> None:
    """60 → 30 minutes: an order placed under 60 comes back once 30 minutes old and is left (on the
    consistent read the expiry makes anyway) until its own expires_at_order."""
    set_window(world.table, 60, at=NOW - timedelta(hours=3))
    long = place(world, NOW - timedelta(minutes=55))  # expires in 5 minutes
    set_window(world.table, 30, at=NOW - timedelta(minutes=50))
    short = place(world, NOW - timedelta(minutes=31))  # expired a minute ago
    assert shortest_unpaid_window(SettingsRepository(world.table), NOW) == WINDOW
    report = expire(world, NOW)
    assert (report.examined, report.expired, report.unchanged) == (2, 1, 1)
    assert status(world.table, long) == "CREATED" and status(world.table, short) == "EXPIRED"
    assert expire(world, NOW + timedelta(minutes=5)).expired == 1 and status(world.table, long) == "EXPIRED"


def test_an_order_placed_just_after_a_change_may_carry_the_window_before_it(world: World) -> None:
    """A placement's read of the settings is eventually consistent: for a minute after a change the
    window before it is asked with too."""
    set_window(world.table, 10, at=NOW - timedelta(hours=3))
    set_window(world.table, 60, at=NOW - timedelta(minutes=60, seconds=30))
    assert shortest_unpaid_window(SettingsRepository(world.table), NOW) == 10
    assert shortest_unpaid_window(SettingsRepository(world.table), NOW + timedelta(minutes=1)) == 60


# ---- the reconciliation ------------------------------------------------------------------------------

def test_the_reconciliation_asks_about_orders_old_enough_and_not_younger_ones(world: World) -> None:
    old = place(world, NOW - timedelta(minutes=10))
    young = place(world, NOW - timedelta(minutes=2), buyer=2)
    for order_id in (old, young):
        world.sandbox.pay(order_id)  # paid at WeChat Pay; neither notification arrived
    report = reconcile_unpaid(repos=PaymentRepositories.on(world.table), merchant=MERCHANT, pay=world.pay,
                              min_age_seconds=300, now=NOW, horizon_until=NOW + timedelta(days=1), as_of=NOW)
    assert (report.examined, report.paid) == (1, 1)
    assert status(world.table, old) == "PAID" and status(world.table, young) == "CREATED"


# ---- the deploy stages -------------------------------------------------------------------------------

def test_while_the_status_entries_are_read_the_schedules_read_gsi2_as_before(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_STATUS_LIST", "entries")
    due = place(world, NOW - timedelta(minutes=WINDOW + 1))
    within = place(world, NOW - timedelta(minutes=WINDOW - 1))
    item = stored(world.table, due)
    assert (item["gsi2pk"], item["gsi2sk"]) == ("UNPAID_ORDERS", f"{item['expires_at_order']}#{due}")
    # Before the gsi3 backfill an order written earlier has no gsi3 key: the expiry reads gsi2, by expiry
    # time, and reads no settings.
    world.table.update(order_key(due), "REMOVE gsi3pk")
    run = read_units(world.table, lambda: expire(world, NOW, stage="entries"))
    assert next(c["operation"] for c in run["calls"] if c["rcu"]) == "Query"
    assert status(world.table, due) == "EXPIRED" and status(world.table, within) == "CREATED"
    assert "gsi2pk" not in stored(world.table, due)
    young = place(world, NOW - timedelta(minutes=2), buyer=2)
    world.sandbox.pay(young)
    report = reconcile_unpaid(repos=PaymentRepositories.on(world.table), merchant=MERCHANT, pay=world.pay,
                              min_age_seconds=60, now=NOW, horizon_until=NOW + timedelta(days=1), as_of=NOW)
    assert (report.examined, report.paid) == (2, 1) and status(world.table, young) == "PAID"


def test_the_stage_before_the_last_places_into_gsi2_and_reads_gsi3(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_STATUS_LIST", "index-with-entries")
    with_entry = place(world, NOW - timedelta(minutes=WINDOW + 2))
    monkeypatch.setenv("ORDER_STATUS_LIST", "index")
    index_only = place(world, NOW - timedelta(minutes=WINDOW + 1))
    assert stored(world.table, with_entry)["gsi2pk"] == "UNPAID_ORDERS"
    assert "gsi2pk" not in stored(world.table, index_only)
    # gsi3 holds every order: one placed at the last stage (no gsi2 entry) is found too, so going back
    # from the last stage to this one loses none.
    report = expire(world, NOW, stage="index-with-entries")
    assert report.expired == 2
    assert status(world.table, with_entry) == status(world.table, index_only) == "EXPIRED"
