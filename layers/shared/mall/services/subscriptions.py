"""The mini-program reports subscribe-message grants and reads them back (订阅授权).

A report reads the settings (which templates are configured, which are long-term), records every
configured template's answer in one write, and answers the caller's grants: three round trips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mall.dal.settings import SettingsRepository
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.domain.notifications import NotificationKind, NotificationSettings
from mall.domain.subscriptions import GrantReport, decide_grants
from mall.schemas.subscriptions import GrantReportRequest, GrantsResponse, TemplateGrant


def report_grants(*, grants: SubscriptionGrantRepository, settings: SettingsRepository, user_id: str,
                  body: GrantReportRequest, now: datetime) -> GrantsResponse:
    notifications = settings.current().settings.notifications
    changes, ignored = decide_grants([GrantReport(a.template_id, a.result) for a in body.results], notifications)
    grants.record(user_id, changes, body.scene, now)
    return _response(notifications, grants.for_user(user_id), ignored)


def my_grants(*, grants: SubscriptionGrantRepository, settings: SettingsRepository, user_id: str) -> GrantsResponse:
    return _response(settings.current().settings.notifications, grants.for_user(user_id), [])


def _response(notifications: NotificationSettings, records: Sequence[Mapping[str, Any]],
              ignored: list[str]) -> GrantsResponse:
    by_template = {str(r.get("template_id")): r for r in records}
    templates: list[TemplateGrant] = []
    for kind in NotificationKind:
        config = notifications.template(kind)
        if not config.enabled or not config.template_id:
            continue
        record = by_template.get(config.template_id) or {}
        remaining = 0 if config.long_term else max(0, int(record.get("remaining", 0)))
        granted = bool(record.get("long_term")) if config.long_term else remaining > 0
        templates.append(TemplateGrant(kind=kind, template_id=config.template_id, long_term=config.long_term,
                                       granted=granted, remaining=remaining))
    return GrantsResponse(templates=templates, ignored=ignored)
