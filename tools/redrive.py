"""Send the messages parked in a dead-letter queue back to work.

    python -m tools.redrive --queue-url URL                 # AWS: each message back to its own source queue
    python -m tools.redrive --queue-url URL --status        # how far the move tasks have got
    python -m tools.redrive --queue-url URL --to-url URL2   # move them by hand into one queue

In AWS the first form starts an SQS message move task without a destination, which returns every
message to the queue it failed in (SQS keeps its source, ``DeadLetterQueueSourceArn``), so one
dead-letter queue serves all the queues. ``--to-url`` moves messages one by one (receive, send,
delete after the send) into the named queue: where no move task exists (the local stack) or to
redrive only one source. A message recorded as from another source stays where it is. Every
worker the queues feed is idempotent, so a message handled twice does no harm."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

SOURCE_ATTRIBUTE: Final = "DeadLetterQueueSourceArn"


@dataclass
class Moved:
    moved: int = 0
    skipped: int = 0


def queue_arn(sqs: SQSClient, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def start_move_task(sqs: SQSClient, dead_letter_url: str, *, per_second: int | None = None) -> str:
    """Start the move of every message back to its own source queue; returns the task handle."""
    request: dict[str, Any] = {"SourceArn": queue_arn(sqs, dead_letter_url)}
    if per_second:
        request["MaxNumberOfMessagesPerSecond"] = per_second
    return sqs.start_message_move_task(**request)["TaskHandle"]


def move_tasks(sqs: SQSClient, dead_letter_url: str) -> list[dict[str, Any]]:
    results = sqs.list_message_move_tasks(SourceArn=queue_arn(sqs, dead_letter_url))["Results"]
    return [dict(r) for r in results]


def move_by_hand(sqs: SQSClient, dead_letter_url: str, target_url: str, *, limit: int = 10_000) -> Moved:
    """Move up to ``limit`` messages into ``target_url``; those recorded from another source stay."""
    target_arn = queue_arn(sqs, target_url)
    result = Moved()
    seen: set[str] = set()
    while result.moved + result.skipped < limit:
        batch = sqs.receive_message(QueueUrl=dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    VisibilityTimeout=30, MessageSystemAttributeNames=[SOURCE_ATTRIBUTE],
                                    MessageAttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return result
        for message in fresh:
            seen.add(message["MessageId"])
            source = message.get("Attributes", {}).get(SOURCE_ATTRIBUTE)
            if source is not None and source != target_arn:
                result.skipped += 1
                sqs.change_message_visibility(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
                continue
            send: dict[str, Any] = {"QueueUrl": target_url, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**send)
            # Deleted only once it is safely in the target: a crash in between sends it twice, never loses it.
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            result.moved += 1
    return result


def main(argv: list[str] | None = None, *, sqs: SQSClient | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue-url", required=True, help="the dead-letter queue (stack output DeadLetterQueueUrl)")
    parser.add_argument("--to-url", default=None, help="move by hand into this queue instead of a move task")
    parser.add_argument("--status", action="store_true", help="list the dead-letter queue's move tasks")
    parser.add_argument("--per-second", type=int, default=None, help="the move task's rate (default: SQS's)")
    parser.add_argument("--endpoint-url", default=None, help="another SQS endpoint (the local stack's)")
    args = parser.parse_args(argv)
    client = sqs or boto3.client("sqs", endpoint_url=args.endpoint_url)
    if args.status:
        for task in move_tasks(client, args.queue_url):
            print(f"{task.get('Status')}: moved {task.get('ApproximateNumberOfMessagesMoved')} of "
                  f"{task.get('ApproximateNumberOfMessagesToMove')} (started {task.get('StartedTimestamp')})")
        return 0
    if args.to_url:
        moved = move_by_hand(client, args.queue_url, args.to_url)
        print(f"moved {moved.moved}, left {moved.skipped} from other sources")
        return 0
    print(f"move task started: {start_move_task(client, args.queue_url, per_second=args.per_second)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
