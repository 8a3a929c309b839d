"""Use cases of withdrawals (提现): request, review (auto / manual / two admins), views, CSV export.

Rules: ``mall.domain.withdrawals`` (and ``WithdrawalRules`` in the settings); items and units of
work: ``mall.dal.withdrawals``. The payout itself (APPROVED → PAYING → PAID | FAILED) belongs to
``mall.services.payouts``: once a withdrawal is APPROVED its id is sent to ``PayoutQueue`` after
the commit. A lost send is harmless: the payout reconciler picks up APPROVED withdrawals that
were never started."""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import CHINA, iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.ledger import Wallet
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import (
    DONE,
    OwesDebt,
    Position,
    RequestRefused,
    StaleWithdrawal,
    WithdrawalFilter,
    WithdrawalRepository,
    bank_context,
    new_withdrawal_id,
    promoter_partition,
    withdrawal_from_item,
)
from mall.domain import masking
from mall.domain import withdrawals as rules
from mall.domain.money import yuan, yuan_decimal
from mall.domain.settings import WithdrawalRules
from mall.domain.withdrawals import (
    AUTO_REVIEWER,
    SYSTEM,
    Refusal,
    Today,
    Withdrawal,
    WithdrawalStatus,
)
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.integrations import pii_crypto
from mall.schemas.withdrawals import (
    ApprovalView,
    BankAccountIn,
    BankAccountReveal,
    BankAccountView,
    TimelineEntryView,
    TransferConfirm,
    WithdrawalPage,
    WithdrawalRequest,
    WithdrawalView,
)
from mall.services.withdrawal_debt import cancel_one_for_debt

logger = Logger(child=True)

#: The request's transaction is conditional on the balance and on owing nothing, not on the wallet's
#: version, so concurrent requests do not invalidate each other; a refusal re-reads the wallet to
#: name the rule, and tries again only when the re-read shows the request would now fit.
MAX_REQUEST_ATTEMPTS = 5
MAX_REVIEW_ATTEMPTS = 5
EXPORT_MAX_ROWS = 20_000
WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"


class PayoutQueue(Protocol):
    """Where approved withdrawals go (``mall.dal.queues.MessageQueue`` in the functions)."""

    def send(self, body: Mapping[str, Any]) -> None: ...


# ---- views --------------------------------------------------------------------------------------


def _shown_by(by: str, w: Withdrawal) -> str:
    if by == w.promoter_id:
        return "promoter"
    return by if by in {AUTO_REVIEWER, SYSTEM} else "admin"


def _bank_view(bank: Mapping[str, str] | None) -> BankAccountView | None:
    if not bank:
        return None
    return BankAccountView(bank_name=str(bank.get("bank_name", "")),
                           account_name=str(bank.get("account_name_masked", "")),
                           account_no=f"****{bank.get('account_no_last4', '')}", branch=bank.get("branch"))


def withdrawal_view(w: Withdrawal, *, for_promoter: bool,
                    merchant_ids: Callable[[], tuple[str, str]] | None = None) -> WithdrawalView:
    """The record as shown. The promoter does not see which admin decided (``admin``)."""
    confirm = None
    if (for_promoter and merchant_ids is not None and w.bill_state == WAIT_USER_CONFIRM and w.package_info
            and w.status == WithdrawalStatus.PAYING and w.cancel_reason is None):
        mch_id, app_id = merchant_ids()
        confirm = TransferConfirm(mch_id=mch_id, app_id=app_id, package_info=w.package_info)
    return WithdrawalView(
        withdrawal_id=w.withdrawal_id, promoter_id=w.promoter_id, status=w.status, method=w.method,
        amount_fen=w.amount_fen, fee_fen=w.fee_fen, net_fen=w.net_fen, review=w.review,
        required_approvals=w.required_approvals,
        approvals=[ApprovalView(admin_id="admin" if for_promoter else a.admin_id, at=a.at) for a in w.approvals],
        created_at=w.created_at, approved_at=w.approved_at, paying_at=w.paying_at, paid_at=w.paid_at,
        failed_at=w.failed_at, rejected_at=w.rejected_at, reason=w.reason,
        rejected_by=None if for_promoter or w.rejected_by is None else w.rejected_by, fail_reason=w.fail_reason,
        out_bill_no=w.out_bill_no, transfer_bill_no=w.transfer_bill_no, bill_state=w.bill_state,
        bank_reference=w.bank_reference, bank=_bank_view(w.bank), confirm=confirm,
        timeline=[TimelineEntryView(status=e.status, at=e.at, by=_shown_by(e.by, w) if for_promoter else e.by,
                                    note=e.note) for e in w.timeline],
    )


