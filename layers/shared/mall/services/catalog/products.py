"""The merchant's products (商品): created, changed (on and off shelf too), stock adjusted, listed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.catalog import SkuTake, editable_state
from mall.dal.keys import LOW_STOCK_LIST
from mall.domain.catalog import (
    DEFAULT_SKU_ID,
    CommissionSetting,
    ListingFilter,
    Product,
    has_own_commission,
    priced_variants,
    product_problems,
)
from mall.domain.commission_cap import Saving, cap_problems
from mall.domain.product_content import ProductContent, content_problems
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.ids import new_id
from mall.schemas.catalog import (
    AdminProductList,
    AdminProductView,
    AdminShelfParam,
    CommissionSettingIn,
    CommissionSettingView,
    ProductCreate,
    ProductUpdate,
    StockAdjustment,
)
from mall.services.catalog.common import (
    CatalogRepositories,
    audit_entry,
    check_campaigns_cap,
    note_truncated,
    page_of,
    refuse,
)
from mall.services.catalog.content import (
    CONTENT_FIELDS,
    after_sales_view,
    attributes_view,
    blocks_view,
    content_of,
)
from mall.services.catalog.skus import admin_sku_views, sku_cap_problems, spec_views, with_skus
from mall.services.catalog.stock import note_stock_levels
from mall.services.product_images import duplicate_images, unverified_images


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
        attributes=attributes_view(product.content) if product.content else None,
        content=blocks_view(product.content) if product.content else None,
        after_sales=after_sales_view(product.content, product.type) if product.content else None,
        on_shelf_at=iso(product.on_shelf_at) if product.on_shelf_at else None,
        off_shelf_at=iso(product.off_shelf_at) if product.off_shelf_at else None, hot_rank=product.hot_rank,
        specs=spec_views(product), skus=admin_sku_views(product),
    )


def _check_product(product: Product, repos: CatalogRepositories, *, now: datetime,
                   before: Product | None = None) -> None:
    """Its own invariants, and its own commission setting with any level's points and any
    promoter's override within the cap (at its list price for a ``fixed`` setting); when what it
    pays changed since ``before``, with every campaign too."""
    problems = product_problems(product)
    if product.commission.mode != "inherit" and product.distribution_enabled:
        problems += cap_problems(settings=repos.distribution_settings(), products=[product],
                                 promoters=repos.promoters.with_overrides(),
                                 saving=Saving("product", product.product_id))
    problems += sku_cap_problems(repos, product)
    refuse(problems, "the product has invalid fields", "invalid_product")
    if has_own_commission(product) and (before is None or _paying(before) != _paying(product)):
        check_campaigns_cap(repos, now=now, fields=_commission_fields(product), product=product)


def check_content(product: Product, repos: CatalogRepositories, *, images_changed: bool,
                  blocks_changed: bool) -> None:
    """The content fits the product's kind, and every image sent (gallery and description) is a
    verified upload, shown once in the gallery: one read of the uploads for both, none when no
    image was sent."""
    content = product.content or ProductContent()
    problems = content_problems(product.type, content)
    if images_changed:
        problems += duplicate_images(product.images)
    more = content.image_keys() if blocks_changed else []
    if images_changed or more:
        problems += unverified_images(repos.uploads, product.images if images_changed else [], more)
    refuse(problems, "the product has invalid fields", "invalid_product")


def _paying(product: Product) -> list[tuple[object, ...]]:
    """What the cap weighs of a product: each SKU's price, commission and category."""
    return [(v.price_fen, v.commission, v.category_id, v.distribution_enabled) for v in priced_variants(product)]


def _commission_fields(product: Product) -> list[str]:
    """The fields of the commission settings a product pays (its own, each SKU's own)."""
    fields = ["commission.l1", "commission.l2"] if product.commission.mode != "inherit" else []
    for index, sku in enumerate(product.skus):
        if sku.commission is not None and sku.commission.mode != "inherit":
            fields += [f"skus.{index}.commission.l1", f"skus.{index}.commission.l2"]
    return fields or ["commission"]


