"""The merchant dashboard end to end, over HTTP against the local stack: a customer places and pays
an order (the pay sandbox sends a genuinely signed notification), the table stream's router sends
the changes to ``StatsQueue``, the stats worker applies them, and ``GET /admin/dashboard`` shows the
order; a promoter sees the leaderboard."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import boto3
import pytest
import requests

from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.clock import china_day, utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.test_referral_e2e import admin_token, bearer, login

pytestmark = pytest.mark.e2e

TIMEOUT = 15
PRICE = 8_800


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def figures(api: str, http: requests.Session, admin: dict[str, str]) -> dict[str, Any]:
    today = date.fromisoformat(china_day(utc_now()))
    # A day either side: the payment may land on the next China day when this runs around midnight.
    query = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    response = http.get(f"{api}/admin/dashboard", params=query, headers=admin, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_paid_order_shows_on_the_dashboard(stack: Any, api: str, http: requests.Session, table: Table) -> None:
    admin = bearer(admin_token(api, http))
    run = uuid.uuid4().hex[:8]
    category, product_id = f"e2e-st-{run}", f"e2e-st-{run}"
    CategoryRepository(table).create(Category(category_id=category, name="看板测试"))
    ProductRepository(table).create(Product(product_id=product_id, name="看板测试商品", type="virtual",
                                            category_id=category, price_fen=PRICE, stock=10, on_shelf=True))
    stack.drain_streams(timeout=60)
    before = figures(api, http, admin)
    buyer = login(api, http, f"e2e-st-buyer-{run}")  # a new customer

    placed = http.post(f"{api}/orders", json={"lines": [{"product_id": product_id, "quantity": 2}]},
                       headers={**bearer(buyer["access_token"]), "Idempotency-Key": uuid.uuid4().hex}, timeout=20)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    paid = pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"]))
    assert paid.status == 204, paid.response
    stack.drain_streams(timeout=60)

    after = figures(api, http, admin)
    assert after["gmv_fen"] - before["gmv_fen"] == 2 * PRICE
    assert after["paid_orders"] - before["paid_orders"] == 1
    assert after["customers_total"] - before["customers_total"] == 1
    assert after["customers_new"] - before["customers_new"] == 1
    assert after["first_time_buyers"] - before["first_time_buyers"] == 1
    assert after["buyers"] - before["buyers"] == 1
    mine = [p for p in after["top_products"] if p["product_id"] == product_id]
    assert mine == [{"product_id": product_id, "name": "看板测试商品", "units": 2, "sales_fen": 2 * PRICE,
                     "orders": 1}] or len(after["top_products"]) == 10

    # Bad ranges are the client's mistake, named.
    wrong = http.get(f"{api}/admin/dashboard", params={"from": "2026-11-05", "to": "2026-11-01"}, headers=admin,
                     timeout=TIMEOUT)
    assert wrong.status_code == 422 and wrong.json()["error"]["fields"][0]["field"] == "query:from"
    forbidden = http.get(f"{api}/admin/dashboard", headers=bearer(buyer["access_token"]), timeout=TIMEOUT)
    assert forbidden.status_code == 403
    board = http.get(f"{api}/promoter/leaderboard", params={"board": "sales", "period": "month"},
                     headers=bearer(buyer["access_token"]), timeout=TIMEOUT)
    assert board.status_code == 403  # a customer is not a promoter
