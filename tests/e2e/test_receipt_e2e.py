"""Receipt through WeChat over HTTP against the local stack: the sandbox plays WeChat's URL check and
its signed message pushes (safe mode and plain) to /webhooks/wechat/messages, which complete a shipped
order once; a forged push changes nothing; the reminder schedule calls the sandbox's
notify_confirm_receive once for a delivered order."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from local.wechat_messages import push_for_order, settlement_event, signed_push, url_check
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import iso
from mall.dal.table import Table
from tests.e2e.test_fulfilment_e2e import pay_at_sandbox, put_paid_order

TIMEOUT = 15


@pytest.fixture(scope="module")
def secrets_json(stack: Any) -> dict[str, str]:
    data: dict[str, str] = json.loads((Path(stack.data_dir) / "secrets.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture(scope="module")
def sandbox(stack: Any, secrets_json: dict[str, str]) -> PaySandbox:
    return PaySandbox(secrets_json, appid=str(stack.env["WECHAT_APP_ID"]),
                      state_path=Path(stack.data_dir) / "paysandbox.json",
                      sender=lambda url, headers, body: (0, b"not delivered"))


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture
def buyer(api: str, http: requests.Session) -> Iterator[tuple[str, dict[str, str]]]:
    login = http.post(f"{api}/auth/login", json={"code": f"receipt-{uuid.uuid4().hex[:12]}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    yield login.json()["user_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def shipped_paid_order(api: str, http: requests.Session, *, table: Table, secrets_json: dict[str, str],
                       sandbox: PaySandbox, admin: dict[str, str], buyer_id: str) -> str:
    order = put_paid_order(table, secrets_json, buyer_id)
    pay_at_sandbox(sandbox, secrets_json, order)  # WeChat knows the payment (transaction id)
    paid = sandbox.snapshot()["orders"][order["order_id"]]["transaction_id"]
    table.update({"pk": f"ORDER#{order['order_id']}", "sk": "ORDER"}, "SET transaction_id = :t",
                 values={":t": paid})  # as the payment notification records it
    shipped = http.post(f"{api}/admin/orders/{order['order_id']}/ship", headers=admin,
                        json={"carrier": "SF", "tracking_no": "SF7000001"}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    return str(order["order_id"])


def test_url_check_and_a_settlement_push_complete_the_order_once(  # noqa: PLR0917
        api: str, http: requests.Session, stack: Any, table: Table, secrets_json: dict[str, str],
        sandbox: PaySandbox, admin: dict[str, str], buyer: tuple[str, dict[str, str]]) -> None:
    token = secrets_json["wechat_message_token"]
    check = http.get(f"{api}/webhooks/wechat/messages", params=url_check(token=token, echostr="e-2026"),
                     timeout=TIMEOUT)
    assert (check.status_code, check.text) == (200, "e-2026")
    forged = http.get(f"{api}/webhooks/wechat/messages", params=url_check(token="not-ours", echostr="e-1"),
                      timeout=TIMEOUT)
    assert forged.status_code == 401 and "e-1" not in forged.text

    buyer_id, customer = buyer
    oid = shipped_paid_order(api, http, table=table, secrets_json=secrets_json, sandbox=sandbox, admin=admin,
                             buyer_id=buyer_id)
    payment = sandbox.snapshot()["orders"][oid]
    message = settlement_event(payment, oid, mchid=secrets_json["wechatpay_mchid"], now=int(time.time()))
    appid = str(stack.env["WECHAT_APP_ID"])  # what the functions check inside every encrypted push
    query, body = signed_push(message, token="not-ours", aes_key=secrets_json["wechat_message_aes_key"], appid=appid)
    refused = http.post(f"{api}/webhooks/wechat/messages?{urllib.parse.urlencode(query)}", data=body,
                        headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert refused.status_code == 401
    assert http.get(f"{api}/orders/{oid}", headers=customer, timeout=TIMEOUT).json()["status"] == "SHIPPED"

    for safe in (True, True, False):  # delivered again, as WeChat may, and in plain mode (allowed locally)
        assert push_for_order(Path(stack.data_dir), oid, api_url=api, appid=appid, safe=safe) == (200, "success")
    detail = http.get(f"{api}/orders/{oid}", headers=customer, timeout=TIMEOUT).json()
    assert detail["status"] == "COMPLETED" and detail["completed_by"] == "wechat"
    assert [h["status"] for h in detail["history"]] == ["SHIPPED", "COMPLETED"]
    mine = http.post(f"{api}/orders/{oid}/confirm-receipt", headers=customer, timeout=TIMEOUT)
    assert mine.status_code == 200 and mine.json()["completed_at"] == detail["completed_at"]

    for event in ("shipped", "remind-shipping"):  # recorded and acknowledged, nothing else
        assert push_for_order(Path(stack.data_dir), oid, api_url=api, appid=appid, event=event) == (200, "success")


def test_the_reminder_schedule_reminds_a_delivered_order_once(  # noqa: PLR0917
        api: str, http: requests.Session, stack: Any, table: Table, secrets_json: dict[str, str],
        sandbox: PaySandbox, admin: dict[str, str], buyer: tuple[str, dict[str, str]]) -> None:
    oid = shipped_paid_order(api, http, table=table, secrets_json=secrets_json, sandbox=sandbox, admin=admin,
                             buyer_id=buyer[0])
    time.sleep(1.1)  # signed for after the payment and the shipment, to the second
    table.update({"pk": f"ORDER#{oid}", "sk": "ORDER"}, "SET delivered_at = :d",
                 values={":d": iso(datetime.now(UTC).replace(microsecond=0))})  # as the tracking side records it
    later = datetime.now(UTC) + timedelta(hours=25)
    for _ in range(2):
        stack.fire_schedule("ReceiptReminderFunction", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    listed = http.get(f"{stack.sandbox_url}/wechat/sandbox/confirm-reminders", params={"merchant_trade_no": oid},
                      timeout=TIMEOUT).json()["reminders"]
    assert len(listed) == 1 and listed[0]["transaction_id"] == sandbox.snapshot()["orders"][oid]["transaction_id"]
