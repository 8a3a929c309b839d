"""Request and response models of manual commission adjustments (人工佣金调整)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

Reason = Annotated[str, Field(min_length=1, max_length=200)]

_PENDING: JsonDict = {
    "adjustment_id": "adj_5f0c2a9e1b7d4c3a8e6f1d2b", "promoter_id": "u_36botxbbbigbhenhtgo542dk",
    "direction": "credit", "amount_fen": 150000, "reason": "线下茶会代收货款, 补发推广佣金", "status": "PENDING",
    "required_approvals": 2, "approvals": ["admin:li.na"], "created_by": "admin:li.na",
    "created_at": "2026-11-20T03:12:45Z", "applied_at": None, "rejected_by": None, "rejected_at": None,
    "reject_reason": None, "version": 1}
_APPLIED: JsonDict = {
    **_PENDING, "adjustment_id": "adj_0a1b2c3d4e5f6a7b8c9d0e1f", "direction": "debit", "amount_fen": 3000,
    "reason": "重复计佣, 扣回", "status": "APPLIED", "required_approvals": 1, "approvals": ["admin:li.na"],
    "applied_at": "2026-11-19T08:02:11Z"}
_REJECTED: JsonDict = {
    **_PENDING, "adjustment_id": "adj_9e8d7c6b5a4f3e2d1c0b9a8f", "status": "REJECTED", "version": 2,
    "rejected_by": "admin:wang.fang", "rejected_at": "2026-11-20T05:40:00Z", "reject_reason": "金额有误, 请重新提交"}


class AdjustmentRequest(ApiModel):
    """A credit (补发) or debit (扣回) of commission, in integer fen, with the reason the promoter is shown."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [
        {"direction": "credit", "amount_fen": 150000, "reason": "线下茶会代收货款, 补发推广佣金"}]})

    direction: Literal["credit", "debit"]
    amount_fen: Annotated[int, Field(ge=1, le=10_000_000_000, description="integer fen, > 0")]
    reason: Reason


class AdjustmentRejectRequest(ApiModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [{"reason": "金额有误, 请重新提交"}]})

    reason: Reason


class AdjustmentView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PENDING, _APPLIED, _REJECTED]})

    adjustment_id: str
    promoter_id: str
    direction: Literal["credit", "debit"]
    amount_fen: int
    reason: str
    status: Literal["PENDING", "APPLIED", "REJECTED"] = Field(
        description="PENDING: waits for a second, different admin; APPLIED: posted to the ledger")
    required_approvals: int
    approvals: list[str] = Field(description="the admins who asked for and approved it")
    created_by: str
    created_at: str
    applied_at: str | None = None
    rejected_by: str | None = None
    rejected_at: str | None = None
    reject_reason: str | None = None
    version: int


class AdjustmentPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_PENDING], "next_cursor": None}]})

    items: list[AdjustmentView]
    next_cursor: str | None = None
