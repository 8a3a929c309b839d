"""Use cases of the catalog: the merchant manages categories and products; customers browse.

Lists of products read one shelf partition of ``gsi1`` (never a Scan) and filter, sort and
page in memory with a keyset cursor (``mall.domain.catalog.select_page``); the reasons and
the ceiling are in docs/data-model.md, "catalog"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from mall.api.cursor import cursors
from mall.clock import iso, utc_now
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.catalog import LOW_STOCK_PARTITION, CategoryRepository, ProductRepository, editable_state
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table, Write
from mall.domain import commission as rules
from mall.domain.audit import changed_fields
from mall.domain.catalog import (
    Category,
    CommissionSetting,
    ListingFilter,
    ListingSort,
    Product,
    is_low_stock,
    product_problems,
    select_page,
)
from mall.domain.commission_cap import Saving, cap_problems
from mall.domain.settings import DistributionSettings
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.ids import new_id
from mall.observability import metrics
from mall.schemas.catalog import (
    AdminProductList,
    AdminProductView,
    AdminShelfParam,
    CategoryCreate,
    CategoryList,
    CategoryUpdate,
    CategoryView,
    CommissionSettingIn,
    CommissionSettingView,
    ProductCreate,
    ProductDetail,
    ProductList,
    ProductSummary,
    ProductUpdate,
    PublicCategory,
    PublicCategoryList,
    StockAdjustment,
)
from mall.services.media import unverified_images

logger = Logger(child=True)


class Promoter(rules.PromoterRates, Protocol):
    """What the preview reads of ``mall.domain.referral.Promoter``: its rates, and whether it is active."""

    @property
    def status(self) -> str: ...


#: ``PromoterRepository(table).get`` in the handlers; a fake in tests.
PromoterLookup = Callable[[str], Promoter | None]


def _settings(table: Table) -> DistributionSettings:
    return SettingsRepository(table).current().settings


def _refuse(problems: list[FieldProblem], message: str, code: str) -> None:
    if problems:
        raise InvalidInput(message, code=code, fields=problems)


# ---- the audit trail: every change of the catalog, in the change's own transaction -------------


def _audit(table: Table, action: str, entity_type: str, entity_id: str, *, by: str, source_ip: str | None,
           before: dict[str, Any] | None, after: dict[str, Any] | None, now: datetime,
           details: dict[str, Any] | None = None) -> Write:
    was, will = changed_fields(before, after)
    return AuditLog(table).write(AuditEntry(action=action, actor=by, entity_type=entity_type, entity_id=entity_id,
                                            source_ip=source_ip, before=was, after=will, details=details or {}), now)


def _category_fields(category: Category) -> dict[str, Any]:
    return {"name": category.name, "sort": category.sort, "l1_rate_bp": category.l1_rate_bp,
            "l2_rate_bp": category.l2_rate_bp}


# ---- categories ------------------------------------------------------------------------------


def category_view(category: Category) -> CategoryView:
    return CategoryView(category_id=category.category_id, name=category.name, sort=category.sort,
                        l1_rate_bp=category.l1_rate_bp, l2_rate_bp=category.l2_rate_bp,
                        product_count=category.product_count, version=category.version,
                        created_at=iso(category.created_at) if category.created_at else None,
                        updated_at=iso(category.updated_at) if category.updated_at else None)


def _check_category_cap(table: Table, category: Category) -> None:
    """The category's rates with any level's points and any promoter's override stay within the cap."""
    if category.l1_rate_bp is None and category.l2_rate_bp is None:
        return
    _refuse(cap_problems(settings=_settings(table), categories=[category],
                         promoters=PromoterRepository(table).with_overrides(),
                         saving=Saving("category", category.category_id)),
            "these category rates could pay more than the commission cap", "commission_over_cap")


