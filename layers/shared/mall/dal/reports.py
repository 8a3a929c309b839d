"""Weekly operations reports (运营周报): one record per week, put once (the first run to finish wins),
and the list the admin downloads them from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mall.clock import iso, parse_instant
from mall.dal.keys import weekly_report_key
from mall.dal.table import ConditionFailed, Item, Key, Page, Table

#: The index partition reports are listed from, newest week first.
LIST_PARTITION = "OPS_REPORTS"


@dataclass(frozen=True, slots=True)
class StoredReport:
    report_id: str
    week: str
    first_day: date
    last_day: date
    s3_key: str
    filename: str
    rows: int
    bytes: int
    created_at: datetime


def report_item(report: StoredReport) -> Item:
    return {**weekly_report_key(report.report_id), "entity": "ops_report", "kind": "weekly",
            "report_id": report.report_id, "week": report.week, "first_day": report.first_day.isoformat(),
            "last_day": report.last_day.isoformat(), "s3_key": report.s3_key, "filename": report.filename,
            "rows": report.rows, "bytes": report.bytes, "created_at": iso(report.created_at),
            "gsi1pk": LIST_PARTITION, "gsi1sk": f"{report.first_day.isoformat()}#{report.report_id}"}


def report_from_item(item: Item) -> StoredReport:
    return StoredReport(report_id=str(item["report_id"]), week=str(item["week"]),
                        first_day=date.fromisoformat(str(item["first_day"])),
                        last_day=date.fromisoformat(str(item["last_day"])), s3_key=str(item["s3_key"]),
                        filename=str(item["filename"]), rows=int(item.get("rows", 0)), bytes=int(item.get("bytes", 0)),
                        created_at=parse_instant(str(item["created_at"])))


class ReportRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, report_id: str, *, consistent: bool = True) -> StoredReport | None:
        item = self._table.get(weekly_report_key(report_id), consistent=consistent)
        return report_from_item(item) if item and item.get("entity") == "ops_report" else None

    def record(self, report: StoredReport) -> bool:
        """Put the report if its week has none yet. False: another run recorded the week's report first."""
        try:
            self._table.put(report_item(report), condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def page(self, *, limit: int, start_key: Key | None) -> Page:
        """The reports, newest week first (items)."""
        return self._table.query(partition=("gsi1pk", LIST_PARTITION), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)
