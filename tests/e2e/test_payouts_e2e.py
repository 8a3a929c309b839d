"""Over HTTP against the local stack: a promoter with settled commission withdraws through
the withdrawal API (auto-approved, or approved by the admin), the approval reaches PayoutQueue, the
payout worker creates the WeChat transfer bill at the pay sandbox (WAIT_USER_CONFIRM: the promoter's
view carries ``package_info`` for the confirm page), the promoter confirms (the sandbox's signed
MCHTRANSFER.BILL.FINISHED reaches the webhook, exactly what ``make payout`` runs) → PAID and the
wallet shows it withdrawn; a FAIL returns the funds; an admin marks a bank withdrawal paid."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests

from local.wechatpay_sandbox.local_stack import finish_local_transfer, local_stack_sandbox
from mall.dal.table import Table
from tests.e2e.test_referral_e2e import admin_token, bearer, login, save_settings
from tests.unit.test_payouts import fund

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    return bearer(admin_token(api, http))


def new_promoter(api: str, http: requests.Session, admin: dict[str, str], table: Table, *,
                 balance_fen: int) -> tuple[str, dict[str, str]]:
    """A fresh active promoter with ``balance_fen`` settled (available) commission."""
    run = uuid.uuid4().hex[:8]
    code = f"e2e-payout-{run}"
    customer = login(api, http, code)
    version = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=10).json()["version"]
    applied = http.post(f"{api}/promoter/apply", json={"accepted_rules_version": version},
                        headers={**bearer(customer["access_token"]), "Idempotency-Key": f"apply-{run}"}, timeout=10)
    assert applied.status_code == 201, applied.text
    if applied.json()["status"] != "active":
        approved = http.post(f"{api}/admin/promoters/{customer['user_id']}/approve", json={}, headers=admin,
                             timeout=10)
        assert approved.status_code == 200, approved.text
    fund(table, customer["user_id"], balance_fen)
    promoter = login(api, http, code)  # the promoter role is in the next login's token
    return customer["user_id"], bearer(promoter["access_token"])


def withdraw(api: str, http: requests.Session, admin: dict[str, str], token: dict[str, str],
             body: dict[str, Any]) -> dict[str, Any]:
    """POST /promoter/withdrawals; approved by the admin when the settings send it to review."""
    response = http.post(f"{api}/promoter/withdrawals", json=body,
                         headers={**token, "Idempotency-Key": uuid.uuid4().hex}, timeout=20)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    if created["status"] == "PENDING_REVIEW":
        approved = http.post(f"{api}/admin/withdrawals/{created['withdrawal_id']}/approve", json={}, headers=admin,
                             timeout=20)
        assert approved.status_code == 200, approved.text
        created = approved.json()
    assert created["status"] in {"APPROVED", "PAYING"}, created
    return created


def wait_for(check: Callable[[], dict[str, Any] | None], what: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def view(api: str, http: requests.Session, token: dict[str, str], withdrawal_id: str) -> dict[str, Any]:
    response = http.get(f"{api}/promoter/withdrawals/{withdrawal_id}", headers=token, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def summary(api: str, http: requests.Session, token: dict[str, str]) -> dict[str, Any]:
    response = http.get(f"{api}/promoter/ledger/summary", headers=token, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def waiting_for_confirmation(api: str, http: requests.Session, token: dict[str, str],
                             withdrawal_id: str) -> dict[str, Any]:
    """The payout worker (fed by PayoutQueue) created the bill: the promoter's view shows it."""
    def check() -> dict[str, Any] | None:
        current = view(api, http, token, withdrawal_id)
        return current if current["bill_state"] == "WAIT_USER_CONFIRM" else None

    return wait_for(check, f"the transfer bill of {withdrawal_id}")


