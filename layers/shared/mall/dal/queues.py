"""Sending JSON messages to SQS queues (the commission queue, and any other worker queue).

The low-level client keeps cold starts short. Its endpoint is ``AWS_ENDPOINT_URL_SQS`` when set
(the local stack's moto server), else the SDK's regional endpoint. Queue URLs come from each
function's environment (``!Ref <Queue>`` in template.yaml)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from mall.config import QueueVariable, function_environment

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

SEND_BATCH_LIMIT = 10  # SendMessageBatch's limit


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    endpoint = function_environment().sqs_endpoint
    config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=2, read_timeout=5)
    return boto3.client("sqs", endpoint_url=endpoint, config=config)


class SendFailed(Exception):
    """Some messages were not accepted by SQS (the caller lets its own delivery be retried)."""

    def __init__(self, queue_url: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} message(s) not sent to {queue_url}: {failures[:3]}")
        self.failures = failures


class MessageQueue:
    """One queue. Messages are JSON objects; consumers must be idempotent (at-least-once)."""

    def __init__(self, url: str, client: SQSClient | None = None) -> None:
        self.url = url
        self._client = client

    @property
    def client(self) -> SQSClient:
        # Not kept when shared: rebuilt after a SnapStart restore (mall.runtime.snapstart).
        return self._client if self._client is not None else sqs_client()

    def send(self, body: Mapping[str, Any]) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(dict(body), separators=(",", ":")))

    def send_many(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Send in batches of 10; raises ``SendFailed`` naming the messages SQS refused."""
        failures: list[dict[str, Any]] = []
        for start in range(0, len(bodies), SEND_BATCH_LIMIT):
            chunk = bodies[start:start + SEND_BATCH_LIMIT]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps(dict(body), separators=(",", ":"))}
                for i, body in enumerate(chunk)])
            failures += [dict(f) for f in response.get("Failed", [])]
        if failures:
            raise SendFailed(self.url, failures)


def queue_from_env(variable: QueueVariable) -> MessageQueue | None:
    """The queue whose URL is in environment variable ``variable`` (None when unset)."""
    url = function_environment().queue_url(variable)
    return MessageQueue(url) if url else None
