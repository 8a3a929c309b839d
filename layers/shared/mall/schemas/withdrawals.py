"""Withdrawal requests and views (提现)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from mall.domain.withdrawals import WithdrawalStatus
from mall.schemas.common import ApiModel


class BankAccountIn(ApiModel):
    """The account a bank-transfer withdrawal is paid to. Encrypted at rest, masked in every view."""

    bank_name: Annotated[str, Field(min_length=2, max_length=40, description="e.g. 招商银行")]
    account_name: Annotated[str, Field(min_length=1, max_length=30, description="the account holder's name")]
    account_no: Annotated[str, Field(pattern=r"^[0-9]{8,30}$", description="digits only")]
    branch: Annotated[str | None, Field(max_length=60, description="开户支行")] = None


class WithdrawalRequest(ApiModel):
    amount_fen: Annotated[StrictInt, Field(ge=1, le=10_000_000_000, description=(
        "what leaves your available balance, fee included (integer fen)"))]
    method: Literal["wechat", "bank"] = Field(default="wechat", description=(
        "wechat: merchant transfer to the WeChat balance (商家转账到零钱); bank: paid by the merchant by bank "
        "transfer (needs `bank`)"))
    bank: BankAccountIn | None = Field(default=None, description="required when method is bank")


class RejectWithdrawalRequest(ApiModel):
    reason: Annotated[str, Field(min_length=1, max_length=200, description="shown to the promoter")]


class BankAccountView(BaseModel):
    bank_name: str
    account_name: str = Field(description="masked: 张**")
    account_no: str = Field(description="masked: ****1234")
    branch: str | None = None


class BankAccountReveal(BaseModel):
    """The full account, for the admin who makes the transfer (audited, never cached)."""

    withdrawal_id: str
    bank_name: str
    account_name: str
    account_no: str
    branch: str | None = None
    net_fen: int = Field(description="the amount to transfer")


class ApprovalView(BaseModel):
    admin_id: str
    at: str


class TimelineEntryView(BaseModel):
    status: str
    at: str
    by: str = Field(description="an admin id (`admin` in the promoter's view), `promoter`, `auto` or `system`")
    note: str = ""


class TransferConfirm(BaseModel):
    """What ``wx.requestMerchantTransfer`` needs when the bill waits for the promoter (WAIT_USER_CONFIRM)."""

    mch_id: str
    app_id: str
    package_info: str


class WithdrawalView(BaseModel):
    withdrawal_id: str
    promoter_id: str
    status: WithdrawalStatus
    method: Literal["wechat", "bank"]
    amount_fen: int = Field(description="held from available, fee included")
    fee_fen: int
    net_fen: int = Field(description="what the promoter receives: amount − fee")
    review: Literal["auto", "manual"]
    required_approvals: int
    approvals: list[ApprovalView]
    created_at: str
    approved_at: str | None = None
    paying_at: str | None = None
    paid_at: str | None = None
    failed_at: str | None = None
    rejected_at: str | None = None
    reason: str | None = Field(default=None, description="why it was rejected")
    rejected_by: str | None = None
    fail_reason: str | None = None
    out_bill_no: str
    transfer_bill_no: str | None = None
    bill_state: str | None = None
    bank_reference: str | None = None
    bank: BankAccountView | None = None
    confirm: TransferConfirm | None = Field(default=None, description=(
        "present while the transfer waits for the promoter to confirm it in the mini-program"))
    timeline: list[TimelineEntryView]


class WithdrawalPage(BaseModel):
    items: list[WithdrawalView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
