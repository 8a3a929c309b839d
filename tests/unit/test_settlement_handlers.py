"""The settlement planner and worker handlers on moto (DynamoDB + SQS): the planner sends the due
keys in slices; the worker settles a slice, a redelivery changes nothing, a bad message is
reported as a partial batch failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from mall.dal import queues
from mall.dal.commissions import commission_item
from mall.dal.keys import commission_key
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Write, main_table
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from tests.conftest import ROOT
from tests.unit.conftest import FakeContext, load_function

pytestmark = pytest.mark.usefixtures("moto_table")

PAID = datetime(2026, 11, 1, tzinfo=UTC)
DUE = datetime(2026, 11, 9, tzinfo=UTC)


@pytest.fixture
def queue_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    queues.sqs_client.cache_clear()
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="SettlementQueue")["QueueUrl"]
    monkeypatch.setenv("SETTLEMENT_QUEUE_URL", url)
    yield url
    queues.sqs_client.cache_clear()


def seed(order: str, beneficiary: str, amount: int, due_at: datetime | None = DUE) -> CommissionRecord:
    table = main_table()
    cid = commission_id(order, "l1", 1)
    record = CommissionRecord(commission_id=cid, order_id=order, line_id="l1", level=1, beneficiary_id=beneficiary,
                              buyer_id="b", product_id="p", product_name="Tea", quantity=1, base_fen=amount * 10,
                              amount_fen=amount, status=CommissionStatus.FROZEN, rule={}, created_at=PAID,
                              due_at=due_at)
    LedgerRepository(table).post(
        [L.commission_frozen(promoter_id=beneficiary, commission_id=cid, amount_fen=amount, at=PAID, ref={})],
        also=[Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])
    return record


def received(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:SettlementQueue",
                         "awsRegion": "us-east-1"} for i, body in enumerate(bodies)]}


def test_the_planner_sends_what_is_due_at_the_events_time_in_slices(queue_url: str) -> None:
    due = [seed(f"o{i}", f"u{i % 3}", 100 + i) for i in range(7)]
    seed("o_late", "u0", 500, due_at=datetime(2099, 1, 1, tzinfo=UTC))
    seed("o_open", "u1", 500, due_at=None)
    event = json.loads((ROOT / "events" / "settlement_planner.json").read_text("utf-8"))
    result = load_function("settlement_planner").handler(event, FakeContext())
    # The as-of is the sample's time (or now, if later): after every due date above but 2099's.
    assert result["due"] == 7 and result["promoters"] == 3 and result["slices"] == 1 and result["batches"] == 1
    bodies = received(queue_url)
    assert len(bodies) == 1
    keys = bodies[0]["keys"]
    assert sorted((k["pk"], k["sk"]) for k in keys) == sorted(
        (f"ORDER#{r.order_id}", "COMMISSION#l1#1") for r in due)
    # A promoter's records travel together (promoters in id order).
    owners = [f"u{int(k['pk'].removeprefix('ORDER#o')) % 3}" for k in keys]
    assert owners == sorted(owners)
    # Nothing was settled by the planner itself.
    assert LedgerRepository(main_table()).wallet("u0").balances.available == 0


def test_the_planner_cuts_many_due_records_into_batches_of_ten_messages(queue_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from mall.services import settlement

    for i in range(12):
        seed(f"o{i}", f"u{i}", 100)
    planner = load_function("settlement_planner")
    monkeypatch.setattr(planner, "plan", lambda *a, **kw: settlement.plan(*a, **kw, slice_size=1))
    result = planner.handler({"time": "2099-01-01T00:00:00Z"}, FakeContext())
    assert result["slices"] == 12 and result["batches"] == 2
    assert len(received(queue_url)) == 12


def test_the_worker_settles_a_slice_once_and_reports_bad_messages() -> None:
    records = [seed(f"o{i}", "u1", 100 * (i + 1)) for i in range(3)]
    body = json.dumps({"as_of": "2026-11-10T00:00:00Z", "slice": "s/0",
                       "keys": [commission_key(r.order_id, r.line_id, r.level) for r in records]})
    worker = load_function("settlement_worker")
    assert worker.handler(sqs_event(body), FakeContext()) == {"batchItemFailures": []}
    assert LedgerRepository(main_table()).wallet("u1").balances == L.Balances(available=600)
    # Redelivered (and alongside it a message that cannot be read): the slice changes nothing.
    result = worker.handler(sqs_event(body, "not json", json.dumps({"as_of": "2026-11-10T00:00:00", "keys": []})),
                            FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert LedgerRepository(main_table()).wallet("u1").balances == L.Balances(available=600)
    item = main_table().get(commission_key("o0", "l1", 1))
    assert item is not None and item["status"] == "SETTLED" and "gsi2pk" not in item


def test_the_worker_leaves_records_due_after_the_slices_as_of() -> None:
    record = seed("o1", "u1", 100)
    body = json.dumps({"as_of": "2026-11-08T23:59:59Z",
                       "keys": [commission_key(record.order_id, record.line_id, record.level)]})
    assert load_function("settlement_worker").handler(sqs_event(body), FakeContext()) == {"batchItemFailures": []}
    assert LedgerRepository(main_table()).wallet("u1").balances == L.Balances(frozen=100)


def test_the_sample_worker_event_runs() -> None:
    event = json.loads((ROOT / "events" / "settlement_worker.json").read_text("utf-8"))
    assert load_function("settlement_worker").handler(event, FakeContext()) == {"batchItemFailures": []}
