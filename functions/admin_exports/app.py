"""Admin exports (数据导出): POST /admin/exports asks for a CSV of orders, commissions, withdrawals,
promoters or ledger postings over China days ``from``..``to`` (≤ 366 days); the file is written
asynchronously by ``export_worker``. GET /admin/exports lists the jobs, newest first; GET
/admin/exports/{export_id} gives the status, the row count and, once DONE, a download link valid
at most 15 minutes. Creating an export is audited (``export.create``). GET /admin/reports and GET
/admin/reports/{report_id}: the weekly operations reports (``weekly_report``) with a download link."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.idempotency import IdempotencyKeyHeader, once
from mall.api.params import Cursor, IdPath, Limit, error_response, source_ip
from mall.clock import utc_now
from mall.dal.exports import ExportJobRepository
from mall.dal.objects import ObjectStore
from mall.dal.queues import queue_from_env
from mall.dal.reports import ReportRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.exports import CreateExportRequest, ExportJobPage, ExportJobView
from mall.schemas.reports import ReportPage, ReportView
from mall.services import exports, report_views

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
jobs = ExportJobRepository(table)
weekly_reports = ReportRepository(table)
queue = queue_from_env("EXPORT_QUEUE_URL")

app = make_resolver()

@app.post("/admin/exports", summary="Export records of a date range as CSV (asynchronous)", tags=["exports"],
          status_code=202,
          responses={202: {"description": "the job, QUEUED: poll GET /admin/exports/{export_id}",
                           "content": {"application/json": {"model": ExportJobView}}},
                     422: error_response("`validation_error` naming `kind`, `from` or `to` (to before from, more than "
                                         "366 days)"),
                     503: error_response("`export_queue_unavailable`: the job is FAILED, ask again")},
          **staff(Capability.EXPORTS))
def create(body: CreateExportRequest, idempotency_key: IdempotencyKeyHeader) -> Response[ExportJobView]:
    principal = current_principal(app)
    ip = source_ip(app)
    result = once(idempotency_key, principal.subject, body, ExportJobView,
                  lambda: exports.create_export(jobs=jobs, queue=queue, body=body, admin=principal.subject,
                                                source_ip=ip, now=utc_now()),
                  lambda_context=app.lambda_context)
    metrics.add_metric(name="ExportsRequested", unit="Count", value=1)
    return Response(status_code=HTTPStatus.ACCEPTED, content_type="application/json", body=result)


@app.get("/admin/exports", summary="Export jobs, newest first", tags=["exports"], **staff(Capability.EXPORTS))
def list_jobs(limit: Limit = 20,
              cursor: Cursor = None) -> ExportJobPage:
    return exports.list_exports(jobs=jobs, limit=limit, cursor=cursor)


@app.get("/admin/exports/<export_id>", summary="One export job; a download link once DONE", tags=["exports"],
         responses={404: error_response("`export_not_found`")}, **staff(Capability.EXPORTS))
def get_job(export_id: IdPath) -> Response[ExportJobView]:
    settings = exports.export_settings()
    store = ObjectStore(settings.bucket) if settings.bucket else None
    result = exports.get_export(jobs=jobs, store=store, export_id=export_id, now=utc_now(),
                                url_ttl_seconds=settings.url_ttl_seconds)
    # The link is a bearer credential for the file: never cached.
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=result,
                    headers={"Cache-Control": "no-store"})


@app.get("/admin/reports", summary="Weekly operations reports, newest week first", tags=["exports"],
         description="Made every Monday 09:00 China time for the Monday–Sunday week before: the week's dashboard "
                     "figures, top promoters and products, and the fraud scan's findings, personal data masked.",
         **staff(Capability.EXPORTS))
def list_reports(limit: Limit = 20, cursor: Cursor = None) -> ReportPage:
    return report_views.list_reports(reports=weekly_reports, limit=limit, cursor=cursor)


@app.get("/admin/reports/<report_id>", summary="One weekly report with its download link", tags=["exports"],
         responses={404: error_response("`report_not_found`")}, **staff(Capability.EXPORTS))
def get_report(report_id: IdPath) -> Response[ReportView]:
    settings = exports.export_settings()
    store = ObjectStore(settings.bucket) if settings.bucket else None
    result = report_views.get_report(reports=weekly_reports, store=store, report_id=report_id, now=utc_now(),
                                url_ttl_seconds=settings.url_ttl_seconds)
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=result,
                    headers={"Cache-Control": "no-store"})


handler = entrypoint(app)
