"""Views of the audit trail (数据留痕): the admin's audit query and a promoter's own history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

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
    kind: Literal["binding", "commission", "withdrawal"]
    items: list[HistoryItem]
    next_cursor: str | None = None
