"""Exports (数据导出) in the single table: the job records. The sources of every kind of row, which only the
export worker reads, are in ``mall.dal.export_sources``.

Keys (docs/data-model.md, "team bonus and exports"):
- job ``EXPORT#<export_id>`` / ``JOB``, gsi1 ``EXPORTS`` / ``<created_at>#<export_id>`` (the admin's list,
  newest first). ``expires_at`` = 30 days (the file itself is kept 7 days by the bucket's lifecycle;
  the ``export.create`` audit entry keeps who exported what for 3 years).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from mall.clock import epoch, iso, parse_instant
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import job_key
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, Write
from mall.domain.exports import ExportJob, ExportKind, ExportStatus

LIST_PARTITION = "EXPORTS"
JOB_TTL_DAYS = 30


def _dt(value: Any) -> datetime | None:
    return parse_instant(str(value)) if value else None


def job_item(job: ExportJob) -> Item:
    item: Item = {
        **job_key(job.export_id), "entity": "export_job", "export_id": job.export_id, "kind": job.kind.value,
        "first_day": job.first_day.isoformat(), "last_day": job.last_day.isoformat(), "status": job.status.value,
        "created_by": job.created_by, "created_at": iso(job.created_at), "updated_at": iso(job.created_at),
        "version": job.version, "attempts": job.attempts, "rows": job.rows, "bytes": job.bytes, "parts": job.parts,
        "gsi1pk": LIST_PARTITION, "gsi1sk": f"{iso(job.created_at)}#{job.export_id}",
        "expires_at": epoch(job.created_at + timedelta(days=JOB_TTL_DAYS)),
    }
    return item


def job_from_item(item: Item) -> ExportJob:
    created = _dt(item["created_at"])
    assert created is not None  # noqa: S101 - always stored
    return ExportJob(
        export_id=str(item["export_id"]), kind=ExportKind(item["kind"]),
        first_day=date.fromisoformat(str(item["first_day"])), last_day=date.fromisoformat(str(item["last_day"])),
        status=ExportStatus(item["status"]), created_by=str(item.get("created_by", "")), created_at=created,
        version=int(item.get("version", 1)), attempts=int(item.get("attempts", 0)), run_id=item.get("run_id"),
        lease_until=_dt(item.get("lease_until")), started_at=_dt(item.get("started_at")),
        finished_at=_dt(item.get("finished_at")), rows=int(item.get("rows", 0)), bytes=int(item.get("bytes", 0)),
        parts=int(item.get("parts", 0)), s3_key=item.get("s3_key"), error=item.get("error"))


class StaleJob(Exception):
    """The job is no longer in the state the change was computed from (another run moved it)."""

    def __init__(self, current: Item | None) -> None:
        super().__init__("export job changed")
        self.current = current


class ExportJobRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, job: ExportJob, *, audit: AuditEntry, now: datetime) -> None:
        """The job and its audit entry, in one transaction."""
        self._table.transact([
            Write.put(self._table.name, job_item(job), condition="attribute_not_exists(pk)"),
            AuditLog(self._table).write(audit, now),
        ])

    def get(self, export_id: str, *, consistent: bool = True) -> ExportJob | None:
        item = self._table.get(job_key(export_id), consistent=consistent)
        return job_from_item(item) if item and item.get("entity") == "export_job" else None

    def page(self, *, limit: int, start_key: Key | None) -> Page:
        """The jobs, newest first (items)."""
        return self._table.query(partition=("gsi1pk", LIST_PARTITION), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def _update(self, job: ExportJob, update: str, *, condition: str, names: dict[str, str],
                values: dict[str, Any]) -> ExportJob:
        try:
            item = self._table.update(job_key(job.export_id), update, condition=condition, names=names, values=values)
        except ConditionFailed as failed:
            raise StaleJob(failed.item) from failed
        return job_from_item(item)

    def claim(self, job: ExportJob, *, run_id: str, now: datetime, lease_seconds: int) -> ExportJob:
        """QUEUED → RUNNING, or RUNNING (lease passed) → RUNNING under a new run: conditional on the
        version read (and the lease still being past). Raises ``StaleJob``."""
        return self._update(
            job, "SET #status = :running, run_id = :run, lease_until = :lease, started_at = :now, updated_at = :now, "
                 "attempts = attempts + :one, #version = #version + :one REMOVE #error",
            condition="#version = :v AND (#status = :queued OR (#status = :running AND lease_until < :now))",
            names={"#status": "status", "#version": "version", "#error": "error"},
            values={":running": ExportStatus.RUNNING.value, ":queued": ExportStatus.QUEUED.value, ":run": run_id,
                    ":lease": iso(now + timedelta(seconds=lease_seconds)), ":now": iso(now), ":one": 1,
                    ":v": job.version})

    def finish(self, job: ExportJob, *, run_id: str, now: datetime, rows: int, size: int, parts: int,
               s3_key: str) -> ExportJob:
        """RUNNING (this run) → DONE with the file's key and figures. Raises ``StaleJob``."""
        return self._update(
            job, "SET #status = :done, finished_at = :now, updated_at = :now, #rows = :rows, #bytes = :bytes, "
                 "parts = :parts, s3_key = :key, #version = #version + :one REMOVE lease_until",
            condition="#status = :running AND run_id = :run",
            names={"#status": "status", "#version": "version", "#rows": "rows", "#bytes": "bytes"},
            values={":done": ExportStatus.DONE.value, ":running": ExportStatus.RUNNING.value, ":run": run_id,
                    ":now": iso(now), ":rows": rows, ":bytes": size, ":parts": parts, ":key": s3_key, ":one": 1})

    def fail(self, job: ExportJob, *, run_id: str, now: datetime, error: str, final: bool) -> ExportJob:
        """RUNNING (this run) → FAILED (``final``) or back to QUEUED for the queue's retry."""
        to = ExportStatus.FAILED if final else ExportStatus.QUEUED
        return self._update(
            job, "SET #status = :to, #error = :error, updated_at = :now, #version = #version + :one"
                 + (", finished_at = :now" if final else "") + " REMOVE lease_until",
            condition="#status = :running AND run_id = :run",
            names={"#status": "status", "#version": "version", "#error": "error"},
            values={":to": to.value, ":running": ExportStatus.RUNNING.value, ":run": run_id, ":now": iso(now),
                    ":error": error[:500], ":one": 1})

    def fail_queued(self, job: ExportJob, *, now: datetime, error: str) -> ExportJob:
        """QUEUED → FAILED (the job could not be queued)."""
        return self._update(
            job, "SET #status = :failed, #error = :error, updated_at = :now, finished_at = :now, "
                 "#version = #version + :one",
            condition="#status = :queued",
            names={"#status": "status", "#version": "version", "#error": "error"},
            values={":failed": ExportStatus.FAILED.value, ":queued": ExportStatus.QUEUED.value, ":now": iso(now),
                    ":error": error[:500], ":one": 1})
