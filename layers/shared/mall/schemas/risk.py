"""Risk cases (风控案件) for the merchant console."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from mall.domain.risk import RiskCaseStatus
from mall.schemas.common import ApiModel


class ResolveRiskCaseRequest(ApiModel):
    note: Annotated[str, Field(min_length=1, max_length=500, description=(
        "why: kept on the case and in the audit trail (never shown to the promoter)"))]


class RiskCaseView(BaseModel):
    case_id: str = Field(description="`rc_` + 24 hex digits, derived from (promoter, rule, window)")
    promoter_id: str
    rule: str = Field(description="the fraud rule that fired, e.g. `commission_spike`")
    window_key: str = Field(description="the window the rule looked at (a day, a scan range)")
    status: RiskCaseStatus = Field(description="OPEN (待处理) → RELEASED (已解除) | CONFIRMED (已确认)")
    evidence: dict[str, Any] = Field(default_factory=dict, description="what the scan saw (no personal data)")
    opened_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    resolution_pending: bool = Field(default=False, description=(
        "resolved but its follow-up (records, hold, promoter) not finished: repeat the same action to finish it"))


class RiskCasePage(BaseModel):
    items: list[RiskCaseView]
    next_cursor: str | None = None


class CommissionTotals(BaseModel):
    count: int
    amount_fen: int = Field(description="Σ of the records' current amounts (integer fen)")


class RiskHoldView(BaseModel):
    case_id: str = Field(description="the primary case: new commission records are marked with it")
    opened_at: str
    open_cases: list[str] = Field(description="every OPEN case of the promoter")
    confirmed_case_id: str | None = Field(default=None, description="a confirmed case keeps the hold while frozen")


class RiskCaseDetail(BaseModel):
    case: RiskCaseView
    held: CommissionTotals = Field(description="the promoter's unsettled commission records held now")
    voided: CommissionTotals = Field(description="records voided by this case (when confirmed)")
    hold: RiskHoldView | None = Field(default=None, description="the promoter's hold, if any")
    promoter_status: str | None = None