def create_category(*, table: Table, body: CategoryCreate, now: datetime, category_id: str | None = None,
                    by: str = "system", source_ip: str | None = None) -> CategoryView:
    category = Category(category_id=category_id or new_id("c"), name=body.name, l1_rate_bp=body.l1_rate_bp,
                        l2_rate_bp=body.l2_rate_bp, sort=body.sort, created_at=now, updated_at=now)
    _check_category_cap(table, category)
    audit = _audit(table, "category.create", "category", category.category_id, by=by, source_ip=source_ip,
                   before=None, after=_category_fields(category), now=now)
    return category_view(CategoryRepository(table).create(category, audit=audit))


def get_category(*, table: Table, category_id: str) -> CategoryView:
    category = CategoryRepository(table).get(category_id, consistent=True)
    if category is None:
        raise NotFound(f"no category {category_id}", code="category_not_found")
    return category_view(category)


def list_categories(*, table: Table) -> CategoryList:
    return CategoryList(items=[category_view(c) for c in CategoryRepository(table).list_all()])


def public_categories(*, table: Table) -> PublicCategoryList:
    return PublicCategoryList(items=[PublicCategory(category_id=c.category_id, name=c.name)
                                     for c in CategoryRepository(table).list_all()])


def update_category(*, table: Table, category_id: str, body: CategoryUpdate, now: datetime, by: str = "system",
                    source_ip: str | None = None) -> CategoryView:
    repo = CategoryRepository(table)
    current = repo.get(category_id, consistent=True)
    if current is None:
        raise NotFound(f"no category {category_id}", code="category_not_found")
    sent = body.model_fields_set
    changed = Category(
        category_id=category_id,
        name=body.name if body.name is not None else current.name,
        sort=body.sort if body.sort is not None else current.sort,
        l1_rate_bp=body.l1_rate_bp if "l1_rate_bp" in sent else current.l1_rate_bp,
        l2_rate_bp=body.l2_rate_bp if "l2_rate_bp" in sent else current.l2_rate_bp,
    )
    _check_category_cap(table, changed)
    audit = _audit(table, "category.update", "category", category_id, by=by, source_ip=source_ip,
                   before=_category_fields(current), after=_category_fields(changed), now=now,
                   details={"version": body.version + 1})
    return category_view(repo.update(changed, expected_version=body.version, now=now, audit=audit))


def delete_category(*, table: Table, category_id: str, version: int, by: str = "system",
                    source_ip: str | None = None, now: datetime | None = None) -> None:
    repo = CategoryRepository(table)
    current = repo.get(category_id, consistent=True)
    audit = _audit(table, "category.delete", "category", category_id, by=by, source_ip=source_ip,
                   before=_category_fields(current) if current else None, after=None, now=now or utc_now(),
                   details={"version": version})
    repo.delete(category_id, expected_version=version, audit=audit)


# ---- products: admin -------------------------------------------------------------------------


def admin_product_view(product: Product) -> AdminProductView:
    c = product.commission
    return AdminProductView(
        product_id=product.product_id, name=product.name, type=product.type, category_id=product.category_id,
        images=list(product.images), description=product.description, price_fen=product.price_fen,
        stock=product.stock, sales=product.sales, shipping_fee_fen=product.shipping_fee_fen,
        per_user_limit=product.per_user_limit, on_shelf=product.on_shelf,
        low_stock_threshold=product.low_stock_threshold, low_on_stock=product.is_low_on_stock,
        distribution_enabled=product.distribution_enabled,
        commission=CommissionSettingView(mode=c.mode, l1=c.l1, l2=c.l2), version=product.version,
        created_at=iso(product.created_at) if product.created_at else None,
        updated_at=iso(product.updated_at) if product.updated_at else None,
    )


def _check_product(product: Product, table: Table) -> None:
    """Its own invariants, and its own commission setting with any level's points and any
    promoter's override within the cap (at its list price for a ``fixed`` setting)."""
    problems = product_problems(product)
    if product.commission.mode != "inherit" and product.distribution_enabled:
        problems += cap_problems(settings=_settings(table), products=[product],
                                 promoters=PromoterRepository(table).with_overrides(),
                                 saving=Saving("product", product.product_id))
    _refuse(problems, "the product has invalid fields", "invalid_product")


