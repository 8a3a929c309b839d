"""Customer and promoter routes answer in at most three DynamoDB round trips, counted on the real
handlers against DynamoDB Local (every HTTP call the function's client sends), and a retried
``Idempotency-Key`` still replays the first answer, refuses another body, and writes nothing twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.request_markers import MarkedRequest, RequestMarkers
from mall.dal.table import Table, dynamodb_client
from mall.domain.tokens import Role
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.errors import WeChatPayError
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.referral.promoters import change_status
from tests.conftest import bearer
from tests.integration.test_payment_snapshot import T0, World, _chain
from tests.integration.test_withdrawals_concurrency import UID, setup_promoter
from tests.unit.conftest import http_event
from tests.unit.test_orders_handlers import ADDRESS, BOOK, Mall, add_products, customer_token, make_mall, stock_of

CUSTOMER_ROUTE_TRIPS = 3


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    yield make_mall(monkeypatch)


class Trips:
    """Counts the DynamoDB HTTP calls of a client: by default the functions' own (``main_table``'s)."""

    def __init__(self, client: Any = None) -> None:
        self.sent: list[str] = []
        self._client = client

    def _count(self, **kwargs: Any) -> None:
        self.sent.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

    def of(self, work: Callable[[], Any]) -> Any:
        self.sent.clear()
        client = self._client or dynamodb_client()
        client.meta.events.register("before-send.dynamodb", self._count, unique_id="route-trips")
        try:
            return work()
        finally:
            client.meta.events.unregister("before-send.dynamodb", unique_id="route-trips")


def call(mall: Mall, function: str, route: str, *, params: dict[str, str] | None = None, token: str,
         body: Any = None, key: str | None = None, query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """``route`` as API Gateway names it (``POST /orders/{order_id}/refunds``), filled from ``params``."""
    method, template = route.split(" ", 1)
    path = template.format(**(params or {}))
    headers = {"authorization": f"Bearer {token}"}
    if key is not None:
        headers["idempotency-key"] = key
    event = http_event(method, path, body=body, headers=headers)
    event["routeKey"] = route
    if params:
        event["pathParameters"] = params
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return mall.call(function, event)


Ask = Callable[..., tuple[int, dict[str, Any]]]


def created_then_replayed(trips: Trips, ask: Ask, key: str, other_body: dict[str, Any]) -> dict[str, Any]:
    """The request under ``key`` is created (201) within the customer routes' round trips; its retry
    answers the same in one round trip; another body under the same key is 422. The first answer."""
    status, first = trips.of(lambda: ask(key))
    assert status == 201, first
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, again = trips.of(lambda: ask(key))
    assert (status, again) == (201, first)
    assert len(trips.sent) <= 1, trips.sent
    status, refused = ask(key, other_body)
    assert status == 422 and refused["error"]["code"] == "idempotency_key_reused"
    return first


def paid_order(mall: Mall) -> tuple[str, str, dict[str, Any]]:
    add_products(BOOK)
    _, token = customer_token()
    status, placed = mall.place(token, {"lines": [{"product_id": "book", "quantity": 2}], "address": ADDRESS})
    assert status == 201, placed
    status, _ = mall.pay(placed["order_id"])
    assert status in (200, 204)
    return token, placed["order_id"], placed


def test_asking_for_a_refund_takes_at_most_three_round_trips_and_a_retry_replays_it(mall: Mall) -> None:
    token, order_id, placed = paid_order(mall)
    line = placed["lines"][0]
    body = {"reason": "不想要了", "lines": [{"line_id": line["line_id"], "amount_fen": 1_000}]}
    trips = Trips()

    def ask(key: str, sent: dict[str, Any] = body) -> tuple[int, dict[str, Any]]:
        return call(mall, "order_refund_request", "POST /orders/{order_id}/refunds", params={"order_id": order_id},
                    token=token, body=sent, key=key)

    # The retry gets the same refund back, cheaply, and holds nothing twice.
    first = created_then_replayed(trips, ask, "refund-key-0001", {**body, "reason": "另一个理由"})
    status, listed = call(mall, "order_refund_request", "GET /orders/{order_id}/refunds",
                          params={"order_id": order_id}, token=token)
    assert status == 200 and [r["refund_id"] for r in listed["items"]] == [first["refund_id"]]
    # Another key is another refund.
    status, second = ask("refund-key-0002")
    assert status == 201 and second["refund_id"] != first["refund_id"]


def test_placing_an_order_takes_at_most_three_round_trips_and_a_retry_replays_it(mall: Mall) -> None:
    add_products(BOOK)
    _, token = customer_token()
    body = {"lines": [{"product_id": "book", "quantity": 2}], "address": ADDRESS}
    trips = Trips()
    status, first = trips.of(lambda: mall.place(token, body, key="order-key-0001"))
    assert status == 201 and first["payment"] is not None, first
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    # The retry gets the same order and the same payment parameters, and reserves nothing more.
    status, again = trips.of(lambda: mall.place(token, body, key="order-key-0001"))
    assert (status, again) == (201, first)
    assert len(trips.sent) <= 1, trips.sent
    assert stock_of("book") == 8
    status, refused = mall.place(token, {**body, "lines": [{"product_id": "book", "quantity": 1}]},
                                 key="order-key-0001")
    assert status == 422 and refused["error"]["code"] == "idempotency_key_reused"
    assert stock_of("book") == 8
    status, second = mall.place(token, body, key="order-key-0002")
    assert status == 201 and second["order_id"] != first["order_id"] and stock_of("book") == 6


def test_requesting_a_withdrawal_takes_at_most_three_round_trips_and_a_retry_replays_it(mall: Mall,
                                                                                        table: Table) -> None:
    setup_promoter(table, 50_000)
    token = bearer(UID, Role.CUSTOMER, Role.PROMOTER)["authorization"].removeprefix("Bearer ")
    body = {"amount_fen": 5_000}
    trips = Trips()

    def ask(key: str, sent: dict[str, Any] = body) -> tuple[int, dict[str, Any]]:
        return call(mall, "promoter_withdraw", "POST /promoter/withdrawals", token=token, body=sent, key=key)

    first = created_then_replayed(trips, ask, "withdraw-key-0001", {"amount_fen": 6_000})
    assert LedgerRepository(table).wallet(UID).balances.available == 45_000  # held once
    status, second = ask("withdraw-key-0002")
    assert status == 201 and second["withdrawal_id"] != first["withdrawal_id"]
    assert LedgerRepository(table).wallet(UID).balances.available == 40_000


def test_the_commission_preview_takes_at_most_three_round_trips(mall: Mall, table: Table) -> None:
    setup_promoter(table, 1)
    add_products(BOOK)
    token = bearer(UID, Role.CUSTOMER, Role.PROMOTER)["authorization"].removeprefix("Bearer ")
    trips = Trips()
    status, shown = trips.of(lambda: call(mall, "promoter_commission_preview", "GET /promoter/commissions/preview",
                                          token=token, query={"product_id": "book"}))
    assert status == 200 and shown["product_id"] == "book" and shown["l1"]["amount_fen"] == 399, shown
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    status, missing = call(mall, "promoter_commission_preview", "GET /promoter/commissions/preview", token=token,
                           query={"product_id": "nope"})
    assert status == 404 and missing["error"]["code"] == "product_not_found"


def test_concurrent_requests_with_one_key_place_one_order_and_all_answer_with_it(mall: Mall, table: Table) -> None:
    add_products(BOOK)
    buyer, _ = customer_token()
    markers = RequestMarkers(table, "PlaceOrderFunction")
    request = PlaceOrderRequest.model_validate({"lines": [{"product_id": "book", "quantity": 1}],
                                                "address": ADDRESS})
    now = utc_now()
    start = threading.Barrier(6)

    def place(_: int) -> str:
        start.wait()
        marked = MarkedRequest(markers, markers.marker(buyer, "race-key-0001", request.model_dump(mode="json")), now)
        placed = place_order(PlaceOrder(request=request, buyer_id=buyer, now=now),
                             repos=PlacementRepositories.on(table), pay=_no_pay, notify_url="http://n.test/",
                             marked=marked)
        return placed.order_id

    with ThreadPoolExecutor(max_workers=6) as pool:
        placed = list(pool.map(place, range(6)))
    assert len(set(placed)) == 1
    assert stock_of("book") == 9


def _no_pay() -> WeChatPayClient:
    raise WeChatPayError(0, "OFFLINE", "no WeChat Pay in this test")


def test_a_bound_buyer_places_in_three_round_trips_with_the_grandparent_checked_at_commit(
        table: Table, ddb_client: Any) -> None:
    world = World(table)
    a, b, buyer = _chain(world)  # A ← B ← buyer
    markers = RequestMarkers(table, "PlaceOrderFunction")
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=1)])
    trips = Trips(ddb_client)

    def place(key: str) -> str:
        marked = MarkedRequest(markers, markers.marker(buyer, key, request.model_dump(mode="json")), T0)
        return place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0), repos=PlacementRepositories.on(table),
                           pay=_no_pay, notify_url="http://n.test/", marked=marked).order_id

    def attribution(order_id: str) -> tuple[str | None, str | None]:
        order = world.orders.get(order_id)
        assert order is not None and order.attribution is not None
        return order.attribution["l1_promoter_id"], order.attribution["l2_promoter_id"]

    first = trips.of(lambda: place("bound-key-0001"))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert attribution(first) == (b, a)
    # A frozen grandparent earns nothing: the transaction's check finds it and the order is
    # attributed again (one more transaction, for this case only).
    change_status(promoters=PromoterRepository(table), user_id=a, action="freeze", reason="review", by="admin:t",
                  now=T0)
    second = trips.of(lambda: place("bound-key-0002"))
    assert attribution(second) == (b, None)
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS + 1, trips.sent
    # The parent frozen: no L1, and L2 still goes to the active grandparent (never shifted up).
    change_status(promoters=PromoterRepository(table), user_id=a, action="unfreeze", reason=None, by="admin:t",
                  now=T0)
    change_status(promoters=PromoterRepository(table), user_id=b, action="freeze", reason="review", by="admin:t",
                  now=T0)
    third = trips.of(lambda: place("bound-key-0003"))
    assert attribution(third) == (None, a)
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
