"""Forged notifications over HTTP against the local stack (docs/webhook-checks.md): for each kind of
WeChat Pay callback — payment (TRANSACTION.SUCCESS), refund (REFUND.SUCCESS) and transfer
(MCHTRANSFER.BILL.FINISHED) — a forged signature, a replay (a genuine message whose timestamp is
more than 300 s old), an unknown serial and a ``WECHATPAY/SIGNTEST/`` probe are all refused (401
``{"code":"FAIL"}``) and change nothing: the order stays unpaid with no commission and no posting,
the refund stays PROCESSING with nothing refunded or cancelled, the withdrawal stays PAYING with
its money still withdrawing. "Nothing changed" is checked once every stream and queue worker of
the stack has gone idle (``drain_streams``), and the genuine notification accepted afterwards shows
its effects (commission records and postings through the order stream, cancellations, the paid
withdrawal) through those same workers, so "nothing changed" is not "not yet".

What is only unit-tested elsewhere (tests/unit/wechatpay/test_notifications.py, test_payment_webhook.py,
test_payouts.py) is covered here end to end, through API Gateway, the stream and the queues."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests

from local.wechatpay_keys import generate_local_keys
from local.wechatpay_sandbox.local_stack import (
    complete_local_refund,
    finish_local_transfer,
    local_stack_sandbox,
    pay_local_order,
)
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.integrations.wechatpay.crypto import load_private_key, rsa_sign
from tests.e2e.test_commission_e2e import bind, promoter_login
from tests.e2e.test_payouts_e2e import new_promoter, waiting_for_confirmation, withdraw
from tests.e2e.test_referral_e2e import admin_token, bearer, login, save_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 15
WATCH_SECONDS = 4.0  # the unit of the waits for the genuine notification's effects
ADDRESS = {"name": "赵六", "phone": "13900003333", "province": "江苏省", "city": "南京市", "detail": "鼓楼区 1 号"}
REASONS = {"forged signature": "bad_signature", "replayed (400 s old)": "stale_timestamp",
           "wrong serial": "unknown_serial", "SIGNTEST probe": "signature_probe"}


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture(scope="module")
def appid(stack: Any) -> str:
    return str(stack.env["WECHAT_APP_ID"])


@pytest.fixture(scope="module")
def sandbox(stack: Any, appid: str) -> PaySandbox:
    return local_stack_sandbox(stack.data_dir, appid=appid)


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    return bearer(admin_token(api, http))


@dataclass(frozen=True)
class Env:
    stack: Any
    api: str
    http: requests.Session
    table: Table
    appid: str
    sandbox: PaySandbox
    admin: dict[str, str]


@pytest.fixture(scope="module")
def env(stack: Any, api: str, http: requests.Session, table: Table, appid: str,  # noqa: PLR0917
        sandbox: PaySandbox, admin: dict[str, str]) -> Env:
    return Env(stack, api, http, table, appid, sandbox, admin)


@pytest.fixture(scope="module")
def shop(api: str, http: requests.Session, admin: dict[str, str], table: Table) -> dict[str, Any]:
    """A promoter, a customer bound to them, a product: a paid order would earn commission."""
    version = save_settings(api, http, admin, promoter_review="auto", binding_mode="first_click",
                            only_new_customers=False, binding_validity={"kind": "permanent"})
    run = uuid.uuid4().hex[:8]
    CategoryRepository(table).create(Category(category_id=f"e2e-forged-{run}", name="伪造通知"))
    product_id = f"e2e-forged-{run}"
    ProductRepository(table).create(Product(product_id=product_id, name="伪造通知测试商品", type="physical",
                                            category_id=f"e2e-forged-{run}", price_fen=20_000, stock=50,
                                            on_shelf=True))
    promoter = promoter_login(api, http, f"e2e-forged-p-{run}", version)
    buyer = login(api, http, f"e2e-forged-b-{run}")
    bind(api, http, buyer, promoter)
    return {"promoter": promoter, "buyer": buyer, "product_id": product_id}


def forgeries(sandbox: PaySandbox, event_type: str, resource: dict[str, Any],
              original_type: str) -> dict[str, tuple[dict[str, str], bytes]]:
    """The four refused variants of one notification, and (key ``genuine``) the real one."""
    other_key = load_private_key(generate_local_keys()["wechatpay_platform_private_key"])
    headers, body = sandbox.build_notification(event_type, resource, original_type=original_type)
    forged = dict(headers)
    forged["Wechatpay-Signature"] = rsa_sign(
        other_key, f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n")
    stale = str(int((utc_now() - timedelta(seconds=400)).timestamp()))
    return {
        "forged signature": (forged, body),
        "replayed (400 s old)": sandbox.build_notification(event_type, resource, original_type=original_type,
                                                           timestamp_override=stale),
        "wrong serial": sandbox.build_notification(event_type, resource, original_type=original_type,
                                                   serial_override="PUB_KEY_ID_0114232100000000000000000000"),
        "SIGNTEST probe": sandbox.build_notification(
            event_type, resource, original_type=original_type,
            signature_override="WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"][:40]),
        "genuine": (headers, body),
    }


def refuse_all(stack: Any, api: str, notes: dict[str, tuple[dict[str, str], bytes]],
               state: Callable[[], Any]) -> None:
    """POST every forgery; each is refused with its reason; ``state`` is unchanged once every stream
    and queue worker the refusals could have triggered has run (late effects included)."""
    before = state()
    for name, reason in REASONS.items():
        headers, body = notes[name]
        response = requests.post(f"{api}/webhooks/wechatpay", data=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert response.json() == {"code": "FAIL", "message": reason}, name
        assert state() == before, f"the refused {name} changed something"
    stack.drain_streams(timeout=60)
    assert state() == before, "a refused notification changed something through a stream or queue worker"


def eventually(check: Callable[[], bool], what: str, timeout: float = WATCH_SECONDS * 3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def item(table: Table, pk: str, sk: str) -> dict[str, Any] | None:
    return table.get({"pk": pk, "sk": sk}, consistent=True)


def postings(table: Table, user_id: str) -> list[dict[str, Any]]:
    return list(LedgerRepository(table).all_postings(user_id))


def commission_records(table: Table, order_id: str) -> list[dict[str, Any]]:
    page = table.query(partition=("pk", f"ORDER#{order_id}"), sort_prefix=("sk", "COMMISSION#"), limit=50)
    return page.items


def place(api: str, http: requests.Session, shop: dict[str, Any]) -> dict[str, Any]:
    placed = http.post(f"{api}/orders", timeout=20, json={
        "lines": [{"product_id": shop["product_id"], "quantity": 2}], "address": ADDRESS,
    }, headers={**bearer(shop["buyer"]["access_token"]), "Idempotency-Key": uuid.uuid4().hex})
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def test_forged_payment_notifications_leave_the_order_unpaid_with_no_commission(env: Env,
                                                                                 shop: dict[str, Any]) -> None:
    stack, api, http, table, sandbox, appid = env.stack, env.api, env.http, env.table, env.sandbox, env.appid
    placed = place(api, http, shop)
    order_id, promoter = placed["order_id"], shop["promoter"]["user_id"]
    resource = sandbox.transaction_resource(order_id, placed["amount_fen"], "openid-e2e-forged")
    notes = forgeries(sandbox, "TRANSACTION.SUCCESS", resource, "transaction")

    def state() -> Any:
        order = item(table, f"ORDER#{order_id}", "ORDER")
        return (order, len(postings(table, promoter)), commission_records(table, order_id),
                item(table, f"USER#{promoter}", "WALLET"))

    refuse_all(stack, api, notes, state)
    order = item(table, f"ORDER#{order_id}", "ORDER")
    assert order is not None and order["status"] == "CREATED" and "paid_at" not in order
    assert not commission_records(table, order_id)

    # The buyer really pays: the sandbox's genuine notification is accepted, and its commission
    # (order stream → CommissionQueue → worker) arrives within the watch.
    assert pay_local_order(stack.data_dir, order_id, appid=appid).status == 204
    eventually(lambda: any(p.get("kind") == "commission_frozen" and order_id in str(p.get("ref"))
                           for p in postings(table, promoter)), "the genuine payment's commission")


def test_forged_refund_notifications_leave_the_refund_processing(env: Env, shop: dict[str, Any]) -> None:
    stack, api, http, table, appid, admin = env.stack, env.api, env.http, env.table, env.appid, env.admin
    placed = place(api, http, shop)
    order_id, promoter, buyer = placed["order_id"], shop["promoter"]["user_id"], shop["buyer"]
    assert pay_local_order(stack.data_dir, order_id, appid=appid).status == 204
    eventually(lambda: len(commission_records(table, order_id)) == 1, "the commission of the paid order")
    asked = http.post(f"{api}/orders/{order_id}/refunds", json={"reason": "不想要了", "lines": [{"line_id": "1",
                                                                                              "amount_fen": 10_000}]},
                      headers={**bearer(buyer["access_token"]), "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert asked.status_code == 201, asked.text
    refund_id = asked.json()["refund_id"]
    approved = http.post(f"{api}/admin/refunds/{refund_id}/approve", json={}, headers=admin, timeout=TIMEOUT)
    assert approved.status_code == 200 and approved.json()["status"] == "PROCESSING", approved.text
    sandbox = local_stack_sandbox(stack.data_dir, appid=appid)
    at_wechat = sandbox.snapshot()["refunds"][refund_id]
    resource = sandbox.refund_resource(refund_id, order_id, 10_000, placed["amount_fen"],
                                       transaction_id=at_wechat["transaction_id"], refund_id=at_wechat["refund_id"])
    notes = forgeries(sandbox, "REFUND.SUCCESS", resource, "refund")

    def state() -> Any:
        return (item(table, f"ORDER#{order_id}", "ORDER"), item(table, f"ORDER#{order_id}", f"REFUND#{refund_id}"),
                len(postings(table, promoter)), commission_records(table, order_id),
                item(table, f"USER#{promoter}", "WALLET"))

    refuse_all(stack, api, notes, state)
    refund = item(table, f"ORDER#{order_id}", f"REFUND#{refund_id}")
    assert refund is not None and refund["status"] == "PROCESSING"
    order = item(table, f"ORDER#{order_id}", "ORDER")
    assert order is not None and order["lines"][0].get("refunded_fen", 0) == 0
    assert all(r.get("cancelled_fen", 0) == 0 for r in commission_records(table, order_id))

    # WeChat Pay really completes it: the genuine notification refunds and the commission is cut.
    event = complete_local_refund(stack.data_dir, refund_id, appid=appid)
    assert event.status == 204, event.response
    eventually(lambda: any(r.get("cancelled_fen", 0) > 0 for r in commission_records(table, order_id)),
               "the refund's commission cancellation")


def test_forged_transfer_notifications_leave_the_withdrawal_paying(env: Env) -> None:
    stack, api, http, table, appid, admin = env.stack, env.api, env.http, env.table, env.appid, env.admin
    uid, token = new_promoter(api, http, admin, table, balance_fen=20_000)
    created = withdraw(api, http, admin, token, {"amount_fen": 15_000, "method": "wechat"})
    wid, out_bill_no = created["withdrawal_id"], created["out_bill_no"]
    waiting_for_confirmation(api, http, token, wid)
    sandbox = local_stack_sandbox(stack.data_dir, appid=appid)
    bill = sandbox.snapshot()["bills"][out_bill_no]
    resource = sandbox.transfer_bill_resource(out_bill_no, bill["transfer_amount"], bill["openid"], state="SUCCESS",
                                              transfer_bill_no=bill["transfer_bill_no"],
                                              create_time=bill["create_time"])
    notes = forgeries(sandbox, "MCHTRANSFER.BILL.FINISHED", resource, "mch_payment")

    def state() -> Any:
        return (item(table, f"WITHDRAWAL#{wid}", "WITHDRAWAL"), item(table, f"USER#{uid}", "WALLET"),
                len(postings(table, uid)))

    refuse_all(stack, api, notes, state)
    withdrawal = item(table, f"WITHDRAWAL#{wid}", "WITHDRAWAL")
    assert withdrawal is not None and withdrawal["status"] == "PAYING"
    wallet = LedgerRepository(table).wallet(uid).balances
    assert (wallet.withdrawing, wallet.withdrawn) == (15_000, 0)
    assert not any(p["kind"] == "withdrawal_paid" for p in postings(table, uid))

    # The promoter confirms: WeChat Pay's genuine notification pays it (and ours, built the same way,
    # is then a duplicate: acknowledged, nothing more).
    assert finish_local_transfer(stack.data_dir, out_bill_no, appid=appid).status == 204
    headers, body = notes["genuine"]
    assert requests.post(f"{api}/webhooks/wechatpay", data=body, headers=headers, timeout=TIMEOUT).status_code == 204
    paid = LedgerRepository(table).wallet(uid).balances
    assert (paid.withdrawing, paid.withdrawn) == (0, created["net_fen"])
