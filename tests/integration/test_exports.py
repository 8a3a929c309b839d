"""Exports on DynamoDB Local and moto's S3 server (real HTTP, S3's part-size rule scaled down): many
rows stream as a multipart upload, the presigned link downloads the file, redeliveries and parallel
deliveries write it once, and every kind reads exactly its range with Queries (a scan fails the test)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.queues import MotoServer
from local.queues import client as local_client
from mall.dal.commissions import commission_item
from mall.dal.export_sources import ExportSources
from mall.dal.exports import ExportJobRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.objects import ObjectStore
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table, Write, serialize
from mall.dal.withdrawals import withdrawal_item, withdrawal_list_item
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.exports import ExportStatus
from mall.domain.referral import Promoter
from mall.domain.withdrawals import Withdrawal, WithdrawalStatus
from mall.schemas.exports import CreateExportRequest
from mall.services.exports import ExportBusy, create_export, run_export

BUCKET = "exportsbucket"
PART = 32 * 1024
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
STATUSES = ["PAID", "SHIPPED", "COMPLETED", "CLOSED", "EXPIRED"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = MotoServer(s3_min_part_bytes=PART)  # S3's 5 MiB rule, scaled down
    endpoint = server.start()
    local_client(endpoint, "s3").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def store(s3_endpoint: str) -> ObjectStore:
    return ObjectStore(BUCKET, client=local_client(s3_endpoint, "s3"))


@pytest.fixture
def no_scan(table: Table, monkeypatch: pytest.MonkeyPatch) -> Table:
    def refuse(**kwargs: Any) -> None:
        raise AssertionError("an export must never scan the table")

    monkeypatch.setattr(table.client, "scan", refuse)
    return table


class Outbox:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, body: dict[str, Any]) -> None:
        self.sent.append(body)


def put_many(table: Table, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        table.client.batch_write_item(RequestItems={table.name: [
            {"PutRequest": {"Item": serialize(item)}} for item in items[start:start + 25]]})


def new_job(table: Table, kind: str, first: str = "2026-11-01", last: str = "2026-11-30") -> str:
    outbox = Outbox()
    view = create_export(jobs=ExportJobRepository(table), queue=outbox,
                         body=CreateExportRequest.model_validate({"kind": kind, "from": first, "to": last}),
                         admin="admin:alice", source_ip="203.0.113.7", now=NOW)
    assert outbox.sent == [{"export_id": view.export_id}]
    return view.export_id


def download(store: ObjectStore, key: str, filename: str) -> list[dict[str, str]]:
    url = store.presigned_url(key, expires_in=900, download_name=filename)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.content.startswith(codecs.BOM_UTF8)
    assert filename in response.headers.get("content-disposition", "")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def objects(store: ObjectStore, export_id: str) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"exports/{export_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def seed_orders(table: Table, count: int) -> list[str]:
    start = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 00:00 on 1 November, China time
    items, inside = [], []
    for n in range(count):
        created = start + timedelta(seconds=n * 1_000)  # about 29 days of orders
        at = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        order_id = f"o_{n:05d}"
        status = STATUSES[n % len(STATUSES)]
        items.append({"pk": f"ORDER#{order_id}", "sk": "STATUS", "entity": "order_status_index",
                      "gsi1pk": f"ORDERS#{status}", "gsi1sk": f"{at}#{order_id}", "order_id": order_id,
                      "buyer_id": f"u_b{n % 97}", "status": status, "amount_fen": 1_000 + n, "refunded_fen": 0,
                      "created_at": at, "title": "西湖龙井 明前特级 250g", "line_count": 1, "fulfilment": "physical"})
        inside.append(order_id)
    for at, order_id in [("2026-10-31T15:59:59Z", "o_before"), ("2026-11-30T16:00:00Z", "o_after")]:
        items.append({"pk": f"ORDER#{order_id}", "sk": "STATUS", "entity": "order_status_index",
                      "gsi1pk": "ORDERS#PAID", "gsi1sk": f"{at}#{order_id}", "order_id": order_id, "status": "PAID",
                      "amount_fen": 1, "created_at": at})
    put_many(table, items)
    return inside


def test_many_orders_stream_in_parts_and_download_through_the_link(no_scan: Table, store: ObjectStore) -> None:
    table = no_scan
    inside = seed_orders(table, 1_500)
    export_id = new_job(table, "orders")
    sources = ExportSources(table, page_size=100, status_list="entries")
    outcome = run_export(jobs=ExportJobRepository(table), sources=sources, store=store,
                         export_id=export_id, now=NOW, lease_seconds=600, part_size=PART)
    assert outcome.result == "done" and outcome.rows == len(inside)
    assert outcome.parts > 3 and outcome.max_buffered < PART + 500
    job = ExportJobRepository(table).get(export_id)
    assert job is not None and job.status == ExportStatus.DONE and job.s3_key and job.bytes == outcome.bytes
    rows = download(store, job.s3_key, job.filename)
    assert [r["order_id"] for r in rows] == inside  # oldest first across every status
    assert rows[7]["amount_fen"] == "1007" and rows[7]["amount_yuan"] == "10.07"
    assert rows[0]["title"] == "西湖龙井 明前特级 250g"


def test_redelivered_and_parallel_deliveries_write_the_file_once(no_scan: Table, store: ObjectStore) -> None:
    table = no_scan
    seed_orders(table, 600)
    export_id = new_job(table, "orders")

    def deliver(_: int) -> str:
        try:
            return run_export(jobs=ExportJobRepository(table), sources=ExportSources(table, status_list="entries"),
                              store=store, export_id=export_id, now=NOW, lease_seconds=600,
                              part_size=PART).result
        except ExportBusy:
            return "busy"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(deliver, range(4)))
    assert results.count("done") == 1 and set(results) <= {"done", "busy", "finished"}, results
    assert len(objects(store, export_id)) == 1
    again = run_export(jobs=ExportJobRepository(table), sources=ExportSources(table, status_list="entries"),
                       store=store, export_id=export_id, now=NOW + timedelta(minutes=5),
                       lease_seconds=600, part_size=PART)
    assert again.result == "finished" and again.rows == 600 and len(objects(store, export_id)) == 1
    job = ExportJobRepository(table).get(export_id)
    assert job is not None and job.attempts == 1


def test_a_run_whose_worker_died_restarts_once_its_lease_passed(no_scan: Table, store: ObjectStore) -> None:
    table = no_scan
    seed_orders(table, 50)
    export_id = new_job(table, "orders")
    repo = ExportJobRepository(table)
    queued = repo.get(export_id)
    assert queued is not None
    repo.claim(queued, run_id="run_dead", now=NOW, lease_seconds=60)  # claimed, then the worker died
    with pytest.raises(ExportBusy):
        run_export(jobs=ExportJobRepository(table), sources=ExportSources(table, status_list="entries"),
                   store=store, export_id=export_id, now=NOW + timedelta(seconds=30), lease_seconds=60)
    done = run_export(jobs=ExportJobRepository(table), sources=ExportSources(table, status_list="entries"),
                      store=store, export_id=export_id, now=NOW + timedelta(seconds=61),
                      lease_seconds=60, part_size=PART)
    assert done.result == "done" and done.rows == 50
    job = repo.get(export_id)
    assert job is not None and job.attempts == 2 and job.run_id != "run_dead"


def seed_every_kind(table: Table) -> None:
    promoters = PromoterRepository(table)
    for uid, status, applied in [("u_alpha", "active", datetime(2026, 11, 3, tzinfo=UTC)),
                                 ("u_frozen", "frozen", datetime(2026, 10, 3, tzinfo=UTC)),
                                 ("u_applied", "applied", datetime(2026, 11, 20, tzinfo=UTC))]:
        promoters.create(Promoter(user_id=uid, code=uid.upper()[-8:], status=status,  # type: ignore[arg-type]
                                  level_id="basic", applied_at=applied, nickname="微信好友"),
                         grant_role=False, replaces_rejected=False, now=applied, reserve_code=False)
    ledger = LedgerRepository(table)
    for uid, order, created in [("u_alpha", "o_in", datetime(2026, 11, 5, tzinfo=UTC)),
                                ("u_alpha", "o_out", datetime(2026, 12, 5, tzinfo=UTC)),
                                ("u_frozen", "o_in2", datetime(2026, 11, 9, tzinfo=UTC))]:
        cid = commission_id(order, "l1", 1)
        record = CommissionRecord(
            commission_id=cid, order_id=order, line_id="l1", level=1, beneficiary_id=uid, buyer_id="u_buyer",
            product_id="p1", product_name="=cmd|' /C calc'!A0", quantity=2, base_fen=20_000, amount_fen=2_000,
            status=CommissionStatus.FROZEN, rule={"source": "product", "ratio_bp": 1000}, created_at=created)
        ledger.post([L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=2_000, at=created,
                                         ref={"commission_id": cid, "order_id": order})],
                     also=[Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])
    for wid, status, created in [("w_in", WithdrawalStatus.PAID, "2026-11-10T03:00:00Z"),
                                 ("w_out", WithdrawalStatus.REJECTED, "2026-12-01T03:00:00Z")]:
        withdrawal = Withdrawal(
            withdrawal_id=wid, promoter_id="u_alpha", amount_fen=10_000, fee_fen=100, net_fen=9_900, method="bank",
            status=status, review="manual", required_approvals=1, created_at=created, out_bill_no=wid.replace("_", ""),
            bank={"bank_name": "招商银行", "account_name_enc": "v1:xx", "account_no_enc": "v1:yy",
                  "account_name_masked": "张*", "account_no_last4": "4321"})
        table.put(withdrawal_item(withdrawal))
        table.put(withdrawal_list_item(withdrawal))  # as a request writes it, with the record


def run_kind(table: Table, store: ObjectStore, kind: str) -> list[dict[str, str]]:
    export_id = new_job(table, kind)
    outcome = run_export(jobs=ExportJobRepository(table), sources=ExportSources(table, status_list="entries"),
                         store=store, export_id=export_id, now=NOW, lease_seconds=600, part_size=PART)
    assert outcome.result == "done"
    job = ExportJobRepository(table).get(export_id)
    assert job is not None and job.s3_key is not None and job.rows == outcome.rows
    return download(store, job.s3_key, job.filename)


def test_every_kind_reads_exactly_its_range(no_scan: Table, store: ObjectStore) -> None:
    table = no_scan
    seed_every_kind(table)
    commissions = run_kind(table, store, "commissions")
    assert sorted(r["order_id"] for r in commissions) == ["o_in", "o_in2"]
    row = next(r for r in commissions if r["order_id"] == "o_in")
    assert row["amount_yuan"] == "20.00" and row["base_fen"] == "20000" and row["rate_bp"] == "1000"
    assert row["product_name"].startswith("'=")  # a formula typed into a name is text in the sheet
    ledger = run_kind(table, store, "ledger")
    assert sorted(r["posting_id"] for r in ledger) == ["cm_o_in2_l1_1.frozen", "cm_o_in_l1_1.frozen"]
    assert {r["frozen_fen"] for r in ledger} == {"2000"} and {r["merchant_commission_fen"] for r in ledger} == {"-2000"}
    withdrawals = run_kind(table, store, "withdrawals")
    assert [r["withdrawal_id"] for r in withdrawals] == ["w_in"]
    assert withdrawals[0]["bank_account_no"] == "****4321" and withdrawals[0]["bank_account_name"] == "张*"
    assert "v1:" not in ",".join(withdrawals[0].values()) and withdrawals[0]["net_yuan"] == "99.00"
    promoters = run_kind(table, store, "promoters")
    assert [r["user_id"] for r in promoters] == ["u_alpha", "u_applied"]  # applied in November
    assert {r["nickname"] for r in promoters} == {"微**友"}