# ---- the request --------------------------------------------------------------------------------


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        logger.info("withdrawal refused", extra={"code": refusal.code, "rule": refusal.rule})
        raise refusal.error()


def _sealed_bank(bank: BankAccountIn, withdrawal_id: str) -> dict[str, str]:
    context = bank_context(withdrawal_id)
    sealed = {"bank_name": bank.bank_name, "account_name_enc": pii_crypto.encrypt(bank.account_name, context=context),
              "account_no_enc": pii_crypto.encrypt(bank.account_no, context=context),
              "account_name_masked": masking.mask_name(bank.account_name), "account_no_last4": bank.account_no[-4:]}
    if bank.branch:
        sealed["branch"] = bank.branch
    return sealed


def request_withdrawal(*, table: Table, promoter_id: str, body: WithdrawalRequest, now: datetime,
                       queue: PayoutQueue | None) -> WithdrawalView:
    """提现申请. Every check is made on what was read, then again by the transaction's
    conditions (balance, daily counter, risk hold, promoter status, wallet version), so no
    interleaving of concurrent requests passes a limit; a refusal changes nothing."""
    settings = SettingsRepository(table).current().settings.withdrawal
    repo = WithdrawalRepository(table)
    _refuse(rules.check_amount(body.amount_fen, body.method, settings))
    if body.method == "bank" and body.bank is None:
        raise InvalidInput("a bank withdrawal needs the bank account", code="bank_account_required",
                           fields=[FieldProblem("bank", "required when method is bank")])
    if body.method == "wechat" and body.bank is not None:
        raise InvalidInput("a WeChat withdrawal takes no bank account", code="bank_account_unexpected",
                           fields=[FieldProblem("bank", "only for method bank")])
    _refuse(rules.check_promoter(repo.promoter_status(promoter_id)))
    _refuse(rules.check_risk_hold(repo.risk_hold(promoter_id) is not None))
    _refuse(rules.check_daily(body.amount_fen, repo.today(promoter_id, now), settings))
    wallet = repo.ledger.wallet(promoter_id)
    _refuse(rules.check_account(body.amount_fen, available_fen=wallet.balances.available,
                                owed_fen=wallet.balances.owed_fen))

    # An open risk case refuses the request outright (above); softer risk flags would go here.
    decision = rules.review_of(body.amount_fen, settings, risk_flag=False)
    withdrawal_id = new_withdrawal_id()
    bank = _sealed_bank(body.bank, withdrawal_id) if body.bank is not None else None
    record = rules.new_withdrawal(withdrawal_id=withdrawal_id, promoter_id=promoter_id, amount_fen=body.amount_fen,
                                  method=body.method, rules=settings, decision=decision, at=iso(now), bank=bank)
    for attempt in range(MAX_REQUEST_ATTEMPTS):
        try:
            repo.create(record, wallet=wallet, rules=settings, now=now)
            break
        except RequestRefused as exc:
            wallet = _after_refusal(exc, repo=repo, promoter_id=promoter_id, amount_fen=body.amount_fen,
                                    settings=settings, now=now)
            time.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.2)))  # noqa: S311 - jitter
    else:
        raise Conflict("too many simultaneous withdrawals on this account; retry", code="withdrawal_contention")
    logger.info("withdrawal requested", extra={"withdrawal_id": withdrawal_id, "amount_fen": body.amount_fen,
                                               "review": decision.review})
    if record.status == WithdrawalStatus.APPROVED:
        _send_to_payout(queue, record)
    return withdrawal_view(record, for_promoter=True)


def _after_refusal(exc: RequestRefused, *, repo: WithdrawalRepository, promoter_id: str, amount_fen: int,
                   settings: WithdrawalRules, now: datetime) -> Wallet:
    """Turn the transaction's refusal into the rule's 4xx, or return the fresh wallet to retry
    with when the refusal was only a race (another request moved the wallet first)."""
    if exc.by == "promoter":
        _refuse(rules.check_promoter(repo.promoter_status(promoter_id)))
    elif exc.by == "risk_hold":
        _refuse(rules.check_risk_hold(True))
    elif exc.by == "daily_limit":
        current = exc.current or {}
        seen = Today(int(current.get("count", 0)), int(current.get("amount_fen", 0)))
        _refuse(rules.check_daily(amount_fen, seen, settings)
                or rules.check_daily(amount_fen, repo.today(promoter_id, now), settings))
    elif exc.by == "exists":
        raise Conflict("this withdrawal was already recorded", code="withdrawal_exists")
    wallet = repo.ledger.wallet(promoter_id)
    _refuse(rules.check_account(amount_fen, available_fen=wallet.balances.available, owed_fen=wallet.balances.owed_fen))
    return wallet


