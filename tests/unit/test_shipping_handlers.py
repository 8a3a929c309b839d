"""The shipping routes through their real handlers (moto): the ship body with parcels (422 naming
the field), the carrier list (WeChat unreachable: the fallback list), the uploads list and retry."""

from __future__ import annotations

import pytest

from mall.dal.keys import shipping_upload_key
from mall.dal.table import Table, main_table
from mall.domain.tokens import Role
from mall.services.shipping import forget_carriers
from tests.conftest import bearer
from tests.unit.conftest import Invoke
from tests.unit.test_fulfilment_factory import Line, put_order

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture
def table() -> Table:
    forget_carriers()
    return main_table()


@pytest.fixture
def admin() -> dict[str, str]:
    return bearer("admin:alice", Role.ADMIN)


def test_ship_with_parcels_refuses_an_unknown_carrier_naming_the_field(invoke: Invoke, table: Table,
                                                                        admin: dict[str, str]) -> None:
    order = put_order(table, lines=(Line(), Line()))
    path = f"/admin/orders/{order['order_id']}/ship"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"parcels": [
        {"carrier_id": "SF", "tracking_no": "SF100001", "line_ids": ["1"]},
        {"carrier_id": "NOPE", "tracking_no": "NP100002", "line_ids": ["2"]}]})
    assert status == 422 and [f["field"] for f in body["error"]["fields"]] == ["parcels.1.carrier_id"]
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin,
                             body={"carrier": "没有这家", "tracking_no": "SF100001"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "carrier"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"tracking_no": "SF100001"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "carrier"
    status, body, _ = invoke("admin_orders", "POST", path, headers=admin, body={"parcels": [
        {"carrier_id": "SF", "tracking_no": "SF100001", "line_ids": ["1"]},
        {"carrier_id": "ZTO", "tracking_no": "ZT100002", "line_ids": ["2"]}]})
    assert status == 200 and body["status"] == "SHIPPED" and body["carrier"] == "顺丰速运"


def test_carriers_and_uploads_routes(invoke: Invoke, table: Table, admin: dict[str, str]) -> None:
    status, body, _ = invoke("admin_shipping", "GET", "/admin/shipping/carriers", headers=admin)
    assert status == 200 and {"carrier_id": "SF", "name": "顺丰速运"} in body["items"]
    order = put_order(table)
    status, _, _ = invoke("admin_orders", "POST", f"/admin/orders/{order['order_id']}/ship", headers=admin,
                          body={"carrier": "SF", "tracking_no": "SF100001"})
    assert status == 200
    status, body, _ = invoke("admin_shipping", "GET", "/admin/shipping/uploads", headers=admin)
    assert status == 200 and body["items"] == []  # FAILED by default: nothing failed yet
    table.update(shipping_upload_key(order["order_id"]), "SET #s = :f, gsi1pk = :g, errcode = :c, errmsg = :m",
                 names={"#s": "status"}, values={":f": "FAILED", ":g": "SHIPUPLOADS#FAILED", ":c": 10060004,
                                                 ":m": "支付单处于不可发货的状态"})
    status, body, _ = invoke("admin_shipping", "GET", "/admin/shipping/uploads", headers=admin)
    assert status == 200 and [(u["order_id"], u["errcode"]) for u in body["items"]] == [(order["order_id"], 10060004)]
    status, body, _ = invoke("admin_shipping", "POST", f"/admin/shipping/uploads/{order['order_id']}/retry",
                             headers=admin)
    assert status == 200 and body["status"] == "PENDING"
    status, body, _ = invoke("admin_shipping", "POST", f"/admin/shipping/uploads/{order['order_id']}/retry",
                             headers=admin)
    assert status == 200 and body["status"] == "PENDING"  # already pending: queued again, nothing else
    status, body, _ = invoke("admin_shipping", "POST", "/admin/shipping/uploads/o_missing0000/retry", headers=admin)
    assert status == 404 and body["error"]["code"] == "upload_not_found"
    status, _, _ = invoke("admin_shipping", "GET", "/admin/shipping/uploads",
                          headers=bearer("u_1", Role.CUSTOMER))
    assert status == 403
