"""The order's history entries implied by the order item (its placing, its payment, the buyer's or WeChat's
receipt, its expiry) on
DynamoDB Local: what each lifecycle step writes on the order's ``ORDER`` and ``HISTORY#`` items, priced
by the bench's meter (``bench._meter``: a write per started KB, twice in a transaction, plus the
index entries), and the order detail's history the same as when every entry was stored, in both
stages of the deploy (``ORDER_HISTORY_STORED``) and after the migration that writes them back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from bench._meter import item_size, price_item
from mall.clock import iso, utc_now
from mall.dal.orders import OrderRepository
from mall.dal.table import Item, Table, dynamodb_client, serialize
from mall.domain.fulfilment import HistoryEntry
from mall.schemas.fulfilment import OrderDetail
from mall.services import fulfilment as service
from tests.conftest import clear_caches
from tests.integration.test_order_status_index import indexes, partition
from tests.integration.test_referral_paid_writes import written_keys
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration

Units = dict[str, int]
KB = 1024


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


def kind(sk: str) -> str:
    return "HISTORY#" if sk.startswith("HISTORY#") else sk


def recorded_writes(table: Table, step: Callable[[], Any]) -> tuple[Any, list[tuple[str, list[tuple[str, str]]]]]:
    """Run ``step``; its answer and every DynamoDB write call it made (operation, keys written), through the
    test's client and the functions' alike."""
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, written_keys(params, model.name)))

    clients = {id(c): c for c in (table.client, dynamodb_client())}.values()
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", seen, unique_id="recorded-writes")
    try:
        answer = step()
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="recorded-writes")
    return answer, calls


def priced_step(table: Table, order_id: str | None, step: Callable[[], Any]) -> tuple[Any, Units]:
    """Run ``step`` and price what it wrote on the order's ``ORDER`` and ``HISTORY#`` items (by the items
    before and after it; ``order_id`` None: the step places the order, read from its answer)."""
    before = partition(table, order_id) if order_id else {}
    answer, calls = recorded_writes(table, step)
    order_id = order_id or str(answer[1]["order_id"])
    after = partition(table, order_id)
    units: Units = {"ORDER": 0, "HISTORY#": 0}
    for operation, keys in calls:
        for pk, sk in keys:
            if pk != f"ORDER#{order_id}" or kind(sk) not in units:
                continue
            old, new = before.get(sk), after.get(sk)
            priced = price_item("Put" if old is None else "Update", serialize(old) if old else None,
                                serialize(new) if new else None, indexes=indexes(),
                                transactional=operation == "TransactWriteItems", succeeded=True, key=sk, entity=sk)
            units[kind(sk)] += priced.table_units + priced.index_units
    return answer, units


def lifecycle(mall: Mall, table: Table) -> tuple[str, list[Units], OrderDetail]:
    """Place, pay, ship and confirm receipt of one physical order; the units of each step."""
    add_products(BOOK)
    buyer, token = customer_token()
    placed, place_units = priced_step(table, None, lambda: mall.place(
        token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS}))
    assert placed[0] == 201, placed
    order_id = str(placed[1]["order_id"])
    paid, pay_units = priced_step(table, order_id, lambda: mall.pay(order_id))
    assert paid[0] == 204, paid
    repo = OrderRepository(table)
    order = repo.get(order_id)
    assert order is not None
    _, ship_units = priced_step(table, order_id, lambda: repo.ship(
        order, carrier="SF", tracking_no="SF1001", now=utc_now() + timedelta(seconds=1), by="admin:alice"))
    detail, receipt_units = priced_step(table, order_id, lambda: service.confirm_receipt(
        repo=repo, buyer_id=buyer, order_id=order_id, now=utc_now() + timedelta(seconds=2)))
    return order_id, [place_units, pay_units, ship_units, receipt_units], detail


def stored_history(table: Table, order_id: str) -> list[HistoryEntry]:
    """The history as the code that reads only the stored entries shows it."""
    items = [i for i in partition(table, order_id).values() if str(i["sk"]).startswith("HISTORY#")]
    return sorted((HistoryEntry(i["status"], i["at"], i.get("by", ""), i.get("note")) for i in items),
                  key=lambda h: h.at)


def shown(detail: OrderDetail) -> list[HistoryEntry]:
    return [HistoryEntry(h.status, h.at, h.by, h.note) for h in detail.history]


def test_placing_and_the_buyers_receipt_write_no_history_item_and_the_receipt_no_transaction(
        mall: Mall, table: Table) -> None:
    order_id, (place, pay, ship, receipt), detail = lifecycle(mall, table)
    # Placing: the order (2 in its transaction + its gsi1 and gsi3 entries) and no CREATED item (2).
    # Payment: the order's update and no PAID item (2). Shipment keeps its entry. The receipt: one conditional update
    # of the order (1, not 2 in a transaction, + gsi1, gsi2 leaving, gsi3 moving) and no COMPLETED
    # item (2): 5 units less.
    assert (place, pay, ship, receipt) == ({"ORDER": 4, "HISTORY#": 0}, {"ORDER": 5, "HISTORY#": 0},
                                           {"ORDER": 6, "HISTORY#": 2}, {"ORDER": 5, "HISTORY#": 0})
    item = partition(table, order_id)["ORDER"]
    assert [h.status for h in shown(detail)] == ["CREATED", "PAID", "SHIPPED", "COMPLETED"]
    assert shown(detail)[0] == HistoryEntry("CREATED", item["created_at"], item["buyer_id"], "order placed")
    assert shown(detail)[1] == HistoryEntry("PAID", item["paid_at"], "wechatpay",
                                            f"transaction {item['transaction_id']}")
    assert shown(detail)[-1] == HistoryEntry("COMPLETED", item["completed_at"], "buyer", "receipt confirmed")
    assert [h.status for h in stored_history(table, order_id)] == ["SHIPPED"]


def test_the_first_deploy_stores_every_entry_and_both_stages_show_the_same_history(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_HISTORY_STORED", "1")
    order_id, (place, pay, _, receipt), detail = lifecycle(mall, table)
    assert (place, pay, receipt) == ({"ORDER": 4, "HISTORY#": 2}, {"ORDER": 5, "HISTORY#": 2},
                                     {"ORDER": 6, "HISTORY#": 2})
    assert "ih" not in partition(table, order_id)["ORDER"]
    assert shown(detail) == stored_history(table, order_id)  # the code before shows the same


def test_the_migration_writes_the_implied_entries_back_once(mall: Mall, table: Table) -> None:
    order_id, _, detail = lifecycle(mall, table)
    item: Item = partition(table, order_id)["ORDER"]
    from tools.migrations import order_history_entries_stored

    migration = order_history_entries_stored.MIGRATION
    assert migration.apply(table, item, True) is True
    assert [h.status for h in stored_history(table, order_id)] == ["SHIPPED"]  # a dry run writes nothing
    assert migration.apply(table, item, False) is True
    # The code before (stored entries only) now shows what the order detail showed; the detail
    # counts each entry once; a second run changes nothing.
    assert stored_history(table, order_id) == shown(detail)
    assert [h.status for h in stored_history(table, order_id)] == ["CREATED", "PAID", "SHIPPED", "COMPLETED"]
    bundle = OrderRepository(table).bundle(order_id)
    assert bundle is not None and bundle.history == shown(detail)
    assert migration.apply(table, item, False) is False


def test_only_the_receipts_whose_entry_the_order_gives_back_are_implied(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    _, token = customer_token()
    repo = OrderRepository(table)
    histories: dict[str, list[HistoryEntry]] = {}
    for by in ("wechat", "auto", "buyer-again"):
        status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
        assert status == 201, placed
        order_id = placed["order_id"]
        assert mall.pay(order_id)[0] == 204
        order = repo.get(order_id)
        assert order is not None
        repo.ship(order, carrier="SF", tracking_no="SF1002", now=utc_now(), by="admin:alice")
        shipped = repo.get(order_id)
        assert shipped is not None
        if by == "wechat":
            repo.complete(shipped, completed_by="wechat", now=utc_now(), by="wechat",
                          note="receipt confirmed in WeChat (确认收货)")
        elif by == "auto":
            repo.complete(shipped, completed_by="auto", now=utc_now(), by="auto", note="confirmed automatically")
        else:  # the buyer's completion with another note than the order gives back: stored
            repo.complete(shipped, completed_by="buyer", now=utc_now(), by="buyer", note="another note")
        bundle = repo.bundle(order_id)
        assert bundle is not None
        histories[by] = bundle.history
        stored = sorted(h.status for h in stored_history(table, order_id))
        assert stored == (["SHIPPED"] if by == "wechat" else ["COMPLETED", "SHIPPED"]), by
    completed = {by: [h for h in history if h.status == "COMPLETED"] for by, history in histories.items()}
    assert [(h.by, h.note) for h in completed["wechat"]] == [("wechat", "receipt confirmed in WeChat (确认收货)")]
    assert [(h.by, h.note) for h in completed["auto"]] == [("auto", "confirmed automatically")]
    assert [(h.by, h.note) for h in completed["buyer-again"]] == [("buyer", "another note")]


def test_an_expiry_writes_no_history_item_and_shows_its_entry(mall: Mall, table: Table) -> None:
    from tests.unit.test_payment_webhook import run_schedule

    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    order_id = str(placed["order_id"])
    report, units = priced_step(table, order_id, lambda: run_schedule(mall, "order_expiry", 31))
    assert report["expired"] == 1, report
    # The order's update (2 in the release's transaction + gsi1, gsi3 moving; no gsi2 entry to leave) and
    # no EXPIRED item (2).
    assert units == {"ORDER": 5, "HISTORY#": 0}
    item = partition(table, order_id)["ORDER"]
    bundle = OrderRepository(table).bundle(order_id)
    assert bundle is not None and bundle.history == [
        HistoryEntry("CREATED", item["created_at"], item["buyer_id"], "order placed"),
        HistoryEntry("EXPIRED", item["expired_at"], "system", "not paid in time; stock released")]


# ---- the payment's entry ---------------------------------------------------------------------------

def table_items(table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table as stored (its wire form), by key."""
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in table.client.get_paginator("scan").paginate(TableName=table.name, ConsistentRead=True):
        for raw in page["Items"]:
            items[(raw["pk"]["S"], raw["sk"]["S"])] = raw
    return items