def _send_to_payout(queue: PayoutQueue | None, w: Withdrawal) -> None:
    """After the commit; never fails the request (the payout reconciler finds unsent ones). A bank
    withdrawal is not sent: an admin pays it by hand and marks it (``mall.services.payouts``)."""
    if w.method != "wechat":
        return
    withdrawal_id = w.withdrawal_id
    if queue is None:
        logger.warning("no payout queue configured; the payout reconciler will start it",
                       extra={"withdrawal_id": withdrawal_id})
        return
    try:
        queue.send({"withdrawal_id": withdrawal_id})
    except Exception:  # any failure: the reconciler recovers it
        logger.exception("sending to the payout queue failed; the payout reconciler will start it",
                         extra={"withdrawal_id": withdrawal_id})


# ---- the promoter's views -----------------------------------------------------------------------


def list_mine(*, table: Table, promoter_id: str, status: WithdrawalStatus | None, limit: int,
              cursor: str | None) -> WithdrawalPage:
    start = cursors.decode(cursor, partition=("gsi2pk", promoter_partition(promoter_id)))
    found, last = WithdrawalRepository(table).for_promoter(promoter_id, status=status, limit=limit, start_key=start)
    return WithdrawalPage(items=[withdrawal_view(w, for_promoter=True) for w in found],
                          next_cursor=cursors.encode(last))


def get_mine(*, table: Table, promoter_id: str, withdrawal_id: str,
             merchant_ids: Callable[[], tuple[str, str]] | None = None) -> WithdrawalView:
    """One of the caller's withdrawals; another promoter's is "not found", never "forbidden"."""
    w = WithdrawalRepository(table).get(withdrawal_id, consistent=False)
    if w is None or w.promoter_id != promoter_id:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return withdrawal_view(w, for_promoter=True, merchant_ids=merchant_ids)


# ---- admins: list, filters, export --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminFilters:
    """The admin list's query: dates are China days, inclusive."""

    status: WithdrawalStatus | None = None
    promoter_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    min_fen: int | None = None
    max_fen: int | None = None


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a calendar date (YYYY-MM-DD)", code="invalid_date",
                           fields=[FieldProblem(f"query:{field}", "not a date")]) from exc


def _china_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA)


def to_filter(filters: AdminFilters) -> WithdrawalFilter:
    start = _day(filters.date_from, "date_from") if filters.date_from else None
    end = _day(filters.date_to, "date_to") if filters.date_to else None
    if start and end and start > end:
        raise InvalidInput("date_from is after date_to", code="invalid_date_range",
                           fields=[FieldProblem("query:date_from", f"after date_to {end.isoformat()}")])
    if filters.min_fen is not None and filters.max_fen is not None and filters.min_fen > filters.max_fen:
        raise InvalidInput("min_fen is above max_fen", code="invalid_amount_range",
                           fields=[FieldProblem("query:min_fen", f"above max_fen {filters.max_fen}")])
    return WithdrawalFilter(
        status=filters.status, promoter_id=filters.promoter_id,
        created_from=iso(_china_midnight(start)) if start else None,
        created_before=iso(_china_midnight(end) + timedelta(days=1)) if end else None,
        min_fen=filters.min_fen, max_fen=filters.max_fen)


def _positions(cursor: str | None, where: WithdrawalFilter) -> dict[str, Position] | None:
    raw = cursors.decode(cursor)
    if raw is None:
        return None
    wanted = {partition for _, partition in where.partitions()}
    if set(raw) != wanted or not all(v is None or v == DONE or isinstance(v, dict) for v in raw.values()):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list with these "
                                                                "filters")])
    return raw


def admin_list(*, table: Table, filters: AdminFilters, limit: int, cursor: str | None) -> WithdrawalPage:
    """Newest first across the partitions the filters name (status, promoter), paginated."""
    where = to_filter(filters)
    page = WithdrawalRepository(table).search(where, limit=limit, positions=_positions(cursor, where))
    return WithdrawalPage(items=[withdrawal_view(withdrawal_from_item(i), for_promoter=False) for i in page.items],
                          next_cursor=cursors.encode(page.positions))


