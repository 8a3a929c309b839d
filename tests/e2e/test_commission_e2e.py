"""The commission chain end to end, over HTTP against the local stack:

A ← B ← C ← D (each bound to the one before through ``POST /referral/bind``); A, B and C are
promoters; D buys. The order is paid through the pay sandbox (a genuinely signed notification),
the order stream routes it to ``CommissionQueue`` and the worker computes: C earns L1, B earns L2,
A (a third level) nothing. D confirms receipt; the settlement planner fired at completion + 7 days
settles both. C then has less available than its commission (a withdrawal, posted straight to the
ledger here), D is refunded in full, and the clawback leaves C exactly the right debt."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from local.wechatpay_sandbox.local_stack import complete_local_refund, pay_local_order
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.catalog import Category, Product
from tests.e2e.test_referral_e2e import admin_token, bearer, login, save_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 15
PRICE = 12_345
QUANTITY = 2
BASE = PRICE * QUANTITY  # 24,690 fen: the commission base (shipping excluded)
L1 = BASE * 1_000 // 10_000  # 2,469 (10%)
L2 = BASE * 500 // 10_000  # 1,234 (5% of 24,690 = 1,234.5, floored)


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def promoter_login(api: str, http: requests.Session, code: str, version: int) -> dict[str, Any]:
    """Log in, apply (automatic review), log in again for a token with the promoter role."""
    first = login(api, http, code)
    applied = http.post(f"{api}/promoter/apply", json={"accepted_rules_version": version},
                        headers={**bearer(first["access_token"]), "Idempotency-Key": f"apply-{code}"},
                        timeout=TIMEOUT)
    assert applied.status_code == 201 and applied.json()["status"] == "active", applied.text
    again = login(api, http, code)
    assert "promoter" in again["roles"]
    again["code"] = applied.json()["code"]
    return again


def bind(api: str, http: requests.Session, who: dict[str, Any], parent: dict[str, Any]) -> None:
    bound = http.post(f"{api}/referral/bind", json={"code": parent["code"]}, headers=bearer(who["access_token"]),
                      timeout=TIMEOUT)
    assert bound.status_code == 200 and bound.json()["binding"]["parent_id"] == parent["user_id"], bound.text


def commissions(api: str, http: requests.Session, who: dict[str, Any]) -> list[dict[str, Any]]:
    listed = http.get(f"{api}/promoter/commissions", headers=bearer(who["access_token"]), timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


def summary(api: str, http: requests.Session, who: dict[str, Any]) -> dict[str, Any]:
    found = http.get(f"{api}/promoter/ledger/summary", headers=bearer(who["access_token"]), timeout=TIMEOUT)
    assert found.status_code == 200, found.text
    return dict(found.json())


def balances(body: dict[str, Any]) -> tuple[int, int, int, int]:
    return body["frozen_fen"], body["available_fen"], body["withdrawing_fen"], body["debt_fen"]


def test_a_three_deep_chain_earns_settles_and_a_later_refund_leaves_debt(stack: Any, api: str,
                                                                         http: requests.Session,
                                                                         table: Table) -> None:
    admin = bearer(admin_token(api, http))
    version = save_settings(
        api, http, admin, promoter_review="auto", binding_mode="first_click", only_new_customers=False,
        binding_validity={"kind": "permanent"}, levels=[{"id": "basic", "name": "普通"}],
        commission={"l1_rate_bp": 1_000, "l2_rate_bp": 500, "cap_bp": 3_000, "self_purchase": "rebate",
                    "settlement_days": 7})
    run = uuid.uuid4().hex[:8]
    category = f"e2e-cm-{run}"
    CategoryRepository(table).create(Category(category_id=category, name="佣金测试"))
    product_id = f"e2e-cm-{run}"
    ProductRepository(table).create(Product(product_id=product_id, name="佣金测试商品", type="physical",
                                            category_id=category, price_fen=PRICE, stock=10, shipping_fee_fen=1_000,
                                            on_shelf=True))

    a = promoter_login(api, http, f"e2e-cm-a-{run}", version)
    b = promoter_login(api, http, f"e2e-cm-b-{run}", version)
    c = promoter_login(api, http, f"e2e-cm-c-{run}", version)
    d = login(api, http, f"e2e-cm-d-{run}")
    bind(api, http, b, a)
    bind(api, http, c, b)
    bind(api, http, d, c)

    # What C sees before anyone buys.
    preview = http.get(f"{api}/promoter/commissions/preview", params={"product_id": product_id},
                       headers=bearer(c["access_token"]), timeout=TIMEOUT)
    assert preview.status_code == 200, preview.text
    assert (preview.json()["l1"]["amount_fen"], preview.json()["l1"]["source"]) == (PRICE // 10, "global")

    # D buys and pays.
    placed = http.post(f"{api}/orders", timeout=20, json={
        "lines": [{"product_id": product_id, "quantity": QUANTITY}],
        "address": {"name": "丁五", "phone": "13900002222", "province": "浙江省", "city": "杭州市",
                    "detail": "文三路 1 号"},
    }, headers={**bearer(d["access_token"]), "Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    assert placed.json()["amount_fen"] == BASE + 1_000
    paid = pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"]))
    assert paid.status == 204, paid.response
    stack.drain_streams(timeout=60)

    c_items, b_items = commissions(api, http, c), commissions(api, http, b)
    assert [(i["order_id"], i["level"], i["amount_fen"], i["status"]) for i in c_items] == [
        (order_id, 1, L1, "FROZEN")]
    assert [(i["order_id"], i["level"], i["amount_fen"], i["status"]) for i in b_items] == [
        (order_id, 2, L2, "FROZEN")]
    assert c_items[0]["rule"]["base_fen"] == BASE and c_items[0]["rule"]["source"] == "global"
    assert c_items[0]["buyer_id"] != d["user_id"] and d["user_id"] not in str(c_items)
    assert commissions(api, http, a) == []
    assert balances(summary(api, http, c)) == (L1, 0, 0, 0)
    assert balances(summary(api, http, b)) == (L2, 0, 0, 0)
    assert balances(summary(api, http, a)) == (0, 0, 0, 0)

    # Shipped, received: the commission becomes due 7 days after completion.
    shipped = http.post(f"{api}/admin/orders/{order_id}/ship", headers=admin,
                        json={"carrier": "顺丰速运", "tracking_no": f"SF{run}"}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    received = http.post(f"{api}/orders/{order_id}/confirm-receipt", headers=bearer(d["access_token"]),
                         timeout=TIMEOUT)
    assert received.status_code == 200, received.text
    completed_at = datetime.fromisoformat(received.json()["completed_at"].replace("Z", "+00:00"))
    stack.drain_streams(timeout=60)
    due = datetime.fromisoformat(commissions(api, http, c)[0]["due_at"].replace("Z", "+00:00"))
    assert due == completed_at + timedelta(days=7)

    # The day before it is due, nothing settles; at T+7 both settle.
    stack.fire_schedule("SettlementPlannerFunction", completed_at + timedelta(days=6))
    stack.drain_streams(timeout=60)
    assert commissions(api, http, c)[0]["status"] == "FROZEN"
    stack.fire_schedule("SettlementPlannerFunction", completed_at + timedelta(days=7, minutes=1))
    stack.drain_streams(timeout=60)
    assert [i["status"] for i in commissions(api, http, c) + commissions(api, http, b)] == ["SETTLED", "SETTLED"]
    assert balances(summary(api, http, c)) == (0, L1, 0, 0)
    assert balances(summary(api, http, b)) == (0, L2, 0, 0)

    # C moves 2,000 of it into a withdrawal (posted to the ledger as the withdrawal request does).
    withdrawn = 2_000
    LedgerRepository(table).post([L.withdrawal_held(promoter_id=c["user_id"], withdrawal_id=f"w_e2e{run}",
                                                    amount_fen=withdrawn, at=utc_now())])

    # D gets a full refund after settlement.
    asked = http.post(f"{api}/orders/{order_id}/refunds", headers={**bearer(d["access_token"]),
                                                                   "Idempotency-Key": uuid.uuid4().hex},
                      json={"reason": "不想要了", "lines": [{"line_id": "1"}]}, timeout=TIMEOUT)
    assert asked.status_code == 201, asked.text
    refund_id = asked.json()["refund_id"]
    approved = http.post(f"{api}/admin/refunds/{refund_id}/approve", headers=admin, timeout=TIMEOUT)
    assert approved.status_code == 200 and approved.json()["status"] == "PROCESSING", approved.text
    event = complete_local_refund(stack.data_dir, refund_id, appid=str(stack.env["WECHAT_APP_ID"]))
    assert event.status in {200, 204}, event.response
    stack.drain_streams(timeout=60)

    c_after, b_after = commissions(api, http, c)[0], commissions(api, http, b)[0]
    assert (c_after["status"], c_after["clawed_back_fen"], c_after["current_fen"]) == ("SETTLED", L1, 0)
    assert (b_after["status"], b_after["clawed_back_fen"], b_after["current_fen"]) == ("SETTLED", L2, 0)
    # C had L1 − 2,000 available: that much is taken back, the rest (2,000) is owed.
    assert balances(summary(api, http, c)) == (0, 0, withdrawn, withdrawn)
    assert balances(summary(api, http, b)) == (0, 0, 0, 0)
    assert balances(summary(api, http, a)) == (0, 0, 0, 0)
    # The admin sees the same record with its beneficiary.
    seen = http.get(f"{api}/admin/promoters/{c['user_id']}/commissions", headers=admin, timeout=TIMEOUT)
    assert seen.status_code == 200 and seen.json()["items"][0]["beneficiary_id"] == c["user_id"]
    # The ledger of C balances from first principles: earned L1, took back L1, 2,000 withdrawing, 2,000 owed.
    totals = L.sum_legs(LedgerRepository(table).all_postings(c["user_id"]))
    assert {k: v for k, v in totals.items() if v} == {"withdrawing": withdrawn, "debt": -withdrawn}