def create_product(*, repos: CatalogRepositories, body: ProductCreate, now: datetime, product_id: str | None = None,
                   by: str = "system", source_ip: str | None = None) -> AdminProductView:
    if body.price_fen is None and not body.specs:
        refuse([FieldProblem("price_fen", "required for a product without specs")], "the product has invalid fields",
               "invalid_product")
    product = Product(
        product_id=product_id or new_id("p"), name=body.name, type=body.type, category_id=body.category_id,
        images=list(body.images), description=body.description, price_fen=body.price_fen or 0,
        stock=0 if body.specs else body.stock,
        shipping_fee_fen=body.shipping_fee_fen, per_user_limit=body.per_user_limit, on_shelf=body.on_shelf,
        low_stock_threshold=body.low_stock_threshold, distribution_enabled=body.distribution_enabled,
        commission=CommissionSetting(mode=body.commission.mode, l1=body.commission.l1, l2=body.commission.l2),
        content=content_of({name: getattr(body, name) for name in CONTENT_FIELDS}, None),
        created_at=now, updated_at=now, on_shelf_at=to_second(body.on_shelf_at),
        off_shelf_at=to_second(body.off_shelf_at), hot_rank=body.hot_rank,
    )
    product = with_skus(product, body.specs, body.skus)
    _check_product(product, repos, now=now)
    check_content(product, repos, images_changed=True, blocks_changed=True)
    audit = audit_entry("product.create", "product", product.product_id, by=by, source_ip=source_ip, before=None,
                        after={**editable_state(product), "stock": product.stock,
                               "content": product.content.as_dict() if product.content else None})
    created = repos.products.create(product, audit=audit)
    note_stock_levels(products=repos.products, product_ids=[created.product_id], now=now)
    return admin_product_view(created)


def _admin_product(repos: CatalogRepositories, product_id: str) -> Product:
    product = repos.products.get_detailed(product_id, consistent=True)
    if product is None:
        raise NotFound(f"no product {product_id}", code="product_not_found")
    return product


def get_admin_product(*, repos: CatalogRepositories, product_id: str) -> AdminProductView:
    return admin_product_view(_admin_product(repos, product_id))


_NULLABLE = frozenset({"per_user_limit", "after_sales", "on_shelf_at", "off_shelf_at"})


