"""Levels (等级): upgrades when counters grow, downgrades of idle promoters (scheduled).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.dal.referral import TransactionCancelled
from mall.domain import referral as rules
from mall.services.referral import ReferralRepositories

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

logger = Logger(child=True)


def evaluate_levels(network: ReferralRepositories, user_ids: list[str], now: datetime, *,
                    settings: DistributionSettings | None = None, after_sale: str | None = None) -> None:
    """``evaluate_upgrade`` of each of ``user_ids``, the settings read once for all of them."""
    if settings is None and user_ids:
        settings = network.settings.current().settings
    for uid in user_ids:
        evaluate_upgrade(network=network, user_id=uid, now=now, settings=settings, after_sale=after_sale)


def evaluate_upgrade(*, network: ReferralRepositories, user_id: str, now: datetime,
                     settings: DistributionSettings | None = None, after_sale: str | None = None) -> str | None:
    """After counters change: move up to the highest level whose conditions hold (never down).
    ``settings``: the settings the caller already read in this invocation (the levels' conditions;
    an eventually consistent read either way), else read here. ``after_sale``: the order whose sale
    was just counted on the promoter; its first read is then eventually consistent when it shows that
    sale (``PromoterRepository.after_sale``), else every read is consistent (it must see the counters
    just written). Either way the level change is conditional on the counters and level read."""
    if settings is None:
        settings = network.settings.current().settings
    repo = network.promoters
    for attempt in range(3):
        promoter = repo.after_sale(user_id, after_sale) if after_sale is not None and attempt == 0 \
            else repo.get(user_id, consistent=True)
        if promoter is None:
            return None
        counters = promoter.counters
        target = rules.upgrade_target(settings, promoter.level_id, counters)
        if target is None:
            return None
        try:
            repo.set_level(promoter, level_id=target, action="upgrade", by="system", reason="upgrade conditions met",
                           now=now, level_source="auto", reset_activity=True, decided_on=counters)
        except TransactionCancelled:
            continue
        logger.info("promoter upgraded", extra={"to_level": target})
        return target
    return None


DOWNGRADE_LOOKBACK_DAYS = 30


def run_downgrades(*, network: ReferralRepositories, now: datetime, page_size: int = 100) -> int:
    """Scheduled: one level down for promoters idle ``level_downgrade_inactive_days``.

    Candidates come from the activity markers' day partitions (no scan): the days from the cutoff
    back ``DOWNGRADE_LOOKBACK_DAYS`` (so a missed run is caught up). A downgrade restarts the idle
    clock, so the next step down needs another full idle period; at the entry level the marker
    leaves the index."""
    settings = network.settings.current().settings
    repo = network.promoters
    cutoff = (now - timedelta(days=settings.level_downgrade_inactive_days)).date()
    changed = 0
    for back in range(DOWNGRADE_LOOKBACK_DAYS, -1, -1):
        day = (cutoff - timedelta(days=back)).isoformat()
        start: dict[str, Any] | None = None
        while True:
            found, start = repo.inactive_on(day, limit=page_size, start_key=start)
            for user_id, idle_since in found:
                promoter = repo.get(user_id, consistent=True)
                if promoter is None or promoter.level_id == settings.levels[0].id:
                    repo.drop_activity_index(user_id, day)
                    continue
                # A sale on a day the marker already shows moves only the promoter's own stamp.
                last_active = max(idle_since, promoter.last_active_at or idle_since)
                target = rules.downgrade_target(settings, promoter.level_id, last_active, now)
                if target is None:
                    continue
                try:
                    repo.set_level(promoter, level_id=target, action="downgrade", by="system",
                                   reason=f"no activity for {settings.level_downgrade_inactive_days} days", now=now,
                                   level_source="auto", reset_activity=True)
                    changed += 1
                except TransactionCancelled:
                    continue  # changed meanwhile (activity or an admin): the next run decides again
            if start is None:
                break
    return changed
