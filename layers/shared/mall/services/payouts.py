"""Payouts (提现打款): WeChat merchant transfers (商家转账) and bank transfers marked by an admin.

- ``start_payout``: APPROVED → PAYING, then the transfer bill with the withdrawal's ``out_bill_no``
  (safe to repeat: WeChat Pay answers the bill it already has for a number; same amount, same
  openid). ``WAIT_USER_CONFIRM`` stores ``package_info`` for the mini-program's confirm page.
- ``handle_transfer_notification`` (MCHTRANSFER.BILL.FINISHED, via the webhook), the reconciler and
  a repeated create all go through ``apply_bill``: SUCCESS → PAID (``withdrawal_paid``),
  FAIL / CANCELLED → FAILED (``withdrawal_returned``). The status changes in the same transaction
  as its posting, conditional on PAYING and the version, so duplicates and concurrent deliveries
  change it once. A bill whose amount, number or payee is not the withdrawal's changes nothing.
- A terminal failed bill is never retried under the same number: FAILED is final.
- ``mark_bank_paid`` / ``mark_bank_failed``: an admin finishes an APPROVED bank withdrawal (audited).
- ``reconcile_payouts``: bills stuck in a non-terminal state, and APPROVED withdrawals never started.
- A debt (docs/settlement.md, "Debt and withdrawals in flight"): APPROVED → PAYING commits only while
  the promoter owes nothing (else the withdrawal fails, its funds repaying the debt first); a PAYING
  withdrawal with a ``cancel_reason`` has its bill cancelled at WeChat Pay (``_cancel_bill``), never
  created, by the worker and by every reconciler run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.clock import parse_instant
from mall.config import get_settings
from mall.dal.audit import AuditEntry
from mall.dal.payouts import PayoutRepository
from mall.dal.table import Table
from mall.dal.withdrawals import OwesDebt, WithdrawalRepository, readable_withdrawal
from mall.domain.payouts import (
    APPROVED,
    BANK,
    BILL_CANCELLED,
    BILL_SUCCESS,
    BILL_WAIT_USER_CONFIRM,
    FAILED,
    HOLD_CODES,
    PAID,
    PAYING,
    REFUSALS,
    WECHAT,
    BillFacts,
    BillOutcome,
    check_bank_markable,
    decide_bill,
    failure_reason,
    is_terminal,
    payee_problem,
    withdrawal_id_for_bill,
)
from mall.domain.withdrawals import Withdrawal
from mall.errors import Conflict, NotFound, UpstreamUnavailable
from mall.integrations.wechatpay.client import TransferSceneReportInfo
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayInvalidResponse, WeChatPayNotFound
from mall.integrations.wechatpay.resources import TransferBillCancelled, TransferBillCreated, TransferBillResource
from mall.observability import metrics
from mall.schemas.payouts import PayoutView
from mall.services.withdrawal_debt import cancel_one_for_debt

logger = Logger(child=True)

_MAX_RACES = 5
#: An APPROVED WeChat withdrawal not started this long after approval was not queued (a lost send).
DEFAULT_UNSTARTED_AFTER = timedelta(minutes=5)


class TransferGateway(Protocol):
    """What payouts need of ``mall.integrations.wechatpay.client.WeChatPayClient``."""

    def create_transfer_bill(self, out_bill_no: str, *, openid: str, amount_fen: int, remark: str,
                             notify_url: str, transfer_scene_id: str, user_recv_perception: str,
                             scene_report_infos: Sequence[TransferSceneReportInfo | Mapping[str, str]],
                             user_name_encrypted: str | None = None) -> TransferBillCreated: ...

    def query_transfer_bill(self, out_bill_no: str) -> TransferBillResource: ...

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBillCancelled: ...

    def encrypt_sensitive(self, plaintext: str) -> str: ...


@dataclass(frozen=True, slots=True)
class TransferProfile:
    """How our transfers are declared to WeChat Pay. The scene (1005 佣金报酬), the payee's
    perception and the report infos must match what the merchant was granted in the merchant
    platform (*unverified* defaults, set in ``mall.config``: ``PAYOUT_TRANSFER_SCENE_ID``,
    ``PAYOUT_USER_RECV_PERCEPTION``, ``PAYOUT_TRANSFER_REMARK``, ``PAYOUT_REPORT_INFOS`` =
    ``type:content;type:content``)."""

    scene_id: str = "1005"
    user_recv_perception: str = "劳务报酬"
    remark: str = "推广佣金提现"
    report_infos: tuple[tuple[str, str], ...] = (("岗位类型", "推广员"), ("报酬说明", "推广佣金提现"))

    def infos(self) -> list[TransferSceneReportInfo]:
        return [TransferSceneReportInfo(kind, content) for kind, content in self.report_infos]


def transfer_profile() -> TransferProfile:
    settings = get_settings()
    infos = tuple((k.strip(), v.strip()) for k, _, v in
                  (part.partition(":") for part in settings.payout_report_infos.split(";") if part.strip()))
    return TransferProfile(scene_id=settings.payout_transfer_scene_id,
                           user_recv_perception=settings.payout_user_recv_perception,
                           remark=settings.payout_transfer_remark, report_infos=infos or TransferProfile().report_infos)


def _notify_url() -> str:
    from mall.integrations.wechatpay.factory import merchant_config

    return merchant_config().notify_url


def payout_view(payout: Withdrawal) -> PayoutView:
    return PayoutView(
        withdrawal_id=payout.withdrawal_id, promoter_id=payout.promoter_id, method=payout.method,
        status=payout.status.value, amount_fen=payout.amount_fen, fee_fen=payout.fee_fen, net_fen=payout.net_fen,
        out_bill_no=payout.out_bill_no, transfer_bill_no=payout.transfer_bill_no, bill_state=payout.bill_state,
        bank_reference=payout.bank_reference, fail_reason=payout.fail_reason, paying_at=payout.paying_at,
        paid_at=payout.paid_at, failed_at=payout.failed_at, version=payout.version)


# ---- applying a bill's state (notification, query, create answer) --------------------------------

@dataclass(frozen=True, slots=True)
class BillHandled:
    """What ``apply_bill`` did; the webhook answers 204 when ``acknowledged``, else ``refusal``."""

    outcome: BillOutcome
    withdrawal_id: str | None

    @property
    def acknowledged(self) -> bool:
        return self.outcome.acknowledged

    @property
    def refusal(self) -> tuple[int, str]:
        return REFUSALS.get(self.outcome, (400, "refused"))


def apply_bill(*, table: Table, bill: TransferBillResource, now: datetime, source: str) -> BillHandled:
    """Bring the withdrawal whose number is ``bill.out_bill_no`` to what the bill says, exactly once.

    A concurrent delivery that wins the conditional write first makes this one read again and see
    a duplicate. Mismatches (amount, number, payee) and contradictions are refused, logged, and
    change nothing."""
    repo = PayoutRepository(table)
    withdrawal_id = withdrawal_id_for_bill(bill.out_bill_no)
    facts = BillFacts(out_bill_no=bill.out_bill_no, state=bill.state, amount_fen=bill.transfer_amount,
                      openid=bill.openid, transfer_bill_no=bill.transfer_bill_no)
    context = {"out_bill_no": bill.out_bill_no, "bill_state": bill.state, "source": source}
    for _ in range(_MAX_RACES):
        payout = repo.get(withdrawal_id) if withdrawal_id else None
        openid = repo.payee_openid(payout.promoter_id) if payout is not None else None
        outcome = decide_bill(payout, facts, payee_openid=openid)
        if payout is None or not outcome.acknowledged:
            _log_refusal(outcome, payout, bill, context)
            return BillHandled(outcome, withdrawal_id)
        if outcome == BillOutcome.MARK_PAID:
            if repo.mark_paid(payout, now=now, by="wechatpay", note=f"transfer bill {bill.transfer_bill_no}",
                              bill_state=BILL_SUCCESS) is not None:
                logger.info("withdrawal paid", extra={"withdrawal_id": payout.withdrawal_id, **context})
                metrics.add_metric(name="WithdrawalsPaid", unit="Count", value=1)
                metrics.add_metric(name="WithdrawalsPaidFen", unit="Count", value=payout.net_fen)
                return BillHandled(outcome, payout.withdrawal_id)
        elif outcome == BillOutcome.MARK_FAILED:
            reason = (payout.cancel_reason if bill.state == BILL_CANCELLED and payout.cancel_reason
                      else failure_reason(bill.state, bill.fail_reason))
            if repo.mark_failed(payout, reason=reason, now=now, by="wechatpay", bill_state=bill.state,
                                note=f"transfer bill {bill.transfer_bill_no}: {reason}") is not None:
                logger.warning("withdrawal transfer failed: funds returned",
                               extra={"withdrawal_id": payout.withdrawal_id, "fail_reason": reason, **context})
                metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                return BillHandled(outcome, payout.withdrawal_id)
        elif outcome == BillOutcome.RECORD_STATE:
            if repo.record_bill(payout, transfer_bill_no=bill.transfer_bill_no, bill_state=bill.state,
                                package_info=None, now=now) is not None:
                return BillHandled(outcome, payout.withdrawal_id)
        else:  # DUPLICATE
            return BillHandled(outcome, payout.withdrawal_id)
        # Lost a race (another delivery, the reconciler, a version bump): read again, decide again.
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing while applying its transfer bill")


def _log_refusal(outcome: BillOutcome, payout: Withdrawal | None, bill: TransferBillResource,
                 context: Mapping[str, Any]) -> None:
    extra: dict[str, Any] = {"outcome": outcome.value, **context}
    if payout is not None:
        extra.update(withdrawal_id=payout.withdrawal_id, status=payout.status.value, net_fen=payout.net_fen)
    if outcome == BillOutcome.AMOUNT_MISMATCH:
        extra["transfer_amount"] = bill.transfer_amount
    logger.error("transfer bill refused", extra=extra)
    metrics.add_metric(name="TransferBillRefused", unit="Count", value=1)


def handle_transfer_notification(*, table: Table, bill: TransferBillResource, now: datetime) -> BillHandled:
    """MCHTRANSFER.BILL.FINISHED, already verified and decrypted by the webhook."""
    return apply_bill(table=table, bill=bill, now=now, source="webhook")


# ---- starting a payout --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PayoutResult:
    """What ``start_payout`` did: ``outcome`` is ``bill_created`` (now waiting for the bill to
    finish), ``paid`` / ``failed`` (the bill or a refusal finished it), ``not_payable`` (not an
    APPROVED/PAYING WeChat withdrawal: nothing done) or ``unknown_withdrawal``."""

    withdrawal_id: str
    outcome: str
    status: str | None
    bill_state: str | None = None


def _result(repo: PayoutRepository, withdrawal_id: str, outcome: str) -> PayoutResult:
    payout = repo.get(withdrawal_id)
    return PayoutResult(withdrawal_id, outcome, payout.status.value if payout else None,
                        payout.bill_state if payout else None)


def start_payout(*, table: Table, withdrawal_id: str, now: datetime,  # noqa: PLR0911
                 pay: Callable[[], TransferGateway], notify_url: str | None = None,
                 profile: TransferProfile | None = None) -> PayoutResult:
    """Pay an APPROVED WeChat withdrawal: APPROVED → PAYING, then the transfer bill. Safe to repeat
    (a queue redelivery, the reconciler): a PAYING withdrawal re-sends the same number, amount and
    openid, and WeChat Pay answers the bill it already has. Raises ``UpstreamUnavailable`` when
    WeChat Pay did not answer definitively (the withdrawal stays PAYING; repeat later)."""
    repo = PayoutRepository(table)
    for _ in range(_MAX_RACES):
        payout = repo.get(withdrawal_id)
        if payout is None:
            logger.error("payout for an unknown withdrawal", extra={"withdrawal_id": withdrawal_id})
            return PayoutResult(withdrawal_id, "unknown_withdrawal", None)
        if payout.method != WECHAT or payout.status not in {APPROVED, PAYING}:
            return PayoutResult(withdrawal_id, "not_payable", payout.status.value, payout.bill_state)
        openid = repo.payee_openid(payout.promoter_id)
        problem = payee_problem(payout, openid=openid)
        if payout.status == APPROVED:
            if problem is not None:
                # Nothing was sent to WeChat Pay: fail now, funds back to available.
                if repo.mark_failed(payout, reason=problem, now=now, by="system") is not None:
                    logger.warning("withdrawal cannot be paid by WeChat transfer: failed, funds returned",
                                   extra={"withdrawal_id": withdrawal_id, "fail_reason": problem})
                    metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                    return _result(repo, withdrawal_id, "failed")
                continue
            try:
                started = repo.start_paying(payout, now=now)
            except OwesDebt:
                # A debt appeared since approval: nothing leaves, the funds repay it first.
                owed = repo.ledger.wallet(payout.promoter_id).balances.owed_fen
                cancel_one_for_debt(WithdrawalRepository(table), withdrawal_id, now=now, owed_fen=owed)
                return _result(repo, withdrawal_id, "cancelled_for_debt")
            if started is None:
                continue
            payout = started
        client = pay()
        if payout.cancel_reason is not None:
            return _cancel_bill(repo, payout, client, now=now)
        if is_terminal(payout.bill_state) or problem is not None or openid is None:
            # A finished bill (or a payee we can no longer pay) under this number: ask, never re-create.
            return _settle_without_creating(repo, payout, client, reason=problem or "payee_unavailable", now=now)
        return _create_bill(repo, payout, client, openid=openid, notify_url=notify_url or _notify_url(),
                            profile=profile or transfer_profile(), now=now)
    raise RuntimeError(f"withdrawal {withdrawal_id} kept changing while starting its payout")


def _create_bill(repo: PayoutRepository, payout: Withdrawal, client: TransferGateway, *, openid: str,
                 notify_url: str, profile: TransferProfile, now: datetime) -> PayoutResult:
    try:
        created = client.create_transfer_bill(
            payout.out_bill_no, openid=openid, amount_fen=payout.net_fen, remark=profile.remark, notify_url=notify_url,
            transfer_scene_id=profile.scene_id, user_recv_perception=profile.user_recv_perception,
            scene_report_infos=profile.infos())
    except WeChatPayError as exc:
        repo.record_error(payout, code=exc.code, message=exc.message, now=now)
        metrics.add_metric(name="TransferCallsFailed", unit="Count", value=1)
        if exc.retryable or isinstance(exc, WeChatPayInvalidResponse) or exc.code in HOLD_CODES \
                or exc.code == "HTTP_ERROR":
            logger.warning("transfer bill not confirmed: stays PAYING, retried later",
                           extra={"withdrawal_id": payout.withdrawal_id, "wechatpay_code": exc.code})
            raise UpstreamUnavailable("WeChat Pay did not confirm the transfer; it is retried with the same number",
                                      code="wechatpay_unavailable") from exc
        logger.error("WeChat Pay refused the transfer bill",
                     extra={"withdrawal_id": payout.withdrawal_id, "wechatpay_code": exc.code})
        return _settle_without_creating(repo, payout, client, reason=exc.code, now=now)
    if payout.extra.get("payout_error"):
        repo.clear_error(payout)
    package_info = created.package_info if created.state == BILL_WAIT_USER_CONFIRM else None
    if (created.transfer_bill_no, created.state) != (payout.transfer_bill_no, payout.bill_state) \
            or (package_info and package_info != payout.package_info):
        repo.record_bill(payout, transfer_bill_no=created.transfer_bill_no, bill_state=created.state,
                         package_info=package_info, now=now)  # None: the bill finished meanwhile
    logger.info("transfer bill created", extra={"withdrawal_id": payout.withdrawal_id, "bill_state": created.state})
    if is_terminal(created.state):
        # The number already had a finished bill: what it says is recorded from the full bill.
        current = repo.get(payout.withdrawal_id) or payout
        return _settle_without_creating(repo, current, client, reason=created.fail_reason or created.state, now=now)
    return PayoutResult(payout.withdrawal_id, "bill_created", PAYING.value, created.state)


def _settle_without_creating(repo: PayoutRepository, payout: Withdrawal, client: TransferGateway, *, reason: str,
                             now: datetime) -> PayoutResult:
    """Query the bill under the withdrawal's number and apply it; when WeChat Pay has none, the
    withdrawal fails (funds returned): nothing can be paid under it any more."""
    try:
        bill = client.query_transfer_bill(payout.out_bill_no)
    except WeChatPayNotFound:
        for _ in range(_MAX_RACES):
            current = repo.get(payout.withdrawal_id)
            if current is None or current.status != PAYING:
                break
            if repo.mark_failed(current, reason=reason, now=now, by="wechatpay") is not None:
                logger.warning("transfer refused and no bill exists: withdrawal failed, funds returned",
                               extra={"withdrawal_id": payout.withdrawal_id, "fail_reason": reason})
                metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
                return _result(repo, payout.withdrawal_id, "failed")
        return _result(repo, payout.withdrawal_id, "not_payable")
    except WeChatPayError as exc:
        raise UpstreamUnavailable("WeChat Pay could not be asked about the transfer; retried later",
                                  code="wechatpay_unavailable") from exc
    handled = apply_bill(table=repo.table, bill=bill, now=now, source="query")
    outcome = {BillOutcome.MARK_PAID: "paid", BillOutcome.MARK_FAILED: "failed"}.get(handled.outcome, "bill_checked")
    return _result(repo, payout.withdrawal_id, outcome)


def _cancel_bill(repo: PayoutRepository, payout: Withdrawal, client: TransferGateway, *,
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
        if not _older(payout.paying_at or payout.created_at, now - DEFAULT_UNSTARTED_AFTER):
            return _result(repo, withdrawal_id, "cancel_requested")
        for _ in range(_MAX_RACES):
            current = repo.get(withdrawal_id)
            if current is None or current.status != PAYING:
                break
            if repo.mark_failed(current, reason=reason, now=now, by="system") is not None:
                return _result(repo, withdrawal_id, "failed")
        return _result(repo, withdrawal_id, "not_payable")
    except WeChatPayError as exc:
        if exc.retryable or isinstance(exc, WeChatPayInvalidResponse) or exc.code == "HTTP_ERROR":
            raise UpstreamUnavailable("WeChat Pay did not confirm the cancellation of the transfer; retried later",
                                      code="wechatpay_unavailable") from exc
        logger.warning("transfer bill cannot be cancelled: applying what it is",
                       extra={"withdrawal_id": withdrawal_id, "wechatpay_code": exc.code})
        return _settle_without_creating(repo, payout, client, reason=reason, now=now)
    logger.info("transfer bill cancellation", extra={"withdrawal_id": withdrawal_id, "bill_state": cancelled.state})
    if is_terminal(cancelled.state):
        return _settle_without_creating(repo, payout, client, reason=reason, now=now)
    if cancelled.state != payout.bill_state:
        repo.record_bill(payout, transfer_bill_no=cancelled.transfer_bill_no, bill_state=cancelled.state,
                         package_info=None, now=now)
    return _result(repo, withdrawal_id, "cancel_requested")


# ---- bank transfers -----------------------------------------------------------------------------

def _get(repo: PayoutRepository, withdrawal_id: str) -> Withdrawal:
    payout = repo.get(withdrawal_id)
    if payout is None:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return payout


def mark_bank_paid(*, table: Table, withdrawal_id: str, reference: str, admin: str, now: datetime,
                   source_ip: str | None = None) -> PayoutView:
    """银行转账已打款: an APPROVED bank withdrawal → PAID with the bank's reference (audited).
    The same mark again answers the withdrawal as it is."""
    repo = PayoutRepository(table)
    for _ in range(_MAX_RACES):
        payout = _get(repo, withdrawal_id)
        if payout.method == BANK and payout.status == PAID and payout.bank_reference == reference:
            return payout_view(payout)
        check_bank_markable(payout)
        paid = repo.mark_paid(payout, now=now, by=admin, note=f"bank reference {reference}", bank_reference=reference,
                              audit=AuditEntry(action="withdrawal.mark_paid", actor=admin, entity_type="withdrawal",
                                               entity_id=withdrawal_id, source_ip=source_ip,
                                               before={"status": payout.status.value},
                                               after={"status": PAID.value, "bank_reference": reference},
                                               details={"reference": reference}))
        if paid is not None:
            logger.info("bank withdrawal marked paid", extra={"withdrawal_id": withdrawal_id, "admin": admin})
            metrics.add_metric(name="WithdrawalsPaid", unit="Count", value=1)
            return payout_view(paid)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed",
                   details={"withdrawal_id": withdrawal_id})


def mark_bank_failed(*, table: Table, withdrawal_id: str, reason: str, admin: str, now: datetime,
                     source_ip: str | None = None) -> PayoutView:
    """银行转账失败: an APPROVED bank withdrawal → FAILED, funds back to available (audited)."""
    repo = PayoutRepository(table)
    for _ in range(_MAX_RACES):
        payout = _get(repo, withdrawal_id)
        if payout.method == BANK and payout.status == FAILED and payout.fail_reason == reason:
            return payout_view(payout)
        check_bank_markable(payout)
        failed = repo.mark_failed(payout, reason=reason, now=now, by=admin,
                                  audit=AuditEntry(action="withdrawal.mark_failed", actor=admin,
                                                   entity_type="withdrawal", entity_id=withdrawal_id,
                                                   source_ip=source_ip, before={"status": payout.status.value},
                                                   after={"status": FAILED.value}, details={"reason": reason}))
        if failed is not None:
            logger.info("bank withdrawal marked failed", extra={"withdrawal_id": withdrawal_id, "admin": admin})
            metrics.add_metric(name="WithdrawalsFailed", unit="Count", value=1)
            return payout_view(failed)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed",
                   details={"withdrawal_id": withdrawal_id})


# ---- reconciliation -----------------------------------------------------------------------------

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


def stuck_bill_age(table: Table) -> timedelta:
    """``withdrawal.stuck_bill_minutes`` of the settings in force."""
    from mall.dal.settings import SettingsRepository

    return timedelta(minutes=SettingsRepository(table).current().settings.withdrawal.stuck_bill_minutes)


def _older(moment: str | None, cutoff: datetime) -> bool:
    return moment is not None and parse_instant(moment) <= cutoff


def reconcile_payouts(*, table: Table, now: datetime, pay: Callable[[], TransferGateway],
                      stuck_after: timedelta, unstarted_after: timedelta = DEFAULT_UNSTARTED_AFTER,
                      notify_url: str | None = None, profile: TransferProfile | None = None,
                      limit: int = 200) -> PayoutReconcileReport:
    """Withdrawals PAYING with a bill in a non-terminal state for ``stuck_after`` (or no bill at all
    for ``unstarted_after``): ask WeChat Pay and apply a terminal state (no bill under the number:
    create it, same number). APPROVED WeChat withdrawals not started ``unstarted_after`` after
    approval: start them. Reads the gsi1 status partitions only."""
    repo = PayoutRepository(table)
    report = PayoutReconcileReport()
    client: TransferGateway | None = None

    def gateway() -> TransferGateway:
        nonlocal client
        client = client or pay()
        return client

    def start(payout: Withdrawal) -> None:
        try:
            result = start_payout(table=table, withdrawal_id=payout.withdrawal_id, now=now, pay=gateway,
                                  notify_url=notify_url, profile=profile)
        except UpstreamUnavailable:
            report.errors += 1
            return
        report.count(result.outcome)

    for payout in _due(repo, PAYING, created_before=now - min(stuck_after, unstarted_after), limit=limit):
        if payout.cancel_reason is not None:  # its bill must be cancelled (a lost or failed send)
            report.examined += 1
            start(payout)
            continue
        waited = stuck_after if payout.bill_state else unstarted_after
        if not (is_terminal(payout.bill_state) or _older(payout.paying_at or payout.created_at, now - waited)):
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
        handled = apply_bill(table=table, bill=bill, now=now, source="reconcile")
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

    for payout in _due(repo, APPROVED, created_before=now - unstarted_after, limit=limit):
        if payout.method != WECHAT or not _older(payout.approved_at or payout.created_at, now - unstarted_after):
            continue
        report.examined += 1
        logger.warning("approved withdrawal never started: starting it", extra={"withdrawal_id": payout.withdrawal_id})
        start(payout)
    return report


def _due(repo: PayoutRepository, status: str, *, created_before: datetime, limit: int) -> list[Withdrawal]:
    found: list[Withdrawal] = []
    start_key: dict[str, Any] | None = None
    while len(found) < limit:
        page = repo.by_status(status, created_before=created_before, limit=min(100, limit - len(found)),
                              start_key=start_key)
        found += [payout for payout in (readable_withdrawal(item) for item in page.items) if payout is not None]
        start_key = page.last_key
        if start_key is None:
            break
    return found
