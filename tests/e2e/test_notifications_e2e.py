"""Subscribe messages end to end on the local stack (docs/notifications.md):

The admin configures the templates (PUT /admin/settings/distribution); a buyer bound to a promoter
pays; the table stream → the router → NotificationQueue → NotificationWorkerFunction sends the
commission_earned message, which the WeChat sandbox receives for the promoter's openid. A promoter
who has not subscribed (the sandbox answers 43101) leaves a NOT_SUBSCRIBED record, and nothing is
retried. A buyer who granted the shipped template gets the order_shipped message when the admin
ships; one who did not is recorded SKIPPED (no_grant) and gets nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from local.sandbox import sandbox_openid
from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.notifications import NotificationRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.domain.notification_events import BIND_SOURCE_TEXT
from tests.e2e.test_commission_e2e import bind, promoter_login
from tests.e2e.test_referral_e2e import admin_token, bearer, login, save_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 15
PRICE = 10_000
L1 = PRICE * 1_000 // 10_000  # 10% of the line


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture
def templates(api: str, http: requests.Session) -> Iterator[tuple[dict[str, str], str, int]]:
    """Notifications configured for this test (admin headers, run id, settings version); the
    previous notification settings are put back afterwards, for the tests that follow."""
    admin = bearer(admin_token(api, http))
    before = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()["settings"]
    run = uuid.uuid4().hex[:8]
    version = save_settings(
        api, http, admin, promoter_review="auto", binding_mode="first_click", only_new_customers=False,
        binding_validity={"kind": "permanent"},
        commission={"l1_rate_bp": 1_000, "l2_rate_bp": 500, "cap_bp": 3_000, "self_purchase": "rebate",
                    "settlement_days": 7},
        notifications={
            "commission_earned": {"enabled": True, "template_id": f"tplEarned{run}", "miniprogram_state": "trial",
                                  "fields": {"amount1": "amount", "character_string2": "order_no",
                                             "thing3": "product", "time4": "time",
                                             "thing5": "text:确认收货后7天可提现"}},
            "team_member_joined": {"enabled": True, "template_id": f"tplTeam{run}"},
            "order_shipped": {"enabled": True, "template_id": f"tplShipped{run}"},
        })
    yield admin, run, version
    save_settings(api, http, admin, notifications=before["notifications"])


def received(stack: Any, http: requests.Session, openid: str) -> dict[str, Any]:
    answer = http.get(f"{stack.sandbox_url}/wechat/sandbox/subscribe-messages", params={"touser": openid},
                      timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def report_grants(api: str, http: requests.Session, who: dict[str, Any], run: str) -> None:
    """What the mini-program reports after wx.requestSubscribeMessage (at apply): one message of each."""
    reported = http.post(f"{api}/me/subscriptions", headers=bearer(who["access_token"]), timeout=TIMEOUT, json={
        "scene": "apply", "results": [{"template_id": f"tplEarned{run}", "result": "accept"},
                                      {"template_id": f"tplTeam{run}", "result": "accept"}]})
    assert reported.status_code == 200, reported.text
    granted = {t["template_id"] for t in reported.json()["templates"] if t["granted"]}
    assert granted == {f"tplEarned{run}", f"tplTeam{run}"}, reported.text


def place_and_pay(stack: Any, api: str, http: requests.Session, buyer: dict[str, Any], product_id: str) -> str:
    placed = http.post(f"{api}/orders", timeout=20, json={
        "lines": [{"product_id": product_id, "quantity": 1}],
        "address": {"name": "王五", "phone": "13900003333", "province": "浙江省", "city": "杭州市",
                    "detail": "文一路 2 号"},
    }, headers={**bearer(buyer["access_token"]), "Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    order_id = str(placed.json()["order_id"])
    paid = pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"]))
    assert paid.status == 204, paid.response
    return order_id


def test_paying_sends_commission_earned_to_the_promoter_and_43101_is_recorded(
        stack: Any, api: str, http: requests.Session, table: Table,
        templates: tuple[dict[str, str], str, int]) -> None:
    _admin, run, version = templates
    category = f"e2e-nt-{run}"
    CategoryRepository(table).create(Category(category_id=category, name="通知测试"))
    product_id = f"e2e-nt-{run}"
    ProductRepository(table).create(Product(product_id=product_id, name="通知测试商品", type="physical",
                                            category_id=category, price_fen=PRICE, stock=10, shipping_fee_fen=0,
                                            on_shelf=True))

    subscribed_code, refusing_code = f"e2e-nt-p-{run}", f"e2e-nt-q-{run}"
    p = promoter_login(api, http, subscribed_code, version)
    q = promoter_login(api, http, refusing_code, version)
    report_grants(api, http, p, run)
    report_grants(api, http, q, run)  # WeChat disagrees (the sandbox answers 43101): the grant is used up
    refusing_openid = sandbox_openid(refusing_code)
    declared = http.post(f"{stack.sandbox_url}/wechat/sandbox/subscriptions", timeout=TIMEOUT,
                         json={"openid": refusing_openid, "subscribed": False})
    assert declared.status_code == 200, declared.text
    buyer_of_p, buyer_of_q = login(api, http, f"e2e-nt-b-{run}"), login(api, http, f"e2e-nt-c-{run}")
    bind(api, http, buyer_of_p, p)
    bind(api, http, buyer_of_q, q)

    order_p = place_and_pay(stack, api, http, buyer_of_p, product_id)
    order_q = place_and_pay(stack, api, http, buyer_of_q, product_id)
    stack.drain_streams(timeout=60)

    # P: the new member, then the commission, each exactly once, to P's openid.
    messages = received(stack, http, sandbox_openid(subscribed_code))["messages"]
    by_template = {m["template_id"]: m for m in messages}
    assert sorted(m["template_id"] for m in messages) == sorted([f"tplEarned{run}", f"tplTeam{run}"]), messages
    earned = by_template[f"tplEarned{run}"]
    assert earned["miniprogram_state"] == "trial"
    assert earned["page"].startswith("pages/promoter/commissions/index?commission_id=cm_")
    data = {k: v["value"] for k, v in earned["data"].items()}
    assert data["amount1"] == f"¥{L1 // 100}.{L1 % 100:02d}"
    assert data["character_string2"].startswith(order_p[:6]) and order_p not in str(data)
    assert data["thing3"] == "通知测试商品" and data["thing5"] == "确认收货后7天可提现"
    assert len(data["time4"]) == len("2026-03-01 10:03")
    team = {k: v["value"] for k, v in by_template[f"tplTeam{run}"]["data"].items()}
    assert team["thing1"] == "微信用户"  # no nickname given at login: shown as WeChat shows anonymous users
    assert team["thing2"] in BIND_SOURCE_TEXT.values()  # how the member came, in Chinese

    # Q has not subscribed: WeChat said 43101, the records say NOT_SUBSCRIBED, nothing was retried.
    assert received(stack, http, refusing_openid)["messages"] == []
    assert len(received(stack, http, refusing_openid)["refused"]) == 2  # team member + commission, once each
    records = NotificationRepository(table).for_recipient(q["user_id"], limit=10).items
    assert sorted((r["kind"], r["status"], r["attempts"], r["errcode"]) for r in records) == [
        ("commission_earned", "NOT_SUBSCRIBED", 1, 43101), ("team_member_joined", "NOT_SUBSCRIBED", 1, 43101)]
    assert any(r["subject"].get("order_id") == order_q for r in records)
    sent = NotificationRepository(table).for_recipient(p["user_id"], limit=10).items
    assert sorted((r["kind"], r["status"]) for r in sent) == [("commission_earned", "SENT"),
                                                             ("team_member_joined", "SENT")]


def test_shipping_tells_the_buyer_who_granted_it_and_skips_the_one_who_did_not(
        stack: Any, api: str, http: requests.Session, table: Table,
        templates: tuple[dict[str, str], str, int]) -> None:
    admin, run, _version = templates
    category = product_id = f"e2e-ns-{run}"
    CategoryRepository(table).create(Category(category_id=category, name="发货通知"))
    ProductRepository(table).create(Product(product_id=product_id, name="发货通知商品", type="physical",
                                            category_id=category, price_fen=PRICE, stock=10, shipping_fee_fen=0,
                                            on_shelf=True))
    granted_code, silent_code = f"e2e-ns-g-{run}", f"e2e-ns-n-{run}"
    granted, silent = login(api, http, granted_code), login(api, http, silent_code)
    reported = http.post(f"{api}/me/subscriptions", headers=bearer(granted["access_token"]), timeout=TIMEOUT,
                         json={"scene": "checkout", "results": [{"template_id": f"tplShipped{run}",
                                                                 "result": "accept"}]})
    assert reported.status_code == 200, reported.text
    orders = {code: place_and_pay(stack, api, http, who, product_id)
              for code, who in ((granted_code, granted), (silent_code, silent))}
    for code, order_id in orders.items():
        shipped = http.post(f"{api}/admin/orders/{order_id}/ship", headers=admin, timeout=TIMEOUT,
                            json={"carrier": "顺丰速运", "tracking_no": f"SF{run}{code[-10:-9]}"})
        assert shipped.status_code == 200, shipped.text
    stack.drain_streams(timeout=60)

    (message,) = received(stack, http, sandbox_openid(granted_code))["messages"]
    data = {k: v["value"] for k, v in message["data"].items()}
    order_id = orders[granted_code]
    assert message["template_id"] == f"tplShipped{run}"
    assert message["page"] == f"pages/orders/detail?order_id={order_id}"
    assert data["character_string1"].startswith(order_id[:6]) and order_id not in str(data)
    assert (data["thing2"], data["thing3"]) == ("发货通知商品", "顺丰速运")
    assert "13900003333" not in str(data) and "文一路" not in str(data)  # the address stays out
    mine = http.get(f"{api}/me/subscriptions", headers=bearer(granted["access_token"]), timeout=TIMEOUT).json()
    assert [(t["kind"], t["remaining"]) for t in mine["templates"] if t["kind"] == "order_shipped"] == [
        ("order_shipped", 0)]

    assert received(stack, http, sandbox_openid(silent_code))["messages"] == []
    (record,) = NotificationRepository(table).for_recipient(silent["user_id"], limit=10).items
    assert (record["kind"], record["status"], record["reason"]) == ("order_shipped", "SKIPPED", "no_grant")
