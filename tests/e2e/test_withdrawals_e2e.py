"""Withdrawals over HTTP against the local stack: a promoter with an available balance (settled
commission posted straight into the stack's ledger) requests withdrawals — one approved at once,
one approved by the admin, one rejected (funds back) — lists them, cannot see another's, and the
admin filters and exports them as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD, DEMO_PROMOTER_CODE
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from tests.e2e.seeding import fund_available, make_promoter

TIMEOUT = 15


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def login(api: str, http: requests.Session, code: str) -> tuple[str, dict[str, str]]:
    reply = http.post(f"{api}/auth/login", json={"code": code}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()["user_id"], {"Authorization": f"Bearer {reply.json()['access_token']}"}


@pytest.fixture
def promoter(api: str, http: requests.Session, table: Table) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh active promoter (its own daily limits, whatever other tests do with the demo one)
    with ¥1,000 available."""
    code = f"withdraw-{uuid.uuid4().hex[:12]}"
    uid, _ = login(api, http, code)
    make_promoter(table, uid)
    fund_available(table, uid, 100_000)
    yield login(api, http, code)  # logged in again: the token now carries the promoter role


def withdraw(api: str, http: requests.Session, headers: dict[str, str], amount: int,
             key: str | None = None) -> requests.Response:
    return http.post(f"{api}/promoter/withdrawals", json={"amount_fen": amount, "method": "wechat"},
                     headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}, timeout=TIMEOUT)


def test_request_review_list_and_export(api: str, http: requests.Session, table: Table, admin: dict[str, str],
                                        promoter: tuple[str, dict[str, str]]) -> None:
    uid, me = promoter
    auto = withdraw(api, http, me, 10_000, key="e2e-withdraw-" + uid[-12:])
    assert auto.status_code == 201, auto.text
    assert auto.json()["review"] == "auto" and auto.json()["fee_fen"] == 100 and auto.json()["net_fen"] == 9_900
    again = withdraw(api, http, me, 10_000, key="e2e-withdraw-" + uid[-12:])
    assert again.status_code == 201 and again.json()["withdrawal_id"] == auto.json()["withdrawal_id"]

    manual = withdraw(api, http, me, 30_000)
    assert manual.status_code == 201 and manual.json()["status"] == "PENDING_REVIEW"
    approved = http.post(f"{api}/admin/withdrawals/{manual.json()['withdrawal_id']}/approve", headers=admin,
                         timeout=TIMEOUT)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "APPROVED"
    assert approved.json()["approvals"][0]["admin_id"] == f"admin:{DEMO_ADMIN}"

    rejected_id = withdraw(api, http, me, 25_000).json()["withdrawal_id"]
    rejected = http.post(f"{api}/admin/withdrawals/{rejected_id}/reject", headers=admin,
                         json={"reason": "收款账户异常"}, timeout=TIMEOUT)
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"
    twice = http.post(f"{api}/admin/withdrawals/{rejected_id}/reject", headers=admin, json={"reason": "again"},
                      timeout=TIMEOUT)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "withdrawal_not_rejectable"

    # The daily count (3 by default) is used up: the rule and its limit are named.
    refused = withdraw(api, http, me, 5_000)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"]["rule"] == "withdrawal.daily_count"

    balances = LedgerRepository(table).wallet(uid).balances
    assert balances.available == 100_000 - 10_000 - 30_000  # the rejected 25,000 came back, once
    # Held until paid; the payout worker may already have paid some (withdrawn gets amount − fee).
    assert 40_000 - (100 + 300) <= balances.withdrawing + balances.withdrawn <= 40_000

    mine = http.get(f"{api}/promoter/withdrawals", headers=me, timeout=TIMEOUT)
    assert mine.status_code == 200
    ids = [w["withdrawal_id"] for w in mine.json()["items"]]
    assert ids == [rejected_id, manual.json()["withdrawal_id"], auto.json()["withdrawal_id"]]
    detail = http.get(f"{api}/promoter/withdrawals/{rejected_id}", headers=me, timeout=TIMEOUT).json()
    assert detail["reason"] == "收款账户异常" and [e["status"] for e in detail["timeline"]][-1] == "REJECTED"
    assert {e["by"] for e in detail["timeline"]} == {"promoter", "admin"}

    _, other = login(api, http, DEMO_PROMOTER_CODE)
    hidden = http.get(f"{api}/promoter/withdrawals/{rejected_id}", headers=other, timeout=TIMEOUT)
    assert hidden.status_code == 404

    listed = http.get(f"{api}/admin/withdrawals", params={"promoter_id": uid}, headers=admin, timeout=TIMEOUT)
    assert listed.status_code == 200 and [w["withdrawal_id"] for w in listed.json()["items"]] == ids
    only_rejected = http.get(f"{api}/admin/withdrawals", params={"status": "REJECTED", "min_fen": "25000",
                                                                 "max_fen": "25000", "limit": "100"},
                             headers=admin, timeout=TIMEOUT)
    assert rejected_id in [w["withdrawal_id"] for w in only_rejected.json()["items"]]

    exported = http.get(f"{api}/admin/withdrawals/export", params={"promoter_id": uid}, headers=admin,
                        timeout=TIMEOUT)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["withdrawal_id"] for r in rows] == ids
    assert rows[0]["status"] == "REJECTED" and rows[0]["reason"] == "收款账户异常" and rows[0]["amount_fen"] == "25000"
