"""A promoter's attributed orders on DynamoDB Local: the promoter's own list (GET /promoter/orders) and
the merchant's filter by promoter and level (GET /admin/orders?promoter_id=&level=) are answered from
the same index (the promoter's commission records), show the order's status as it is now, mask the
buyer for the promoter, and stay within their classes' round trips (promoter ≤ 3, admin ≤ 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.catalog import CategoryRepository
from mall.dal.table import Table
from mall.domain.catalog import Category
from mall.domain.tokens import Role
from mall.services.commissions import CommissionRepositories, sync_order
from tests.conftest import bearer, clear_caches
from tests.integration.test_commission_sync import NOW, PAID, line, promoter, put_order, save_settings, set_refunded
from tests.unit.conftest import FakeContext, http_event, load_function

pytestmark = pytest.mark.integration

L1, L2 = "u_leader", "u_upline"
ADMIN = bearer("admin:alice", Role.ADMIN)


@pytest.fixture
def shop(table: Table) -> Table:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1000, l2_rate_bp=500))
    version = save_settings(table, settlement_days=7)
    promoter(table, L1)
    promoter(table, L2)
    table.put({"pk": "USER#u_buyer", "sk": "PROFILE", "entity": "customer", "user_id": "u_buyer",
               "nickname": "王小芳", "roles": ["customer"]})
    for n in range(3):
        put_order(table, f"o_{n}", [line("0", 10_000 * (n + 1)), line("1", 2_000)], l1=L1, l2=L2, version=version)
        table.update({"pk": f"ORDER#o_{n}", "sk": "ORDER"}, "SET created_at = :c, paid_at = :c",
                     values={":c": iso(PAID + timedelta(minutes=n))})
        sync_order(CommissionRepositories.on(table), order_id=f"o_{n}", now=NOW + timedelta(minutes=n))
    return table


@pytest.fixture
def call(shop: Table) -> Iterator[Any]:
    clear_caches()
    loaded: dict[str, Any] = {}

    def send(function: str, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any, int]:
        if function not in loaded:
            loaded[function] = load_function(function)
        client = loaded[function].table.client
        sent: list[str] = []

        def count(**_: Any) -> None:
            sent.append("call")

        event = http_event("GET", path, headers=headers)
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        client.meta.events.register("before-send.dynamodb", count, unique_id="promoter-orders")
        try:
            result = loaded[function].handler(event, FakeContext())
        finally:
            client.meta.events.unregister("before-send.dynamodb", unique_id="promoter-orders")
        return result["statusCode"], json.loads(result.get("body") or "null"), len(sent)

    yield send
    clear_caches()


def mine(call: Any, uid: str, **query: str) -> tuple[int, Any, int]:
    return call("promoter_commissions", "/promoter/orders", query, bearer(uid, Role.CUSTOMER, Role.PROMOTER))


def admin(call: Any, **query: str) -> tuple[int, Any, int]:
    return call("admin_orders", "/admin/orders", query, ADMIN)


def test_the_promoter_and_the_merchant_read_the_same_orders_from_one_index(call: Any) -> None:
    status, page, trips = mine(call, L1)
    assert status == 200, page
    assert [(i["order_id"], i["level"]) for i in page["items"]] == [("o_2", 1), ("o_1", 1), ("o_0", 1)]
    newest = page["items"][0]
    # two lines: 10% of 30,000 + 10% of 2,000, one row for the order
    assert newest["commission_fen"] == 3_200 and newest["base_fen"] == 32_000 and newest["amount_fen"] == 32_000
    assert newest["status"] == "paid" and newest["buyer"] == "王**芳" and "u_buyer" not in json.dumps(page)
    assert trips <= 3

    status, upline, trips = mine(call, L2, level="2")
    assert status == 200 and [i["order_id"] for i in upline["items"]] == ["o_2", "o_1", "o_0"]
    assert upline["items"][0]["commission_fen"] == 1_600 and trips <= 3
    assert mine(call, L2, level="1")[1]["items"] == []

    status, merchant, trips = admin(call, promoter_id=L2, level="2")
    assert status == 200, merchant
    assert [(i["order_id"], i["level"], i["commission_fen"], i["buyer_id"]) for i in merchant["items"]] == [
        ("o_2", 2, 1_600, "u_buyer"), ("o_1", 2, 1_100, "u_buyer"), ("o_0", 2, 600, "u_buyer")]
    assert trips <= 5
    assert admin(call, promoter_id=L1, level="2")[1]["items"] == []


def test_status_changes_and_refunds_show_without_any_index_write(shop: Table, call: Any) -> None:
    shop.update({"pk": "ORDER#o_1", "sk": "ORDER"}, "SET #s = :s, shipped_at = :t", names={"#s": "status"},
                values={":s": "SHIPPED", ":t": iso(NOW)})
    set_refunded(shop, "o_0", 0, 10_000)
    set_refunded(shop, "o_0", 1, 2_000)
    shop.update({"pk": "ORDER#o_0", "sk": "ORDER"}, "SET #s = :s", names={"#s": "status"}, values={":s": "CLOSED"})
    sync_order(CommissionRepositories.on(shop), order_id="o_0", now=NOW + timedelta(hours=1))

    rows = {i["order_id"]: i for i in mine(call, L1)[1]["items"]}
    assert rows["o_1"]["status"] == "shipped" and rows["o_1"]["shipped_at"] == iso(NOW)
    assert rows["o_0"]["status"] == "refunded" and rows["o_0"]["commission_fen"] == 0
    assert rows["o_0"]["refunded_fen"] == 12_000

    status, shipped, _ = admin(call, promoter_id=L1, status="SHIPPED")
    assert status == 200 and [i["order_id"] for i in shipped["items"]] == ["o_1"]


def test_pages_never_split_or_repeat_an_order(call: Any) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        status, page, _ = admin(call, promoter_id=L1, **query)
        assert status == 200, page
        seen += [i["order_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["o_2", "o_1", "o_0"]


def test_bad_filters_are_refused_naming_the_field(call: Any) -> None:
    status, body, _ = admin(call, level="1")
    assert status == 422 and body["error"]["fields"][0]["field"] == "query:level"
    status, body, _ = admin(call, promoter_id="u_nobody")
    assert status == 404
    status, body, _ = admin(call, promoter_id=L1, **{"from": "2026-11-01"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "query:from"
    status, body, _ = admin(call)
    assert status == 200  # without a promoter, the list by status (PAID) as before
