"""Risk cases over HTTP against the local stack: a case opened by the service (as the fraud scan
does) on a fresh promoter refuses their withdrawal; the admin finds it in the queue, reads its
evidence, releases it, and the promoter may withdraw again; a second release is a 409."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from mall.dal.table import Table
from mall.services import risk
from tests.e2e.seeding import fund_available, make_promoter

TIMEOUT = 15


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def login(api: str, http: requests.Session, code: str) -> tuple[str, dict[str, str]]:
    reply = http.post(f"{api}/auth/login", json={"code": code}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()["user_id"], {"Authorization": f"Bearer {reply.json()['access_token']}"}


def test_a_case_refuses_withdrawals_until_the_admin_releases_it(api: str, http: requests.Session,
                                                              table: Table) -> None:
    code = f"risk-{uuid.uuid4().hex[:12]}"
    uid, _ = login(api, http, code)
    now = datetime.now(UTC)
    make_promoter(table, uid, at=now)
    fund_available(table, uid, 50_000, at=now)
    _, me = login(api, http, code)  # the token now carries the promoter role

    view = risk.open_case(repos=risk.RiskRepositories.on(table),
                          promoter_id=uid, rule="same_device", window_key=now.date().isoformat(),
                          evidence={"accounts": 6, "window_hours": 24}, now=now)
    assert view is not None

    def withdraw() -> requests.Response:
        return http.post(f"{api}/promoter/withdrawals", json={"amount_fen": 10_000, "method": "wechat"},
                         headers={**me, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)

    refused = withdraw()
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "risk_hold", refused.text

    login_reply = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                            timeout=TIMEOUT)
    assert login_reply.status_code == 200, login_reply.text
    admin = {"Authorization": f"Bearer {login_reply.json()['access_token']}"}
    listed = http.get(f"{api}/admin/risk/cases", params={"promoter_id": uid, "status": "OPEN"}, headers=admin,
                      timeout=TIMEOUT)
    assert listed.status_code == 200, listed.text
    assert [c["case_id"] for c in listed.json()["items"]] == [view.case_id]
    detail = http.get(f"{api}/admin/risk/cases/{view.case_id}", headers=admin, timeout=TIMEOUT)
    assert detail.status_code == 200 and detail.json()["case"]["evidence"] == {"accounts": 6, "window_hours": 24}

    released = http.post(f"{api}/admin/risk/cases/{view.case_id}/release", json={"note": "核实为正常推广"},
                         headers=admin, timeout=TIMEOUT)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "RELEASED"
    again = http.post(f"{api}/admin/risk/cases/{view.case_id}/release", json={"note": "again"}, headers=admin,
                      timeout=TIMEOUT)
    assert again.status_code == 409 and again.json()["error"]["code"] == "risk_case_not_open"
    assert withdraw().status_code == 201
    # Only an admin reaches the queue.
    assert http.get(f"{api}/admin/risk/cases", headers=me, timeout=TIMEOUT).status_code == 403
