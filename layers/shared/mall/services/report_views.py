"""The weekly operations reports as the admin sees them: the list, newest week first, and one report
with a download link. Made by ``mall.services.reports`` (the schedule); the admin's function answers with
this module alone, without the dashboard's and the fraud scan's reads that making a report needs."""

from __future__ import annotations

from datetime import datetime, timedelta

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.objects import ObjectStore
from mall.dal.reports import LIST_PARTITION, ReportRepository, StoredReport, report_from_item
from mall.domain.reports import REPORT_RETENTION_DAYS
from mall.errors import NotFound
from mall.schemas.reports import ReportPage, ReportView


def report_view(report: StoredReport, *, store: ObjectStore | None = None, now: datetime | None = None,
                url_ttl_seconds: int = 900) -> ReportView:
    kept_until = report.created_at + timedelta(days=REPORT_RETENTION_DAYS)
    url = url_expires = None
    if store is not None and now is not None and now < kept_until:
        ttl = min(url_ttl_seconds, 900)
        url = store.presigned_url(report.s3_key, expires_in=ttl, download_name=report.filename)
        url_expires = iso(now + timedelta(seconds=ttl))
    return ReportView(report_id=report.report_id, kind="weekly", week=report.week,
                      from_date=report.first_day.isoformat(), to_date=report.last_day.isoformat(),
                      created_at=iso(report.created_at), rows=report.rows, bytes=report.bytes,
                      filename=report.filename, url=url, url_expires_at=url_expires, file_expires_at=iso(kept_until))


def list_reports(*, reports: ReportRepository, limit: int, cursor: str | None) -> ReportPage:
    """Every report, newest week first (links only in the detail)."""
    start = cursors.decode(cursor, partition=("gsi1pk", LIST_PARTITION))
    page = reports.page(limit=limit, start_key=start)
    return ReportPage(items=[report_view(report_from_item(i)) for i in page.items],
                      next_cursor=cursors.encode(page.last_key))


def get_report(*, reports: ReportRepository, store: ObjectStore | None, report_id: str, now: datetime,
               url_ttl_seconds: int) -> ReportView:
    report = reports.get(report_id)
    if report is None:
        raise NotFound("no such report", code="report_not_found")
    return report_view(report, store=store, now=now, url_ttl_seconds=url_ttl_seconds)
