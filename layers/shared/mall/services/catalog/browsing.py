"""What customers see of the catalog (guests too): on-shelf products listed, filtered and paged,
a product's detail, the categories; an active promoter also sees what they would earn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mall.clock import utc_now
from mall.domain import commission as rules
from mall.domain import media as media_rules
from mall.domain.campaigns import Campaign, rates_at
from mall.domain.catalog import PROMOTER_SORTS, Category, ListingFilter, ListingSort, Product
from mall.domain.product_content import ProductContent
from mall.domain.referral import Promoter
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.schemas.catalog_public import (
    ProductDetail,
    ProductList,
    ProductSummary,
    PublicCategory,
    PublicCategoryList,
)
from mall.services.catalog.common import CatalogRepositories, note_truncated, page_of
from mall.services.catalog.content import after_sales_view, attributes_view, blocks_view, thumbnail_url
from mall.services.catalog.skus import public_sku_views, spec_views

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

#: ``key -> URL`` a client may show a media-bucket image from (a signed GET: the bucket is private).
ImageUrl = Callable[[str], str]


@dataclass(frozen=True)
class BrowseProducts:
    """One page of the shop's list as a customer asked for it; ``viewer`` is the caller's user id
    (None for a guest)."""

    where: ListingFilter
    sort: ListingSort
    limit: int
    cursor: str | None = None
    viewer: str | None = None
    #: When the list is read (a product past its planned off time is left out); None: now.
    now: datetime | None = None


class _Earnings:
    """What an active promoter would earn at L1 on one unit at the list price if it were paid now,
    the campaign in force for them included, clamped as at payment (None for anyone else)."""

    def __init__(self, repos: CatalogRepositories | None, viewer: str | None, *,
                 read: tuple[Promoter | None, DistributionSettings | None, tuple[Campaign, ...]] | None = None,
                 now: datetime | None = None) -> None:
        """The promoter, settings and campaigns are read here in one batch, or passed as ``read`` by a
        use case that read them in its own."""
        campaigns: tuple[Campaign, ...] = ()
        settings: DistributionSettings | None = None
        if read is not None:
            self._promoter, settings, campaigns = read
        elif repos is not None and viewer:
            seen = repos.pages.viewer(viewer)
            self._promoter, settings, campaigns = seen.promoter, seen.settings, seen.campaigns
        else:
            self._promoter = None
        self._active = self._promoter is not None and self._promoter.status == "active"
        self._settings: DistributionSettings | None = settings if self._active else None
        self._campaigns = campaigns
        self._now = now or utc_now()

    @property
    def active(self) -> bool:
        return self._active

    def amount(self, product: Product, category: Category | None) -> int | None:
        if not self._active or self._settings is None:
            return None
        rates = rates_at(settings=self._settings, product=product, category=category, promoter=self._promoter,
                         campaigns=self._campaigns, at=self._now, base_fen=product.price_fen)
        l1, _, _ = rules.line_commission(product.price_fen, 1, rates, self._settings.commission.cap_bp)
        return l1

    def per_sku(self, product: Product, category: Category | None) -> dict[str, int | None]:
        """What one unit of each sellable SKU earns, at its price with the commission it pays."""
        return {sku.sku_id: self.amount(product.for_sku(sku), category) for sku in product.sellable_skus()}

    def range(self, product: Product, category: Category | None) -> tuple[int | None, int | None]:
        """(lowest, highest) L1 earning over the product's SKUs; (None, None) for a non-promoter."""
        earned = [e for e in self.per_sku(product, category).values() if e is not None]
        return (min(earned), max(earned)) if earned else (None, None)


def _shown(ref: str, image_url: ImageUrl | None) -> str | None:
    """Where a client shows an image from. A URL not yet imported (see tools.import_product_images)
    is passed on as it is: the client's own fetch, never the server's."""
    if "://" in ref:
        return ref
    return image_url(ref) if image_url else None


def _summary(product: Product, earn: tuple[int | None, int | None],
             image_url: ImageUrl | None = None) -> ProductSummary:
    cover = product.images[0] if product.images else None
    low, high = product.price_range()
    return ProductSummary(product_id=product.product_id, name=product.name, type=product.type,
                          category_id=product.category_id, cover_image=cover,
                          cover_image_url=_shown(cover, image_url) if cover else None,
                          cover_thumbnail_url=thumbnail_url(cover, media_rules.LIST_THUMBNAIL, image_url)
                          if cover else None,
                          price_fen=low, shipping_fee_fen=product.shipping_fee_fen,
                          stock=max(product.stock, 0), sales=max(product.sales, 0), promoter_earn_fen=earn[0],
                          max_price_fen=high if product.has_specs else None,
                          promoter_earn_max_fen=earn[1], hot=product.hot_rank > 0)


