"""Admin withdrawals (提现管理): GET /admin/withdrawals (filters: status, China-day date range,
amount range, promoter; newest first; paginated), GET /admin/withdrawals/export (the same filters
as CSV), GET /admin/withdrawals/{withdrawal_id}, and GET /admin/withdrawals/{withdrawal_id}/bank-account
(the full account of a bank withdrawal, to pay it: audited, never cached; masked everywhere else)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.table import main_table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.staff import Capability
from mall.domain.withdrawals import WithdrawalStatus
from mall.schemas.withdrawals import BankAccountReveal, WithdrawalPage, WithdrawalView
from mall.services.withdrawals.admin import EXAMPLE_CSV, AdminFilters, admin_get, admin_list, export_csv
from mall.services.withdrawals.review import reveal_bank_account

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
withdrawals = WithdrawalRepository(table)
audit_log = AuditLog(table)

app = make_resolver()

StatusFilter = Literal["PENDING_REVIEW", "APPROVED", "PAYING", "PAID", "FAILED", "REJECTED"]
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="China day, YYYY-MM-DD, inclusive")]
Amount = Annotated[int | None, Query(ge=0, le=10_000_000_000, description="fen, inclusive")]
PromoterFilter = Annotated[str | None, Query(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_:-]+$",
                                             description="one promoter's withdrawals")]
StatusQuery = Annotated[StatusFilter | None, Query(description="omit for every status")]


def _filters(status: StatusFilter | None, promoter_id: str | None, date_from: str | None,  # noqa: PLR0917
             date_to: str | None, min_fen: int | None, max_fen: int | None) -> AdminFilters:
    return AdminFilters(status=WithdrawalStatus(status) if status else None, promoter_id=promoter_id,
                        date_from=date_from, date_to=date_to, min_fen=min_fen, max_fen=max_fen)


@app.get("/admin/withdrawals", summary="Withdrawals, filtered, newest first", tags=["admin withdrawals"],
         responses={422: error_response("`invalid_date_range`, `invalid_amount_range`, `invalid_cursor`")},
         **staff(Capability.READ))
def list_withdrawals(status: StatusQuery = None, promoter_id: PromoterFilter = None,  # noqa: PLR0917
                     date_from: Day = None, date_to: Day = None, min_fen: Amount = None, max_fen: Amount = None,
                     limit: Limit = 20,
                     cursor: Cursor = None) -> WithdrawalPage:
    return admin_list(withdrawals=withdrawals,
                      filters=_filters(status, promoter_id, date_from, date_to, min_fen, max_fen),
                      limit=limit, cursor=cursor)


@app.get("/admin/withdrawals/export", summary="The filtered withdrawals as CSV", tags=["admin withdrawals"],
         description="Same filters as the list, every match (up to 20,000 rows), newest first; bank accounts "
                     "masked. UTF-8 with a byte-order mark.",
         responses={200: {"description": "text/csv", "content": {"text/csv": {
             "schema": {"type": "string"},
             "examples": {"two_withdrawals": {"summary": "a bank withdrawal awaiting approval, a WeChat one paid",
                                              "value": EXAMPLE_CSV}}}}},
                    422: error_response("`export_too_large`: narrow the dates; `invalid_date_range`")},
         **staff(Capability.EXPORTS))
def export(status: StatusQuery = None, promoter_id: PromoterFilter = None,  # noqa: PLR0917
           date_from: Day = None, date_to: Day = None, min_fen: Amount = None,
           max_fen: Amount = None) -> Response[str]:
    lines = export_csv(withdrawals=withdrawals, audit=audit_log,
                       filters=_filters(status, promoter_id, date_from, date_to, min_fen, max_fen),
                       admin=current_principal(app).subject, now=utc_now(),
                       source_ip=source_ip(app))
    body = "".join(lines)
    metrics.add_metric(name="WithdrawalExports", unit="Count", value=1)
    name = f"withdrawals-{utc_now().strftime('%Y%m%d-%H%M%S')}.csv"
    return Response(status_code=HTTPStatus.OK, content_type="text/csv; charset=utf-8", body=body,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@app.get("/admin/withdrawals/<withdrawal_id>", summary="One withdrawal with approvals and timeline",
         tags=["admin withdrawals"], responses={404: error_response("`withdrawal_not_found`")},
         **staff(Capability.READ))
def get_withdrawal(withdrawal_id: IdPath) -> WithdrawalView:
    return admin_get(withdrawals=withdrawals, withdrawal_id=withdrawal_id)


@app.get("/admin/withdrawals/<withdrawal_id>/bank-account", summary="The full bank account, to pay it",
         description="Unmasked holder name and account number of a bank-transfer withdrawal. Every call writes an "
                     "audit record (who, which withdrawal, when, source IP); the answer is `Cache-Control: no-store`.",
         tags=["admin withdrawals"],
         responses={200: {"description": "the account", "content": {"application/json": {"model": BankAccountReveal}}},
                    404: error_response("`withdrawal_not_found`, `no_bank_account`")},
         **staff(Capability.REVEAL_BANK_ACCOUNT))
def bank_account(withdrawal_id: IdPath) -> Response[BankAccountReveal]:
    result = reveal_bank_account(withdrawals=withdrawals, withdrawal_id=withdrawal_id,
                                 admin=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=result,
                    headers={"Cache-Control": "no-store"})


handler = entrypoint(app)
