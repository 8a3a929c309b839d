"""Use cases of the merchant's distribution settings: read, save a new version, history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.keys import SETTINGS_HISTORY_PARTITION
from mall.dal.settings import SettingsRepository, SettingsVersion
from mall.domain import staff
from mall.domain.audit import changed_fields
from mall.domain.commission_cap import SAVING_SETTINGS, cap_problems
from mall.domain.tokens import Role
from mall.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    # The book's, the catalog's, the promoters' and the rate index's repositories are the saves' (the cap
    # check), built by the callers: the settings' reads do without their modules.
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.commission_rates import RateIndex, Rates
    from mall.dal.referral import PromoterRepository
    from mall.domain.campaigns import Campaign
    from mall.domain.settings import DistributionSettings
    from mall.schemas.settings import SaveSettingsRequest, SettingsHistory, SettingsVersionView


def _view(version: SettingsVersion) -> SettingsVersionView:
    # The settings schemas (the whole document's validators) are imported by the admin routes that
    # answer with them; the catalog, campaign and promoter use cases import this module for
    # ``rate_sources`` alone and do not load them at cold start.
    from mall.schemas.settings import SettingsVersionView

    return SettingsVersionView(version=version.version, saved_by=version.saved_by,
                               saved_at=iso(version.saved_at) if version.saved_at else None, note=version.note,
                               settings=version.settings)


def current(*, versions: SettingsRepository) -> SettingsVersionView:
    return _view(versions.current(consistent=True))


def save(*, versions: SettingsRepository, categories: CategoryRepository, products: ProductRepository,
         promoters: PromoterRepository, body: SaveSettingsRequest, saved_by: str, now: datetime,
         roles: Iterable[Role], source_ip: str | None = None, rates: RateIndex | None = None,
         campaigns: CampaignRepository | None = None) -> SettingsVersionView:
    """Store a new version; 409 (with ``current_version``) if someone saved since ``based_on_version``.
    The audit entry (the fields that differ from the version edited) is in the same transaction.
    A saver whose ``roles`` do not hold the money rules (operations) may change every other setting:
    a money-rule field that differs from the version edited is 403 ``money_rules_owner_only``,
    naming the fields, and nothing is saved."""
    document = body.document()
    weighed = campaigns.read(consistent=True).weighed_at_save(now) if campaigns else ()
    check_cap_against_catalog(categories=categories, products=products, promoters=promoters, settings=document,
                              rates=rates, campaigns=weighed, now=now)
    # The version edited is the one in force, or the save is a 409 anyway (and writes nothing).
    current = versions.current(consistent=True)
    edited = current if current.version == body.based_on_version else versions.get(body.based_on_version)
    edited_json = edited.settings.model_dump(mode="json") if edited else None
    after_json = document.model_dump(mode="json")
    staff.refuse_money_rule_changes(roles, staff.money_rule_changes(edited_json, after_json))
    before, after = changed_fields(edited_json, after_json)
    audit = AuditEntry(action="settings.save", actor=saved_by, entity_type="settings", entity_id="distribution",
                       source_ip=source_ip, before=before, after=after,
                       details={"version": body.based_on_version + 1, "based_on_version": body.based_on_version,
                                **({"note": body.note} if body.note else {})})
    saved = versions.save(document, based_on=body.based_on_version, saved_by=saved_by, now=now, note=body.note,
                          audit=audit)
    return _view(saved)


def rate_sources(*, categories: CategoryRepository, products: ProductRepository, promoters: PromoterRepository,
                 rates: RateIndex | None) -> Rates:
    """Every category, product and promoter rate other than the global one: from the rate index
    (one Query) when given and complete, else from the categories, both shelves and every promoter
    status (eight Queries)."""
    indexed = rates.read() if rates is not None else None
    if indexed is not None:
        return indexed
    from mall.dal.commission_rates import Rates  # the saves' module, not the reads' (above)

    return Rates(categories=categories.list_all(), products=products.with_own_commission(),
                 promoters=list(promoters.with_overrides()))


def check_cap_against_catalog(*, categories: CategoryRepository, products: ProductRepository,
                              promoters: PromoterRepository, settings: DistributionSettings,
                              rates: RateIndex | None = None, campaigns: Sequence[Campaign] = (),
                              now: datetime | None = None) -> None:
    """422 when the new settings, with a category's, a product's or a promoter's own rates, could
    pay more than the cap on some line (the settings alone were checked by the document); and, with
    ``campaigns`` (the book), when a campaign not closed at ``now`` could then pass the cap."""
    found = rate_sources(categories=categories, products=products, promoters=promoters, rates=rates)
    problems = cap_problems(settings=settings, categories=found.categories, products=found.products,
                            promoters=found.promoters, saving=SAVING_SETTINGS)
    if problems:
        raise InvalidInput("with these settings a line could pay more than the commission cap",
                           code="commission_over_cap", fields=problems)
    from mall.domain.campaigns import CatalogRates, refuse_open_campaigns_over_cap  # a save's (see above)

    refuse_open_campaigns_over_cap(campaigns, settings=settings, now=now, fields=["commission.cap_bp"],
                                   rates=CatalogRates(found.categories, found.products, found.promoters))


def history(*, versions: SettingsRepository, limit: int, cursor: str | None) -> SettingsHistory:
    start = cursors.decode(cursor, partition=SETTINGS_HISTORY_PARTITION)
    found, last = versions.history(limit=limit, start_key=start)
    from mall.schemas.settings import SettingsHistory  # see _view

    return SettingsHistory(items=[_view(v) for v in found], next_cursor=cursors.encode(last))


def get_version(*, versions: SettingsRepository, version: int) -> SettingsVersionView:
    found = versions.get(version)
    if found is None:
        raise NotFound(f"no settings version {version}", code="settings_version_not_found")
    return _view(found)
