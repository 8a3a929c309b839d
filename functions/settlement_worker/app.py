"""SQS worker: settle one slice of due commissions per message (FROZEN → SETTLED, frozen →
available, debt repaid first), sent by ``settlement_planner``.

Each message is processed on its own with `mall.workers` batch processing: a slice that fails (its
body is invalid, a promoter's ledger transaction kept being refused, DynamoDB is unreachable) is
reported in ``batchItemFailures``, becomes visible again after the visibility timeout and, after
``maxReceiveCount`` receives, lands in ``DeadLetterQueue``. A redelivered slice settles only what is
still due: every record is settled exactly once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.dal.table import main_table
from mall.observability import metrics
from mall.services.settlement import SettlementRepositories, settle_message
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = SettlementRepositories.on(table)
batch = Batch(EventSource.SQS)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    report = settle_message(repos, body=record.body, now=utc_now())
    metrics.add_metric(name="CommissionsSettled", unit="Count", value=report.settled)
    metrics.add_metric(name="CommissionSettledFen", unit="Count", value=report.settled_fen)
    return report.as_dict()


handler = batch_entrypoint(batch, record_handler)
