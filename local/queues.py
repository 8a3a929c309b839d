"""SQS queues and S3 buckets locally (moto's server in a child process), and SQS triggers.

moto's WSGI app is served on 127.0.0.1 (a free port unless one is given; ``local.moto_server``) with every
request signed to account ``000000000000`` (an ``x-moto-account-id`` header added by a
middleware, so no process-wide ``MOTO_ACCOUNT_ID`` leaks into other moto users). The
template's queues are created there (RedrivePolicy included; moto moves a message to the
dead-letter queue once it was received more than ``maxReceiveCount`` times) and so are
its buckets. Functions reach it through ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL_S3``.

An SQS trigger polls its queue and invokes the function with Lambda's SQS event, up to
``BatchSize`` messages (gathered for up to ``MaximumBatchingWindowInSeconds``).
Success deletes the batch; a function error deletes nothing; with
``ReportBatchItemFailures`` the messages named in ``batchItemFailures`` stay (an invalid
identifier fails the whole batch, as in AWS). Messages that stay become visible again
after the queue's ``VisibilityTimeout``, exactly as in AWS. Messages that don't match
``FilterCriteria`` are deleted without an invocation, as in AWS.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local.filtering import matches_any
from local.lambda_runtime import Invocation
from local.template_model import ACCOUNT_ID, REGION, BucketSpec, QueueSpec, QueueTrigger

log = logging.getLogger("local.queues")

LOOPBACK = "127.0.0.1"
_ROOT = Path(__file__).resolve().parents[1]

# CloudFormation properties of AWS::SQS::Queue that are SQS queue attributes.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


#: The local stack waits at most this long to fill a batch: AWS's longer windows (fewer invocations
#: in production, priced by bench/cost.py) would only make every test that waits for a worker slower.
LOCAL_BATCHING_WINDOW_CAP_S = 1.0


class MotoServer:
    """moto's server on 127.0.0.1 in a child process (``python -m local.moto_server``).

    A child, not a thread: moto keeps its state in process-wide backends, and any ``mock_aws()``
    in the same process (the unit tests) resets them when it ends, taking the stack's queues
    and buckets with it. The child also serves on the other core. It exits when its stdin
    closes, so it never outlives this process."""

    def __init__(self, port: int | None = None, *, s3_min_part_bytes: int | None = None) -> None:
        self.requested_port = port or 0
        self.s3_min_part_bytes = s3_min_part_bytes
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.moto_server", "--port", str(self.requested_port),
             *([] if self.s3_min_part_bytes is None else ["--s3-min-part-bytes", str(self.s3_min_part_bytes)])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=_ROOT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT),
                                                                           os.environ.get("PYTHONPATH")]))})
        line = self._process.stdout.readline().strip() if self._process.stdout else ""  # "listening <port>"
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.port = int(line.split()[1])
        log.info("moto (SQS, S3) on %s", self.endpoint)
        return self.endpoint

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def client(endpoint: str, service: str) -> Any:
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def ensure_queues(endpoint: str, queues: Iterable[QueueSpec]) -> dict[str, str]:
    """Create the template's queues (idempotent); ``{logical_id: queue_url}``."""
    sqs = client(endpoint, "sqs")
    urls: dict[str, str] = {}
    specs = list(queues)
    for spec in specs:
        attributes = {k: _attribute_value(spec.properties[k]) for k in _QUEUE_ATTRIBUTES if k in spec.properties}
        urls[spec.logical_id] = sqs.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]
    for spec in specs:  # once every queue exists, dead-letter targets can be set
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in spec.properties:
                sqs.set_queue_attributes(
                    QueueUrl=urls[spec.logical_id], Attributes={key: _attribute_value(spec.properties[key])}
                )
    return urls


def ensure_buckets(endpoint: str, buckets: Iterable[BucketSpec]) -> list[str]:
    s3 = client(endpoint, "s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for spec in buckets:
        if spec.name not in existing:
            s3.create_bucket(Bucket=spec.name)
            created.append(spec.name)
    return created


def lambda_sqs_record(message: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """One record of Lambda's SQS event from a ReceiveMessage message."""
    attributes = dict(message.get("Attributes", {}))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(v) for k, v in attributes.items() if not k.startswith("AWSTrace")},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def _for_filtering(record: Mapping[str, Any]) -> dict[str, Any]:
    view = dict(record)
    with contextlib.suppress(TypeError, ValueError):
        view["body"] = json.loads(record["body"])
    return view


def failed_identifiers(result: Any, valid: set[str]) -> set[str] | None:
    """IDs named in ``batchItemFailures``; None means the whole batch failed (bad response)."""
    if not isinstance(result, Mapping) or result.get("batchItemFailures") is None:
        return set()
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(ident, str) or ident not in valid:
            return None
        ids.add(ident)
    return ids


class QueuePoller:
    """One SQS event source mapping: polls a queue and invokes one function."""

    def __init__(
        self,
        trigger: QueueTrigger,
        queue_url: str,
        queue_name: str,
        endpoint: str,
        invoke: Callable[[str, Any], Invocation],
        *,
        poll_interval: float = 0.1,
    ) -> None:
        self.trigger = trigger
        self.queue_url = queue_url
        self.arn = queue_arn(queue_name)
        self.invoke = invoke
        self.poll_interval = poll_interval
        self.sqs = client(endpoint, "sqs")
        self.cycles = 0
        self.deliveries = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return f"{self.trigger.function_id}.{self.trigger.event_name}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sqs-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def pending_messages(self) -> int:
        """Messages in the queue, visible or not (not yet deleted or moved to a DLQ)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._receive_batch()
                if messages:
                    self._process(messages)
            except Exception:
                log.exception("SQS poller %s failed; retrying", self.name)
                self._stop.wait(1.0)
                messages = []
            self.cycles += 1
            if not messages:
                self._stop.wait(self.poll_interval)

    def _receive_batch(self) -> list[dict[str, Any]]:
        wanted = self.trigger.batch_size
        window = min(self.trigger.batching_window_s, LOCAL_BATCHING_WINDOW_CAP_S)
        deadline = 0.0
        batch: list[dict[str, Any]] = []
        while len(batch) < wanted and not self._stop.is_set():
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, wanted - len(batch)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            if not batch:
                if not got:
                    # Nothing waiting: the window opens with the first message, as the stream poller's
                    # does, so an idle poll stays short (drain_streams waits for two of them).
                    break
                deadline = time.monotonic() + window
            batch.extend(got)
            if time.monotonic() >= deadline:
                break
            if not got:
                self._stop.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return batch

    def _process(self, messages: list[dict[str, Any]]) -> None:
        records = [lambda_sqs_record(m, self.arn) for m in messages]
        keep = [r for r in records if matches_any(_for_filtering(r), self.trigger.filters)]
        dropped = [r for r in records if r not in keep]
        self._delete(dropped)
        if not keep:
            return
        self.deliveries += 1
        outcome = self.invoke(self.trigger.function_id, {"Records": keep})
        if not outcome.ok:
            log.warning(
                "%s: batch of %d failed; the messages return after the visibility timeout", self.name, len(keep)
            )
            return
        failed: set[str] | None = set()
        if self.trigger.report_batch_item_failures:
            failed = failed_identifiers(outcome.result, {r["messageId"] for r in keep})
        if failed is None:
            log.warning("%s: invalid batchItemFailures %r: the whole batch failed", self.name, outcome.result)
            return
        if failed:
            log.info("%s: %d of %d messages failed and will be retried", self.name, len(failed), len(keep))
        self._delete([r for r in keep if r["messageId"] not in failed])

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )
