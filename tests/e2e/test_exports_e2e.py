"""Exports over HTTP against the local stack: the admin asks for a CSV, the worker (the local SQS
poller of ExportQueue) writes it to the local S3, GET returns the link, the file downloads and its
rows are the seeded records. Plus the monthly team bonus fired through the local scheduler."""

from __future__ import annotations

import codecs
import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from mall.dal.commissions import commission_item
from mall.dal.keys.orders import buyer_partition, order_key, order_status_index
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.dal.team_bonus import team_order_item
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.referral import Promoter

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


def put_listed_order(table: Table, order_id: str, *, status: str, at: str, amount_fen: int, title: str,
                     buyer_id: str) -> None:
    """An order item as the by-status list and the export read it (its own gsi3 entry), seeded without
    ``paid_at``: no commission, statistics or notice follows it through the stream."""
    table.put({**order_key(order_id), "entity": "order", **order_status_index(status),
               "gsi1pk": buyer_partition(buyer_id), "gsi1sk": f"{at}#{order_id}", "order_id": order_id,
               "buyer_id": buyer_id, "status": status, "amount_fen": amount_fen, "created_at": at,
               "lines": [{"line_id": "l1", "product_id": "p_e2e", "name": title, "quantity": 1,
                          "unit_price_fen": amount_fen, "paid_fen": amount_fen}]})


def seed_orders(table: Table, tag: str) -> list[str]:
    """Orders created on 29 February 2024 (China time): a day no other test places orders on."""
    ids = []
    for n, (at, status) in enumerate([("2024-02-28T16:00:00Z", "PAID"), ("2024-02-29T03:30:00Z", "COMPLETED"),
                                      ("2024-02-29T15:59:59Z", "CLOSED")]):
        order_id = f"o_e2e{tag}{n}"
        put_listed_order(table, order_id, status=status, at=at, amount_fen=12_990 + n, title="云南古树普洱茶 357g",
                         buyer_id="u_e2e_buyer")
        ids.append(order_id)
    return ids


def wait_done(api: str, http: requests.Session, admin: dict[str, str], export_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        reply = http.get(f"{api}/admin/exports/{export_id}", headers=admin, timeout=TIMEOUT)
        assert reply.status_code == 200, reply.text
        job: dict[str, Any] = reply.json()
        if job["status"] in {"DONE", "FAILED"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_an_export_is_written_by_the_worker_and_downloads_through_its_link(
        api: str, http: requests.Session, admin: dict[str, str], table: Table) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = seed_orders(table, tag)
    body = {"kind": "orders", "from": "2024-02-29", "to": "2024-02-29"}
    created = http.post(f"{api}/admin/exports", json=body, timeout=TIMEOUT,
                        headers={**admin, "Idempotency-Key": f"e2e-export-{tag}"})
    assert created.status_code == 202, created.text
    export_id = created.json()["export_id"]
    job = wait_done(api, http, admin, export_id)
    assert job["status"] == "DONE" and job["rows"] >= 3 and job["url"], job
    download = requests.get(job["url"], timeout=TIMEOUT)
    assert download.status_code == 200 and download.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"), newline="")))
    mine = [r for r in rows if r["order_id"] in ids]
    assert [r["order_id"] for r in mine] == ids  # oldest first; all three China-time 29 February
    assert [r["amount_yuan"] for r in mine] == ["129.90", "129.91", "129.92"]
    assert mine[0]["title"] == "云南古树普洱茶 357g" and len(rows) == job["rows"]
    listed = http.get(f"{api}/admin/exports", headers=admin, timeout=TIMEOUT)
    assert listed.status_code == 200 and export_id in [j["export_id"] for j in listed.json()["items"]]
    refused = http.post(f"{api}/admin/exports", json={**body, "to": "2024-02-01"}, timeout=TIMEOUT,
                        headers={**admin, "Idempotency-Key": f"e2e-export-bad-{tag}"})
    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == "to"


def login(api: str, http: requests.Session, code: str) -> dict[str, Any]:
    reply = http.post(f"{api}/auth/login", json={"code": code}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_the_monthly_team_bonus_pays_once_through_the_scheduler(
        stack: Any, api: str, http: requests.Session, admin: dict[str, str], table: Table) -> None:
    current = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()
    document = {**current["settings"], "team_bonus": {"enabled": True, "tiers": [
        {"min_team_sales_fen": 100_000, "bonus_bp": 200}]}}
    saved = http.put(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT,
                     json={**document, "based_on_version": current["version"]})
    assert saved.status_code == 200, saved.text
    code = f"bonus-{uuid.uuid4().hex[:10]}"
    uid = login(api, http, code)["user_id"]
    PromoterRepository(table).create(Promoter(user_id=uid, code=uuid.uuid4().hex[:8].upper(), status="active",
                                              level_id="basic"), grant_role=True, replaces_rejected=False,
                                     now=datetime.now(UTC), reserve_code=True)
    month = "2029-12"  # the schedule fired on 1 January 2030, 03:00 China time, pays December 2029
    # A settled level-1 commission record on an order paid in December 2029, with its team order item.
    order_id = f"o_bonus_{uid}"
    paid_at = datetime(2029, 12, 10, 4, tzinfo=UTC)
    table.put(commission_item(CommissionRecord(
        commission_id=commission_id(order_id, "1", 1), order_id=order_id, line_id="1", level=1, beneficiary_id=uid,
        buyer_id="u_someone", product_id="p", product_name="Tea", quantity=1, base_fen=123_456, amount_fen=12_345,
        status=CommissionStatus.SETTLED, rule={}, created_at=paid_at, settled_at=paid_at)))
    table.put(team_order_item(uid, month, order_id, paid_at, ["COMMISSION#1#1"]))
    first = stack.fire_schedule("TeamBonusFunction", time="2029-12-31T19:00:00Z")
    second = stack.fire_schedule("TeamBonusFunction", time="2029-12-31T19:00:00Z")
    assert month in [m["month"] for m in first["months"]] and first["paid"] >= 1
    assert second["paid"] == 0 and second["already_paid"] >= 1  # fired twice: paid once
    token = login(api, http, code)["access_token"]  # the next login carries the promoter role
    mine = http.get(f"{api}/promoter/bonuses", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
    assert mine.status_code == 200, mine.text
    assert [(b["month"], b["amount_fen"], b["status"]) for b in mine.json()["items"]] == [(month, 2_469, "FROZEN")]
    month_list = http.get(f"{api}/admin/bonuses", params={"month": month}, headers=admin, timeout=TIMEOUT)
    assert month_list.status_code == 200 and uid in [b["promoter_id"] for b in month_list.json()["items"]]
