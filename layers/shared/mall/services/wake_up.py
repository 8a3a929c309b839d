"""Wake-up boosts (沉睡分销员唤醒激励): the owner's rule, the daily run that makes a wake-up
campaign of the promoters who went quiet, and how many of them woke (docs/incentives.md). The run's
notices to the promoters it boosted are sent by ``mall.services.wake_up_notices``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from mall.clock import china_day, iso
from mall.dal.audit import AuditEntry
from mall.dal.campaigns import BookMoved, CampaignRepository
from mall.domain.campaigns import Campaign, CatalogRates, campaign_cap_problems
from mall.domain.wake_up import (
    Sleeper,
    activity_days,
    boosted_now,
    probe_campaign,
    select_sleepers,
    wake_up_campaign,
)
from mall.errors import Conflict, InvalidInput, NotFound
from mall.observability import logger
from mall.schemas.wake_up import WakeUpRuleRequest, WakeUpRuleView, WokeCount
from mall.services.campaigns import Actor, CampaignRepositories
from mall.services.settings import rate_sources

if TYPE_CHECKING:
    from mall.dal.referral import PromoterRepository
    from mall.dal.stats import StatsRepository
    from mall.dal.table import Table

_ATTEMPTS = 3
#: Active promoters read per run (pages of 100), at most: bounds a run's reads.
_CANDIDATE_PAGES = 50


@dataclass(frozen=True)
class WakeUpRepositories:
    book: CampaignRepositories
    promoters: PromoterRepository
    stats: StatsRepository

    @classmethod
    def on(cls, table: Table) -> WakeUpRepositories:
        # Imported by the daily run's repositories (built at its cold start), not with this module: the admin's
        # routes of the rule do without the statistics, but for the count of who woke, and without the promoters.
        from mall.dal.referral import PromoterRepository
        from mall.dal.stats import StatsRepository

        # The run cap-checks the campaign it makes: the check's repositories are built at its cold start too.
        return cls(CampaignRepositories.on(table, cap_reads=True), PromoterRepository(table), StatsRepository(table))


def _cap_checked(repos: CampaignRepositories, campaign: Campaign, others: list[Campaign]) -> None:
    settings = repos.settings.current(consistent=True).settings
    found = rate_sources(categories=repos.categories, products=repos.products, promoters=repos.promoters,
                         rates=repos.rates)
    problems = campaign_cap_problems(campaign, others=others, settings=settings,
                                     rates=CatalogRates(found.categories, found.products, found.promoters))
    if problems:
        raise InvalidInput("with this boost a line could pay more than the commission cap",
                           code="commission_over_cap", fields=problems)


def rule_view(campaigns: CampaignRepository) -> WakeUpRuleView:
    book = campaigns.read(consistent=True)
    return WakeUpRuleView.of(book.wake_up, book.version)


def save_rule(repos: CampaignRepositories, body: WakeUpRuleRequest, actor: Actor) -> WakeUpRuleView:
    """Owner only. Refused (422 ``commission_over_cap``) when a wake-up campaign with this boost,
    alongside any campaign not over, could take a line over the cap: the campaign save's check."""
    rule = body.rule()
    for _ in range(_ATTEMPTS):
        book = repos.campaigns.read(consistent=True)
        if rule.enabled:
            _cap_checked(repos, probe_campaign(rule, actor.now),
                         [c for c in book.campaigns if c.ended_at is None and c.closes_at > actor.now])
        audit = AuditEntry(action="campaign.wake_up_rule", actor=actor.user_id, entity_type="campaign",
                           entity_id="wake_up", source_ip=actor.source_ip, before=book.wake_up.as_dict(),
                           after=rule.as_dict(), details={"version": book.version + 1})
        try:
            saved = repos.campaigns.save(book, list(book.campaigns), now=actor.now, audit=audit, wake_up=rule)
        except BookMoved:
            continue
        return WakeUpRuleView.of(saved.wake_up, saved.version)
    raise Conflict("campaigns are being saved by someone else; retry", code="campaigns_busy")


