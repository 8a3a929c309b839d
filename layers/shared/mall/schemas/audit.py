"""Views of the audit trail (数据留痕): the admin's audit query and a promoter's own history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mall.schemas.common import ApiModel
from mall.schemas.withdrawals import TimelineEntryView


class AuditEntryView(ApiModel):
    """One admin action or settings change: who, what, before/after, when, from where."""

    audit_id: str
    at: str = Field(description="when, ISO-8601 UTC")
    action: str = Field(description="dotted verb, e.g. `settings.save`, `promoter.freeze`, `withdrawal.approve`")
    actor: str = Field(description="who: an admin (`admin:<username>`), `system`, or the customer acting on themself")
    entity_type: str = Field(description="`settings`, `promoter`, `binding`, `category`, `product`, `order`, "
                                         "`refund`, `withdrawal`, `admin`, ...")
    entity_id: str
    source_ip: str | None = Field(default=None, description="from where: the request's source IP")
    before: dict[str, Any] | None = Field(default=None, description=(
        "the changed fields before the action, by dotted path (personal data masked)"))
    after: dict[str, Any] | None = Field(default=None, description="the same fields after the action")
    details: dict[str, Any] = Field(default_factory=dict, description="a reason, a reference, a version ...")
    subject_user: str | None = Field(default=None, description="the customer or promoter the action was about")


class AuditPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"audit_id": "au_01m6j69whqywdx2fp0cgxh", "at": "2026-11-04T02:30:41Z", "action": "order.ship",
         "actor": "admin:li.na", "entity_type": "order", "entity_id": "o_01m6gnbah4xat2qntjhtks",
         "source_ip": "113.87.142.36", "before": {"status": "PAID"},
         "after": {"status": "SHIPPED", "carrier": "顺丰速运", "tracking_no": "SF1428830471952"}, "details": {},
         "subject_user": "u_xpdiqcabym5dbw2glo3wnz2l"},
        {"audit_id": "au_01m483m1cx6cw29xgqj09m", "at": "2026-10-06T08:00:00Z", "action": "settings.save",
         "actor": "admin:li.na", "entity_type": "settings", "entity_id": "distribution", "source_ip": "113.87.142.36",
         "before": {"withdrawal.methods": ["wechat"]}, "after": {"withdrawal.methods": ["wechat", "bank"]},
         "details": {"version": 5, "based_on_version": 4, "note": "开通银行卡提现, 新增银牌、金牌等级"},
         "subject_user": None}],
        "next_cursor": None}]})

    items: list[AuditEntryView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` (with the same filters) for more")


# ---- a promoter's own history (GET /promoter/history) -----------------------------------------------

Who = Literal["you", "customer", "admin", "system"]


class BindingHistoryItem(ApiModel):
    """A change of a binding that concerns you: your own (``own``), or a team member's who
    joined your team (``joined``) or left it (``left``)."""

    kind: Literal["binding"] = "binding"
    at: str
    action: str = Field(description="bind, rebind or unbind")
    direction: Literal["own", "joined", "left"]
    member: str | None = Field(default=None, description="the member's id, masked (None for your own binding)")
    source: str = Field(description="link, qr, poster, invite_code, admin ...")
    trigger: str
    promoter_code: str | None = Field(default=None, description="the code the binding was made with")
    by: Who
    reason: str | None = None


class CommissionEventView(ApiModel):
    """One status change of a commission record."""

    at: str
    status: str | None = None
    amount_fen: int | None = None
    due_at: str | None = None
    settled_fen: int | None = None
    refunded_base_fen: int | None = None
    cancelled_fen: int | None = None
    clawed_back_fen: int | None = None


class CommissionHistoryItem(ApiModel):
    kind: Literal["commission"] = "commission"
    at: str = Field(description="when the record was created (the order was paid)")
    commission_id: str
    order_id: str
    level: Literal[1, 2]
    product_name: str
    buyer_id: str = Field(description="masked")
    amount_fen: int
    current_fen: int
    status: str
    on_hold: bool = False
    events: list[CommissionEventView]


class WithdrawalHistoryItem(ApiModel):
    kind: Literal["withdrawal"] = "withdrawal"
    at: str = Field(description="when it was requested")
    withdrawal_id: str
    method: str
    status: str
    amount_fen: int
    fee_fen: int
    net_fen: int
    reason: str | None = Field(default=None, description="why it was rejected")
    fail_reason: str | None = None
    events: list[TimelineEntryView] = Field(description="who is `admin`, `promoter`, `auto` or `system`")


HistoryItem = Annotated[BindingHistoryItem | CommissionHistoryItem | WithdrawalHistoryItem,
                        Field(discriminator="kind")]


class PromoterHistoryPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "commission", "items": [
        {"kind": "commission", "at": "2026-11-03T12:16:04Z", "commission_id": "cm_o_01m6gnbah4xat2qntjhtks_0_1",
         "order_id": "o_01m6gnbah4xat2qntjhtks", "level": 1, "product_name": "西湖龙井 250g",
         "buyer_id": "u_xp****nz2l", "amount_fen": 4032, "current_fen": 4032, "status": "SETTLED", "on_hold": False,
         "events": [
             {"at": "2026-11-03T12:16:04Z", "status": "FROZEN", "amount_fen": 4032, "due_at": None,
              "settled_fen": None, "refunded_base_fen": None, "cancelled_fen": None, "clawed_back_fen": None},
             {"at": "2026-11-07T09:12:33Z", "status": None, "amount_fen": None, "due_at": "2026-11-14T09:12:30Z",
              "settled_fen": None, "refunded_base_fen": None, "cancelled_fen": None, "clawed_back_fen": None},
             {"at": "2026-11-14T09:15:02Z", "status": "SETTLED", "amount_fen": None, "due_at": None,
              "settled_fen": 4032, "refunded_base_fen": None, "cancelled_fen": None, "clawed_back_fen": None}]}],
        "next_cursor": None}]})

    kind: Literal["binding", "commission", "withdrawal"]
    items: list[HistoryItem]
    next_cursor: str | None = None
