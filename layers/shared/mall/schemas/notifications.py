"""Subscribe-message records as the admin sees them (通知记录)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from mall.dal.notifications import NotificationStatus
from mall.domain.notifications import NotificationKind
from mall.schemas.common import ApiModel


class NotificationView(ApiModel):
    notification_id: str = Field(description="`<change event id>#<kind>`: one per change and kind")
    kind: NotificationKind
    status: NotificationStatus = Field(description="SENT · NOT_SUBSCRIBED (43101, never retried) · NO_RECIPIENT · "
                                                   "SKIPPED (no grant: not sent) · FAILED (retried with its queue "
                                                   "message) · SENDING")
    recipient_id: str = Field(description="the promoter's or buyer's user id (no openid is stored)")
    template_id: str
    page: str | None = None
    miniprogram_state: str
    data: dict[str, str] = Field(description="template keyword → the value sent")
    subject: dict[str, str] = Field(description="what it is about: commission_id / order_id, withdrawal_id / "
                                                "status, member_id, refund_id")
    attempts: int
    errcode: int | None = Field(default=None, description="WeChat's errcode of the last failure")
    error: str | None = None
    created_at: str
    updated_at: str
    sent_at: str | None = None
    reason: str | None = Field(default=None, description="why it was SKIPPED: no_grant (the recipient holds no "
                                                         "grant of the template)")


class NotificationPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"notification_id": "5f0d2c7a9b3e41f68c1a2e7d4b9f0a63#commission_earned", "kind": "commission_earned",
         "status": "SENT", "recipient_id": "u_36botxbbbigbhenhtgo542dk",
         "template_id": "Ks9w0r8Y4tq1ZfXbL2mNcV7pD3hJ6uE5aG8iO0yR1sT",
         "page": "pages/promoter/commissions/index?commission_id=cm_o_01m6gnbah4xat2qntjhtks_0_1",
         "miniprogram_state": "formal",
         "data": {"amount1": "¥40.32", "character_string2": "o_01m6****htks", "thing3": "西湖龙井 250g",
                  "time4": "2026-11-03 20:16"},
         "subject": {"commission_id": "cm_o_01m6gnbah4xat2qntjhtks_0_1", "order_id": "o_01m6gnbah4xat2qntjhtks"},
         "attempts": 1, "errcode": None, "error": None, "created_at": "2026-11-03T12:16:05Z",
         "updated_at": "2026-11-03T12:16:06Z", "sent_at": "2026-11-03T12:16:06Z", "reason": None},
        {"notification_id": "b81e4a0c6d2f47a39e5c7b1d3f8a2c90#team_member_joined", "kind": "team_member_joined",
         "status": "NOT_SUBSCRIBED", "recipient_id": "u_36botxbbbigbhenhtgo542dk",
         "template_id": "Qa1sW2dE3rF4tG5yH6uJ7iK8oL9pZ0xC1vB2nM3qA4w", "page": "pages/promoter/team/index",
         "miniprogram_state": "formal",
         "data": {"thing1": "微信用户", "thing2": "分享链接", "time3": "2026-11-02 18:05"},
         "subject": {"member_id": "u_yddqmfnx75j6mtsccnsr4l4d"}, "attempts": 1, "errcode": 43101,
         "error": "the recipient has not subscribed to the template (errcode 43101: user refuse to accept the msg)",
         "created_at": "2026-11-02T10:05:45Z",
         "updated_at": "2026-11-02T10:05:46Z", "sent_at": None, "reason": None},
        {"notification_id": "delivered:o_01m6gnbah4xat2qntjhtks:SF1234567890#order_delivered",
         "kind": "order_delivered", "status": "SKIPPED", "recipient_id": "u_yddqmfnx75j6mtsccnsr4l4d",
         "template_id": "Zx8cV7bN6mQ5wE4rT3yU2iO1pA0sD9fG8hJ7kL6zX5c",
         "page": "pages/orders/detail?order_id=o_01m6gnbah4xat2qntjhtks", "miniprogram_state": "formal",
         "data": {"character_string1": "o_01m6****htks", "thing2": "西湖龙井 250g", "phrase3": "已签收",
                  "time4": "2026-11-05 14:20"},
         "subject": {"order_id": "o_01m6gnbah4xat2qntjhtks"}, "attempts": 1, "errcode": None, "error": None,
         "created_at": "2026-11-05T06:20:11Z", "updated_at": "2026-11-05T06:20:11Z", "sent_at": None,
         "reason": "no_grant"}],
        "next_cursor": None}]})

    items: list[NotificationView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")
