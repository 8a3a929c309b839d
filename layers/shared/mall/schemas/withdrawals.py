"""Withdrawal requests and views (提现)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.config import JsonDict

from mall.domain.withdrawals import WithdrawalStatus
from mall.schemas.common import ApiModel

# Examples (json_schema_extra): a WeChat withdrawal paid after the promoter confirmed it, and a bank one
# waiting for its second approval (from 1,000 yuan two different admins approve), as an admin sees them.
_PAID: JsonDict = {
    "withdrawal_id": "w_01m7gy6mg9s3xm8pvpvg63", "promoter_id": "u_36botxbbbigbhenhtgo542dk", "status": "PAID",
    "method": "wechat", "amount_fen": 30000, "fee_fen": 300, "net_fen": 29700, "review": "manual",
    "required_approvals": 1, "approvals": [{"admin_id": "admin:li.na", "at": "2026-11-16T02:10:05Z"}],
    "created_at": "2026-11-16T01:05:33Z", "approved_at": "2026-11-16T02:10:05Z", "paying_at": "2026-11-16T02:10:09Z",
    "paid_at": "2026-11-16T02:11:41Z", "failed_at": None, "rejected_at": None, "reason": None, "rejected_by": None,
    "fail_reason": None, "out_bill_no": "w01m7gy6mg9s3xm8pvpvg63",
    "transfer_bill_no": "1330000071100999991182020050700019480001", "bill_state": "SUCCESS", "bank_reference": None,
    "bank": None, "confirm": None, "timeline": [
        {"status": "PENDING_REVIEW", "at": "2026-11-16T01:05:33Z", "by": "u_36botxbbbigbhenhtgo542dk",
         "note": "requested ¥300.00, fee ¥3.00"},
        {"status": "APPROVED", "at": "2026-11-16T02:10:05Z", "by": "admin:li.na", "note": "approval 1 of 1"},
        {"status": "PAYING", "at": "2026-11-16T02:10:09Z", "by": "system",
         "note": "WeChat transfer w01m7gy6mg9s3xm8pvpvg63"},
        {"status": "PAYING", "at": "2026-11-16T02:10:10Z", "by": "wechatpay",
         "note": "transfer bill WAIT_USER_CONFIRM"},
        {"status": "PAID", "at": "2026-11-16T02:11:41Z", "by": "wechatpay",
         "note": "transfer bill 1330000071100999991182020050700019480001"}]}
_AWAITING_SECOND: JsonDict = {
    "withdrawal_id": "w_01m7m2n7z1891c4a1y4sjt", "promoter_id": "u_cpk4nizqohonwxfnikf4bplx",
    "status": "PENDING_REVIEW", "method": "bank", "amount_fen": 150000, "fee_fen": 1500, "net_fen": 148500,
    "review": "manual", "required_approvals": 2,
    "approvals": [{"admin_id": "admin:li.na", "at": "2026-11-17T07:02:18Z"}],
    "created_at": "2026-11-17T06:21:09Z", "approved_at": None, "paying_at": None, "paid_at": None, "failed_at": None,
    "rejected_at": None, "reason": None, "rejected_by": None, "fail_reason": None,
    "out_bill_no": "w01m7m2n7z1891c4a1y4sjt", "transfer_bill_no": None, "bill_state": None, "bank_reference": None,
    "bank": {"bank_name": "招商银行", "account_name": "张*", "account_no": "****6789", "branch": "杭州分行营业部"},
    "confirm": None, "timeline": [
        {"status": "PENDING_REVIEW", "at": "2026-11-17T06:21:09Z", "by": "u_cpk4nizqohonwxfnikf4bplx",
         "note": "requested ¥1,500.00, fee ¥15.00"},
        {"status": "PENDING_REVIEW", "at": "2026-11-17T07:02:18Z", "by": "admin:li.na", "note": "approval 1 of 2"}]}


class BankAccountIn(ApiModel):
    """The account a bank-transfer withdrawal is paid to. Encrypted at rest, masked in every view."""

    bank_name: Annotated[str, Field(min_length=2, max_length=40, description="e.g. 招商银行")]
    account_name: Annotated[str, Field(min_length=1, max_length=30, description="the account holder's name")]
    account_no: Annotated[str, Field(pattern=r"^[0-9]{8,30}$", description="digits only")]
    branch: Annotated[str | None, Field(max_length=60, description="开户支行")] = None


class WithdrawalRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"amount_fen": 30000, "method": "wechat"},
        {"amount_fen": 150000, "method": "bank",
         "bank": {"bank_name": "招商银行", "account_name": "张伟", "account_no": "6214830212346789",
                  "branch": "杭州分行营业部"}}]})

    amount_fen: Annotated[StrictInt, Field(ge=1, le=10_000_000_000, description=(
        "what leaves your available balance, fee included (integer fen)"))]
    method: Literal["wechat", "bank"] = Field(default="wechat", description=(
        "wechat: merchant transfer to the WeChat balance (商家转账到零钱); bank: paid by the merchant by bank "
        "transfer (needs `bank`)"))
    bank: BankAccountIn | None = Field(default=None, description="required when method is bank")


class RejectWithdrawalRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "开户名与实名信息不一致, 请修改后重新申请"}]})

    reason: Annotated[str, Field(min_length=1, max_length=200, description="shown to the promoter")]


class BankAccountView(BaseModel):
    bank_name: str
    account_name: str = Field(description="masked: 张**")
    account_no: str = Field(description="masked: ****1234")
    branch: str | None = None


class BankAccountReveal(BaseModel):
    """The full account, for the admin who makes the transfer (audited, never cached)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "withdrawal_id": "w_01m7m2n7z1891c4a1y4sjt", "bank_name": "招商银行", "account_name": "张伟",
        "account_no": "6214830212346789", "branch": "杭州分行营业部", "net_fen": 148500}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [_PAID]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_AWAITING_SECOND, _PAID], "next_cursor": None}]})

    items: list[WithdrawalView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