def test_withdraw_transfer_confirm_paid_through_the_queue_and_the_sandbox(
        stack: Any, api: str, http: requests.Session, admin: dict[str, str], table: Table) -> None:
    _, token = new_promoter(api, http, admin, table, balance_fen=20_000)
    created = withdraw(api, http, admin, token, {"amount_fen": 15_000, "method": "wechat"})
    wid, out_bill_no = created["withdrawal_id"], created["out_bill_no"]
    paying = waiting_for_confirmation(api, http, token, wid)
    assert paying["status"] == "PAYING" and paying["transfer_bill_no"]
    sandbox = local_stack_sandbox(stack.data_dir, appid=str(stack.env["WECHAT_APP_ID"]))
    bill = sandbox.snapshot()["bills"][out_bill_no]
    assert bill["transfer_amount"] == created["net_fen"] and bill["state"] == "WAIT_USER_CONFIRM"
    assert bill["notify_url"] == f"{api}/webhooks/wechatpay"
    # What the mini-program's confirm page passes to wx.requestMerchantTransfer.
    assert paying["confirm"] is not None and paying["confirm"]["package_info"] == bill["package_info"]
    assert summary(api, http, token)["withdrawing_fen"] == 15_000

    # The promoter confirms: the sandbox finishes the bill and POSTs the signed notification
    # (``python -m local payout <withdrawal_id>``, i.e. ``make payout WITHDRAWAL=...``).
    event = finish_local_transfer(stack.data_dir, out_bill_no, appid=str(stack.env["WECHAT_APP_ID"]))
    assert event.url == f"{api}/webhooks/wechatpay" and event.status == 204, event.response
    paid = view(api, http, token, wid)
    assert paid["status"] == "PAID" and paid["bill_state"] == "SUCCESS" and paid["confirm"] is None
    assert [e["status"] for e in paid["timeline"]][-1] == "PAID"
    money = summary(api, http, token)
    assert (money["available_fen"], money["withdrawing_fen"], money["withdrawn_fen"]) == (
        5_000, 0, created["net_fen"])

    # WeChat Pay redelivers: success, nothing changes.
    again = requests.post(f"{api}/webhooks/wechatpay", data=event.body, headers=event.headers, timeout=10)
    assert again.status_code == 204 and view(api, http, token, wid) == paid
    assert summary(api, http, token)["withdrawn_fen"] == created["net_fen"]


def test_a_failed_transfer_returns_the_funds_via_the_cli(
        stack: Any, api: str, http: requests.Session, admin: dict[str, str], table: Table) -> None:
    from local.__main__ import main as local_cli

    _, token = new_promoter(api, http, admin, table, balance_fen=9_000)
    created = withdraw(api, http, admin, token, {"amount_fen": 9_000, "method": "wechat"})
    wid = created["withdrawal_id"]
    waiting_for_confirmation(api, http, token, wid)
    assert summary(api, http, token)["available_fen"] == 0

    # `make payout WITHDRAWAL=<id> STATE=FAIL` runs this CLI against the running stack (stack.json).
    state_file = stack.data_dir / "stack.json"
    state_file.write_text(json.dumps(stack.state()), encoding="utf-8")
    try:
        assert local_cli(["payout", wid, "--state", "FAIL", "--data-dir", str(stack.data_dir)]) == 0
    finally:
        state_file.unlink()
    failed = view(api, http, token, wid)
    assert failed["status"] == "FAILED" and failed["fail_reason"] == "PAYEE_ACCOUNT_ABNORMAL"
    money = summary(api, http, token)
    assert (money["available_fen"], money["withdrawing_fen"], money["withdrawn_fen"]) == (9_000, 0, 0)


def test_an_admin_marks_a_bank_withdrawal_paid(api: str, http: requests.Session, admin: dict[str, str],
                                               table: Table) -> None:
    current = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=10).json()["settings"]
    rules = current["withdrawal"]
    save_settings(api, http, admin, withdrawal={**rules, "methods": ["wechat", "bank"]})
    try:
        _, token = new_promoter(api, http, admin, table, balance_fen=12_000)
        created = withdraw(api, http, admin, token, {
            "amount_fen": 12_000, "method": "bank",
            "bank": {"bank_name": "招商银行", "account_name": "王五", "account_no": "6214830012345678"}})
    finally:  # the stack is shared with other modules: leave the rules as they were
        save_settings(api, http, admin, withdrawal=rules)
    wid = created["withdrawal_id"]
    assert view(api, http, token, wid)["status"] == "APPROVED"  # bank withdrawals wait for the admin
    marked = http.post(f"{api}/admin/withdrawals/{wid}/mark-paid", json={"reference": "CMB20261122000001"},
                       headers=admin, timeout=10)
    assert marked.status_code == 200, marked.text
    assert marked.json()["status"] == "PAID" and marked.json()["bank_reference"] == "CMB20261122000001"
    money = summary(api, http, token)
    assert (money["withdrawing_fen"], money["withdrawn_fen"]) == (0, created["net_fen"])
    refused = http.post(f"{api}/admin/withdrawals/{wid}/mark-paid", json={"reference": "CMB1"}, headers=token,
                        timeout=10)
    assert refused.status_code == 403
