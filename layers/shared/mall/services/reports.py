"""Weekly operations reports (运营周报): made by a schedule (Monday 09:00 China time, the Monday–Sunday
week before) into the exports bucket, listed for the admin with a download link
(``mall.services.report_views``). The figures are the dashboard's (``mall.services.stats.dashboard``)
and the fraud scan's recorded hits, so the report says what the dashboard says for that week. Design:
docs/exports.md, "Weekly operations report".

One report per week whatever runs: a run makes its file under its own key, then puts the week's
record only if absent; a run that finds the record, or loses the put to an overlapping run,
deletes its own file and makes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools import Logger

from mall.dal.fraud import FraudRepository
from mall.dal.objects import ObjectStore
from mall.dal.reports import ReportRepository, StoredReport
from mall.dal.stats import StatsRepository
from mall.domain.reports import (
    CONTENT_TYPE,
    ReportWeek,
    findings_of,
    report_file,
    report_rows,
)
from mall.ids import new_id
from mall.services.stats import dashboard

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)


@dataclass(frozen=True)
class ReportRepositories:
    stats: StatsRepository
    fraud: FraudRepository
    reports: ReportRepository

    @classmethod
    def on(cls, table: Table, *, stats_folded_from: str | None = None) -> ReportRepositories:
        return cls(stats=StatsRepository(table, stats_folded_from=stats_folded_from), fraud=FraudRepository(table),
                   reports=ReportRepository(table))


@dataclass(frozen=True)
class ReportOutcome:
    report_id: str
    result: Literal["made", "exists"]
    rows: int = 0


def make_weekly_report(*, repos: ReportRepositories, store: ObjectStore, week: ReportWeek, now: datetime,
                       run_id: Callable[[], str] = lambda: new_id("run")) -> ReportOutcome:
    """The week's report, made once (see the module docstring)."""
    if repos.reports.get(week.report_id) is not None:
        return ReportOutcome(week.report_id, "exists")
    figures = dashboard(stats=repos.stats, date_from=week.first_day.isoformat(), date_to=week.last_day.isoformat(),
                        now=now).model_dump(mode="json")
    hits = [hit for n in range(7) for hit in repos.fraud.hits_on((week.first_day + timedelta(days=n)).isoformat())]
    nicknames = repos.stats.nicknames(str(h["promoter_id"]) for h in hits if h.get("promoter_id"))
    findings = findings_of(hits, nicknames)
    body = report_file(figures, findings)
    rows = sum(1 for _ in report_rows(figures, findings))
    key = f"reports/{week.report_id}/{run_id()}/{week.filename}"
    store.put(key, body, content_type=CONTENT_TYPE)
    report = StoredReport(report_id=week.report_id, week=week.key, first_day=week.first_day, last_day=week.last_day,
                          s3_key=key, filename=week.filename, rows=rows, bytes=len(body), created_at=now)
    if not repos.reports.record(report):
        store.delete(key)  # an overlapping run recorded the week's report first: keep only its file
        return ReportOutcome(week.report_id, "exists")
    logger.info("weekly report made", extra={"report_id": week.report_id, "rows": rows})
    return ReportOutcome(week.report_id, "made", rows)
