"""Use cases of commission campaigns (佣金活动): the owner creates, edits and ends them; promoters
see the products boosted for them (docs/incentives.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from mall.clock import iso
from mall.dal import first_use
from mall.dal.audit import AuditEntry
from mall.dal.campaigns import BookMoved, CampaignBook, CampaignRepository
from mall.dal.settings import SettingsRepository
from mall.domain.campaigns import (
    MULTIPLIER_MIN_PERCENT,
    Campaign,
    CatalogRates,
    campaign_cap_problems,
    current_and_upcoming,
)
from mall.domain.promoter_text import banned_phrase_in, single_line_problem
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.ids import new_id
from mall.schemas.campaigns import BoostedProduct, BoostedProducts, CampaignList, CampaignRequest, CampaignView
from mall.services.settings import rate_sources

if TYPE_CHECKING:
    from collections.abc import Callable

    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.commission_rates import RateIndex
    from mall.dal.referral import PromoterRepository
    from mall.dal.table import Table
    from mall.domain.settings import DistributionSettings

#: A save that lost the book to another save reads it again this many times before giving up (409).
_ATTEMPTS = 3


@dataclass(frozen=True)
class CampaignRepositories:
    """The book and the settings; the catalog's, the promoters' and the rate index's repositories, which
    only a save's cap check reads, are built (with their modules) on first use: a function that lists
    campaigns or reads a rule does without them."""

    campaigns: CampaignRepository
    settings: SettingsRepository
    categories_of: Callable[[], CategoryRepository]
    products_of: Callable[[], ProductRepository]
    promoters_of: Callable[[], PromoterRepository]
    rates_of: Callable[[], RateIndex]

    @classmethod
    def on(cls, table: Table, *, cap_reads: bool = False) -> CampaignRepositories:
        """``cap_reads``: build the cap check's repositories now, for a caller whose every run checks the cap."""
        factories = (first_use.categories(table), first_use.products(table), first_use.promoters(table),
                     first_use.rates(table))
        if cap_reads:
            for build in factories:
                build()
        return cls(CampaignRepository(table), SettingsRepository(table), *factories)

    @property
    def categories(self) -> CategoryRepository:
        return self.categories_of()

    @property
    def products(self) -> ProductRepository:
        return self.products_of()

    @property
    def promoters(self) -> PromoterRepository:
        return self.promoters_of()

    @property
    def rates(self) -> RateIndex:
        return self.rates_of()


@dataclass(frozen=True)
class Actor:
    user_id: str
    source_ip: str | None
    now: datetime


def _problems(body: CampaignRequest, settings: DistributionSettings) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    starts, ends = body.window()
    if ends <= starts:
        problems.append(FieldProblem("ends_at", "must be after starts_at"))
    if (why := single_line_problem(body.name)) is not None:
        problems.append(FieldProblem("name", why))
    elif (phrase := banned_phrase_in(body.name, settings.all_banned_phrases())) is not None:
        problems.append(FieldProblem("name", f"contains the banned phrase {phrase}"))
    boost = body.boost
    if boost.kind == "points" and boost.l1_points_bp + boost.l2_points_bp == 0:
        problems.append(FieldProblem("boost.l1_points_bp", "a points boost adds at least 1 bp to L1 or L2"))
    if boost.kind == "multiplier" and boost.multiplier_percent < MULTIPLIER_MIN_PERCENT:
        problems.append(FieldProblem("boost.multiplier_percent", f"at least {MULTIPLIER_MIN_PERCENT} (percent)"))
    known = {level.id for level in settings.levels}
    unknown = [lid for lid in body.scope.level_ids if lid not in known]
    if unknown:
        problems.append(FieldProblem("scope.level_ids", f"no such level: {', '.join(unknown)}"))
    return problems


def _checked(repos: CampaignRepositories, campaign: Campaign, body: CampaignRequest, book: CampaignBook,
             now: datetime) -> None:
    """422 for bad fields, then for a boost that could take some line over the cap with a campaign not
    closed at ``now`` or one the wake-up rule will make."""
    settings = repos.settings.current(consistent=True).settings
    problems = _problems(body, settings)
    if not problems:
        found = rate_sources(categories=repos.categories, products=repos.products, promoters=repos.promoters,
                             rates=repos.rates)
        problems = campaign_cap_problems(
            campaign, others=book.weighed_at_save(now), settings=settings,
            rates=CatalogRates(found.categories, found.products, found.promoters))
        if problems:
            raise InvalidInput("with this campaign a line could pay more than the commission cap",
                               code="commission_over_cap", fields=problems)
    if problems:
        raise InvalidInput("invalid campaign", fields=problems)


def _defined(body: CampaignRequest, campaign_id: str, *, base: Campaign | None, actor: Actor) -> Campaign:
    starts, ends = body.window()
    fresh = Campaign(campaign_id=campaign_id, name=body.name, starts_at=starts, ends_at=ends,
                     scope=body.scope.scope(), boost=body.boost.boost(), weekdays=tuple(sorted(set(body.weekdays))),
                     created_at=actor.now, created_by=actor.user_id)
    if base is None:
        return fresh
    return replace(fresh, origin=base.origin, version=base.version + 1, created_at=base.created_at,
                   created_by=base.created_by)


