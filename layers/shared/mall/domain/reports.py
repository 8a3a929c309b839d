"""The weekly operations report (运营周报, the seeds' 自动生成运营报表): which week a run reports on,
its id, and its file. Pure: the figures come in (the dashboard's, the fraud scan's hits), a CSV
comes out. Design: docs/exports.md, "Weekly operations report"."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mall.clock import china_day
from mall.domain.exports import csv_chunks, number, text
from mall.domain.masking import mask_nickname

REPORT_PREFIX = "wr_"
#: A report's file is kept this long (the bucket's lifecycle rule on ``reports/``, template.yaml).
REPORT_RETENTION_DAYS = 400
REPORT_COLUMNS = ("section", "rank", "subject_id", "subject_name", "metric", "value")
CONTENT_TYPE = "text/csv; charset=utf-8"

#: The dashboard's figures the report carries, in this order (docs/dashboard.md defines each).
SUMMARY_FIGURES: tuple[str, ...] = (
    "gmv_fen", "paid_orders", "average_order_value_fen", "refunds", "refund_fen", "customers_new",
    "customers_total", "buyers", "repeat_buyers", "repurchase_rate_bp", "first_time_buyers", "promoters_total",
    "promoters_new", "promoters_active", "share_visits", "shared_orders", "shared_gmv_fen", "conversion_bp")
COMMISSION_FIGURES: tuple[str, ...] = ("records", "created_fen", "frozen_fen", "settled_fen", "cancelled_fen",
                                       "clawed_back_fen")
WITHDRAWAL_FIGURES: tuple[str, ...] = ("requested", "requested_fen", "paid", "paid_fen", "fee_fen", "returned",
                                       "returned_fen")


@dataclass(frozen=True, slots=True)
class ReportWeek:
    """A China ISO week, Monday to Sunday."""

    key: str  # 2026-W48
    first_day: date
    last_day: date

    @property
    def report_id(self) -> str:
        return f"{REPORT_PREFIX}{self.key}"

    @property
    def filename(self) -> str:
        return f"weekly-report-{self.key}-{self.first_day:%Y%m%d}-{self.last_day:%Y%m%d}.csv"


def week_of(day: date) -> ReportWeek:
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return ReportWeek(f"{year}-W{week:02d}", monday, monday + timedelta(days=6))


def previous_week(now: datetime) -> ReportWeek:
    """The Monday–Sunday China week before the one ``now`` falls in: run on Monday 09:00 China time,
    the week that just ended; run again any day of that week, the same week."""
    return week_of(date.fromisoformat(china_day(now)) - timedelta(days=7))


def parse_week(value: str) -> ReportWeek | None:
    """``2026-W48`` → its week; None when it is not an ISO week."""
    try:
        year, week = value.split("-W")
        return week_of(date.fromisocalendar(int(year), int(week), 1))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class FraudFinding:
    rule: str
    promoter_id: str
    nickname: str | None
    mode: str
    window_key: str
    at: str


def _summary_rows(dashboard: Mapping[str, Any]) -> Iterator[list[str]]:
    for name in SUMMARY_FIGURES:
        yield ["summary", "", "", "", name, number(dashboard.get(name, 0))]
    commission = dashboard.get("commission") or {}
    for level in ("l1", "l2"):
        for name in COMMISSION_FIGURES:
            yield ["commission", "", level, "", name, number((commission.get(level) or {}).get(name, 0))]
    withdrawals = dashboard.get("withdrawals") or {}
    for name in WITHDRAWAL_FIGURES:
        yield ["withdrawals", "", "", "", name, number(withdrawals.get(name, 0))]


def report_rows(dashboard: Mapping[str, Any], findings: Sequence[FraudFinding]) -> Iterator[list[str]]:
    """The report in long form (one figure a row): the dashboard's figures of the week, its top
    promoters and products, and the fraud scan's findings. Personal data masked: nicknames as the
    dashboard masks them (``微**友``), user ids kept (pseudonymous, as in exports); no evidence is
    copied (it may hold device or address fingerprints)."""
    yield from _summary_rows(dashboard)
    for rank, promoter in enumerate(dashboard.get("top_promoters") or [], 1):
        for name in ("sales_fen", "orders", "commission_fen"):
            yield ["top_promoters", str(rank), text(promoter.get("user_id")), text(promoter.get("nickname")), name,
                   number(promoter.get(name, 0))]
    for rank, product in enumerate(dashboard.get("top_products") or [], 1):
        for name in ("sales_fen", "units", "orders"):
            yield ["top_products", str(rank), text(product.get("product_id")), text(product.get("name")), name,
                   number(product.get(name, 0))]
    for rank, hit in enumerate(findings, 1):
        yield ["fraud_findings", str(rank), text(hit.promoter_id), text(mask_nickname(hit.nickname)),
               text(f"{hit.rule}:{hit.mode}"), text(f"{hit.window_key} @ {hit.at}")]


def report_file(dashboard: Mapping[str, Any], findings: Sequence[FraudFinding]) -> bytes:
    return b"".join(csv_chunks(REPORT_COLUMNS, report_rows(dashboard, findings)))


def findings_of(hits: Iterable[Mapping[str, Any]], nicknames: Mapping[str, str | None]) -> list[FraudFinding]:
    """The fraud scan's hits as report findings, oldest first."""
    found = [FraudFinding(rule=str(h.get("rule", "")), promoter_id=str(h.get("promoter_id", "")),
                          nickname=nicknames.get(str(h.get("promoter_id", ""))), mode=str(h.get("mode", "")),
                          window_key=str(h.get("window_key", "")), at=str(h.get("at", ""))) for h in hits]
    return sorted(found, key=lambda f: (f.at, f.rule, f.promoter_id))