def place_marked(mall: Mall, token: str) -> str:
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    return str(placed["order_id"])


def test_the_payment_notification_writes_two_units_less(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    _, token = customer_token()
    order_id = place_marked(mall, token)
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, written_keys(params, model.name)))

    before = table_items(table)
    clients = {id(c): c for c in (table.client, dynamodb_client())}.values()
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", seen, unique_id="payment-units")
    try:
        assert mall.pay(order_id)[0] == 204
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="payment-units")
    after = table_items(table)
    priced = {key: price_item("Put" if before.get(key) is None else "Update", before.get(key), after.get(key),
                              indexes=indexes(), transactional=operation == "TransactWriteItems", succeeded=True,
                              key=key[1], entity=key[1])
              for operation, keys in calls for key in keys}
    # The webhook's one transaction: the order (2 + gsi1, gsi3 moving; no gsi2 entry to leave), the
    # buyer's profile (2 + its gsi2 entry), the commission basis (2) and the purchase counter (2); no
    # PAID item (2 more).
    assert sorted(sk for _, sk in priced) == ["COMMISSION_BASIS", "ORDER", "PROFILE", "PURCHASE#book"]
    assert {sk: p.table_units + p.index_units for (_, sk), p in priced.items()} == {
        "ORDER": 5, "PROFILE": 3, "COMMISSION_BASIS": 2, "PURCHASE#book": 2}
    assert after[(f"ORDER#{order_id}", "ORDER")]["ih"] == {"N": "2"}


