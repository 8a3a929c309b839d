"""Scheduled (daily, 09:00 China time): promoters with no share visit and no attributed paid order for
the wake-up rule's ``inactive_days`` get one wake-up campaign (沉睡唤醒) of ``boost_days``; one per
China day whatever the number of runs (docs/incentives.md, "Wake-up boosts"). Each of them is then told
by subscribe message (唤醒加成) where they hold a grant of its template; a notice that failed fails the
run, and the retried run (same day, same campaign) sends only what is not final yet."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mall.dal.identity import CustomerRepository
from mall.dal.notifications import NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.integrations.wechat import WeChatServerClient, server_client
from mall.observability import logger, metrics
from mall.services.notifications import DeliveryFailed
from mall.services.wake_up import WakeUpRepositories, run
from mall.services.wake_up_notices import notify
from mall.workers import scheduled_time, worker_entrypoint

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = WakeUpRepositories.on(table)
notices = NotificationRepository(table)
settings = SettingsRepository(table)
customers = CustomerRepository(table)
force_gate = ForceRefreshLease(table)

_client: WeChatServerClient | None = None


def wechat() -> WeChatServerClient:
    """One client per process; the secret is read only when a notice is to be sent."""
    global _client  # noqa: PLW0603 (lazy: a run that tells nobody never reads the secret)
    if _client is None:
        _client = server_client(force_gate=force_gate)
    return _client


def openid_of(user_id: str) -> str | None:
    customer = customers.get(user_id)
    return customer.openid if customer else None


def handler_run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = scheduled_time(event)
    campaign = run(repos, now)
    targeted = len(campaign.scope.promoter_ids) if campaign else 0
    logger.info("wake-up run", extra={"campaign_id": campaign.campaign_id if campaign else None,
                                      "targeted": targeted})
    metrics.add_metric(name="PromotersWokenUp", unit="Count", value=targeted)
    outcomes: dict[str, int] = {}
    if campaign is not None:
        try:
            deliveries = notify(campaign, notices=notices, settings=settings, openid_of=openid_of, sender=wechat,
                                now=now)
        except DeliveryFailed as failed:
            logger.warning("wake-up notices failed; the run is retried",
                           extra={"deliveries": [d.as_dict() for d in failed.deliveries if d.outcome == "failed"]})
            raise
        for d in deliveries:
            outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
    return {"campaign_id": campaign.campaign_id if campaign else None, "targeted": targeted, "notices": outcomes}


handler = worker_entrypoint(handler_run)