def create_product(*, table: Table, body: ProductCreate, now: datetime, product_id: str | None = None,
                   by: str = "system", source_ip: str | None = None) -> AdminProductView:
    product = Product(
        product_id=product_id or new_id("p"), name=body.name, type=body.type, category_id=body.category_id,
        images=list(body.images), description=body.description, price_fen=body.price_fen, stock=body.stock,
        shipping_fee_fen=body.shipping_fee_fen, per_user_limit=body.per_user_limit, on_shelf=body.on_shelf,
        low_stock_threshold=body.low_stock_threshold, distribution_enabled=body.distribution_enabled,
        commission=CommissionSetting(mode=body.commission.mode, l1=body.commission.l1, l2=body.commission.l2),
        created_at=now, updated_at=now,
    )
    _check_product(product, table)
    _refuse(unverified_images(table, product.images), "the product has invalid fields", "invalid_product")
    audit = _audit(table, "product.create", "product", product.product_id, by=by, source_ip=source_ip, before=None,
                   after={**editable_state(product), "stock": product.stock}, now=now)
    created = ProductRepository(table).create(product, audit=audit)
    note_stock_levels(table=table, product_ids=[created.product_id], now=now)
    return admin_product_view(created)


def _admin_product(table: Table, product_id: str) -> Product:
    product = ProductRepository(table).get(product_id, consistent=True)
    if product is None:
        raise NotFound(f"no product {product_id}", code="product_not_found")
    return product


def get_admin_product(*, table: Table, product_id: str) -> AdminProductView:
    return admin_product_view(_admin_product(table, product_id))


_NULLABLE = frozenset({"per_user_limit"})


def update_product(*, table: Table, product_id: str, body: ProductUpdate, now: datetime, by: str = "system",
                   source_ip: str | None = None) -> AdminProductView:
    """Apply the fields sent to the product as of ``body.version``; the whole result is checked
    (a lower price can make a fixed commission exceed the cap)."""
    current = _admin_product(table, product_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set - {"version"}}
    nulls = [FieldProblem(name, "may not be null") for name, value in changes.items()
             if value is None and name not in _NULLABLE]
    _refuse(nulls, "the product has invalid fields", "invalid_product")
    if isinstance(body.commission, CommissionSettingIn) and "commission" in changes:
        changes["commission"] = CommissionSetting(mode=body.commission.mode, l1=body.commission.l1,
                                                  l2=body.commission.l2)
    if "images" in changes:
        changes["images"] = list(changes["images"])
    merged = replace(current, **changes)
    _check_product(merged, table)
    if "images" in changes:
        _refuse(unverified_images(table, merged.images), "the product has invalid fields", "invalid_product")
    audit = _audit(table, "product.update", "product", product_id, by=by, source_ip=source_ip,
                   before=editable_state(current), after=editable_state(merged), now=now,
                   details={"version": body.version + 1})
    updated = ProductRepository(table).update(merged, expected_version=body.version,
                                              previous_category_id=current.category_id, now=now, audit=audit)
    if "low_stock_threshold" in changes:
        note_stock_levels(table=table, product_ids=[product_id], now=now)
    return admin_product_view(updated)


def adjust_stock(*, table: Table, product_id: str, body: StockAdjustment, by: str, now: datetime,
                 source_ip: str | None = None) -> AdminProductView:
    if body.delta == 0:
        raise InvalidInput("a stock adjustment must change the stock", code="invalid_stock_adjustment",
                           fields=[FieldProblem("delta", "must not be 0")])
    adjustment_id = new_id("sa")
    # The stock itself moves with orders at the same time: the entry keeps the delta, not a before/after.
    audit = AuditLog(table).write(AuditEntry(action="product.stock_adjust", actor=by, entity_type="product",
                                             entity_id=product_id, source_ip=source_ip,
                                             details={"delta": body.delta, "reason": body.reason,
                                                      "adjustment_id": adjustment_id}), now)
    adjusted = ProductRepository(table).adjust_stock(product_id, delta=body.delta, adjustment_id=adjustment_id,
                                                     reason=body.reason, by=by, now=now, audit=audit)
    note_stock_levels(table=table, product_ids=[product_id], now=now)
    return admin_product_view(adjusted)


