"""Subscribe-message notifications (订阅消息): which event sends which template to which page.
Part of the settings document (``settings.notifications``). Owned by the notifications work (issue 8)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
