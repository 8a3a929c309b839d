"""The admin's by-status order list as the order item's own gsi3 entry, on DynamoDB Local: what one
order's lifecycle writes for that list (priced by the bench's meter, ``bench._meter``), the list and
the orders export reading the same rows from gsi3 as from the ``STATUS`` entries, in every stage of
the staged deploy (docs/runbook.md, "The by-status order list onto gsi3")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bench._meter import Index, item_size, price_item
from mall.clock import utc_now
from mall.dal.catalog import ProductRepository
from mall.dal.export_sources import ExportSources
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.table import Item, Table, serialize
from mall.domain.catalog import Product
from mall.domain.exports import DayRange
from mall.domain.orders import Order
from mall.domain.refund_ids import refund_id_for
from mall.domain.refunds import LineRequest
from mall.domain.tokens import Role
from mall.errors import InvalidInput
from mall.schemas.orders import AddressRequest, OrderLineRequest, PlaceOrderRequest
from mall.services import fulfilment as service
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from tests.conftest import bearer, clear_caches, table_request
from tests.integration.test_payment_snapshot import MERCHANT, T0, World, _chain, _no_pay
from tests.integration.test_record_sizes import ADDRESS as SIZED_ADDRESS
from tests.integration.test_refunds_flow import FakeGateway, approve, ask
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_fulfilment_factory import Line, order_item, put_order
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall

pytestmark = pytest.mark.integration

ADMIN = bearer("admin:alice", Role.ADMIN)


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    clear_caches()
    yield make_mall(monkeypatch)
    clear_caches()


def indexes() -> list[Index]:
    """The table's GSIs as template.yaml defines them (projections included)."""
    request = table_request()
    return [Index.from_template(ix, ("pk", "sk")) for ix in request["GlobalSecondaryIndexes"]]  # type: ignore[attr-defined]


def partition(table: Table, order_id: str) -> dict[str, Item]:
    page = table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": f"ORDER#{order_id}"}, limit=None,
                             consistent=True)
    return {str(item["sk"]): item for item in page.items}


def stream(old: Item | None, new: Item) -> dict[str, Any]:
    body: dict[str, Any] = {"Keys": serialize({"pk": new["pk"], "sk": new["sk"]}), "NewImage": serialize(new),
                            "SequenceNumber": "1"}
    if old is not None:
        body["OldImage"] = serialize(old)
    return {"Records": [{"eventID": "e1", "eventName": "MODIFY" if old else "INSERT", "dynamodb": body}]}


class Meter:
    """Write units spent on the by-status list per step: the ``STATUS`` entry (its put and its gsi1
    entry) and the order item's gsi3 entry, from the order's partition before and after each step."""

    def __init__(self, table: Table, order_id: str) -> None:
        self.table, self.order_id = table, order_id
        self.indexes = indexes()
        self.items = partition(table, order_id)
        self.units: dict[str, int] = {"ORDER#/STATUS": 0, "ORDER#/ORDER gsi3": 0}
        self.worker = load_function("order_status_stream")

    def step(self) -> None:
        """Price what changed, then run the order stream worker on the order's change, and price that."""
        before_order = self.items.get("ORDER")
        self._price()
        after_order = self.items["ORDER"]
        assert self.worker.handler(stream(before_order, after_order), FakeContext()) == {"batchItemFailures": []}
        self._price()

    def _price(self) -> None:
        now = partition(self.table, self.order_id)
        for sk in ("STATUS", "ORDER"):
            before, after = self.items.get(sk), now.get(sk)
            if before == after or after is None:
                continue
            priced = price_item("Put" if before is None else "Update", serialize(before) if before else None,
                                serialize(after), indexes=self.indexes, transactional=sk == "ORDER", succeeded=True,
                                key=sk, entity=sk)
            if sk == "STATUS":
                self.units["ORDER#/STATUS"] += priced.table_units + priced.index_units
            else:
                self.units["ORDER#/ORDER gsi3"] += priced.indexes.get("gsi3", 0)
        self.items = now