def _active_promoters(promoters: PromoterRepository) -> list[Sleeper]:
    found: list[Sleeper] = []
    start = None
    for _ in range(_CANDIDATE_PAGES):
        page, start = promoters.list_by_status("active", limit=100, start_key=start)
        found += [Sleeper(p.user_id, p.activated_at) for p in page]
        if start is None:
            break
    # Longest-standing first: those asleep the longest are woken first when more than the limit sleep.
    return sorted(found, key=lambda s: (s.activated_at is None, iso(s.activated_at) if s.activated_at else "",
                                        s.user_id))


def run(repos: WakeUpRepositories, now: datetime) -> Campaign | None:
    """The daily run: one wake-up campaign per China day (its id is the day's), created through
    the campaign book like any campaign, cap-checked again against what is in force today. A second
    run of the same day finds it and creates nothing. ``None`` when disabled or nobody sleeps."""
    book = repos.book.campaigns.read(consistent=True)
    rule = book.wake_up
    if not rule.enabled:
        return None
    days = activity_days(rule, now)
    figures = repos.stats.entities(days=days, months=[])["promoter"]
    active_ids = {str(i.get("user_id")) for i in figures
                  if int(i.get("share_visits", 0) or 0) > 0 or int(i.get("sales_orders", 0) or 0) > 0}
    candidates = _active_promoters(repos.promoters)
    for _ in range(_ATTEMPTS):
        campaign = wake_up_campaign(rule, (), now)
        existing = book.get(campaign.campaign_id)
        if existing is not None:
            return existing
        chosen = select_sleepers(candidates, active_ids=active_ids, boosted=boosted_now(book.campaigns, now),
                                 rule=rule, now=now)
        if not chosen:
            return None
        campaign = wake_up_campaign(rule, chosen, now)
        open_ones = [c for c in book.campaigns if c.ended_at is None and c.closes_at > now]
        try:
            _cap_checked(repos.book, campaign, open_ones)
        except InvalidInput as exc:
            logger.warning("wake-up campaign refused by the cap check", extra={"fields": exc.fields})
            return None
        try:
            audit = AuditEntry(action="campaign.create", actor="system", entity_type="campaign",
                               entity_id=campaign.campaign_id, source_ip=None, before=None, after=campaign.as_dict(),
                               details={"version": campaign.version, "origin": "wake_up"})
            repos.book.campaigns.save(book, [*book.campaigns, campaign], now=now, audit=audit)
        except BookMoved:
            book = repos.book.campaigns.read(consistent=True)
            continue
        return campaign
    raise Conflict("campaigns are being saved by someone else; retry", code="campaigns_busy")


def woke(*, campaigns: CampaignRepository, stats: StatsRepository, campaign_id: str, now: datetime) -> WokeCount:
    """How many promoters of a wake-up campaign had a share visit or a paid order attributed to
    them from the China day it started to today (or its close): the book, then one Query per month
    of days of the promoter figures."""
    campaign = campaigns.read().get(campaign_id)
    if campaign is None or campaign.origin != "wake_up":
        raise NotFound(f"no wake-up campaign {campaign_id}", code="campaign_not_found")
    first = date.fromisoformat(china_day(campaign.starts_at))
    last = date.fromisoformat(china_day(min(now, campaign.closes_at)))
    days = [(first + timedelta(days=n)).isoformat() for n in range(max(0, (last - first).days) + 1)]
    figures = stats.entities(days=days, months=[])["promoter"]
    targeted = set(campaign.scope.promoter_ids)
    visited = {str(i.get("user_id")) for i in figures if int(i.get("share_visits", 0) or 0) > 0} & targeted
    ordered = {str(i.get("user_id")) for i in figures if int(i.get("sales_orders", 0) or 0) > 0} & targeted
    return WokeCount(campaign_id=campaign.campaign_id, starts_at=iso(campaign.starts_at),
                     ends_at=iso(campaign.closes_at), targeted=len(targeted), woke=len(visited | ordered),
                     with_share_visit=len(visited), with_paid_order=len(ordered), as_of=iso(now))
