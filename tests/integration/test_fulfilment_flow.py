"""After payment on DynamoDB Local: shipping, receipt, overlapping auto-confirm runs, 核销 codes,
the customer's lists and detail, and the stream worker's by-status entries."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain import fulfilment as rules
from mall.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from mall.services import fulfilment as service
from mall.services.order_changes import OrderChange, on_order_changes
from tests.unit.test_fulfilment_factory import Line, order_item, put_order

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture
def repo(table: Table) -> OrderRepository:
    return OrderRepository(table)


def history(repo: OrderRepository, order_id: str) -> list[str]:
    bundle = repo.bundle(order_id)
    assert bundle is not None
    return [h.status for h in bundle.history]


def test_ship_then_confirm_receipt(table: Table, repo: OrderRepository) -> None:
    order = put_order(table)
    shipped = service.ship_order(repo=repo, order_id=order["order_id"], carrier="SF", tracking_no="SF100",
                                 admin="admin:alice", now=NOW)
    assert shipped.status == "SHIPPED" and shipped.shipped_at == "2026-11-22T08:00:00Z"
    again = service.ship_order(repo=repo, order_id=order["order_id"], carrier="SF", tracking_no="SF100",
                               admin="admin:alice", now=NOW + timedelta(minutes=1))
    assert again.shipped_at == shipped.shipped_at  # a retry changes nothing
    with pytest.raises(NotFound):
        service.confirm_receipt(repo=repo, buyer_id="u_someone_else", order_id=order["order_id"], now=NOW)
    done = service.confirm_receipt(repo=repo, buyer_id=order["buyer_id"], order_id=order["order_id"],
                                   now=NOW + timedelta(days=2))
    assert done.status == "COMPLETED" and done.completed_by == "buyer" and done.completed_at == "2026-11-24T08:00:00Z"
    assert history(repo, order["order_id"]) == ["SHIPPED", "COMPLETED"]
    assert table.get({"pk": f"ORDER#{order['order_id']}", "sk": "AUTOCONFIRM"}) is None
    repeat = service.confirm_receipt(repo=repo, buyer_id=order["buyer_id"], order_id=order["order_id"], now=NOW)
    assert repeat.completed_at == done.completed_at


def test_confirm_receipt_of_an_unshipped_order_is_409(table: Table, repo: OrderRepository) -> None:
    order = put_order(table)
    with pytest.raises(Conflict) as err:
        service.confirm_receipt(repo=repo, buyer_id=order["buyer_id"], order_id=order["order_id"], now=NOW)
    assert err.value.code == "order_not_shipped"


def test_overlapping_auto_confirm_runs_complete_each_order_once(table: Table, repo: OrderRepository) -> None:
    due = [put_order(table)["order_id"] for _ in range(12)]
    recent = put_order(table)["order_id"]
    for order_id in due:
        order = repo.get(order_id)
        assert order is not None
        repo.ship(order, carrier="SF", tracking_no="SF1", now=NOW - timedelta(days=11), by="admin:alice")
    order = repo.get(recent)
    assert order is not None
    repo.ship(order, carrier="SF", tracking_no="SF2", now=NOW - timedelta(days=3), by="admin:alice")
    settings = SettingsRepository(table)
    barrier = threading.Barrier(4)

    def run(_: int) -> int:
        barrier.wait()
        return service.auto_confirm(repo=repo, settings=settings, now=NOW).completed

    with ThreadPoolExecutor(4) as pool:
        completed = list(pool.map(run, range(4)))
    assert sum(completed) == len(due)
    for order_id in due:
        stored = repo.get(order_id)
        assert stored is not None and stored.status == "COMPLETED" and stored.completed_by == "auto"
        assert history(repo, order_id).count("COMPLETED") == 1
    still = repo.get(recent)
    assert still is not None and still.status == "SHIPPED"
    assert service.auto_confirm(repo=repo, settings=settings, now=NOW).examined == 0  # entries are gone
    later = service.auto_confirm(repo=repo, settings=settings, now=NOW + timedelta(days=8))
    assert later.completed == 1


def test_service_order_code_verify_and_attempt_limit(table: Table, repo: OrderRepository) -> None:
    order = put_order(table, lines=[Line(type="service", unit_price_fen=9900)], with_address=False)
    with ThreadPoolExecutor(4) as pool:  # first views at once: one code is stored, all show it
        views = list(pool.map(lambda _: service.my_order(repo=repo, buyer_id=order["buyer_id"],
                                                         order_id=order["order_id"]), range(4)))
    codes = {v.verify_code for v in views}
    assert len(codes) == 1 and None not in codes
    code = codes.pop()
    assert code is not None and len(code.replace(" ", "")) == rules.VERIFY_CODE_DIGITS
    stored = table.get({"pk": f"ORDER#{order['order_id']}", "sk": "ORDER"})
    assert stored is not None and code.replace(" ", "") not in str(stored)  # only a hash and ciphertext
    admin_view = service.admin_order(repo=repo, order_id=order["order_id"])
    assert admin_view.verify_code is None

    for _ in range(rules.MAX_VERIFY_ATTEMPTS - 1):
        with pytest.raises(InvalidInput):
            service.verify_service_order(repo=repo, order_id=order["order_id"], code="000000000000",
                                         admin="admin:alice", now=NOW)
    with pytest.raises(InvalidInput):
        service.verify_service_order(repo=repo, order_id=order["order_id"], code="000000000000", admin="admin:alice",
                                     now=NOW)
    with pytest.raises(TooManyRequests):  # locked: even the right code waits
        service.verify_service_order(repo=repo, order_id=order["order_id"], code=code, admin="admin:alice", now=NOW)
    later = NOW + timedelta(minutes=rules.VERIFY_LOCK_MINUTES, seconds=1)
    done = service.verify_service_order(repo=repo, order_id=order["order_id"], code=code, admin="admin:alice",
                                        now=later)
    assert done.status == "COMPLETED" and done.completed_by == "verify"
    mine = service.my_order(repo=repo, buyer_id=order["buyer_id"], order_id=order["order_id"])
    assert mine.verify_code is None and [h.status for h in mine.history] == ["COMPLETED"]


def test_customer_lists_only_their_orders_newest_first_and_detail_is_masked(table: Table,
                                                                            repo: OrderRepository) -> None:
    mine = [put_order(table, buyer_id="u_me", created_at=f"2026-11-2{i}T08:00:00Z")["order_id"] for i in range(5)]
    put_order(table, buyer_id="u_other")
    table.put(order_item(buyer_id="u_me", status="SHIPPED", created_at="2026-11-10T08:00:00Z"))
    first = service.list_my_orders(repo=repo, buyer_id="u_me", status=None, limit=3, cursor=None)
    assert [o.order_id for o in first.items] == mine[::-1][:3] and first.next_cursor
    rest = service.list_my_orders(repo=repo, buyer_id="u_me", status=None, limit=3, cursor=first.next_cursor)
    assert [o.order_id for o in rest.items][:2] == mine[::-1][3:]
    with pytest.raises(InvalidInput):
        service.list_my_orders(repo=repo, buyer_id="u_other", status=None, limit=3, cursor=first.next_cursor)
    shipped: list[str] = []
    cursor = None
    while True:
        page = service.list_my_orders(repo=repo, buyer_id="u_me", status="SHIPPED", limit=2, cursor=cursor)
        shipped += [o.status for o in page.items]
        if not (cursor := page.next_cursor):
            break
    assert shipped == ["SHIPPED"]

    detail = service.my_order(repo=repo, buyer_id="u_me", order_id=mine[0])
    assert detail.address is not None
    assert detail.address.name == "张**" and detail.address.phone == "138****5678"
    assert detail.address.detail.endswith("****") and "100" not in detail.address.detail
    assert "13812345678" not in detail.model_dump_json()
    with pytest.raises(NotFound):
        service.my_order(repo=repo, buyer_id="u_other", order_id=mine[0])


def test_stream_worker_keeps_the_admin_status_list_and_delivers_virtual_goods(table: Table) -> None:
    repo = OrderRepository(table, status_list="entries")  # the deploy stages that keep the STATUS entries
    created = order_item(status="CREATED", version=1)
    paid = {**created, "status": "PAID", "version": 2, "paid_at": "2026-11-20T08:01:00Z"}
    on_order_changes(repo=repo, changes=[OrderChange(None, created), OrderChange(created, paid)], now=NOW)
    on_order_changes(repo=repo, changes=[OrderChange(None, created)], now=NOW)  # a late, older image
    page = service.admin_list_orders(repo=repo, status="PAID", limit=10, cursor=None)
    assert [o.order_id for o in page.items] == [created["order_id"]]
    assert service.admin_list_orders(repo=repo, status="CREATED", limit=10, cursor=None).items == []

    card = put_order(table, status="CREATED", version=1, lines=[Line(type="virtual", unit_price_fen=3000)])
    card_paid = {**card, "status": "PAID", "version": 2}
    table.put(card_paid)
    for _ in range(2):  # at-least-once delivery
        on_order_changes(repo=repo, changes=[OrderChange(card, card_paid)], now=NOW)
    stored = repo.get(card["order_id"])
    assert stored is not None and stored.status == "COMPLETED" and stored.completed_by == "auto"
    assert history(repo, card["order_id"]) == ["COMPLETED"]