def lifecycle(mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch, status_list: str | None) -> Meter:
    """Place, pay, ship and receive one physical order, the order stream worker after each step."""
    if status_list is not None:
        monkeypatch.setenv("ORDER_STATUS_LIST", status_list)
    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS})
    assert status == 201, placed
    order_id = placed["order_id"]
    meter = Meter(table, order_id)
    meter.items = {}
    meter.step()
    assert mall.pay(order_id)[0] == 204
    meter.step()
    repo = OrderRepository(table)
    order = repo.get(order_id)
    assert order is not None
    repo.ship(order, carrier="SF", tracking_no="SF1001", now=utc_now(), by="admin:alice")
    meter.step()
    shipped = repo.get(order_id)
    assert shipped is not None
    repo.complete(shipped, completed_by="buyer", now=utc_now(), by=shipped.buyer_id)
    meter.step()
    return meter


def test_the_lifecycle_writes_no_status_entry_and_moves_the_orders_own_index_entry(
        mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    meter = lifecycle(mall, table, monkeypatch, None)
    assert "STATUS" not in meter.items
    # The order item enters gsi3 when placed (1) and moves partition at payment, shipment and
    # receipt (a delete and a put: 2 each), inside writes it made anyway: 7 units, where the
    # stream worker's four puts of the STATUS entry and its gsi1 entry cost 11.
    assert meter.units == {"ORDER#/STATUS": 0, "ORDER#/ORDER gsi3": 7}
    entry = meter.items["ORDER"]
    assert (entry["gsi3pk"], entry["gsi1sk"]) == ("ORDERS#COMPLETED", f"{entry['created_at']}#{entry['order_id']}")


def test_the_stages_that_keep_the_entries_still_write_them(mall: Mall, table: Table,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    meter = lifecycle(mall, table, monkeypatch, "index-with-entries")
    assert meter.units == {"ORDER#/STATUS": 11, "ORDER#/ORDER gsi3": 7}
    assert meter.items["STATUS"]["gsi1pk"] == "ORDERS#COMPLETED"


# ---- the same rows from either place ----------------------------------------------------------


def admin_pages(status_list: str, status: str, limit: int, **query: str) -> list[list[dict[str, Any]]]:
    """Every page of ``GET /admin/orders`` in one deploy stage, following the cursors."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDER_STATUS_LIST", status_list)
        clear_caches()
        function = load_function("admin_orders")
        while True:
            params = {"status": status, "limit": str(limit), **query, **({"cursor": cursor} if cursor else {})}
            event = http_event("GET", "/admin/orders", headers=ADMIN)
            event["queryStringParameters"] = params
            event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in params.items())
            result = function.handler(event, FakeContext())
            assert result["statusCode"] == 200, result
            body = json.loads(result["body"])
            pages.append(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
    clear_caches()
    return pages


def seed(table: Table) -> list[Item]:
    """Orders in several statuses and days, written the way the code writes them, with their STATUS
    entries as the stream worker kept them: one with two lines (its title is the first line's
    name), one partly refunded with its shipping refunded."""
    repo = OrderRepository(table, status_list="entries")
    items: list[Item] = []
    start = datetime(2026, 10, 1, 2, tzinfo=UTC)
    for n in range(9):
        status = ("PAID", "SHIPPED", "COMPLETED")[n % 3]
        lines = (Line(), Line(name="茶具")) if n == 4 else (Line(),)
        item = order_item(status=status, created_at=(start + timedelta(hours=7 * n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          lines=lines, shipping_fen=800)
        if n == 5:
            item["lines"][0]["refunded_fen"] = 1000
            item["shipping_refunded_fen"] = 800
        if status != "PAID":
            item["shipped_at"] = item["created_at"]
        table.put(item)
        assert repo.project_status(item)
        items.append(item)
    return items


def test_the_admin_list_reads_the_same_rows_pages_and_ranges_from_gsi3(table: Table) -> None:
    seed(table)
    for status in ("PAID", "SHIPPED", "COMPLETED", "CLOSED"):
        for query in ({}, {"from": "2026-10-01", "to": "2026-10-02"}):
            from_entries = admin_pages("entries", status, 2, **query)
            assert admin_pages("index-with-entries", status, 2, **query) == from_entries
            assert admin_pages("index", status, 2, **query) == from_entries
    rows = [row for page in admin_pages("index", "COMPLETED", 10) for row in page]
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    [refunded] = [r for page in admin_pages("index", "COMPLETED", 10) for r in page if r["refunded_fen"]]
    assert refunded["refunded_fen"] == 1800
    [two_lines] = [r for page in admin_pages("index", "SHIPPED", 10) for r in page if r["line_count"] == 2]
    assert two_lines["title"].endswith(" 1")


def test_a_cursor_of_the_other_index_is_refused(table: Table) -> None:
    seed(table)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORDER_STATUS_LIST", "entries")
        clear_caches()
        cursor = service.admin_list_orders(repo=OrderRepository(table, status_list="entries"), status="PAID",
                                           limit=1, cursor=None).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput):
        service.admin_list_orders(repo=OrderRepository(table), status="PAID", limit=1, cursor=cursor)


def test_the_orders_export_reads_the_same_rows_from_gsi3(table: Table) -> None:
    seed(table)
    days = DayRange(date(2026, 10, 1), date(2026, 10, 3))
    from_entries = list(ExportSources(table, status_list="entries").orders(days))
    from_index = list(ExportSources(table).orders(days))
    keep = ("order_id", "created_at", "status", "buyer_id", "amount_fen", "refunded_fen", "paid_at", "shipped_at",
            "completed_at", "fulfilment", "line_count", "title")
    assert len(from_index) == 9
    assert [{k: e.get(k) for k in keep} for e in from_entries] == [{k: i.get(k) for k in keep} for i in from_index]


# ---- every write of the status moves the entry ------------------------------------------------


def listed_under(table: Table, order_id: str) -> str:
    stored = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert stored is not None and stored["gsi1sk"] == f"{stored['created_at']}#{order_id}"
    return str(stored["gsi3pk"])


def test_expiry_payment_after_expiry_and_a_closing_refund_move_the_entry(table: Table) -> None:
    orders, refunds = OrderRepository(table), RefundRepository(table)
    now = datetime(2026, 11, 22, 8, tzinfo=UTC)
    unpaid = put_order(table, status="CREATED")
    assert orders.expire(domain(orders, unpaid), release_writes=[], now=now)
    assert listed_under(table, unpaid["order_id"]) == "ORDERS#EXPIRED"
    assert orders.mark_paid_after_expiry(domain(orders, unpaid), transaction_id="4200000001", paid_at=now,
                                         refund_id=refund_id_for(unpaid["order_id"], 1), now=now)
    assert listed_under(table, unpaid["order_id"]) == "ORDERS#PAID_AFTER_EXPIRY"

    shipped = put_order(table, status="SHIPPED", lines=[Line(unit_price_fen=700, quantity=2)], shipping_fen=500,
                        shipped_at="2026-11-21T08:00:00Z")
    refund = ask((orders, refunds), shipped, LineRequest("1"))
    approve((orders, refunds), refund.refund_id, FakeGateway(status="SUCCESS"))
    assert listed_under(table, shipped["order_id"]) == "ORDERS#CLOSED"
    [row] = service.admin_list_orders(repo=orders, status="CLOSED", limit=10, cursor=None).items
    assert (row.order_id, row.refunded_fen, row.amount_fen) == (shipped["order_id"], 1900, 1900)


def domain(orders: OrderRepository, item: Item) -> Order:
    order = orders.get(str(item["order_id"]))
    assert order is not None
    return order


def test_an_attributed_order_with_its_index_key_stays_under_one_kb_at_shipment(table: Table) -> None:
    # Two promoters in the attribution, a long product name, a tracking number: 1,002 bytes at shipment
    # with gsi3pk. A copy of the sort key, or the updated_at nothing reads, took it over 1 KB, which
    # doubles the shipment's, the receipt's and the settlement check's units.
    world = World(table)
    _, _, buyer = _chain(world)
    ProductRepository(table).create(Product(product_id="p_01m95rv51xa63a8chydjxt", name="明前西湖龙井 特级 250g 礼盒装",
                                            type="physical", category_id="c_tea", price_fen=39_900, stock=100,
                                            on_shelf=True))
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_01m95rv51xa63a8chydjxt", quantity=1)],
                                address=AddressRequest(**SIZED_ADDRESS))
    order_id = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0, device_id="dev-8c1f2e9a4b7d",
                                      source_ip="203.0.113.7"),
                           repos=PlacementRepositories.on(table), pay=_no_pay, notify_url=MERCHANT.notify_url).order_id
    world.pay(order_id)
    repo = OrderRepository(table)
    service.ship_order(repo=repo, order_id=order_id, carrier="SF", tracking_no="SF1234567890123", admin="admin:a",
                       now=T0 + timedelta(days=1))
    stored = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
    assert stored is not None and stored["gsi3pk"] == "ORDERS#SHIPPED"
    assert stored["attribution"]["l2_promoter_id"] is not None
    assert item_size(serialize(stored)) < 1024