def list_admin_products(*, table: Table, shelf: AdminShelfParam, category_id: str | None, keyword: str | None,
                        limit: int, cursor: str | None) -> AdminProductList:
    """Every product of the chosen shelf, newest first."""
    repo = ProductRepository(table)
    shelves = [True, False] if shelf == "all" else [shelf == "on"]
    products: list[Product] = []
    truncated = False
    for on_shelf in shelves:
        found, cut = repo.list_shelf(on_shelf=on_shelf)
        products.extend(found)
        truncated = truncated or cut
    where = ListingFilter(category_id=category_id, keyword=keyword)
    page, next_cursor = _page(products, where=where, sort="newest", limit=limit, cursor=cursor, scope=f"admin|{shelf}")
    if truncated:
        _note_truncated(len(products))
    return AdminProductList(items=[admin_product_view(p) for p in page], next_cursor=next_cursor, truncated=truncated)


def low_stock_products(*, table: Table, limit: int, cursor: str | None) -> AdminProductList:
    """库存预警: products flagged low on stock, longest flagged first (a Query of the sparse flag index)."""
    start = cursors.decode(cursor, partition=("gsi1pk", LOW_STOCK_PARTITION))
    repo = ProductRepository(table)
    ids, last_key = repo.low_stock_page(limit=limit, start_key=start)
    products = repo.get_many(ids)
    return AdminProductList(items=[admin_product_view(products[i]) for i in ids if i in products],
                            next_cursor=cursors.encode(last_key))


def note_stock_levels(*, table: Table, product_ids: Sequence[str], now: datetime) -> None:
    """After stock changed (orders, adjustments, a new threshold): raise or lower each product's
    low-stock flag, and emit ``LowStockProducts`` for each product that just crossed into low
    stock. Safe to repeat and to run concurrently: an older observation never overwrites a newer."""
    repo = ProductRepository(table)
    for seen in repo.observe_stock(product_ids):
        product = seen.product
        low = is_low_stock(product.stock, product.low_stock_threshold)
        if low == seen.flagged:
            continue
        if repo.record_stock_level(product, low=low, now=now) and low:
            metrics.add_metric(name="LowStockProducts", unit=MetricUnit.Count, value=1)
            logger.warning("product low on stock", extra={"product_id": product.product_id, "stock": product.stock,
                                                          "threshold": product.low_stock_threshold})


# ---- products: customers ---------------------------------------------------------------------


def _page(products: list[Product], *, where: ListingFilter, sort: ListingSort, limit: int, cursor: str | None,
          scope: str) -> tuple[list[Product], str | None]:
    fingerprint = f"{scope}|{where.fingerprint(sort)}"
    start = cursors.decode(cursor, partition=("list", fingerprint))
    after = start.get("after") if start else None
    if start is not None and not isinstance(after, list):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
    page, next_key = select_page(products, where=where, sort=sort, limit=limit, after=after)
    next_cursor = cursors.encode({"list": fingerprint, "after": list(next_key)}) if next_key else None
    return page, next_cursor


def _note_truncated(count: int) -> None:
    metrics.add_metric(name="CatalogListTruncated", unit=MetricUnit.Count, value=1)
    logger.warning("product list reached its ceiling; see docs/data-model.md catalog", extra={"read": count})


