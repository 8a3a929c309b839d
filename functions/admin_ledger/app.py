"""Admin: any promoter's ledger and summary, and the daily reconciliation reports (对账报告)."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, DayPath, IdPath, Limit, OpenAPIResponse, error_response, limit_query
from mall.clock import utc_now
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.ledger import LedgerPage, LedgerSummary, ReconciliationDetail, ReconciliationList
from mall.services import ledger as ledger_service

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
ledger = LedgerRepository(table)
reports = ReconciliationRepository(table)
promoters = PromoterRepository(table)

app = make_resolver()

_NO_PROMOTER: dict[int, OpenAPIResponse] = {
    404: error_response("`promoter_not_found`")}


@app.get("/admin/promoters/<user_id>/ledger", summary="A promoter's ledger, newest first", tags=["ledger"],
         responses=_NO_PROMOTER, **staff(Capability.READ))
def promoter_ledger(user_id: IdPath, limit: Limit = 20, cursor: Cursor = None) -> LedgerPage:
    return ledger_service.promoter_ledger_page(promoters=promoters, ledger=ledger, user_id=user_id, limit=limit,
                                               cursor=cursor)


@app.get("/admin/promoters/<user_id>/ledger/summary", summary="A promoter's earnings and balances",
         tags=["ledger"], responses=_NO_PROMOTER, **staff(Capability.READ))
def promoter_summary(user_id: IdPath) -> LedgerSummary:
    return ledger_service.promoter_summary(promoters=promoters, ledger=ledger, user_id=user_id, now=utc_now())


@app.get("/admin/ledger/reconciliations", summary="Daily reconciliation runs, newest first", tags=["ledger"],
         **staff(Capability.READ))
def reconciliations(limit: Limit = 20, cursor: Cursor = None) -> ReconciliationList:
    return ledger_service.list_runs(reports=reports, limit=limit, cursor=cursor)


@app.get("/admin/ledger/reconciliations/<day>", summary="One day's reconciliation run with its mismatches",
         tags=["ledger"], responses={404: error_response("`reconciliation_not_found`")},
         **staff(Capability.READ))
def reconciliation(day: DayPath, limit: Annotated[int, limit_query(500)] = 100,
                   cursor: Cursor = None) -> ReconciliationDetail:
    return ledger_service.get_run(reports=reports, day=day, limit=limit, cursor=cursor)


handler = entrypoint(app)
