"""Risk cases (风控案件) for the merchant console."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.risk import RiskCaseStatus
from mall.schemas.common import ApiModel

_EVIDENCE: JsonDict = {"day": "2026-11-11", "day_fen": 86400, "trailing_days": 7, "trailing_fen": 8820,
                       "average_fen": 1260, "multiple_bp": 50000, "min_day_fen": 50000}
_OPEN: JsonDict = {
    "case_id": "rc_8c45a6090726cc47ff36321e", "promoter_id": "u_36botxbbbigbhenhtgo542dk", "rule": "commission_spike",
    "window_key": "2026-11-11", "status": "OPEN", "evidence": _EVIDENCE, "opened_at": "2026-11-11T16:05:12Z",
    "resolved_at": None, "resolved_by": None, "note": None, "resolution_pending": False}


class ResolveRiskCaseRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note": "双十一茶馆团购, 14 笔订单均为不同收货地址, 已电话核实"}]})

    note: Annotated[str, Field(min_length=1, max_length=500, description=(
        "why: kept on the case and in the audit trail (never shown to the promoter)"))]


class RiskCaseView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_OPEN, "status": "RELEASED", "resolved_at": "2026-11-12T07:45:10Z", "resolved_by": "admin:li.na",
         "note": "双十一茶馆团购, 14 笔订单均为不同收货地址, 已电话核实"}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_OPEN], "next_cursor": None}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case": _OPEN, "held": {"count": 14, "amount_fen": 86400}, "voided": {"count": 0, "amount_fen": 0},
        "hold": {"case_id": "rc_8c45a6090726cc47ff36321e", "opened_at": "2026-11-11T16:05:12Z",
                 "open_cases": ["rc_8c45a6090726cc47ff36321e"], "confirmed_case_id": None},
        "promoter_status": "active"}]})

    case: RiskCaseView
    held: CommissionTotals = Field(description="the promoter's unsettled commission records held now")
    voided: CommissionTotals = Field(description="records voided by this case (when confirmed)")
    hold: RiskHoldView | None = Field(default=None, description="the promoter's hold, if any")
    promoter_status: str | None = None
