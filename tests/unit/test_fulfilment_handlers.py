"""The after-payment functions through their real handlers (moto): routes, roles, status codes and
error codes; refunds approval with a fake WeChat Pay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.table import Table, main_table
from mall.domain.tokens import Role
from mall.integrations.wechatpay.errors import WeChatPayRetryableError
from mall.integrations.wechatpay.refund_resources import RefundResult
from tests.conftest import ROOT, bearer
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function
from tests.unit.test_fulfilment_factory import ADDRESS, Line, order_item, put_order

pytestmark = pytest.mark.usefixtures("moto_table")


def token(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


BUYER = "u_buyer"


@pytest.fixture
def table() -> Table:
    return main_table()


@pytest.fixture
def customer() -> dict[str, str]:
    return token(BUYER, Role.CUSTOMER)


@pytest.fixture
def admin() -> dict[str, str]:
    return token("admin:alice", Role.ADMIN)


def test_orders_list_and_detail_are_the_callers_own(invoke: Invoke, table: Table, customer: dict[str, str]) -> None:
    order = order_item(buyer_id=BUYER)
    table.put(order)
    table.put(order_item(buyer_id="u_other"))
    status, body, _ = invoke("orders_read", "GET", "/orders", headers=customer)
    assert status == 200 and [o["order_id"] for o in body["items"]] == [order["order_id"]]
    status, body, _ = invoke("orders_read", "GET", f"/orders/{order['order_id']}", headers=customer)
    assert status == 200 and body["address"]["phone"] == "138****5678" and body["lines"][0]["refundable_fen"] == 1000
    other = token("u_other", Role.CUSTOMER)
    status, body, _ = invoke("orders_read", "GET", f"/orders/{order['order_id']}", headers=other)
    assert status == 404 and body["error"]["code"] == "order_not_found"
    status, _, _ = invoke("orders_read", "GET", "/orders")
    assert status == 401


def test_admin_routes_need_the_admin_role(invoke: Invoke, customer: dict[str, str]) -> None:
    status, body, _ = invoke("admin_orders", "GET", "/admin/orders", headers=customer)
    assert status == 403 and body["error"]["code"] == "forbidden_role"
    status, _, _ = invoke("admin_refunds", "GET", "/admin/refunds", headers=customer)
    assert status == 403


def test_ship_confirm_and_bad_input(invoke: Invoke, table: Table, customer: dict[str, str],
                                    admin: dict[str, str]) -> None:
    order = order_item(buyer_id=BUYER)
    table.put(order)
    path = f"/admin/orders/{order['order_id']}/ship"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"carrier": "SF", "tracking_no": "x"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "tracking_no"
    status, body, _ = invoke("order_confirm_receipt", "POST", f"/orders/{order['order_id']}/confirm-receipt",
                             headers=customer)
    assert status == 409 and body["error"]["code"] == "order_not_shipped"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin,
                             body={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
    assert status == 200 and body["status"] == "SHIPPED" and body["history"][0]["by"] == "admin:alice"
    status, body, _ = invoke("order_confirm_receipt", "POST", f"/orders/{order['order_id']}/confirm-receipt",
                             headers=customer)
    assert status == 200 and body["status"] == "COMPLETED" and body["completed_by"] == "buyer"
    status, body, _ = invoke("admin_orders", "POST", "/admin/orders/o_missing000/ship", headers=admin,
                             body={"carrier": "SF", "tracking_no": "SF1234"})
    assert status == 404


def test_verify_wrong_code_is_422(invoke: Invoke, table: Table, customer: dict[str, str],
                                  admin: dict[str, str]) -> None:
    order = order_item(buyer_id=BUYER, lines=[Line(type="service")], with_address=False)
    table.put(order)
    _, view, _ = invoke("orders_read", "GET", f"/orders/{order['order_id']}", headers=customer)
    code = view["verify_code"]
    path = f"/admin/orders/{order['order_id']}/verify"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"code": "1111 1111 1111"})
    assert status == 422 and body["error"]["code"] == "wrong_verify_code"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"code": code})
    assert status == 200 and body["status"] == "COMPLETED" and body["completed_by"] == "verify"


class FakePay:
    def __init__(self) -> None:
        self.fail = False

    def create_refund(self, out_refund_no: str, **kwargs: Any) -> RefundResult:
        if self.fail:
            raise WeChatPayRetryableError(0, "TIMEOUT", "no answer")
        return RefundResult.model_validate({
            "refund_id": "5000001", "out_refund_no": out_refund_no, "transaction_id": "42", "status": "PROCESSING",
            "out_trade_no": kwargs["out_trade_no"], "amount": {"total": kwargs["total_fen"],
                                                              "refund": kwargs["refund_fen"]}})


def test_refund_request_idempotency_and_admin_review(invoke: Invoke, table: Table, customer: dict[str, str],
                                                     admin: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    created = order_item(buyer_id=BUYER, status="CREATED")
    table.put(created)
    ask = {"reason": "不想要了", "lines": [{"line_id": "1", "amount_fen": 400}]}
    status, body, _ = invoke("order_refund_request", "POST", f"/orders/{created['order_id']}/refunds",
                             headers={**customer, "idempotency-key": "k-created-0001"}, body=ask)
    assert status == 409 and body["error"]["code"] == "order_not_paid"

    order = order_item(buyer_id=BUYER)
    table.put(order)
    path = f"/orders/{order['order_id']}/refunds"
    status, _, _ = invoke("order_refund_request", "POST", path, headers=customer, body=ask)
    assert status == 422
    status, first, _ = invoke("order_refund_request", "POST", path, headers={**customer, "idempotency-key": "k-1-0001"},
                              body=ask)
    assert status == 201 and first["status"] == "REQUESTED" and first["refund_id"] == f"{order['order_id']}-r1"
    status, replay, _ = invoke("order_refund_request", "POST", path,
                               headers={**customer, "idempotency-key": "k-1-0001"}, body=ask)
    assert status == 201 and replay == first
    status, too_much, _ = invoke("order_refund_request", "POST", path,
                                 headers={**customer, "idempotency-key": "k-2-0001"},
                                 body={"reason": "x", "lines": [{"line_id": "1", "amount_fen": 700}]})
    assert status == 422 and too_much["error"]["code"] == "refund_exceeds_refundable"
    status, listed, _ = invoke("order_refund_request", "GET", path, headers=customer)
    assert status == 200 and [r["refund_id"] for r in listed["items"]] == [first["refund_id"]]
    assert listed["items"][0]["decided_by"] is None

    status, queue, _ = invoke("admin_refunds", "GET", "/admin/refunds", headers=admin)
    assert status == 200 and [r["refund_id"] for r in queue["items"]] == [first["refund_id"]]

    module = load_function("admin_refunds")
    pay = FakePay()
    monkeypatch.setattr(module, "pay_client", lambda: pay)
    merchant = type("Merchant", (), {"notify_url": "http://x/webhooks"})()
    monkeypatch.setattr(module, "merchant_config", lambda: merchant)
    pay.fail = True
    result = module.handler(http_event("POST", f"/admin/refunds/{first['refund_id']}/approve",
                                       headers=admin), FakeContext())
    assert result["statusCode"] == 503
    pay.fail = False
    result = module.handler(http_event("POST", f"/admin/refunds/{first['refund_id']}/approve",
                                       headers=admin), FakeContext())
    assert result["statusCode"] == 200 and '"PROCESSING"' in result["body"]
    status, body, _ = invoke("admin_refunds", "POST", f"/admin/refunds/{first['refund_id']}/reject", headers=admin,
                             body={"reason": "too late"})
    assert status == 409 and body["error"]["code"] == "refund_not_rejectable"


def test_stream_handler_projects_orders_and_reports_failures(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    event = json.loads((ROOT / "events" / "order_status_stream.json").read_text("utf-8"))
    monkeypatch.setenv("ORDER_STATUS_LIST", "index-with-entries")  # the stages that still keep the entries
    module = load_function("order_status_stream")
    assert module.handler(event, FakeContext()) == {"batchItemFailures": []}
    entry = table.get({"pk": "ORDER#o_sample0000000000000000", "sk": "STATUS"})
    assert entry is not None and entry["gsi1pk"] == "ORDERS#PAID" and entry["fulfilment"] == "virtual"

    def broken(**_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "on_order_changes", broken)
    two = {"Records": event["Records"] * 2}
    sequence = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert module.handler(two, FakeContext()) == {"batchItemFailures": [{"itemIdentifier": sequence}] * 2}


def test_auto_confirm_handler_runs_from_its_schedule_event(table: Table) -> None:
    shipped = order_item(status="SHIPPED", shipped_at="2026-11-01T00:00:00Z")
    table.put({**shipped, "gsi2pk": "AUTOCONFIRM", "gsi2sk": f"2026-11-01T00:00:00Z#{shipped['order_id']}"})
    event = json.loads((ROOT / "events" / "order_auto_confirm.json").read_text("utf-8"))
    event["time"] = "2099-01-01T00:00:00Z"
    result = load_function("order_auto_confirm").handler(event, FakeContext())
    assert result == {"examined": 1, "completed": 1, "skipped": 0}
    stored = table.get({"pk": shipped["pk"], "sk": "ORDER"})
    assert stored is not None and stored["status"] == "COMPLETED" and stored["completed_by"] == "auto"


# ---- the admin's reveal of a delivery address ---------------------------------------------------


def audit_records(table: Table) -> list[dict[str, Any]]:
    return AuditLog(table).on(utc_now())


def test_an_admin_sees_the_full_address_and_every_reveal_is_audited(
        invoke: Invoke, table: Table, admin: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    order = put_order(table, buyer_id=BUYER)
    path = f"/admin/orders/{order['order_id']}/shipping-address"
    status, body, headers = invoke("admin_orders", "GET", path, headers=admin)
    assert status == 200, body
    assert body == {"order_id": order["order_id"], "name": ADDRESS["name"], "phone": ADDRESS["phone"],
                    "province": ADDRESS["province"], "city": ADDRESS["city"], "detail": ADDRESS["detail"]}
    assert headers["Cache-Control"] == "no-store"
    status, _, _ = invoke("admin_orders", "GET", path, headers=admin)
    assert status == 200
    records = audit_records(table)
    assert len(records) == 2  # append-only: one record per reveal
    first = records[0]
    assert first["pk"] == f"AUDIT#{utc_now().date().isoformat()}" and first["sk"].startswith(first["at"] + "#")
    assert first["actor"] == "admin:alice" and first["order_id"] == order["order_id"]
    assert first["action"] == "reveal_shipping_address" and first["source_ip"] == "127.0.0.1"
    assert first["expires_at"] >= int(utc_now().timestamp()) + 3 * 366 * 86400  # kept at least 3 years
    # Never in a log line (Powertools logs to stdout), nor in the audit record.
    logged = capsys.readouterr()
    for secret in (ADDRESS["name"], ADDRESS["phone"], ADDRESS["detail"]):
        assert secret not in logged.out + logged.err
        assert secret not in json.dumps(records, ensure_ascii=False)


@pytest.mark.parametrize("roles", [(Role.CUSTOMER,), (Role.CUSTOMER, Role.PROMOTER)])
def test_customers_and_promoters_cannot_reveal_an_address(invoke: Invoke, table: Table,
                                                          roles: tuple[Role, ...]) -> None:
    order = put_order(table, buyer_id=BUYER)
    status, body, _ = invoke("admin_orders", "GET", f"/admin/orders/{order['order_id']}/shipping-address",
                             headers=token(BUYER, *roles))
    assert status == 403 and body["error"]["code"] == "forbidden_role"
    assert "name" not in body and audit_records(table) == []


def test_revealing_what_does_not_exist_is_404_and_not_audited(invoke: Invoke, table: Table,
                                                             admin: dict[str, str]) -> None:
    virtual = put_order(table, buyer_id=BUYER, lines=[Line(type="virtual")], with_address=False)
    status, body, _ = invoke("admin_orders", "GET", f"/admin/orders/{virtual['order_id']}/shipping-address",
                             headers=admin)
    assert status == 404 and body["error"]["code"] == "no_shipping_address"
    status, body, _ = invoke("admin_orders", "GET", "/admin/orders/o_missing000/shipping-address", headers=admin)
    assert status == 404 and body["error"]["code"] == "order_not_found"
    assert audit_records(table) == []


def test_the_routes_whose_modules_the_console_imports_on_first_use(invoke: Invoke, table: Table,
                                                                    admin: dict[str, str]) -> None:
    """A tracking refresh (the logistics provider's client) and one promoter's orders (their reads and
    use case) are imported by the console's order function on the route's first use: both answer."""
    order = order_item(buyer_id=BUYER)
    table.put(order)
    status, body, _ = invoke("admin_orders", "POST", "/admin/orders/o_missing/tracking/refresh", headers=admin)
    assert status == 404 and body["error"]["code"] == "order_not_found", body
    status, body, _ = invoke("admin_orders", "POST", f"/admin/orders/{order['order_id']}/tracking/refresh",
                             headers=admin)
    assert status == 200 and body["order_id"] == order["order_id"], body
    event = http_event("GET", "/admin/orders", headers=admin)
    event.update(rawQueryString="promoter_id=u_nobody", queryStringParameters={"promoter_id": "u_nobody"})
    answer = load_function("admin_orders").handler(event, FakeContext())
    assert answer["statusCode"] == 404 and json.loads(answer["body"])["error"]["code"] == "promoter_not_found"