def to_second(moment: datetime | None) -> datetime | None:
    """A planned shelf time as stored and compared: UTC, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0) if moment is not None else None


def update_product(*, repos: CatalogRepositories, product_id: str, body: ProductUpdate, now: datetime,
                   by: str = "system", source_ip: str | None = None) -> AdminProductView:
    """Apply the fields sent to the product as of ``body.version``; the whole result is checked
    (a lower price can make a fixed commission exceed the cap)."""
    current = _admin_product(repos, product_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set - {"version", "specs", "skus"}}
    skus_changed = body.specs is not None or body.skus is not None
    if current.has_specs and "price_fen" in changes:
        refuse([FieldProblem("price_fen", "a product with specs is priced per SKU (skus.N.price_fen)")],
               "the product has invalid fields", "invalid_product")
    nulls = [FieldProblem(name, "may not be null") for name, value in changes.items()
             if value is None and name not in _NULLABLE]
    refuse(nulls, "the product has invalid fields", "invalid_product")
    if isinstance(body.commission, CommissionSettingIn) and "commission" in changes:
        changes["commission"] = CommissionSetting(mode=body.commission.mode, l1=body.commission.l1,
                                                  l2=body.commission.l2)
    if "images" in changes:
        changes["images"] = list(changes["images"])
    sent_content = {name: changes.pop(name) for name in CONTENT_FIELDS & set(changes)}
    # The whole content is checked against the kind after the edit: a changed type refuses the
    # attributes of the old kind until they are replaced.
    content = content_of(sent_content, current.content)
    for name in ("on_shelf_at", "off_shelf_at"):
        if name in changes:
            changes[name] = to_second(changes[name])
    merged = replace(current, **changes, content=content)
    if skus_changed:
        merged = with_skus(merged, body.specs or [], body.skus or [])
    _check_product(merged, repos, now=now, before=current)
    check_content(merged, repos, images_changed="images" in changes, blocks_changed="content" in sent_content)
    before, after = editable_state(current), editable_state(merged)
    if sent_content:
        before["content"] = current.content.as_dict() if current.content else None
        after["content"] = content.as_dict()
    audit = audit_entry("product.update", "product", product_id, by=by, source_ip=source_ip,
                        before=before, after=after, details={"version": body.version + 1})
    written = replace(merged, content=content if sent_content else None)  # the detail item only when sent
    updated = replace(repos.products.update(written, expected_version=body.version,
                                            previous_category_id=current.category_id, now=now, audit=audit,
                                            skus_changed=skus_changed and merged.has_specs),
                      content=content)
    if "low_stock_threshold" in changes or skus_changed:
        note_stock_levels(products=repos.products, product_ids=[product_id], now=now)
    return admin_product_view(updated)


def adjust_stock(*, repos: CatalogRepositories, product_id: str, body: StockAdjustment, by: str, now: datetime,
                 source_ip: str | None = None) -> AdminProductView:
    if body.delta == 0:
        raise InvalidInput("a stock adjustment must change the stock", code="invalid_stock_adjustment",
                           fields=[FieldProblem("delta", "must not be 0")])
    sku = _adjusted_sku(_admin_product(repos, product_id), body.sku_id)
    adjustment_id = new_id("sa")
    # The stock itself moves with orders at the same time: the entry keeps the delta, not a before/after.
    audit = AuditEntry(action="product.stock_adjust", actor=by, entity_type="product", entity_id=product_id,
                       source_ip=source_ip,
                       details={"delta": body.delta, "reason": body.reason, "adjustment_id": adjustment_id})
    seen = repos.products.adjust_stock(product_id, delta=body.delta, adjustment_id=adjustment_id,
                                       reason=body.reason, by=by, now=now, audit=audit, sku=sku)
    note_stock_levels(products=repos.products, product_ids=[product_id], now=now, observed=[seen])
    return admin_product_view(seen.product)


def _adjusted_sku(product: Product, sku_id: str | None) -> SkuTake | None:
    """Whose stock an adjustment moves: a product with specs names its SKU (the total follows)."""
    if not product.has_specs:
        if sku_id is not None and sku_id != DEFAULT_SKU_ID:
            raise InvalidInput("this product has no SKUs", code="invalid_stock_adjustment",
                               fields=[FieldProblem("sku_id", "the product has no specs; omit sku_id")])
        return None
    index = product.sku_index(sku_id) if sku_id is not None else None
    if index is None:
        raise InvalidInput("name the SKU whose stock moves", code="invalid_stock_adjustment",
                           fields=[FieldProblem("sku_id", "required: one of this product's sku_id")])
    return SkuTake(index, product.skus[index].sku_id, 0)


def list_admin_products(*, repos: CatalogRepositories, shelf: AdminShelfParam, category_id: str | None,
                        keyword: str | None, limit: int, cursor: str | None) -> AdminProductList:
    """Every product of the chosen shelf, newest first."""
    shelves = [True, False] if shelf == "all" else [shelf == "on"]
    products: list[Product] = []
    truncated = False
    for on_shelf in shelves:
        found, cut = repos.products.list_shelf(on_shelf=on_shelf)
        products.extend(found)
        truncated = truncated or cut
    where = ListingFilter(category_id=category_id, keyword=keyword)
    page, next_cursor = page_of(products, where=where, sort="newest", limit=limit, cursor=cursor,
                                scope=f"admin|{shelf}")
    if truncated:
        note_truncated(len(products))
    return AdminProductList(items=[admin_product_view(p) for p in page], next_cursor=next_cursor, truncated=truncated)


def low_stock_products(*, repos: CatalogRepositories, limit: int, cursor: str | None) -> AdminProductList:
    """库存预警: products flagged low on stock, longest flagged first (a Query of the sparse flag index)."""
    start = cursors.decode(cursor, partition=LOW_STOCK_LIST)
    ids, last_key = repos.products.low_stock_page(limit=limit, start_key=start)
    products = repos.products.get_many(ids)
    return AdminProductList(items=[admin_product_view(products[i]) for i in ids if i in products],
                            next_cursor=cursors.encode(last_key))
