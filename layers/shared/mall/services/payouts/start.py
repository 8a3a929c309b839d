"""Starting a payout: APPROVED → PAYING, then the WeChat transfer bill under the withdrawal's
number (safe to repeat); a bill that must be cancelled is cancelled instead, never created."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from mall.clock import parse_instant
from mall.dal.payouts import PayoutRepository
from mall.dal.withdrawals import OwesDebt
from mall.domain.payouts import (
    APPROVED,
    BILL_WAIT_USER_CONFIRM,
    HOLD_CODES,
    PAYING,
    WECHAT,
    BillOutcome,
    is_terminal,
    payee_problem,
)
from mall.domain.withdrawals import Withdrawal
from mall.errors import UpstreamUnavailable
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayInvalidResponse, WeChatPayNotFound
from mall.observability import metrics
from mall.services.payouts.bills import MAX_RACES, apply_bill
from mall.services.payouts.gateway import TransferGateway, TransferProfile, Transfers
from mall.services.withdrawal_debt import cancel_one_for_debt

logger = Logger(child=True)

#: An APPROVED WeChat withdrawal not started this long after approval was not queued (a lost send).
DEFAULT_UNSTARTED_AFTER = timedelta(minutes=5)


def older(moment: str | None, cutoff: datetime) -> bool:
    return moment is not None and parse_instant(moment) <= cutoff


@dataclass(frozen=True, slots=True)
class PayoutResult:
    """What ``start_payout`` did: ``outcome`` is ``bill_created`` (now waiting for the bill to
    finish), ``paid`` / ``failed`` (the bill or a refusal finished it), ``not_payable`` (not an
    APPROVED/PAYING WeChat withdrawal: nothing done) or ``unknown_withdrawal``."""

    withdrawal_id: str
    outcome: str
    status: str | None
    bill_state: str | None = None


def _result(payouts: PayoutRepository, withdrawal_id: str, outcome: str) -> PayoutResult:
    payout = payouts.get(withdrawal_id)
    return PayoutResult(withdrawal_id, outcome, payout.status.value if payout else None,
                        payout.bill_state if payout else None)


def start_payout(*, payouts: PayoutRepository, transfers: Transfers, withdrawal_id: str,  # noqa: PLR0911
                 now: datetime) -> PayoutResult:
    """Pay an APPROVED WeChat withdrawal: APPROVED → PAYING, then the transfer bill. Safe to repeat
    (a queue redelivery, the reconciler): a PAYING withdrawal re-sends the same number, amount and
    openid, and WeChat Pay answers the bill it already has. Raises ``UpstreamUnavailable`` when
    WeChat Pay did not answer definitively (the withdrawal stays PAYING; repeat later)."""
    for _ in range(MAX_RACES):
        payout = payouts.get(withdrawal_id)
        if payout is None:
            logger.error("payout for an unknown withdrawal", extra={"withdrawal_id": withdrawal_id})
            return PayoutResult(withdrawal_id, "unknown_withdrawal", None)
        if payout.method != WECHAT or payout.status not in {APPROVED, PAYING}:
            return PayoutResult(withdrawal_id, "not_payable", payout.status.value, payout.bill_state)
        openid = payouts.payee_openid(payout.promoter_id)
        problem = payee_problem(payout, openid=openid)
        if payout.status == APPROVED:
            if problem is not None:
                # Nothing was sent to WeChat Pay: fail now, funds back to available.
                if payouts.mark_failed(payout, reason=problem, now=now, by="system") is not None:
                    logger.warning("withdrawal cannot be paid by WeChat transfer: failed, funds returned",
                                   extra={"withdrawal_id": withdrawal_id, "fail_reason": problem})
                    metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                    return _result(payouts, withdrawal_id, "failed")
                continue
            try:
                started = payouts.start_paying(payout, now=now)
            except OwesDebt:
                # A debt appeared since approval: nothing leaves, the funds repay it first.
                owed = payouts.ledger.wallet(payout.promoter_id).balances.owed_fen
                cancel_one_for_debt(payouts.withdrawals, withdrawal_id, now=now, owed_fen=owed)
                return _result(payouts, withdrawal_id, "cancelled_for_debt")
            if started is None:
                continue
            payout = started
        client = transfers.pay()
        if payout.cancel_reason is not None:
            return _cancel_bill(payouts, payout, client, now=now)
        if is_terminal(payout.bill_state) or problem is not None or openid is None:
            # A finished bill (or a payee we can no longer pay) under this number: ask, never re-create.
            return _settle_without_creating(payouts, payout, client, reason=problem or "payee_unavailable", now=now)
        return _create_bill(payouts, payout, client, openid=openid, notify_url=transfers.bill_notify_url(),
                            profile=transfers.bill_profile(), now=now)
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing while starting its payout")


def _create_bill(payouts: PayoutRepository, payout: Withdrawal, client: TransferGateway, *, openid: str,
                 notify_url: str, profile: TransferProfile, now: datetime) -> PayoutResult:
    try:
        created = client.create_transfer_bill(
            payout.out_bill_no, openid=openid, amount_fen=payout.net_fen, remark=profile.remark, notify_url=notify_url,
            transfer_scene_id=profile.scene_id, user_recv_perception=profile.user_recv_perception,
            scene_report_infos=profile.infos())
    except WeChatPayError as exc:
        payouts.record_error(payout, code=exc.code, message=exc.message, now=now)
        metrics.add_metric(name="TransferCallsFailed", unit="Count", value=1)
        if exc.retryable or isinstance(exc, WeChatPayInvalidResponse) or exc.code in HOLD_CODES \
                or exc.code == "HTTP_ERROR":
            logger.warning("transfer bill not confirmed: stays PAYING, retried later",
                           extra={"withdrawal_id": payout.withdrawal_id, "wechatpay_code": exc.code})
            raise UpstreamUnavailable("WeChat Pay did not confirm the transfer; it is retried with the same number",
                                      code="wechatpay_unavailable") from exc
        logger.error("WeChat Pay refused the transfer bill",
                     extra={"withdrawal_id": payout.withdrawal_id, "wechatpay_code": exc.code})
        return _settle_without_creating(payouts, payout, client, reason=exc.code, now=now)
    if payout.extra.get("payout_error"):
        payouts.clear_error(payout)
    package_info = created.package_info if created.state == BILL_WAIT_USER_CONFIRM else None
    if (created.transfer_bill_no, created.state) != (payout.transfer_bill_no, payout.bill_state) \
            or (package_info and package_info != payout.package_info):
        payouts.record_bill(payout, transfer_bill_no=created.transfer_bill_no, bill_state=created.state,
                            package_info=package_info, now=now)  # None: the bill finished meanwhile
    logger.info("transfer bill created", extra={"withdrawal_id": payout.withdrawal_id, "bill_state": created.state})
    if is_terminal(created.state):
        # The number already had a finished bill: what it says is recorded from the full bill.
        current = payouts.get(payout.withdrawal_id) or payout
        return _settle_without_creating(payouts, current, client, reason=created.fail_reason or created.state,
                                        now=now)
    return PayoutResult(payout.withdrawal_id, "bill_created", PAYING.value, created.state)


def _settle_without_creating(payouts: PayoutRepository, payout: Withdrawal, client: TransferGateway, *, reason: str,
                             now: datetime) -> PayoutResult:
    """Query the bill under the withdrawal's number and apply it; when WeChat Pay has none, the
    withdrawal fails (funds returned): nothing can be paid under it any more."""
    try:
        bill = client.query_transfer_bill(payout.out_bill_no)
    except WeChatPayNotFound:
        for _ in range(MAX_RACES):
            current = payouts.get(payout.withdrawal_id)
            if current is None or current.status != PAYING:
                break
            if payouts.mark_failed(current, reason=reason, now=now, by="wechatpay") is not None:
                logger.warning("transfer refused and no bill exists: withdrawal failed, funds returned",
                               extra={"withdrawal_id": payout.withdrawal_id, "fail_reason": reason})
                metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                return _result(payouts, payout.withdrawal_id, "failed")
        return _result(payouts, payout.withdrawal_id, "not_payable")
    except WeChatPayError as exc:
        raise UpstreamUnavailable("WeChat Pay could not be asked about the transfer; retried later",
                                  code="wechatpay_unavailable") from exc
    handled = apply_bill(payouts=payouts, bill=bill, now=now, source="query")
    outcome = {BillOutcome.MARK_PAID: "paid", BillOutcome.MARK_FAILED: "failed"}.get(handled.outcome, "bill_checked")
    return _result(payouts, payout.withdrawal_id, outcome)


def _cancel_bill(payouts: PayoutRepository, payout: Withdrawal, client: TransferGateway, *,
                 now: datetime) -> PayoutResult:
    """The withdrawal's transfer bill must be cancelled (its ``cancel_reason``, recorded first):
    ask WeChat Pay to cancel it, possible only before the promoter confirms the receipt. CANCELLED
    now: applied at once (funds back, repaying a debt first); CANCELING: the notification, or the
    reconciler, finishes it. A bill that can no longer be cancelled (confirmed, finished) is
    applied as it is: a confirmed one is paid. No bill under the number after
    ``DEFAULT_UNSTARTED_AFTER``: the withdrawal fails (nothing is ever created for it any more)."""
    withdrawal_id = payout.withdrawal_id
    reason = payout.cancel_reason or "cancelled"
    try:
        cancelled = client.cancel_transfer_bill(payout.out_bill_no)
    except WeChatPayNotFound:
        # A worker that read the withdrawal before the intent may still be creating the bill: wait
        # until it would have, then fail (the reconciler comes back; never create from here on).
        if not older(payout.paying_at or payout.created_at, now - DEFAULT_UNSTARTED_AFTER):
            return _result(payouts, withdrawal_id, "cancel_requested")
        for _ in range(MAX_RACES):
            current = payouts.get(withdrawal_id)
            if current is None or current.status != PAYING:
                break
            if payouts.mark_failed(current, reason=reason, now=now, by="system") is not None:
                return _result(payouts, withdrawal_id, "failed")
        return _result(payouts, withdrawal_id, "not_payable")
    except WeChatPayError as exc:
        if exc.retryable or isinstance(exc, WeChatPayInvalidResponse) or exc.code == "HTTP_ERROR":
            raise UpstreamUnavailable("WeChat Pay did not confirm the cancellation of the transfer; retried later",
                                      code="wechatpay_unavailable") from exc
        logger.warning("transfer bill cannot be cancelled: applying what it is",
                       extra={"withdrawal_id": withdrawal_id, "wechatpay_code": exc.code})
        return _settle_without_creating(payouts, payout, client, reason=reason, now=now)
    logger.info("transfer bill cancellation", extra={"withdrawal_id": withdrawal_id, "bill_state": cancelled.state})
    if is_terminal(cancelled.state):
        return _settle_without_creating(payouts, payout, client, reason=reason, now=now)
    if cancelled.state != payout.bill_state:
        payouts.record_bill(payout, transfer_bill_no=cancelled.transfer_bill_no, bill_state=cancelled.state,
                            package_info=None, now=now)
    return _result(payouts, withdrawal_id, "cancel_requested")