def admin_get(*, table: Table, withdrawal_id: str) -> WithdrawalView:
    return withdrawal_view(_get(WithdrawalRepository(table), withdrawal_id), for_promoter=False)


CSV_COLUMNS = ("withdrawal_id", "created_at", "promoter_id", "method", "status", "amount_fen", "fee_fen", "net_fen",
               "amount_yuan", "fee_yuan", "net_yuan", "review", "required_approvals", "approved_by", "approved_at",
               "rejected_by", "rejected_at", "reason", "paying_at", "paid_at", "failed_at", "fail_reason",
               "out_bill_no", "transfer_bill_no", "bill_state", "bank_name", "bank_account", "bank_reference")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (promoters and admins type text)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _csv_row(w: Withdrawal) -> list[str]:
    bank = _bank_view(w.bank)
    values: dict[str, object] = {
        "withdrawal_id": w.withdrawal_id, "created_at": w.created_at, "promoter_id": w.promoter_id,
        "method": w.method, "status": w.status.value, "amount_fen": w.amount_fen, "fee_fen": w.fee_fen,
        "net_fen": w.net_fen, "amount_yuan": yuan_decimal(w.amount_fen), "fee_yuan": yuan_decimal(w.fee_fen),
        "net_yuan": yuan_decimal(w.net_fen), "review": w.review, "required_approvals": w.required_approvals,
        "approved_by": ";".join(w.approved_by), "approved_at": w.approved_at, "rejected_by": w.rejected_by,
        "rejected_at": w.rejected_at, "reason": w.reason, "paying_at": w.paying_at, "paid_at": w.paid_at,
        "failed_at": w.failed_at, "fail_reason": w.fail_reason, "out_bill_no": w.out_bill_no,
        "transfer_bill_no": w.transfer_bill_no, "bill_state": w.bill_state,
        "bank_name": bank.bank_name if bank else None, "bank_account": bank.account_no if bank else None,
        "bank_reference": w.bank_reference,
    }
    return [_cell(values[c]) for c in CSV_COLUMNS]


def export_csv(*, table: Table, filters: AdminFilters, admin: str | None = None, source_ip: str | None = None,
               now: datetime | None = None) -> Iterator[str]:
    """The CSV of every withdrawal the filters match, newest first, one line at a time (UTF-8
    with a BOM so spreadsheet programs read the Chinese text). More than ``EXPORT_MAX_ROWS``
    rows is refused before anything is produced: narrow the dates. With ``admin``, the export is
    audited (filters and row count) before the first line."""
    where = to_filter(filters)
    items = []
    for item in WithdrawalRepository(table).search_all(where):
        items.append(item)
        if len(items) > EXPORT_MAX_ROWS:
            raise InvalidInput(f"more than {EXPORT_MAX_ROWS} withdrawals match; narrow the date range",
                               code="export_too_large", details={"limit": EXPORT_MAX_ROWS},
                               fields=[FieldProblem("query:date_from", f"more than {EXPORT_MAX_ROWS} rows match")])
    if admin is not None and now is not None:
        used = {name: value.value if isinstance(value, WithdrawalStatus) else value
                for name, value in asdict(filters).items() if value is not None}
        AuditLog(table).append(AuditEntry(action="withdrawal.export", actor=admin, entity_type="withdrawal_export",
                                          entity_id="csv", source_ip=source_ip,
                                          details={"rows": len(items), **used}), now)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(row: list[str]) -> str:
        writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff" + line(list(CSV_COLUMNS))
    for item in items:
        yield line(_csv_row(withdrawal_from_item(item)))


# ---- admins: review -----------------------------------------------------------------------------


def _get(repo: WithdrawalRepository, withdrawal_id: str) -> Withdrawal:
    w = repo.get(withdrawal_id)
    if w is None:
        raise NotFound("no such withdrawal", code="withdrawal_not_found")
    return w


