"""SQS worker (PayoutQueue): ``{"withdrawal_id": ...}`` for a withdrawal just APPROVED → start its
WeChat merchant transfer (商家转账): APPROVED → PAYING and the transfer bill, with the withdrawal's
``out_bill_no`` (mall.services.payouts.start_payout, safe to repeat). The same message for a PAYING
withdrawal whose bill must be cancelled (a clawback left its promoter owing: ``cancel_reason``)
cancels the bill at WeChat Pay instead; an APPROVED one whose promoter now owes is cancelled, its
funds repaying the debt first.

Messages are handled one by one with `mall.workers` batch processing: a message whose transfer WeChat
Pay did not confirm is reported in ``batchItemFailures`` and redelivered after the visibility
timeout (the same number again: never a second transfer); after ``maxReceiveCount`` it lands in the
dead-letter queue, and the payout reconciler picks the withdrawal up anyway. A message that is not
a payout request is logged and dropped (redelivering it cannot help)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mall.clock import utc_now
from mall.dal.payouts import PayoutRepository
from mall.dal.table import main_table
from mall.integrations.wechatpay import client as _client  # noqa: F401 (the composition root says why)
from mall.integrations.wechatpay.factory import pay_client
from mall.observability import logger, metrics
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.start import start_payout
from mall.workers import Batch, EventSource, batch_entrypoint

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Composition root: built once per cold start, shared by every invocation.
# ``_client``: every message calls WeChat Pay, so its client's module (with the TLS context its transport
# builds) is imported at cold start, not by the first message.
table = main_table()
payouts = PayoutRepository(table)
transfers = Transfers(pay=pay_client)

# Report every failed message, even when all of them failed (not one exception for the batch): the
# same answer whatever the mix, and the successes of a batch are never redone.
batch = Batch(EventSource.SQS, raise_on_entire_batch_failure=False)


def withdrawal_id_of(body: str) -> str | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    value = message.get("withdrawal_id") if isinstance(message, dict) else None
    return value if isinstance(value, str) and 3 <= len(value) <= 64 else None


def record_handler(record: SQSRecord) -> dict[str, Any]:
    withdrawal_id = withdrawal_id_of(record.body)
    if withdrawal_id is None:
        logger.error("payout message without a withdrawal_id: dropped", extra={"message_id": record.message_id})
        metrics.add_metric(name="PayoutMessagesDropped", unit="Count", value=1)
        return {"skipped": True}
    result = start_payout(payouts=payouts, transfers=transfers, withdrawal_id=withdrawal_id, now=utc_now())
    logger.info("payout started", extra={"withdrawal_id": withdrawal_id, "outcome": result.outcome,
                                         "status": result.status, "bill_state": result.bill_state})
    return {"withdrawal_id": withdrawal_id, "outcome": result.outcome}


handler = batch_entrypoint(batch, record_handler, traced=True)  # template.yaml: Tracing: Active
