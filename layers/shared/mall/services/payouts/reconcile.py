"""The payout reconciler: transfer bills stuck in a non-terminal state are asked about at WeChat
Pay and applied as the notification would be; APPROVED withdrawals never started are started."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from mall.dal.payouts import PayoutRepository
from mall.dal.settings import SettingsRepository
from mall.dal.withdrawals import readable_withdrawal
from mall.domain.payouts import APPROVED, PAYING, WECHAT, BillOutcome, is_terminal
from mall.domain.withdrawals import Withdrawal
from mall.errors import UpstreamUnavailable
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayNotFound
from mall.observability import metrics
from mall.services.payouts.bills import apply_bill
from mall.services.payouts.gateway import TransferGateway, Transfers
from mall.services.payouts.start import DEFAULT_UNSTARTED_AFTER, older, start_payout

logger = Logger(child=True)


@dataclass
class PayoutReconcileReport:
    examined: int = 0
    started: int = 0
    paid: int = 0
    failed: int = 0
    waiting: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"examined": self.examined, "started": self.started, "paid": self.paid, "failed": self.failed,
                "waiting": self.waiting, "errors": self.errors}

    def count(self, outcome: str) -> None:
        if outcome == "paid":
            self.paid += 1
        elif outcome == "failed":
            self.failed += 1
        elif outcome == "bill_created":
            self.started += 1
        else:
            self.waiting += 1


def stuck_bill_age(settings: SettingsRepository) -> timedelta:
    """``withdrawal.stuck_bill_minutes`` of the settings in force."""
    return timedelta(minutes=settings.current().settings.withdrawal.stuck_bill_minutes)


def reconcile_payouts(*, payouts: PayoutRepository, transfers: Transfers, now: datetime, stuck_after: timedelta,
                      unstarted_after: timedelta = DEFAULT_UNSTARTED_AFTER, limit: int = 200) -> PayoutReconcileReport:
    """Withdrawals PAYING with a bill in a non-terminal state for ``stuck_after`` (or no bill at all
    for ``unstarted_after``): ask WeChat Pay and apply a terminal state (no bill under the number:
    create it, same number). APPROVED WeChat withdrawals not started ``unstarted_after`` after
    approval: start them. Reads the gsi1 status partitions only."""
    report = PayoutReconcileReport()
    client: TransferGateway | None = None

    def gateway() -> TransferGateway:
        nonlocal client
        client = client or transfers.pay()
        return client

    shared = replace(transfers, pay=gateway)  # one client for the whole run, built when first needed

    def start(payout: Withdrawal) -> None:
        try:
            result = start_payout(payouts=payouts, transfers=shared, withdrawal_id=payout.withdrawal_id, now=now)
        except UpstreamUnavailable:
            report.errors += 1
            return
        report.count(result.outcome)

    for payout in _due(payouts, PAYING, created_before=now - min(stuck_after, unstarted_after), limit=limit):
        if payout.cancel_reason is not None:  # its bill must be cancelled (a lost or failed send)
            report.examined += 1
            start(payout)
            continue
        waited = stuck_after if payout.bill_state else unstarted_after
        if not (is_terminal(payout.bill_state) or older(payout.paying_at or payout.created_at, now - waited)):
            continue
        report.examined += 1
        try:
            bill = gateway().query_transfer_bill(payout.out_bill_no)
        except WeChatPayNotFound:
            start(payout)  # the bill was never created (the call failed or crashed): create it now
            continue
        except WeChatPayError as exc:
            logger.warning("payout reconcile: query failed",
                           extra={"withdrawal_id": payout.withdrawal_id, "wechatpay_code": exc.code})
            report.errors += 1
            continue
        handled = apply_bill(payouts=payouts, bill=bill, now=now, source="reconcile")
        if handled.outcome == BillOutcome.MARK_PAID:
            report.paid += 1
        elif handled.outcome == BillOutcome.MARK_FAILED:
            report.failed += 1
        elif handled.acknowledged:
            report.waiting += 1
        else:
            report.errors += 1
        if handled.outcome in {BillOutcome.MARK_PAID, BillOutcome.MARK_FAILED}:
            logger.warning("payout finished by reconciliation (its notification was lost or late)",
                           extra={"withdrawal_id": payout.withdrawal_id, "bill_state": bill.state})
            metrics.add_metric(name="PayoutsReconciled", unit="Count", value=1)

    for payout in _due(payouts, APPROVED, created_before=now - unstarted_after, limit=limit):
        if payout.method != WECHAT or not older(payout.approved_at or payout.created_at, now - unstarted_after):
            continue
        report.examined += 1
        logger.warning("approved withdrawal never started: starting it", extra={"withdrawal_id": payout.withdrawal_id})
        start(payout)
    return report


def _due(payouts: PayoutRepository, status: str, *, created_before: datetime, limit: int) -> list[Withdrawal]:
    found: list[Withdrawal] = []
    start_key: dict[str, Any] | None = None
    while len(found) < limit:
        page = payouts.by_status(status, created_before=created_before, limit=min(100, limit - len(found)),
                                 start_key=start_key)
        found += [payout for payout in (readable_withdrawal(item) for item in page.items) if payout is not None]
        start_key = page.last_key
        if start_key is None:
            break
    return found
