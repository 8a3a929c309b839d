"""Exports (数据导出): an admin asks for a CSV of orders, commissions, withdrawals, promoters or ledger
postings over a range of China days; a queue-fed worker streams it to S3; the admin downloads it
through a short-lived link.

- ``create_export`` (``POST /admin/exports``): the job (QUEUED) and its ``export.create`` audit entry
  in one transaction, then ``{"export_id"}`` to ``ExportQueue``. If the queue cannot take it the job
  is FAILED at once and the answer is 503: no job is left waiting for a message that never comes.
- ``run_export`` (``export_worker``, one message): claims the job (QUEUED → RUNNING under a lease;
  a RUNNING job whose lease passed is claimed again: its worker died), streams the rows page by page
  into an S3 multipart upload (``mall.dal.objects.MultipartWriter``: about one 5 MiB part in memory,
  never the file), then RUNNING → DONE with the row count. A redelivered message of a DONE or FAILED
  job does nothing; one that finds a live lease is handed back to the queue (``ExportBusy``). A run
  that fails goes back to QUEUED for the queue's retry, and is FAILED after ``MAX_ATTEMPTS`` runs.
- ``get_export``: the job, with a presigned GET link (≤ 15 minutes) while the file is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from mall.api.cursor import cursors
from mall.clock import iso
from mall.config import MIN_PART_BYTES, ExportSettings, load_export_settings
from mall.dal.audit import AuditEntry
from mall.dal.exports import LIST_PARTITION, ExportJobRepository, StaleJob, job_from_item
from mall.dal.objects import MultipartWriter, ObjectStore
from mall.domain.exports import (
    COLUMNS,
    MAX_ATTEMPTS,
    ROW_OF,
    ExportJob,
    ExportKind,
    ExportStatus,
    claim_decision,
    csv_chunks,
    object_key,
)
from mall.errors import NotFound, UpstreamUnavailable
from mall.ids import new_id
from mall.schemas.exports import CreateExportRequest, ExportJobPage, ExportJobView

if TYPE_CHECKING:
    from mall.dal.export_sources import ExportSources

logger = Logger(child=True)

#: Files are deleted by the bucket's lifecycle rule this long after they were made (template.yaml).
FILE_RETENTION_DAYS = 7
CONTENT_TYPE = "text/csv; charset=utf-8"


@lru_cache(maxsize=1)
def export_settings() -> ExportSettings:
    return load_export_settings()


class Sender(Protocol):
    def send(self, body: dict[str, Any]) -> None: ...


class ExportBusy(Exception):
    """Another run holds the job's lease: the message goes back to the queue and comes again later."""


# ---- views --------------------------------------------------------------------------------------


def job_view(job: ExportJob, *, store: ObjectStore | None = None, now: datetime | None = None,
             url_ttl_seconds: int = 900) -> ExportJobView:
    url = url_expires = file_expires = None
    if job.status == ExportStatus.DONE and job.s3_key and job.finished_at is not None:
        kept_until = job.finished_at + timedelta(days=FILE_RETENTION_DAYS)
        file_expires = iso(kept_until)
        if store is not None and now is not None and now < kept_until:
            ttl = min(url_ttl_seconds, 900)
            url = store.presigned_url(job.s3_key, expires_in=ttl, download_name=job.filename)
            url_expires = iso(now + timedelta(seconds=ttl))
    return ExportJobView(
        export_id=job.export_id, kind=job.kind.value, from_date=job.first_day.isoformat(),
        to_date=job.last_day.isoformat(), status=job.status.value, created_by=job.created_by,
        created_at=iso(job.created_at), started_at=iso(job.started_at) if job.started_at else None,
        finished_at=iso(job.finished_at) if job.finished_at else None, attempts=job.attempts, rows=job.rows,
        bytes=job.bytes, filename=job.filename, error=job.error, url=url, url_expires_at=url_expires,
        file_expires_at=file_expires)


def create_export(*, jobs: ExportJobRepository, queue: Sender | None, body: CreateExportRequest, admin: str,
                  source_ip: str | None, now: datetime) -> ExportJobView:
    """Record the job (QUEUED) with its audit entry, then queue it (see the module docstring)."""
    job = ExportJob(export_id=new_id("ex"), kind=ExportKind(body.kind), first_day=body.from_, last_day=body.to,
                    status=ExportStatus.QUEUED, created_by=admin, created_at=now)
    jobs.create(job, audit=AuditEntry(
        action="export.create", actor=admin, entity_type="export", entity_id=job.export_id, source_ip=source_ip,
        after={"kind": job.kind.value, "from": job.first_day.isoformat(), "to": job.last_day.isoformat()}), now=now)
    try:
        if queue is None:
            raise RuntimeError("EXPORT_QUEUE_URL is not set")
        queue.send({"export_id": job.export_id})
    except Exception as exc:
        logger.exception("export could not be queued", extra={"export_id": job.export_id})
        failed = jobs.fail_queued(job, now=now, error="the export queue is unavailable")
        raise UpstreamUnavailable("the export could not be queued; try again", code="export_queue_unavailable",
                                  details={"export_id": failed.export_id}) from exc
    logger.info("export queued", extra={"export_id": job.export_id, "kind": job.kind.value})
    return job_view(job)


