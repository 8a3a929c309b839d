"""Admin marks of bank-transfer withdrawals and the payout view of a withdrawal (提现打款)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mall.schemas.common import ApiModel


class MarkPaidRequest(ApiModel):
    reference: Annotated[str, Field(min_length=1, max_length=64, description=(
        "the bank's transfer reference (流水号), kept on the withdrawal and in the audit log"))]


class MarkFailedRequest(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=200, description=(
        "why the bank transfer failed; shown to the promoter, whose funds return to available"))]


class PayoutView(ApiModel):
    """A withdrawal as payouts see it (the full record: the withdrawal views)."""

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
