"""The admins' list of withdrawals (提现管理): filters, pages, one record, and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from mall.api.cursor import cursors
from mall.clock import CHINA, iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.withdrawals import DONE, Position, WithdrawalFilter, WithdrawalRepository, withdrawal_from_item
from mall.domain.money import yuan_decimal
from mall.domain.withdrawals import Withdrawal, WithdrawalStatus
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.withdrawals import WithdrawalPage, WithdrawalView
from mall.services.withdrawals.views import bank_view, withdrawal_or_404, withdrawal_view

EXPORT_MAX_ROWS = 20_000


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


def admin_list(*, withdrawals: WithdrawalRepository, filters: AdminFilters, limit: int,
               cursor: str | None) -> WithdrawalPage:
    """Newest first across the partitions the filters name (status, promoter), paginated."""
    where = to_filter(filters)
    page = withdrawals.search(where, limit=limit, positions=_positions(cursor, where))
    return WithdrawalPage(items=[withdrawal_view(withdrawal_from_item(i), for_promoter=False) for i in page.items],
                          next_cursor=cursors.encode(page.positions))


def admin_get(*, withdrawals: WithdrawalRepository, withdrawal_id: str) -> WithdrawalView:
    return withdrawal_view(withdrawal_or_404(withdrawals, withdrawal_id), for_promoter=False)


CSV_COLUMNS = ("withdrawal_id", "created_at", "promoter_id", "method", "status", "amount_fen", "fee_fen", "net_fen",
               "amount_yuan", "fee_yuan", "net_yuan", "review", "required_approvals", "approved_by", "approved_at",
               "rejected_by", "rejected_at", "reason", "paying_at", "paid_at", "failed_at", "fail_reason",
               "out_bill_no", "transfer_bill_no", "bill_state", "bank_name", "bank_account", "bank_reference")
#: The export as documented in the API contract (without its byte-order mark): a bank withdrawal waiting
#: for its second approval, then a WeChat one paid.
EXAMPLE_CSV = ",".join(CSV_COLUMNS) + "\r\n" + "".join(row + "\r\n" for row in (
    "w_01m7m2n7z1891c4a1y4sjt,2026-11-17T06:21:09Z,u_cpk4nizqohonwxfnikf4bplx,bank,PENDING_REVIEW,150000,1500,"
    "148500,1500.00,15.00,1485.00,manual,2,admin:li.na,,,,,,,,,w01m7m2n7z1891c4a1y4sjt,,,招商银行,****6789,",
    "w_01m7gy6mg9s3xm8pvpvg63,2026-11-16T01:05:33Z,u_36botxbbbigbhenhtgo542dk,wechat,PAID,30000,300,29700,"
    "300.00,3.00,297.00,manual,1,admin:li.na,2026-11-16T02:10:05Z,,,,2026-11-16T02:10:09Z,2026-11-16T02:11:41Z,,,"
    "w01m7gy6mg9s3xm8pvpvg63,1330000071100999991182020050700019480001,SUCCESS,,,"))


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (promoters and admins type text)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _csv_row(w: Withdrawal) -> list[str]:
    bank = bank_view(w.bank)
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


def export_csv(*, withdrawals: WithdrawalRepository, audit: AuditLog, filters: AdminFilters,
               admin: str | None = None, source_ip: str | None = None, now: datetime | None = None) -> Iterator[str]:
    """The CSV of every withdrawal the filters match, newest first, one line at a time (UTF-8
    with a BOM so spreadsheet programs read the Chinese text). More than ``EXPORT_MAX_ROWS``
    rows is refused before anything is produced: narrow the dates. With ``admin``, the export is
    audited (filters and row count) before the first line."""
    where = to_filter(filters)
    items = []
    for item in withdrawals.search_all(where):
        items.append(item)
        if len(items) > EXPORT_MAX_ROWS:
            raise InvalidInput(f"more than {EXPORT_MAX_ROWS} withdrawals match; narrow the date range",
                               code="export_too_large", details={"limit": EXPORT_MAX_ROWS},
                               fields=[FieldProblem("query:date_from", f"more than {EXPORT_MAX_ROWS} rows match")])
    if admin is not None and now is not None:
        used = {name: value.value if isinstance(value, WithdrawalStatus) else value
                for name, value in asdict(filters).items() if value is not None}
        audit.append(AuditEntry(action="withdrawal.export", actor=admin, entity_type="withdrawal_export",
                                entity_id="csv", source_ip=source_ip, details={"rows": len(items), **used}), now)
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
