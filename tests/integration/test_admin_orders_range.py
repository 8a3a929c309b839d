"""GET /admin/orders by China days created (UTC+8), on DynamoDB Local: the day boundaries, paging
inside a range (full pages: the range is a key condition, not a filter of what was read), and the
422s naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.domain.tokens import Role
from mall.services import fulfilment as service
from tests.conftest import bearer, clear_caches
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_fulfilment_factory import order_item

ADMIN = bearer("admin:alice", Role.ADMIN)
Get = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def repo(table: Table) -> OrderRepository:
    return OrderRepository(table)


def paid_at(repo: OrderRepository, created_at: str, status: str = "PAID") -> str:
    """An order created at ``created_at`` with its by-status entry (what the stream worker keeps)."""
    item = order_item(status=status, created_at=created_at)
    repo.table.put(item)
    assert repo.project_status(item)
    return str(item["order_id"])


@pytest.fixture
def get(table: Table) -> Iterator[Get]:
    clear_caches()
    function = load_function("admin_orders")

    def call(**query: str) -> tuple[int, dict[str, Any]]:
        event = http_event("GET", "/admin/orders", headers=ADMIN)
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
        result = function.handler(event, FakeContext())
        return result["statusCode"], json.loads(result["body"])

    yield call
    clear_caches()


def test_a_day_is_a_china_day(repo: OrderRepository) -> None:
    before = paid_at(repo, "2026-10-01T15:59:59Z")  # 2026-10-01 23:59:59 in China
    first = paid_at(repo, "2026-10-01T16:00:00Z")  # 2026-10-02 00:00:00
    half_past = paid_at(repo, "2026-10-01T16:30:00Z")  # 2026-10-02 00:30
    last = paid_at(repo, "2026-10-02T15:59:59Z")  # 2026-10-02 23:59:59
    after = paid_at(repo, "2026-10-02T16:00:00Z")  # 2026-10-03 00:00:00
    paid_at(repo, "2026-10-02T08:00:00Z", status="SHIPPED")  # the right day, another status

    def ids(date_from: str | None, date_to: str | None) -> list[str]:
        page = service.admin_list_orders(repo=repo, status="PAID", limit=20, cursor=None, date_from=date_from,
                                         date_to=date_to)
        assert page.next_cursor is None
        return [o.order_id for o in page.items]

    assert ids("2026-10-02", "2026-10-02") == [last, half_past, first]
    assert ids("2026-10-01", "2026-10-01") == [before]
    assert ids("2026-10-02", None) == [after, last, half_past, first]
    assert ids(None, "2026-10-01") == [before]
    assert ids("2026-10-01", "2026-10-03") == [after, last, half_past, first, before]
    assert ids(None, None) == [after, last, half_past, first, before]


def test_pages_inside_a_range_are_full_and_stay_in_it(repo: OrderRepository, get: Get) -> None:
    inside = [paid_at(repo, f"2026-10-0{day}T0{hour}:00:00Z") for day in (2, 3) for hour in (1, 2, 3)]
    for hour in range(6):  # newer orders than the range: a filter after reading would return short pages
        paid_at(repo, f"2026-10-04T0{hour}:00:00Z")
    paid_at(repo, "2026-10-01T01:00:00Z")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"status": "PAID", "from": "2026-10-02", "to": "2026-10-03", "limit": "2",
                 **({"cursor": cursor} if cursor else {})}
        status, body = get(**query)
        assert status == 200, body
        pages += 1
        seen += [o["order_id"] for o in body["items"]]
        if len(seen) < len(inside):
            assert len(body["items"]) == 2 and body["next_cursor"], body
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == inside[::-1] and pages <= 4

    # a cursor belongs to its range: one from the 2nd/3rd is refused for the 4th, not sent to DynamoDB
    status, body = get(status="PAID", limit="2", **{"from": "2026-10-02", "to": "2026-10-03"})
    assert status == 200 and body["next_cursor"]
    status, refused = get(status="PAID", limit="2", cursor=body["next_cursor"], **{"from": "2026-10-04"})
    assert status == 422 and refused["error"]["code"] == "invalid_cursor", refused
    assert [f["field"] for f in refused["error"]["fields"]] == ["query:cursor"]


@pytest.mark.parametrize(("query", "code", "fields"), [
    ({"from": "2026-10-3", "to": "2026-10-03"}, "validation_error", ["query:from"]),
    ({"from": "2026-02-30"}, "invalid_date", ["query:from"]),
    ({"from": "2026-10-01", "to": "2026-02-30"}, "invalid_date", ["query:to"]),
    ({"to": "9999-12-31"}, "invalid_date", ["query:to"]),
    ({"from": "2026-10-05", "to": "2026-10-01"}, "invalid_date_range", ["query:from"]),
])
def test_a_bad_range_is_422_naming_the_field(repo: OrderRepository, get: Get, query: dict[str, str], code: str,
                                            fields: list[str]) -> None:
    paid_at(repo, "2026-10-02T01:00:00Z")
    status, body = get(status="PAID", **query)
    assert status == 422, body
    assert body["error"]["code"] == code
    assert [f["field"] for f in body["error"]["fields"]] == fields

