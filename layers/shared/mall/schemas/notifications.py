"""Subscribe-message records as the admin sees them (通知记录)."""

from __future__ import annotations

from pydantic import Field

from mall.dal.notifications import NotificationStatus
from mall.domain.notifications import NotificationKind
from mall.schemas.common import ApiModel


class NotificationView(ApiModel):
    notification_id: str = Field(description="`<change event id>#<kind>`: one per change and kind")
    kind: NotificationKind
    status: NotificationStatus = Field(description="SENT · NOT_SUBSCRIBED (43101, never retried) · NO_RECIPIENT · "
                                                   "FAILED (retried with its queue message) · SENDING")
    recipient_id: str = Field(description="the promoter's user id (no openid is stored)")
    template_id: str
    page: str | None = None
    miniprogram_state: str
    data: dict[str, str] = Field(description="template keyword → the value sent")
    subject: dict[str, str] = Field(description="what it is about: commission_id / order_id, withdrawal_id / "
                                                "status, member_id")
    attempts: int
    errcode: int | None = Field(default=None, description="WeChat's errcode of the last failure")
    error: str | None = None
    created_at: str
    updated_at: str
    sent_at: str | None = None


class NotificationPage(ApiModel):
    items: list[NotificationView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