def test_the_payments_entry_is_at_the_time_the_buyer_paid_stored_or_implied(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    add_products(BOOK)
    _, token = customer_token()
    repo = OrderRepository(table)
    for stored in ("0", "1"):
        monkeypatch.setenv("ORDER_HISTORY_STORED", "0")
        order_id = place_marked(mall, token)
        monkeypatch.setenv("ORDER_HISTORY_STORED", stored)
        order = repo.get(order_id)
        assert order is not None
        # WeChat Pay's success time, minutes before the notification (or the reconciliation) records it.
        paid_at, recorded = utc_now() + timedelta(minutes=1), utc_now() + timedelta(minutes=9)
        assert repo.mark_paid(order, transaction_id=f"4200000000{stored}", paid_at=paid_at, now=recorded)
        entry = HistoryEntry("PAID", iso(paid_at), "wechatpay", f"transaction 4200000000{stored}")
        bundle = repo.bundle(order_id)
        assert bundle is not None and [h.status for h in bundle.history] == ["CREATED", "PAID"]
        assert bundle.history[1] == entry and bundle.order.paid_at == entry.at
        item = partition(table, order_id)["ORDER"]
        assert (item["ih"], stored_history(table, order_id)) == ((2, []) if stored == "0" else (1, [entry])), stored


def test_while_every_entry_is_stored_a_marked_order_stores_its_payment_receipt_and_expiry(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_payment_webhook import run_schedule

    add_products(BOOK)
    buyer, token = customer_token()
    paid_id, expiring_id = place_marked(mall, token), place_marked(mall, token)  # marked: placed with "0"
    monkeypatch.setenv("ORDER_HISTORY_STORED", "1")
    repo = OrderRepository(table)
    assert mall.pay(paid_id)[0] == 204
    order = repo.get(paid_id)
    assert order is not None
    repo.ship(order, carrier="SF", tracking_no="SF1003", now=utc_now() + timedelta(seconds=1), by="admin:alice")
    detail = service.confirm_receipt(repo=repo, buyer_id=buyer, order_id=paid_id, now=utc_now() + timedelta(seconds=2))
    item = partition(table, paid_id)["ORDER"]
    # The mark stays 1 (code that reads only that value may still run), every entry after placing is stored.
    assert item["ih"] == 1
    assert [h.status for h in stored_history(table, paid_id)] == ["PAID", "SHIPPED", "COMPLETED"]
    assert shown(detail) == [HistoryEntry("CREATED", item["created_at"], buyer, "order placed"),
                             *stored_history(table, paid_id)]
    assert run_schedule(mall, "order_expiry", 31)["expired"] == 1
    assert [h.status for h in stored_history(table, expiring_id)] == ["EXPIRED"]


def test_the_payments_mark_adds_no_byte_to_the_order_item(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    _, token = customer_token()
    order_id = place_marked(mall, token)
    assert mall.pay(order_id)[0] == 204
    repo = OrderRepository(table)
    order = repo.get(order_id)
    assert order is not None
    repo.ship(order, carrier="SF", tracking_no="SF1004", now=utc_now() + timedelta(seconds=1), by="admin:alice")
    shipped = partition(table, order_id)["ORDER"]
    size = item_size(serialize(shipped))
    assert shipped["ih"] == 2 and size == item_size(serialize({**shipped, "ih": 1})) and size < KB, size