def get_export(*, jobs: ExportJobRepository, store: ObjectStore | None, export_id: str, now: datetime,
               url_ttl_seconds: int) -> ExportJobView:
    job = jobs.get(export_id)
    if job is None:
        raise NotFound("no such export", code="export_not_found")
    return job_view(job, store=store, now=now, url_ttl_seconds=url_ttl_seconds)


def list_exports(*, jobs: ExportJobRepository, limit: int, cursor: str | None) -> ExportJobPage:
    """Every export job, newest first (links only in the detail: ``GET /admin/exports/{export_id}``)."""
    start = cursors.decode(cursor, partition=("gsi1pk", LIST_PARTITION))
    page = jobs.page(limit=limit, start_key=start)
    return ExportJobPage(items=[job_view(job_from_item(i)) for i in page.items],
                         next_cursor=cursors.encode(page.last_key))


# ---- the worker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOutcome:
    export_id: str
    result: Literal["done", "finished", "missing", "failed", "retry"]
    rows: int = 0
    bytes: int = 0
    parts: int = 0
    max_buffered: int = 0


def rows_of(sources: ExportSources, job: ExportJob) -> Iterator[bytes]:
    """The job's CSV as encoded lines, produced as the sources are read (BOM + header first)."""
    row = ROW_OF[job.kind]
    items = sources.items(job.kind, job.days)
    return csv_chunks(COLUMNS[job.kind], (row(item) for item in items))


def run_export(*, jobs: ExportJobRepository, sources: ExportSources, store: ObjectStore, export_id: str,
               now: datetime, lease_seconds: int, part_size: int = MIN_PART_BYTES,
               clock: Callable[[], datetime] | None = None) -> ExportOutcome:
    """One delivery of a job's message (see the module docstring). Raises ``ExportBusy`` when another
    run holds a live lease, and re-raises a failure that leaves the job QUEUED for another try."""
    job = jobs.get(export_id)
    if job is None:
        logger.warning("export message for an unknown job", extra={"export_id": export_id})
        return ExportOutcome(export_id, "missing")
    decision = claim_decision(job, now)
    if decision == "finished":
        return ExportOutcome(export_id, "finished", rows=job.rows, bytes=job.bytes, parts=job.parts)
    if decision == "busy":
        raise ExportBusy(f"export {export_id} is being written by run {job.run_id} until {job.lease_until}")
    run_id = new_id("run")
    try:
        job = jobs.claim(job, run_id=run_id, now=now, lease_seconds=lease_seconds)
    except StaleJob as stale:
        current = job_from_item(stale.current) if stale.current else None
        if current is not None and claim_decision(current, now) == "finished":
            return ExportOutcome(export_id, "finished", rows=current.rows, bytes=current.bytes, parts=current.parts)
        raise ExportBusy(f"export {export_id} was claimed by another run") from stale
    key = object_key(export_id, run_id, job.filename)
    writer = MultipartWriter(store, key, content_type=CONTENT_TYPE, part_size=part_size,
                             metadata={"export-id": export_id, "kind": job.kind.value})
    rows = -1  # the header is not a row
    try:
        for line in rows_of(sources, job):
            writer.write(line)
            rows += 1
        size = writer.close()
    except Exception as exc:
        writer.abort()
        final = job.attempts >= MAX_ATTEMPTS
        logger.exception("export run failed", extra={"export_id": export_id, "attempt": job.attempts, "final": final})
        with contextlib.suppress(StaleJob):  # another run took the job over meanwhile: it decides
            jobs.fail(job, run_id=run_id, now=clock() if clock else now, error=f"{type(exc).__name__}: {exc}",
                      final=final)
        if final:
            return ExportOutcome(export_id, "failed")
        raise
    try:
        jobs.finish(job, run_id=run_id, now=clock() if clock else now, rows=rows, size=size, parts=writer.parts,
                    s3_key=key)
    except StaleJob:
        # Our lease passed and another run took over (we were presumed dead): its file stands.
        logger.warning("export finished after losing its lease", extra={"export_id": export_id, "run_id": run_id})
        return ExportOutcome(export_id, "retry", rows=rows, bytes=size, parts=writer.parts,
                             max_buffered=writer.max_buffered)
    logger.info("export written", extra={"export_id": export_id, "rows": rows, "bytes": size, "parts": writer.parts})
    return ExportOutcome(export_id, "done", rows=rows, bytes=size, parts=writer.parts, max_buffered=writer.max_buffered)


class ExportMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    export_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,64}$")]


def process_message(*, jobs: ExportJobRepository, sources: ExportSources, store: ObjectStore, body: str,
                    now: datetime, settings: ExportSettings, clock: Callable[[], datetime] | None = None
                    ) -> ExportOutcome:
    """One ``ExportQueue`` message (``{"export_id": ...}``)."""
    message = ExportMessage.model_validate_json(body)
    return run_export(jobs=jobs, sources=sources, store=store, export_id=message.export_id, now=now,
                      lease_seconds=settings.lease_seconds, part_size=settings.part_bytes, clock=clock)