class _Earnings:
    """What an active promoter would earn at L1 on one unit at the list price (None otherwise)."""

    def __init__(self, table: Table, viewer: str | None, promoters: PromoterLookup) -> None:
        self._promoter = promoters(viewer) if viewer else None
        self._active = self._promoter is not None and self._promoter.status == "active"
        self._settings = _settings(table) if self._active else None

    @property
    def active(self) -> bool:
        return self._active

    def amount(self, product: Product, category: Category | None) -> int | None:
        if not self._active or self._settings is None:
            return None
        rates = rules.resolve_rates(settings=self._settings, product=product, category=category,
                                    promoter=self._promoter)
        l1, _, _ = rules.line_commission(product.price_fen, 1, rates, self._settings.commission.cap_bp)
        return l1


#: ``key -> URL`` a client may show a media-bucket image from (a signed GET: the bucket is private).
ImageUrl = Callable[[str], str]


def _shown(ref: str, image_url: ImageUrl | None) -> str | None:
    """Where a client shows an image from. A URL not yet imported (see tools.import_product_images)
    is passed on as it is: the client's own fetch, never the server's."""
    if "://" in ref:
        return ref
    return image_url(ref) if image_url else None


def _summary(product: Product, earn: int | None, image_url: ImageUrl | None = None) -> ProductSummary:
    cover = product.images[0] if product.images else None
    return ProductSummary(product_id=product.product_id, name=product.name, type=product.type,
                          category_id=product.category_id, cover_image=cover,
                          cover_image_url=_shown(cover, image_url) if cover else None,
                          price_fen=product.price_fen, shipping_fee_fen=product.shipping_fee_fen,
                          stock=max(product.stock, 0), sales=max(product.sales, 0), promoter_earn_fen=earn)


def browse_products(*, table: Table, where: ListingFilter, sort: ListingSort, limit: int, cursor: str | None,
                    viewer: str | None, promoters: PromoterLookup,
                    image_url: ImageUrl | None = None) -> ProductList:
    """On-shelf products for customers (guests too), filtered, sorted and paginated."""
    low, high = where.min_price_fen, where.max_price_fen
    if low is not None and high is not None and low > high:
        raise InvalidInput("the price range is empty", code="invalid_price_range",
                           fields=[FieldProblem("query:min_price_fen", "must not exceed max_price_fen")])
    shelf_where = ListingFilter(category_id=where.category_id, min_price_fen=where.min_price_fen,
                                max_price_fen=where.max_price_fen, keyword=where.keyword, on_shelf=True)
    products, truncated = ProductRepository(table).list_shelf(on_shelf=True, min_price_fen=where.min_price_fen,
                                                              max_price_fen=where.max_price_fen)
    if truncated:
        _note_truncated(len(products))
    page, next_cursor = _page(products, where=shelf_where, sort=sort, limit=limit, cursor=cursor, scope="shop")
    earnings = _Earnings(table, viewer, promoters)
    categories: dict[str, Category] = {}
    if earnings.active:
        categories = {c.category_id: c for c in CategoryRepository(table).list_all()}
    return ProductList(items=[_summary(p, earnings.amount(p, categories.get(p.category_id)), image_url)
                              for p in page],
                       next_cursor=next_cursor)


def product_detail(*, table: Table, product_id: str, viewer: str | None, promoters: PromoterLookup,
                   image_url: ImageUrl | None = None) -> ProductDetail:
    """One product for customers. Off-shelf products are shown (``on_shelf`` false: 已下架) so an
    old share link still opens; they cannot be ordered."""
    product = ProductRepository(table).get(product_id)
    if product is None:
        raise NotFound(f"no product {product_id}", code="product_not_found")
    category = CategoryRepository(table).get(product.category_id)
    earn = _Earnings(table, viewer, promoters).amount(product, category) if product.on_shelf else None
    summary = _summary(product, earn, image_url)
    shown = [_shown(ref, image_url) for ref in product.images]
    return ProductDetail(**summary.model_dump(), images=list(product.images),
                         image_urls=[u for u in shown if u is not None], description=product.description,
                         category_name=category.name if category else None, per_user_limit=product.per_user_limit,
                         on_shelf=product.on_shelf)