def approve_withdrawal(*, table: Table, withdrawal_id: str, admin: str, now: datetime, source_ip: str | None,
                       queue: PayoutQueue | None) -> WithdrawalView:
    """审核通过. The record keeps who approved and when; from ``dual_approval_from_fen`` a
    second, different admin must approve before it is APPROVED (then sent to the payout). The
    approval commits only while the promoter owes nothing: with a debt the withdrawal is cancelled
    instead, its funds repaying the debt first (409 ``outstanding_debt``)."""
    repo = WithdrawalRepository(table)
    for _ in range(MAX_REVIEW_ATTEMPTS):
        w = _get(repo, withdrawal_id)
        outcome = rules.approve(w, admin_id=admin, at=iso(now))
        count = len(outcome.approvals)
        note = f"approval {count} of {w.required_approvals}"
        try:
            updated = repo.transition(w, to=outcome.status, now=now, by=admin, note=note, approvals=outcome.approvals,
                                      audit=AuditEntry(
                                          action="withdrawal.approve", actor=admin, entity_type="withdrawal",
                                          entity_id=w.withdrawal_id, source_ip=source_ip,
                                          before={"status": w.status.value, "approvals": count - 1},
                                          after={"status": outcome.status.value, "approvals": count},
                                          details={"required_approvals": w.required_approvals,
                                                   "final": outcome.final}), require_no_debt=True)
        except StaleWithdrawal:
            continue  # another admin decided meanwhile: decide again on what is there now
        except OwesDebt:
            owed = repo.ledger.wallet(w.promoter_id).balances.owed_fen
            cancel_one_for_debt(repo, withdrawal_id, now=now, owed_fen=owed)
            raise Conflict(f"the promoter owes {yuan(owed)} from a refunded commission: the withdrawal was cancelled "
                           "and its amount repays the debt first", code="outstanding_debt",
                           details={"withdrawal_id": withdrawal_id, "owed_fen": owed}) from None
        logger.info("withdrawal approval", extra={"withdrawal_id": withdrawal_id, "approval": count,
                                                  "final": outcome.final})
        if outcome.final:
            _send_to_payout(queue, updated)
        return withdrawal_view(updated, for_promoter=False)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed")


def reject_withdrawal(*, table: Table, withdrawal_id: str, admin: str, reason: str, now: datetime,
                      source_ip: str | None) -> WithdrawalView:
    """驳回: PENDING_REVIEW → REJECTED with the reason; the amount returns to available in the
    same transaction (``withdrawal_returned``, once: a second reject is a 409)."""
    repo = WithdrawalRepository(table)
    for _ in range(MAX_REVIEW_ATTEMPTS):
        w = _get(repo, withdrawal_id)
        rules.check_rejectable(w)
        try:
            updated = repo.transition(w, to=WithdrawalStatus.REJECTED, now=now, by=admin, note=reason,
                                      sets={"reason": reason, "rejected_by": admin},
                                      audit=AuditEntry(
                                          action="withdrawal.reject", actor=admin, entity_type="withdrawal",
                                          entity_id=w.withdrawal_id, source_ip=source_ip,
                                          before={"status": w.status.value},
                                          after={"status": WithdrawalStatus.REJECTED.value},
                                          details={"reason": reason}))
        except StaleWithdrawal:
            continue
        logger.info("withdrawal rejected", extra={"withdrawal_id": withdrawal_id, "amount_fen": w.amount_fen})
        return withdrawal_view(updated, for_promoter=False)
    raise Conflict("the withdrawal kept changing; retry", code="withdrawal_changed")


def reveal_bank_account(*, table: Table, withdrawal_id: str, admin: str, now: datetime,
                        source_ip: str | None) -> BankAccountReveal:
    """The full bank account of a bank withdrawal, for the admin who pays it; audited first."""
    repo = WithdrawalRepository(table)
    w = _get(repo, withdrawal_id)
    if w.method != "bank" or not w.bank:
        raise NotFound("this withdrawal is not paid by bank transfer", code="no_bank_account")
    repo.record_audit(w, AuditEntry(action="withdrawal.bank_account_reveal", actor=admin, entity_type="withdrawal",
                                    entity_id=w.withdrawal_id, source_ip=source_ip), now)
    context = bank_context(w.withdrawal_id)
    return BankAccountReveal(withdrawal_id=w.withdrawal_id, bank_name=str(w.bank.get("bank_name", "")),
                             account_name=pii_crypto.decrypt(str(w.bank["account_name_enc"]), context=context),
                             account_no=pii_crypto.decrypt(str(w.bank["account_no_enc"]), context=context),
                             branch=w.bank.get("branch"), net_fen=w.net_fen)


__all__ = ["AdminFilters", "PayoutQueue", "approve_withdrawal", "export_csv", "reject_withdrawal",
           "request_withdrawal", "withdrawal_view", "yuan"]
