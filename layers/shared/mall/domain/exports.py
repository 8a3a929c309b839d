"""Exports (数据导出), pure: what an export job is, how its state moves, and how stored items become
CSV rows.

A job exports one ``kind`` of record for a range of China calendar days (inclusive, at most 366).
It moves QUEUED → RUNNING → DONE | FAILED, each step a conditional update from the state read. A
RUNNING job holds a *lease* (``lease_until``): a redelivered message finds it RUNNING and leaves it
alone while the lease runs, and restarts it from scratch once the lease has passed (its worker died).
A failed run puts the job back to QUEUED for the queue's retry, until ``MAX_ATTEMPTS`` runs failed.

CSV files are UTF-8 with a byte-order mark (Excel then reads Chinese correctly), ``\\r\\n`` lines, money
as integer fen *and* as yuan with two decimals computed from the fen (no float anywhere). Text a
person typed is neutralised so a spreadsheet never runs it as a formula. Personal data is masked
(``mall.domain.masking``): nicknames, bank account holders and numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from mall.clock import CHINA, iso
from mall.domain.masking import mask_nickname
from mall.domain.money import yuan_decimal

MAX_RANGE_DAYS = 366
#: Runs of one job that may fail before it is FAILED for good (the queue retries in between).
MAX_ATTEMPTS = 3
BOM = "\ufeff"


class ExportKind(StrEnum):
    ORDERS = "orders"
    COMMISSIONS = "commissions"
    WITHDRAWALS = "withdrawals"
    PROMOTERS = "promoters"
    LEDGER = "ledger"


class ExportStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class DayRange:
    """China calendar days ``first``..``last`` inclusive, as instants: ``[start, end)``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=CHINA)

    @property
    def end(self) -> datetime:
        return datetime(self.last.year, self.last.month, self.last.day, tzinfo=CHINA) + timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def low(self) -> str:
        """The smallest stored sort key in range (ISO UTC, second precision)."""
        return iso(self.start)

    def high(self) -> str:
        """A bound every sort key of the last day sorts below (``<iso end>`` < ``<iso end>#…``), so
        ``BETWEEN low AND high`` is the half-open ``[start, end)``."""
        return iso(self.end)


def range_problem(first: date, last: date) -> tuple[str, str] | None:
    """(field, reason) when the range is not acceptable, else None."""
    if last < first:
        return "to", f"before from ({first.isoformat()})"
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return "to", f"the range is {(last - first).days + 1} days; at most {MAX_RANGE_DAYS}"
    return None


@dataclass(frozen=True, slots=True)
class ExportJob:
    export_id: str
    kind: ExportKind
    first_day: date
    last_day: date
    status: ExportStatus
    created_by: str
    created_at: datetime
    version: int = 1
    attempts: int = 0
    run_id: str | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    bytes: int = 0
    parts: int = 0
    s3_key: str | None = None
    error: str | None = None

    @property
    def days(self) -> DayRange:
        return DayRange(self.first_day, self.last_day)

    @property
    def filename(self) -> str:
        return f"{self.kind.value}-{self.first_day:%Y%m%d}-{self.last_day:%Y%m%d}.csv"


Decision = Literal["claim", "busy", "finished"]


def claim_decision(job: ExportJob, now: datetime) -> Decision:
    """What a delivery of ``job``'s message does: ``finished`` (DONE/FAILED: nothing, a redelivery),
    ``busy`` (another run holds a live lease: come back later), ``claim`` (QUEUED, or RUNNING with
    a lease that has passed: the run died, start again)."""
    if job.status in (ExportStatus.DONE, ExportStatus.FAILED):
        return "finished"
    if job.status == ExportStatus.RUNNING and job.lease_until is not None and job.lease_until > now:
        return "busy"
    return "claim"


def object_key(export_id: str, run_id: str, filename: str) -> str:
    """One key per run: a presumed-dead run that still finishes never overwrites its successor's file."""
    return f"exports/{export_id}/{run_id}/{filename}"


# ---- CSV ----------------------------------------------------------------------------------------


def text(value: object) -> str:
    """A text cell that a spreadsheet will not run as a formula (people type names, memos, reasons)."""
    out = "" if value is None else str(value)
    return "'" + out if out[:1] in {"=", "+", "-", "@", "\t", "\r"} else out


def _integer(value: object) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def number(value: object) -> str:
    """An integer cell (fen, counts): written as the integer, never neutralised."""
    return str(_integer(value))


def money(value: object) -> tuple[str, str]:
    """(fen, yuan) cells of an integer amount."""
    fen = _integer(value)
    return str(fen), yuan_decimal(fen)


class CsvLines:
    """Encodes one row at a time to UTF-8 bytes (the BOM before the header)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def line(self, cells: Sequence[str]) -> bytes:
        self._writer.writerow(cells)
        out = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return out.encode("utf-8")


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[bytes]:
    """The file as a stream of encoded lines: BOM + header, then one line per row (lazily)."""
    lines = CsvLines()
    yield BOM.encode("utf-8") + lines.line(header)
    for row in rows:
        yield lines.line(row)


# ---- rows per kind (from stored items) ------------------------------------------------------------

Row = list[str]
Item = Mapping[str, Any]

ORDER_COLUMNS = ("order_id", "created_at", "status", "buyer_id", "amount_fen", "amount_yuan", "refunded_fen",
                 "refunded_yuan", "paid_at", "shipped_at", "completed_at", "fulfilment", "line_count", "title")


def order_row(item: Item) -> Row:
    """From the order's by-status entry (``ORDER#<id>/STATUS``)."""
    return [text(item.get("order_id")), text(item.get("created_at")), text(item.get("status")),
            text(item.get("buyer_id")), *money(item.get("amount_fen")), *money(item.get("refunded_fen")),
            text(item.get("paid_at")), text(item.get("shipped_at")), text(item.get("completed_at")),
            text(item.get("fulfilment")), number(item.get("line_count", 0)), text(item.get("title"))]


