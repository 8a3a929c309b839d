"""When a shipped order confirms itself (自动确认收货), as an order's detail and its tracking show it: apart
from the tracking views (``mall.schemas.tracking``) so that an order's detail builds only this one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mall.schemas.common import ApiModel


class CountdownView(ApiModel):
    runs_from: Literal["shipment", "delivery"] = Field(
        description="the auto-confirm countdown runs from the shipment, or from the delivery once known")
    started_at: str
    ends_at: str = Field(description="the order is confirmed automatically at this time unless confirmed before")
    days: int