def _promoter_only(command: BrowseProducts, earnings: _Earnings) -> None:
    """Ranking by earnings needs earnings: a guest or non-promoter asking for it is refused (422)."""
    if earnings.active:
        return
    problems = ([FieldProblem("query:sort", "commission_desc is for active promoters only")]
                if command.sort in PROMOTER_SORTS else [])
    if command.where.min_commission_fen is not None:
        problems.append(FieldProblem("query:min_commission_fen", "for active promoters only"))
    if problems:
        raise InvalidInput("only an active promoter can rank products by what they earn", code="promoter_only",
                           fields=problems)


def browse_products(command: BrowseProducts, *, repos: CatalogRepositories,
                    image_url: ImageUrl | None = None) -> ProductList:
    """On-shelf products for customers (guests too), filtered, sorted and paginated."""
    where = command.where
    low, high = where.min_price_fen, where.max_price_fen
    if low is not None and high is not None and low > high:
        raise InvalidInput("the price range is empty", code="invalid_price_range",
                           fields=[FieldProblem("query:min_price_fen", "must not exceed max_price_fen")])
    shelf_where = ListingFilter(category_id=where.category_id, min_price_fen=where.min_price_fen,
                                max_price_fen=where.max_price_fen, keyword=where.keyword, on_shelf=True,
                                now=command.now or utc_now(), min_commission_fen=where.min_commission_fen)
    earnings = _Earnings(repos, command.viewer, now=command.now)
    _promoter_only(command, earnings)
    products, truncated = repos.products.list_shelf(on_shelf=True, min_price_fen=where.min_price_fen,
                                                    max_price_fen=where.max_price_fen)
    if truncated:
        note_truncated(len(products))
    categories: dict[str, Category] = {}
    if earnings.active:
        categories = {c.category_id: c for c in repos.categories.list_all()}
    ranges = {p.product_id: earnings.range(p, categories.get(p.category_id)) for p in products} \
        if earnings.active else {}
    # What one promoter earns ranks the list for that promoter only: their cursor is theirs.
    by_earning = command.sort in PROMOTER_SORTS or where.min_commission_fen is not None
    page, next_cursor = page_of(products, where=shelf_where, sort=command.sort, limit=command.limit,
                                cursor=command.cursor, scope=f"shop|{command.viewer}" if by_earning else "shop",
                                earn=lambda p: ranges[p.product_id][1] or 0)
    return ProductList(items=[_summary(p, ranges.get(p.product_id, (None, None)), image_url) for p in page],
                       next_cursor=next_cursor)


def product_detail(*, repos: CatalogRepositories, product_id: str, viewer: str | None,
                   image_url: ImageUrl | None = None, now: datetime | None = None) -> ProductDetail:
    """One product for customers. Off-shelf products are shown (``on_shelf`` false: 已下架) so an
    old share link still opens; they cannot be ordered. Past its planned off time it shows as off."""
    page = repos.pages.read(product_id, viewer=viewer)  # two round trips (mall.dal.catalog.page)
    product, category = page.product, page.category
    if product is None:
        raise NotFound(f"no product {product_id}", code="product_not_found")
    on_shelf = product.shown_on_shelf(now or utc_now())
    earnings = _Earnings(None, viewer, read=(page.promoter, page.settings, page.campaigns), now=now)
    on_sale = on_shelf and earnings.active
    earn = earnings.range(product, category) if on_sale else (None, None)
    summary = _summary(product, earn, image_url)
    shown = [_shown(ref, image_url) for ref in product.images]
    thumbs = [thumbnail_url(ref, media_rules.PAGE_THUMBNAIL, image_url) for ref in product.images]
    content = product.content or ProductContent()
    return ProductDetail(**summary.model_dump(), images=list(product.images),
                         image_urls=[u for u in shown if u is not None], description=product.description,
                         category_name=category.name if category else None, per_user_limit=product.per_user_limit,
                         on_shelf=on_shelf, image_thumbnail_urls=[u for u in thumbs if u is not None],
                         attributes=attributes_view(content), content=blocks_view(content, image_url),
                         after_sales=after_sales_view(content, product.type), specs=spec_views(product),
                         skus=public_sku_views(product, earnings.per_sku(product, category) if on_sale else {}))


def public_categories(*, repos: CatalogRepositories) -> PublicCategoryList:
    return PublicCategoryList(items=[PublicCategory(category_id=c.category_id, name=c.name)
                                     for c in repos.categories.list_all()])
