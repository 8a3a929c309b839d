"""The wake-up run's notices (唤醒加成): each promoter of the day's wake-up campaign told once
(``mall.services.wake_up`` makes the campaign; the admin's routes of the rule need neither this nor the
notification service)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mall.dal.notifications import NotificationBusy, NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.domain.campaigns import Campaign
from mall.domain.wake_up import wake_up_notices
from mall.services.notifications import Delivery, DeliveryFailed, MessageSender, deliver


def notify(campaign: Campaign, *, notices: NotificationRepository, settings: SettingsRepository,
           openid_of: Callable[[str], str | None], sender: Callable[[], MessageSender],
           now: datetime) -> list[Delivery]:
    """Tell each promoter of the day's wake-up campaign (唤醒加成), once per (campaign, promoter):
    sent where they hold a grant of the template, recorded SKIPPED (``no_grant``) otherwise, nothing
    at all until the merchant sets the template. A run repeated the same day (the schedule's retry)
    finds the final records and sends nothing again; FAILED ones are sent again. Raises
    ``DeliveryFailed`` after trying every promoter when any failed or was busy, so the run is retried."""
    deliveries: list[Delivery] = []
    for notice in wake_up_notices(campaign, settings.current().settings.notifications, now):
        try:
            deliveries.append(deliver(notice, repo=notices, openid_of=openid_of, sender=sender, now=now))
        except NotificationBusy:  # another run is sending it right now: its outcome is that run's
            deliveries.append(Delivery(notice.notification_id, notice.kind, "failed"))
    if any(d.outcome == "failed" for d in deliveries):
        raise DeliveryFailed(deliveries)
    return deliveries
