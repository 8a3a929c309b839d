"""Exports through the real handlers on moto (DynamoDB, SQS, S3): POST queues an audited job, the
worker writes the CSV, GET gives a short-lived link; redeliveries, live and lapsed leases, failed
runs, a lost queue, and many rows streamed with bounded memory."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

from mall.api.auth import signing_key
from mall.clock import utc_now
from mall.dal import objects, queues
from mall.dal.audit import AuditLog
from mall.dal.export_sources import ExportSources
from mall.dal.exports import ExportJobRepository
from mall.dal.objects import ObjectStore
from mall.dal.table import main_table
from mall.domain.exports import ExportStatus
from mall.domain.tokens import Role, issue_token
from mall.services import exports as service
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, Invoke, load_function

BUCKET = "exportsbucket"


@pytest.fixture
def aws(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    queues.sqs_client.cache_clear()
    objects.s3_client.cache_clear()
    service.export_settings.cache_clear()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="ExportQueue")["QueueUrl"]
    monkeypatch.setenv("EXPORTS_BUCKET", BUCKET)
    monkeypatch.setenv("EXPORT_QUEUE_URL", url)
    monkeypatch.setenv("ORDER_STATUS_LIST", "entries")  # seed_orders puts the STATUS entries
    yield {"queue": url}
    queues.sqs_client.cache_clear()
    objects.s3_client.cache_clear()
    service.export_settings.cache_clear()


def admin(subject: str = "admin:alice") -> dict[str, str]:
    return bearer(subject, Role.ADMIN)


def create(invoke: Invoke, body: dict[str, Any], key: str = "export-key-0001",
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    status, payload, _ = invoke("admin_exports", "POST", "/admin/exports", body=body,
                                headers={**(headers or admin()), "idempotency-key": key})
    return status, payload


def messages(url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                                      VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def sqs_event(export_id: str, message_id: str = "m1") -> dict[str, Any]:
    return {"Records": [{"messageId": message_id, "receiptHandle": "r", "body": json.dumps({"export_id": export_id}),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ExportQueue",
                         "awsRegion": "us-east-1"}]}


def seed_orders(count: int = 3) -> None:
    table = main_table()
    for n in range(count):
        created = f"2026-11-{n + 2:02d}T02:00:00Z"
        table.put({"pk": f"ORDER#o_{n}", "sk": "STATUS", "entity": "order_status_index", "gsi1pk": "ORDERS#PAID",
                   "gsi1sk": f"{created}#o_{n}", "order_id": f"o_{n}", "buyer_id": f"u_b{n}", "status": "PAID",
                   "amount_fen": 10_050 + n, "refunded_fen": 0, "created_at": created, "title": "龙井 250g",
                   "line_count": 1, "fulfilment": "physical"})
    table.put({"pk": "ORDER#o_old", "sk": "STATUS", "entity": "order_status_index", "gsi1pk": "ORDERS#PAID",
               "gsi1sk": "2026-10-31T15:59:59Z#o_old", "order_id": "o_old", "status": "PAID", "amount_fen": 1,
               "created_at": "2026-10-31T15:59:59Z"})  # 23:59:59 on 31 October, China time: outside


def objects_under(prefix: str) -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def read_csv(key: str) -> list[dict[str, str]]:
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


ORDERS = {"kind": "orders", "from": "2026-11-01", "to": "2026-11-30"}


def test_create_queues_an_audited_job_and_a_retry_replays_it(aws: dict[str, str], invoke: Invoke) -> None:
    status, job = create(invoke, ORDERS)
    assert status == 202, job
    assert job["status"] == "QUEUED" and job["kind"] == "orders" and job["from_date"] == "2026-11-01"
    assert job["filename"] == "orders-20261101-20261130.csv" and job["url"] is None
    status, again = create(invoke, ORDERS)
    assert status == 202 and again["export_id"] == job["export_id"]
    assert messages(aws["queue"]) == [{"export_id": job["export_id"]}]
    audit = [e for e in AuditLog(main_table()).on(utc_now()) if e["action"] == "export.create"]
    assert len(audit) == 1 and audit[0]["entity_type"] == "export" and audit[0]["entity_id"] == job["export_id"]
    assert audit[0]["actor"] == "admin:alice" and audit[0]["source_ip"] == "127.0.0.1"
    assert audit[0]["after"] == {"kind": "orders", "from": "2026-11-01", "to": "2026-11-30"}


@pytest.mark.parametrize(("body", "field"), [
    ({**ORDERS, "to": "2026-10-01"}, "to"),
    ({**ORDERS, "from": "2025-01-01"}, "to"),
    ({**ORDERS, "kind": "customers"}, "kind"),
    ({"kind": "orders", "to": "2026-11-30"}, "from"),
])
def test_bad_requests_are_422_naming_the_field_and_change_nothing(aws: dict[str, str], invoke: Invoke,
                                                                   body: dict[str, Any], field: str) -> None:
    status, payload = create(invoke, body)
    assert status == 422, payload
    assert field in {f["field"] for f in payload["error"]["fields"]}
    assert messages(aws["queue"]) == []
    status, page, _ = invoke("admin_exports", "GET", "/admin/exports", headers=admin())
    assert page["items"] == []


def test_only_admins_export(aws: dict[str, str], invoke: Invoke) -> None:
    token = issue_token("u_1", frozenset({Role.CUSTOMER, Role.PROMOTER}), key=signing_key(), now=utc_now(),
                        ttl_seconds=600)
    status, _ = create(invoke, ORDERS, headers={"authorization": f"Bearer {token}"})
    assert status == 403
    status, _, _ = invoke("admin_exports", "GET", "/admin/exports/ex_nothing", headers=admin())
    assert status == 404


def test_the_worker_writes_the_file_and_get_gives_a_short_lived_link(aws: dict[str, str], invoke: Invoke) -> None:
    seed_orders()
    _, job = create(invoke, ORDERS)
    worker = load_function("export_worker")
    assert worker.handler(sqs_event(job["export_id"]), FakeContext())["batchItemFailures"] == []
    status, done, headers = invoke("admin_exports", "GET", f"/admin/exports/{job['export_id']}", headers=admin())
    assert status == 200 and done["status"] == "DONE" and done["rows"] == 3 and done["attempts"] == 1
    assert headers.get("Cache-Control") == "no-store"
    link = urlparse(done["url"])
    query = parse_qs(link.query)
    assert link.path.endswith("/orders-20261101-20261130.csv") and query["X-Amz-Expires"] == ["900"]
    assert "orders-20261101-20261130.csv" in query["response-content-disposition"][0]
    keys = objects_under(f"exports/{job['export_id']}/")
    rows = read_csv(keys[0])
    assert [r["order_id"] for r in rows] == ["o_0", "o_1", "o_2"]
    assert rows[1]["amount_fen"] == "10051" and rows[1]["amount_yuan"] == "100.51" and rows[0]["title"] == "龙井 250g"
    # A redelivered message of a DONE job changes nothing.
    assert worker.handler(sqs_event(job["export_id"]), FakeContext())["batchItemFailures"] == []
    assert objects_under(f"exports/{job['export_id']}/") == keys
    status, page, _ = invoke("admin_exports", "GET", "/admin/exports", headers=admin())
    assert [j["export_id"] for j in page["items"]] == [job["export_id"]] and page["items"][0]["url"] is None


def test_live_and_lapsed_leases(aws: dict[str, str], invoke: Invoke) -> None:
    seed_orders()
    _, job = create(invoke, ORDERS)
    repo = ExportJobRepository(main_table())
    queued = repo.get(job["export_id"])
    assert queued is not None
    worker = load_function("export_worker")
    # Another run is writing it: the message goes back to the queue.
    live = repo.claim(queued, run_id="run_other", now=utc_now(), lease_seconds=600)
    result = worker.handler(sqs_event(job["export_id"]), FakeContext())
    assert result["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    # That run died: once its lease has passed, a delivery starts again.
    ExportJobRepository(main_table())._update(live, "SET lease_until = :past", condition="attribute_exists(pk)",
                                              names={}, values={":past": "2026-01-01T00:00:00Z"})
    assert worker.handler(sqs_event(job["export_id"]), FakeContext())["batchItemFailures"] == []
    done = repo.get(job["export_id"])
    assert done is not None and done.status == ExportStatus.DONE and done.attempts == 2 and done.rows == 3


def test_a_failed_run_is_retried_then_failed_for_good(aws: dict[str, str], invoke: Invoke,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, job = create(invoke, {**ORDERS, "kind": "ledger"})

    def broken(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield b"header\r\n"
        raise RuntimeError("table unreachable")

    monkeypatch.setattr(service, "rows_of", broken)
    worker = load_function("export_worker")
    repo = ExportJobRepository(main_table())
    for attempt in (1, 2):
        assert worker.handler(sqs_event(job["export_id"]), FakeContext())["batchItemFailures"] != []
        current = repo.get(job["export_id"])
        assert current is not None and current.status == ExportStatus.QUEUED and current.attempts == attempt
        assert current.error and "table unreachable" in current.error
    assert worker.handler(sqs_event(job["export_id"]), FakeContext())["batchItemFailures"] == []  # given up
    failed = repo.get(job["export_id"])
    assert failed is not None and failed.status == ExportStatus.FAILED and failed.attempts == 3
    assert objects_under("exports/") == []  # nothing half-written is left


def test_a_lost_queue_fails_the_job_at_once(aws: dict[str, str], invoke: Invoke,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_QUEUE_URL", aws["queue"].replace("ExportQueue", "NoSuchQueue"))
    status, payload = create(invoke, ORDERS)
    assert status == 503 and payload["error"]["code"] == "export_queue_unavailable"
    status, page, _ = invoke("admin_exports", "GET", "/admin/exports", headers=admin())
    assert [j["status"] for j in page["items"]] == ["FAILED"]


def test_many_rows_stream_through_the_service_with_bounded_memory(aws: dict[str, str], invoke: Invoke,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.s3.models

    part = 128 * 1024
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", part)  # S3's 5 MiB, scaled down
    produced = 0

    def many(self: Any, kind: Any, days: Any) -> Iterator[dict[str, Any]]:
        nonlocal produced
        for n in range(20_000):
            produced += 1
            yield {"order_id": f"o_{n:06d}", "created_at": "2026-11-02T02:00:00Z", "status": "PAID",
                   "amount_fen": n, "title": "云南古树普洱茶"}

    monkeypatch.setattr(ExportSources, "items", many)
    _, job = create(invoke, ORDERS)
    outcome = service.run_export(jobs=ExportJobRepository(main_table()), sources=ExportSources(main_table()),
                                 store=ObjectStore(BUCKET), export_id=job["export_id"],
                                 now=utc_now(), lease_seconds=600, part_size=part)
    assert outcome.result == "done" and outcome.rows == produced == 20_000
    assert outcome.parts > 10 and outcome.max_buffered < part + 1_000
    rows = read_csv(objects_under(f"exports/{job['export_id']}/")[0])
    assert len(rows) == 20_000 and rows[-1]["amount_yuan"] == "199.99"
    # And the worker answers a redelivery with nothing to do.
    again = service.run_export(jobs=ExportJobRepository(main_table()), sources=ExportSources(main_table()),
                               store=ObjectStore(BUCKET), export_id=job["export_id"],
                               now=utc_now() + timedelta(hours=1), lease_seconds=600, part_size=part)
    assert again.result == "finished" and again.rows == 20_000


def test_a_message_for_an_unknown_job_is_dropped(aws: dict[str, str]) -> None:
    worker = load_function("export_worker")
    assert worker.handler(sqs_event("ex_unknown"), FakeContext())["batchItemFailures"] == []
    bad = sqs_event("x")
    bad["Records"][0]["body"] = "not json"
    assert worker.handler(bad, FakeContext())["batchItemFailures"] == [{"itemIdentifier": "m1"}]
