"""DynamoDB stream triggers on DynamoDB Local.

Each ``Type: DynamoDB`` event is one poller (one event source mapping), with its own
shard iterators, reading the table's stream through the ``dynamodbstreams`` API of
DynamoDB Local. Open shards are read from ``LATEST`` as of the start of the stack
(whatever ``StartingPosition`` says: replaying the retained history at every local
start would re-run old work); shards that appear later are read from their start.

Records reach the function in Lambda's DynamoDB event format, in order, at most
``BatchSize`` at a time (gathered for up to ``MaximumBatchingWindowInSeconds``), after
``FilterCriteria`` (records that match no filter are skipped, as in AWS). A function
error retries the batch (halved first with ``BisectBatchOnFunctionError``); with
``ReportBatchItemFailures`` a response naming ``batchItemFailures[].itemIdentifier``
(a SequenceNumber) checkpoints the records before the first failure and retries from it
(an unknown identifier fails the whole batch). After ``MaximumRetryAttempts`` retries
(-1, the default: forever, as in AWS) the batch is logged and skipped. Delivery is
at-least-once, as in AWS.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from local import dynamodb
from local.filtering import matches_any
from local.lambda_runtime import Invocation
from local.template_model import REGION, StreamTrigger

log = logging.getLogger("local.streams")


def _jsonable(value: Any) -> Any:
    """DynamoDB JSON as the Lambda event carries it (binary values in base64)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def lambda_stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """One record of Lambda's DynamoDB event from a GetRecords record."""
    data = dict(record.get("dynamodb", {}))
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stamp = created.timestamp()
        data["ApproximateCreationDateTime"] = int(stamp) if stamp.is_integer() else stamp
    ordered: dict[str, Any] = {}
    for key in (
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "OldImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    ):
        if key in data:
            ordered[key] = _jsonable(data[key])
    out: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": ordered,
        "eventSourceARN": stream_arn.replace(":ddblocal:", f":{REGION}:"),
    }
    if "userIdentity" in record:
        out["userIdentity"] = _jsonable(record["userIdentity"])
    return out


def first_failure(result: Any, batch: list[dict[str, Any]], report: bool) -> int | None:
    """Index of the first record to retry; None when the batch succeeded."""
    if not report or not isinstance(result, Mapping) or result.get("batchItemFailures") is None:
        return None
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return 0
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
    indexes = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(ident, str) or ident not in positions:
            return 0  # invalid response: the whole batch failed
        indexes.append(positions[ident])
    return min(indexes)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last_sequence: str | None = None
    done: bool = False


class StreamPoller:
    """One DynamoDB stream event source mapping: polls the stream, invokes one function."""

    def __init__(
        self,
        trigger: StreamTrigger,
        table_name: str,
        endpoint: str,
        invoke: Callable[[str, Any], Invocation],
        *,
        poll_interval: float = 0.1,
        discover_interval: float = 1.0,
        retry_backoff: float = 0.05,
    ) -> None:
        self.trigger = trigger
        self.table_name = table_name
        self.invoke = invoke
        self.poll_interval = poll_interval
        self.discover_interval = discover_interval
        self.retry_backoff = retry_backoff
        self.ddb = dynamodb.client(endpoint)
        self.streams = dynamodb.client(endpoint, "dynamodbstreams")
        self.stream_arn = ""
        self.shards: dict[str, _Shard] = {}
        self.cycles = 0
        self.deliveries = 0
        self.discarded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_discovery = 0.0

    @property
    def name(self) -> str:
        return f"{self.trigger.function_id}.{self.trigger.event_name}"

    def start(self) -> None:
        """Position on the stream now (so writes after start() are seen), then poll."""
        table = self.ddb.describe_table(TableName=self.table_name)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn or not table.get("StreamSpecification", {}).get("StreamEnabled"):
            raise RuntimeError(f"{self.name}: table {self.table_name} has no stream enabled")
        self.stream_arn = arn
        self._discover(initial=True)
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    # -- shards -----------------------------------------------------------------------------

    def _list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            kwargs["ExclusiveStartShardId"] = last

    def _discover(self, *, initial: bool = False) -> None:
        self._last_discovery = time.monotonic()
        for shard in self._list_shards():
            shard_id = shard["ShardId"]
            if shard_id in self.shards:
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            if initial and closed:
                self.shards[shard_id] = _Shard(shard_id, None, done=True)
                continue
            parent = shard.get("ParentShardId")
            if not initial and parent in self.shards and not self.shards[parent].done:
                continue  # read the parent to its end first
            position = "LATEST" if initial else "TRIM_HORIZON"
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=position
            )["ShardIterator"]
            self.shards[shard_id] = _Shard(shard_id, iterator)

    def _reposition(self, shard: _Shard) -> None:
        if shard.last_sequence:
            kwargs: dict[str, Any] = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": shard.last_sequence,
            }
        else:
            kwargs = {"ShardIteratorType": "TRIM_HORIZON"}
        shard.iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.shard_id, **kwargs)[
            "ShardIterator"
        ]

    # -- polling ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            delivered = False
            try:
                if time.monotonic() - self._last_discovery >= self.discover_interval:
                    self._discover()
                for shard in list(self.shards.values()):
                    if not shard.done and self._poll_shard(shard):
                        delivered = True
            except Exception:
                log.exception("stream poller %s failed; retrying", self.name)
                self._stop.wait(1.0)
            self.cycles += 1
            if not delivered:
                self._stop.wait(self.poll_interval)

    def _get_records(self, shard: _Shard, limit: int) -> list[dict[str, Any]]:
        if shard.iterator is None:
            shard.done = True
            return []
        try:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=min(limit, 1000))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                self._reposition(shard)
                return []
            raise
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.done = True
        records: list[dict[str, Any]] = response.get("Records", [])
        return records

    def _poll_shard(self, shard: _Shard) -> bool:
        wanted = self.trigger.batch_size
        records = self._get_records(shard, wanted)
        if not records:
            return False
        deadline = time.monotonic() + self.trigger.batching_window_s
        while len(records) < wanted and not shard.done and time.monotonic() < deadline and not self._stop.is_set():
            more = self._get_records(shard, wanted - len(records))
            records.extend(more)
            if not more:
                self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        batch = [lambda_stream_record(r, self.stream_arn) for r in records]
        batch = [r for r in batch if matches_any(r, self.trigger.filters)]
        if batch:
            self.deliveries += 1
            self._deliver(batch)
        return True

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        pending = batch
        retries = 0
        while pending and not self._stop.is_set():
            outcome = self.invoke(self.trigger.function_id, {"Records": pending})
            if outcome.ok:
                index = first_failure(outcome.result, pending, self.trigger.report_batch_item_failures)
                if index is None:
                    return
                log.info("%s: %d of %d records to retry", self.name, len(pending) - index, len(pending))
                pending = pending[index:]
            elif self.trigger.bisect_on_error and len(pending) > 1:
                half = len(pending) // 2
                self._deliver(pending[:half])
                self._deliver(pending[half:])
                return
            retries += 1
            limit = self.trigger.max_retry_attempts
            if 0 <= limit < retries:
                self.discarded += len(pending)
                first = pending[0]["dynamodb"]["SequenceNumber"]
                log.error(
                    "%s: giving up on %d record(s) from sequence %s after %d retries",
                    self.name,
                    len(pending),
                    first,
                    limit,
                )
                return
            self._stop.wait(min(self.retry_backoff * 2 ** (retries - 1), 10.0))
