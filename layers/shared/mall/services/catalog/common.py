"""What the catalog's use cases share: their repositories, the refusal of invalid input, the
audit entry of a change and the commission cap check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from mall.api.cursor import cursors
from mall.dal import first_use
from mall.dal.audit import AuditEntry
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.media import MediaUploadRepository
from mall.dal.settings import SettingsRepository
from mall.domain.audit import changed_fields
from mall.domain.catalog import Category, Earning, ListingFilter, ListingSort, Product, priced_variants, select_page
from mall.domain.commission_cap import Saving, cap_problems
from mall.errors import FieldProblem, InvalidInput
from mall.observability import metrics
from mall.services.settings import rate_sources

if TYPE_CHECKING:
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import ProductPageReads
    from mall.dal.commission_rates import RateIndex
    from mall.dal.referral import PromoterRepository
    from mall.dal.table import Table
    from mall.domain.settings import DistributionSettings

logger = Logger(child=True)


def _none() -> None:
    return None


@dataclass(frozen=True)
class CatalogRepositories:
    """Everything the catalog's use cases read and write. Tests build one from in-memory fakes
    (tests/fakes); the handlers build it once per cold start with ``on``."""

    categories: CategoryRepository
    products: ProductRepository
    settings: SettingsRepository
    uploads: MediaUploadRepository
    promoters_of: Callable[[], PromoterRepository]
    pages_of: Callable[[], ProductPageReads]
    #: The book of campaigns and the rate index, for the cap check of a rate save against the
    #: campaigns (None, in tests built from fakes: that check is skipped).
    campaigns_of: Callable[[], CampaignRepository | None] = _none
    rates_of: Callable[[], RateIndex | None] = _none

    @classmethod
    def on(cls, table: Table) -> CatalogRepositories:
        # The promoters' (their overrides), the book of campaigns and the rate index are read by a save's cap
        # check alone, the product pages' reads by the mini-program's product pages alone (whose function builds
        # them at its cold start): built, with their modules imported, on first use, so that the console's lists
        # and the shelf schedule start without them.
        def pages() -> ProductPageReads:
            from mall.dal.catalog import ProductPageReads

            return ProductPageReads(table)

        return cls(categories=CategoryRepository(table), products=ProductRepository(table),
                   settings=SettingsRepository(table), uploads=MediaUploadRepository(table),
                   promoters_of=first_use.promoters(table), pages_of=cache(pages),
                   campaigns_of=first_use.campaigns(table), rates_of=first_use.rates(table))

    @property
    def promoters(self) -> PromoterRepository:
        return self.promoters_of()

    @property
    def pages(self) -> ProductPageReads:
        return self.pages_of()

    @property
    def campaigns(self) -> CampaignRepository | None:
        return self.campaigns_of()

    @property
    def rates(self) -> RateIndex | None:
        return self.rates_of()

    def distribution_settings(self) -> DistributionSettings:
        return self.settings.current().settings


def refuse(problems: list[FieldProblem], message: str, code: str) -> None:
    if problems:
        raise InvalidInput(message, code=code, fields=problems)


def audit_entry(action: str, entity_type: str, entity_id: str, *, by: str, source_ip: str | None,
                before: dict[str, Any] | None, after: dict[str, Any] | None,
                details: dict[str, Any] | None = None) -> AuditEntry:
    """The audit entry of one change of the catalog (written in the change's own transaction)."""
    was, will = changed_fields(before, after)
    return AuditEntry(action=action, actor=by, entity_type=entity_type, entity_id=entity_id, source_ip=source_ip,
                      before=was, after=will, details=details or {})


def check_category_cap(repos: CatalogRepositories, category: Category, *, now: datetime | None = None,
                       rates_changed: bool = False) -> None:
    """The category's rates with any level's points and any promoter's override stay within the cap;
    when they changed (at ``now``), with every campaign too (``check_campaigns_cap``)."""
    if category.l1_rate_bp is not None or category.l2_rate_bp is not None:
        refuse(cap_problems(settings=repos.distribution_settings(), categories=[category],
                            promoters=repos.promoters.with_overrides(),
                            saving=Saving("category", category.category_id)),
               "these category rates could pay more than the commission cap", "commission_over_cap")
    if rates_changed and now is not None:
        fields = [name for name, value in (("l1_rate_bp", category.l1_rate_bp), ("l2_rate_bp", category.l2_rate_bp))
                  if value is not None] or ["l1_rate_bp", "l2_rate_bp"]
        check_campaigns_cap(repos, now=now, fields=fields, category=category)


def check_campaigns_cap(repos: CatalogRepositories, *, now: datetime, fields: Sequence[str],
                        category: Category | None = None, product: Product | None = None) -> None:
    """422 ``commission_over_cap`` naming ``fields`` when, with ``category`` or ``product`` as about to
    be saved, a campaign not closed at ``now`` (or one the wake-up rule will make) could take some
    line over the cap: the one check a settings, override or campaign save runs too
    (``refuse_open_campaigns_over_cap``). The book first: without campaigns nothing more is read."""
    if repos.campaigns is None:
        return
    weighed = repos.campaigns.read(consistent=True).weighed_at_save(now)
    if not weighed:
        return
    from mall.domain.campaigns import CatalogRates, refuse_open_campaigns_over_cap  # a save's, with the book

    found = rate_sources(categories=repos.categories, products=repos.products, promoters=repos.promoters,
                         rates=repos.rates)
    categories = [c for c in found.categories if category is None or c.category_id != category.category_id]
    products = [p for p in found.products if product is None or p.product_id != product.product_id]
    if category is not None:
        categories.append(category)
    if product is not None:
        products += priced_variants(product)
    refuse_open_campaigns_over_cap(weighed, settings=repos.distribution_settings(), now=now, fields=fields,
                                   rates=CatalogRates(categories, products, found.promoters))


def page_of(products: list[Product], *, where: ListingFilter, sort: ListingSort, limit: int, cursor: str | None,
            scope: str, earn: Earning | None = None) -> tuple[list[Product], str | None]:
    """One page of ``products`` after ``cursor``, and the cursor of the next (bound to this list)."""
    fingerprint = f"{scope}|{where.fingerprint(sort)}"
    start = cursors.decode(cursor, partition=("list", fingerprint))
    after = start.get("after") if start else None
    if start is not None and not isinstance(after, list):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
    page, next_key = select_page(products, where=where, sort=sort, limit=limit, after=after, earn=earn)
    next_cursor = cursors.encode({"list": fingerprint, "after": list(next_key)}) if next_key else None
    return page, next_cursor


def note_truncated(count: int) -> None:
    metrics.add_metric(name="CatalogListTruncated", unit=MetricUnit.Count, value=1)
    logger.warning("product list reached its ceiling; see docs/data-model.md catalog", extra={"read": count})
