"""Admin marks of bank-transfer withdrawals and the payout view of a withdrawal (提现打款)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from mall.schemas.common import ApiModel


class MarkPaidRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reference": "CMB202611180935127761"}]})

    reference: Annotated[str, Field(min_length=1, max_length=64, description=(
        "the bank's transfer reference (流水号), kept on the withdrawal and in the audit log"))]


class MarkFailedRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "收款账号已销户, 银行退回"}]})

    reason: Annotated[str, Field(min_length=1, max_length=200, description=(
        "why the bank transfer failed; shown to the promoter, whose funds return to available"))]


class PayoutView(ApiModel):
    """A withdrawal as payouts see it (the full record: the withdrawal views)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "withdrawal_id": "w_01m7m2n7z1891c4a1y4sjt", "promoter_id": "u_cpk4nizqohonwxfnikf4bplx", "method": "bank",
        "status": "PAID", "amount_fen": 150000, "fee_fen": 1500, "net_fen": 148500,
        "out_bill_no": "w01m7m2n7z1891c4a1y4sjt", "transfer_bill_no": None, "bill_state": None,
        "bank_reference": "CMB202611180935127761", "fail_reason": None, "paying_at": None,
        "paid_at": "2026-11-18T01:35:40Z", "failed_at": None, "version": 4}]})

    withdrawal_id: str
    promoter_id: str
    method: str = Field(description="wechat | bank")
    status: str = Field(description="APPROVED | PAYING | PAID | FAILED (and the review statuses)")
    amount_fen: int = Field(description="held from available, fee included")
    fee_fen: int
    net_fen: int = Field(description="what the promoter receives")
    out_bill_no: str = Field(description="the WeChat Pay transfer number (never reused)")
    transfer_bill_no: str | None = None
    bill_state: str | None = Field(default=None, description="the WeChat transfer bill's last known state")
    bank_reference: str | None = None
    fail_reason: str | None = None
    paying_at: str | None = None
    paid_at: str | None = None
    failed_at: str | None = None
    version: int