COMMISSION_COLUMNS = ("commission_id", "created_at", "promoter_id", "level", "order_id", "line_id", "buyer_id",
                      "product_id", "product_name", "quantity", "base_fen", "base_yuan", "amount_fen", "amount_yuan",
                      "cancelled_fen", "cancelled_yuan", "clawed_back_fen", "clawed_back_yuan", "current_fen",
                      "current_yuan", "status", "rate_bp", "rate_source", "due_at", "settled_at", "on_hold")


def commission_row(item: Item) -> Row:
    rule = item.get("rule") or {}
    amount = int(item.get("amount_fen", 0))
    cancelled = int(item.get("cancelled_fen", 0))
    clawed = int(item.get("clawed_back_fen", 0))
    return [text(item.get("commission_id")), text(item.get("created_at")), text(item.get("beneficiary_id")),
            number(item.get("level")), text(item.get("order_id")), text(item.get("line_id")),
            text(item.get("buyer_id")), text(item.get("product_id")), text(item.get("product_name")),
            number(item.get("quantity", 0)), *money(item.get("base_fen")), *money(amount), *money(cancelled),
            *money(clawed), *money(amount - cancelled - clawed), text(item.get("status")),
            number(rule.get("ratio_bp", 0)), text(rule.get("source")), text(item.get("due_at")),
            text(item.get("settled_at")), "yes" if item.get("hold") else "no"]


WITHDRAWAL_COLUMNS = ("withdrawal_id", "created_at", "promoter_id", "method", "status", "amount_fen", "amount_yuan",
                      "fee_fen", "fee_yuan", "net_fen", "net_yuan", "review", "approved_at", "rejected_at", "reason",
                      "paying_at", "paid_at", "failed_at", "fail_reason", "out_bill_no", "transfer_bill_no",
                      "bank_name", "bank_account_name", "bank_account_no", "bank_reference")


def withdrawal_row(item: Item) -> Row:
    bank = item.get("bank") or {}
    last4 = bank.get("account_no_last4")
    return [text(item.get("withdrawal_id")), text(item.get("created_at")), text(item.get("promoter_id")),
            text(item.get("method")), text(item.get("status")), *money(item.get("amount_fen")),
            *money(item.get("fee_fen")), *money(item.get("net_fen")), text(item.get("review")),
            text(item.get("approved_at")), text(item.get("rejected_at")), text(item.get("reason")),
            text(item.get("paying_at")), text(item.get("paid_at")), text(item.get("failed_at")),
            text(item.get("fail_reason")), text(item.get("out_bill_no")), text(item.get("transfer_bill_no")),
            text(bank.get("bank_name")), text(bank.get("account_name_masked")),
            f"****{last4}" if last4 else "", text(item.get("bank_reference"))]


PROMOTER_COLUMNS = ("user_id", "code", "status", "level_id", "nickname", "applied_at", "activated_at",
                    "direct_members", "second_level_members", "own_sales_fen", "own_sales_yuan", "team_sales_fen",
                    "team_sales_yuan", "last_active_at", "accepted_rules_version")


def promoter_row(item: Item) -> Row:
    return [text(item.get("user_id")), text(item.get("code")), text(item.get("status")), text(item.get("level_id")),
            text(mask_nickname(item.get("nickname"))), text(item.get("applied_at")), text(item.get("activated_at")),
            number(item.get("direct_members", 0)), number(item.get("second_level_members", 0)),
            *money(item.get("own_sales_fen")), *money(item.get("team_sales_fen")), text(item.get("last_active_at")),
            number(item.get("accepted_rules_version", 0))]


LEDGER_ACCOUNTS = ("frozen", "available", "withdrawing", "withdrawn", "debt", "merchant:commission", "merchant:fees")
LEDGER_COLUMNS = ("posting_id", "at", "promoter_id", "kind", "amount_fen", "amount_yuan",
                  *(f"{account.replace(':', '_')}_fen" for account in LEDGER_ACCOUNTS), "ref", "memo")


def posting_row(item: Item) -> Row:
    deltas: dict[str, int] = {}
    for leg in item.get("legs") or []:
        deltas[str(leg["account"])] = deltas.get(str(leg["account"]), 0) + int(leg["delta_fen"])
    ref = item.get("ref") or {}
    return [text(item.get("posting_id")), text(item.get("at")), text(item.get("promoter_id")), text(item.get("kind")),
            *money(item.get("amount_fen")), *(str(deltas.get(account, 0)) for account in LEDGER_ACCOUNTS),
            text(";".join(f"{k}={ref[k]}" for k in sorted(ref))), text(item.get("memo"))]


COLUMNS: Mapping[ExportKind, tuple[str, ...]] = {
    ExportKind.ORDERS: ORDER_COLUMNS, ExportKind.COMMISSIONS: COMMISSION_COLUMNS,
    ExportKind.WITHDRAWALS: WITHDRAWAL_COLUMNS, ExportKind.PROMOTERS: PROMOTER_COLUMNS,
    ExportKind.LEDGER: LEDGER_COLUMNS,
}
ROW_OF: Mapping[ExportKind, Callable[[Item], Row]] = {
    ExportKind.ORDERS: order_row, ExportKind.COMMISSIONS: commission_row, ExportKind.WITHDRAWALS: withdrawal_row,
    ExportKind.PROMOTERS: promoter_row, ExportKind.LEDGER: posting_row,
}
