"""Admin: risk cases (风控案件) — the queue by status or promoter, one case with its evidence and
held commission, and the decision: release (commissions continue) or confirm (commissions voided,
promoter frozen). Each decision is audited with who, before/after, the note and the source IP."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, OpenAPIResponse, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.risk import ResolveRiskCaseRequest, RiskCaseDetail, RiskCasePage, RiskCaseView
from mall.services import risk

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = risk.RiskRepositories.on(table)

app = make_resolver()

_DECISION_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`risk_case_not_found`"),
    409: error_response("`risk_case_not_open` (details.status is the current status, with resolved_by / resolved_at)"),
}


@app.get("/admin/risk/cases", summary="Risk cases, newest first: of one status (OPEN by default) or one promoter",
         tags=["risk"], **staff(Capability.READ))
def list_cases(status: Annotated[Literal["OPEN", "RELEASED", "CONFIRMED"] | None, Query()] = None,
               promoter_id: Annotated[str | None, Query(min_length=3, max_length=64,
                                                        pattern=r"^[A-Za-z0-9_-]+$")] = None,
               limit: Limit = 20,
               cursor: Cursor = None) -> RiskCasePage:
    return risk.list_cases(repos=repos, status=status, promoter_id=promoter_id, limit=limit, cursor=cursor)


@app.get("/admin/risk/cases/<case_id>", summary="One risk case: evidence, held and voided commission, the hold",
         tags=["risk"], responses={404: _DECISION_ERRORS[404]}, **staff(Capability.READ))
def get_case(case_id: IdPath) -> RiskCaseDetail:
    return risk.get_case(repos=repos, case_id=case_id)


@app.post("/admin/risk/cases/<case_id>/release",
          summary="Release an open case: held commission continues (settles at the next run)", tags=["risk"],
          responses=_DECISION_ERRORS, **staff(Capability.RISK))
def release(case_id: IdPath, body: ResolveRiskCaseRequest) -> RiskCaseView:
    result = risk.release_case(repos=repos, case_id=case_id, by=current_principal(app).subject, note=body.note,
                               now=utc_now(), source_ip=source_ip(app))
    metrics.add_metric(name="RiskCasesReleased", unit="Count", value=1)
    return result


@app.post("/admin/risk/cases/<case_id>/confirm",
          summary="Confirm an open case: unsettled commission voided, the promoter frozen", tags=["risk"],
          responses=_DECISION_ERRORS, **staff(Capability.RISK))
def confirm(case_id: IdPath, body: ResolveRiskCaseRequest) -> RiskCaseView:
    result = risk.confirm_case(repos=repos, case_id=case_id, by=current_principal(app).subject, note=body.note,
                               now=utc_now(), source_ip=source_ip(app))
    metrics.add_metric(name="RiskCasesConfirmed", unit="Count", value=1)
    return result


handler = entrypoint(app)