def _audit(action: str, actor: Actor, before: Campaign | None, after: Campaign) -> AuditEntry:
    return AuditEntry(action=action, actor=actor.user_id, entity_type="campaign", entity_id=after.campaign_id,
                      source_ip=actor.source_ip, before=before.as_dict() if before else None, after=after.as_dict(),
                      details={"version": after.version})


def list_campaigns(*, campaigns: CampaignRepository, now: datetime) -> CampaignList:
    book = campaigns.read(consistent=True)
    ordered = sorted(book.campaigns, key=lambda c: (c.starts_at, c.campaign_id), reverse=True)
    return CampaignList(items=[CampaignView.of(c, now) for c in ordered], version=book.version)


def create(repos: CampaignRepositories, body: CampaignRequest, actor: Actor) -> CampaignView:
    campaign_id = new_id("cp")
    for _ in range(_ATTEMPTS):
        book = repos.campaigns.read(consistent=True)
        campaign = _defined(body, campaign_id, base=None, actor=actor)
        _checked(repos, campaign, body, book, actor.now)
        try:
            repos.campaigns.save(book, [*book.campaigns, campaign], now=actor.now,
                                 audit=_audit("campaign.create", actor, None, campaign))
        except BookMoved:
            continue
        return CampaignView.of(campaign, actor.now)
    raise Conflict("campaigns are being saved by someone else; retry", code="campaigns_busy")


def _edit(repos: CampaignRepositories, campaign_id: str, version: int, actor: Actor, *, action: str,
          change: CampaignRequest | None) -> CampaignView:
    for _ in range(_ATTEMPTS):
        book = repos.campaigns.read(consistent=True)
        found = book.get(campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
        if found.version != version:
            raise Conflict(f"the campaign changed since version {version}; reload version {found.version}",
                           code="campaign_version_conflict", details={"current_version": found.version})
        if found.closes_at <= actor.now:
            raise Conflict("the campaign has ended", code="campaign_ended")
        if change is None:
            edited = replace(found, ended_at=actor.now, version=found.version + 1)
        else:
            edited = _defined(change, campaign_id, base=found, actor=actor)
            _checked(repos, edited, change, book, actor.now)
        try:
            repos.campaigns.save(book, [edited if c.campaign_id == campaign_id else c for c in book.campaigns],
                                 now=actor.now, audit=_audit(action, actor, found, edited))
        except BookMoved:
            continue
        return CampaignView.of(edited, actor.now)
    raise Conflict("campaigns are being saved by someone else; retry", code="campaigns_busy")


def update(repos: CampaignRepositories, campaign_id: str, body: CampaignRequest, version: int,
           actor: Actor) -> CampaignView:
    """Replace the definition (409 when ``version`` is stale or the campaign has ended). Orders paid
    before keep the definition recorded at their payment."""
    return _edit(repos, campaign_id, version, actor, action="campaign.update", change=body)


def end(repos: CampaignRepositories, campaign_id: str, version: int, actor: Actor) -> CampaignView:
    """End now: orders paid from now on are not boosted by it."""
    return _edit(repos, campaign_id, version, actor, action="campaign.end", change=None)


# ---- the promoter's view -------------------------------------------------------------------------


def boosted_for(*, campaigns: CampaignRepository, promoters: PromoterRepository, products: ProductRepository,
                user_id: str, now: datetime) -> BoostedProducts:
    """The campaigns in force or upcoming whose scope takes in the caller (three round trips at
    most: the book, the caller's promoter record, the boosted products' names)."""
    book = campaigns.read()
    promoter = promoters.get(user_id)
    if promoter is None:
        raise NotFound("not a promoter", code="promoter_not_found")
    mine = [c for c in current_and_upcoming(book.campaigns, now)
            if c.scope.matches_promoter(promoter, max(now, c.starts_at))]
    wanted = sorted({pid for c in mine for pid in c.scope.product_ids})
    found = products.get_many(wanted) if wanted else {}
    items = [BoostedProduct(product_id=pid, name=found[pid].name, campaign_id=c.campaign_id, campaign_name=c.name,
                            description=c.boost.text(), ends_at=iso(c.closes_at))
             for c in mine for pid in c.scope.product_ids if pid in found]
    # Other promoters a campaign chose are never shown to a promoter: only the caller stays in its scope.
    general = [CampaignView.of(_only(c, user_id), now) for c in mine if not c.scope.product_ids]
    return BoostedProducts(items=items, general=general)


def _only(campaign: Campaign, user_id: str) -> Campaign:
    if not campaign.scope.promoter_ids:
        return campaign
    return replace(campaign, scope=replace(campaign.scope, promoter_ids=(user_id,)))
