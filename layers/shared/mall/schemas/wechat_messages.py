"""The admin's view of the mini-program's pushed events (消息推送) as recorded (docs/shipping.md)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from mall.schemas.common import ApiModel


class WeChatMessageView(ApiModel):
    """One verified event WeChat pushed, with what it did."""

    message_id: str
    event: str = Field(description="`trade_manage_order_settlement`, `trade_manage_remind_shipping`, ...")
    outcome: str = Field(description=(
        "`complete` (this push completed the order), `already_completed`, `not_shipped`, `unknown_order`, "
        "`transaction_mismatch`, `recorded` (nothing to do)"))
    received_at: str = Field(description="when it reached us, ISO-8601 UTC")
    order_id: str | None = Field(default=None, description="`merchant_trade_no`")
    transaction_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description=(
        "the event's identifiers and times as WeChat sent them (never the buyer's openid)"))


class WeChatMessagePage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"message_id": "8c1f0e7a2b7d4d0f9a3c5e6b7a8d9c0e", "event": "trade_manage_order_settlement",
         "outcome": "complete", "received_at": "2026-12-06T04:10:05Z", "order_id": "o_01m6gnbah4xat2qntjhtks",
         "transaction_id": "4200002606202612063841957301",
         "fields": {"Event": "trade_manage_order_settlement", "merchant_trade_no": "o_01m6gnbah4xat2qntjhtks",
                    "transaction_id": "4200002606202612063841957301", "confirm_receive_method": 2,
                    "confirm_receive_time": 1796530200, "settlement_time": 1796530205}},
        {"message_id": "1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60", "event": "trade_manage_remind_shipping",
         "outcome": "recorded", "received_at": "2026-12-06T02:00:00Z", "order_id": "o_01m6h0q6m3x2zt1d0m8yq4",
         "transaction_id": "4200002606202612050000000012",
         "fields": {"Event": "trade_manage_remind_shipping", "msg": "用户提醒发货"}}],
        "next_cursor": None}]})

    items: list[WeChatMessageView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` (with the same `day`) for more")
