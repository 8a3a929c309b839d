"""Catalog models of the merchant console: products as the admin writes and reads them; the categories'
are in ``mall.schemas.catalog_categories``. What the mini-program shows is in
``mall.schemas.catalog_public``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from mall.domain.catalog import MAX_SKUS, MAX_SPEC_VALUES, MAX_SPECS, CommissionMode, ProductType
from mall.domain.media import upload_id_of
from mall.schemas.catalog_categories import Name, Version
from mall.schemas.catalog_examples import (
    ADMIN_PRODUCT,
    GAIWAN,
    TEA_AFTER_SALES,
    TEA_ATTRIBUTES,
    TEA_BLOCKS,
    UNREAD_CONTENT,
)
from mall.schemas.catalog_public import SpecView
from mall.schemas.common import ApiModel
from mall.schemas.product_content import AfterSalesView, ContentBlockView, ProductAttributesView
from mall.schemas.product_content_in import AfterSalesIn, Blocks, ProductAttributesIn

Fen = Annotated[int, Field(ge=0, le=10_000_000_000, description="integer fen (分)")]
PriceFen = Annotated[int, Field(ge=1, le=10_000_000_000, description="integer fen (分), at least 1")]
CategoryId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _image_key(value: str) -> str:
    # A key only: the server fetches no address a user typed (mall.domain.media).
    if upload_id_of(value) is None:
        raise ValueError("must be a media-bucket key from POST /admin/media/uploads (product-images/…), not a URL")
    return value


ImageKey = Annotated[str, Field(min_length=10, max_length=128), AfterValidator(_image_key)]
ShelfTime = Annotated[AwareDatetime | None, Field(description=(
    "定时上下架: ISO-8601 with an offset, e.g. 2026-12-12T00:00:00+08:00 (China time); applied within a "
    "minute of it, to the second; null: none planned"))]
HotRank = Annotated[int, Field(ge=0, le=999, description="爆款: 0 is not hot; a greater rank lists first (sort=hot)")]
Images = Annotated[list[ImageKey], Field(max_length=9, description=(
    "media-bucket keys of verified uploads (POST /admin/media/uploads, then …/verify); the first is the "
    "cover; at most 9"))]


# ---- products: admin -------------------------------------------------------------------------


class CommissionSettingIn(ApiModel):
    """``inherit``: the category's or the global rates. ``ratio``: l1/l2 in basis points of the
    line's paid amount. ``fixed``: l1/l2 in fen per unit. Refused (422) if it could pay more
    than the cap (default 30%) of the price with the highest level's points."""

    mode: CommissionMode = "inherit"
    l1: Annotated[int, Field(ge=0, le=10_000_000_000, description="bp (ratio) or fen per unit (fixed)")] = 0
    l2: Annotated[int, Field(ge=0, le=10_000_000_000, description="bp (ratio) or fen per unit (fixed)")] = 0


SpecText = Annotated[str, Field(min_length=1, max_length=20)]
SkuId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


class SpecIn(ApiModel):
    """规格项: e.g. 出行人 with 成人 / 儿童 / 老人."""

    name: SpecText
    values: Annotated[list[SpecText], Field(min_length=1, max_length=MAX_SPEC_VALUES)]


class SkuIn(ApiModel):
    """One combination the merchant sells. ``options``: one value per spec, in the specs' order
    (it identifies the SKU across edits). ``stock`` is the starting stock of a new SKU; an existing
    SKU's stock changes through stock adjustments only. ``commission`` null: the product's setting.
    ``per_user_limit`` null: only the product's limit (all its SKUs together) applies."""

    options: Annotated[list[SpecText], Field(min_length=1, max_length=MAX_SPECS)]
    price_fen: PriceFen
    stock: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    commission: CommissionSettingIn | None = None
    enabled: bool = True
    per_user_limit: Annotated[int | None, Field(ge=1, le=10_000, description=(
        "限购 of this SKU per customer, on top of the product's; null: the product's limit only"))] = None


Specs = Annotated[list[SpecIn], Field(max_length=MAX_SPECS, description=(
    "规格 (at most 3). Empty: a single-SKU product priced and stocked by price_fen / stock"))]
Skus = Annotated[list[SkuIn], Field(max_length=MAX_SKUS, description=(
    "the combinations sold, each with its price, stock and optional commission (required with specs)"))]


class ProductCreate(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "白瓷盖碗 150ml", "type": "physical", "category_id": "c_01m4ckx1mddwmtkz7dctt4",
        "images": ["product-images/5e0b7a13c9d24f68a1e3b2c4d5f60718.jpg"], "description": "德化白瓷, 一盖一碗一托",
        "price_fen": 6800, "stock": 50, "shipping_fee_fen": 1000, "on_shelf": True, "low_stock_threshold": 5,
        "commission": {"mode": "fixed", "l1": 500, "l2": 200},
        "attributes": {"weight_g": 450, "origin": "福建德化"},
        "content": [{"type": "heading", "text": "一盖一碗一托"}, {"type": "text", "text": "高白瓷, 薄胎, 不烫手。"},
                    {"type": "image", "key": "product-images/5e0b7a13c9d24f68a1e3b2c4d5f60718.jpg"}],
        "after_sales": {"no_reason_return": True, "return_window_days": 15, "return_shipping_paid_by": "merchant",
                        "note": "运输破损包换"}}]})

    name: Name
    type: ProductType = Field(description="physical (实物, shipped), service (服务, verified by code), virtual (虚拟)")
    category_id: CategoryId
    images: Images = Field(default_factory=list)
    description: Annotated[str, Field(max_length=2000)] = ""
    price_fen: Annotated[PriceFen | None, Field(description="required without specs; with specs, from the SKUs")] = None
    stock: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    shipping_fee_fen: Fen = 0
    per_user_limit: Annotated[int | None, Field(ge=1, le=10_000, description="null: no limit")] = None
    on_shelf: bool = False
    low_stock_threshold: Annotated[int, Field(ge=0, le=10_000_000, description="flag when stock ≤ this")] = 0
    distribution_enabled: bool = True
    commission: CommissionSettingIn = CommissionSettingIn()
    attributes: ProductAttributesIn = Field(default_factory=ProductAttributesIn, description=(
        "typed attributes of the product's kind (physical: weight_g, origin, shelf_life_days; service: "
        "itinerary, restrictions, terms_title + terms_text; virtual: delivery_method, delivery_note)"))
    content: Blocks = Field(default_factory=list)
    after_sales: AfterSalesIn | None = Field(default=None, description="售后政策; null: the kind's default")
    on_shelf_at: ShelfTime = None
    off_shelf_at: ShelfTime = None
    hot_rank: HotRank = 0
    specs: Specs = Field(default_factory=list)
    skus: Skus = Field(default_factory=list)


class ProductUpdate(ApiModel):
    """Only the fields sent change (stock changes through stock adjustments). ``version`` is required."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": 4, "price_fen": 15800, "on_shelf": True},
        {"version": 5, "after_sales": {"no_reason_return": False, "return_window_days": 0,
                                       "return_shipping_paid_by": "merchant", "note": "定制商品, 质量问题包退"}}]})

    version: Version
    name: Name | None = None
    type: ProductType | None = None
    category_id: CategoryId | None = None
    images: Images | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    price_fen: PriceFen | None = None
    shipping_fee_fen: Fen | None = None
    per_user_limit: Annotated[int | None, Field(ge=1, le=10_000, description="null: no limit")] = None
    on_shelf: bool | None = None
    low_stock_threshold: Annotated[int | None, Field(ge=0, le=10_000_000)] = None
    distribution_enabled: bool | None = None
    commission: CommissionSettingIn | None = None
    attributes: Annotated[ProductAttributesIn | None, Field(description="replaces every attribute")] = None
    content: Blocks | None = None
    after_sales: Annotated[AfterSalesIn | None, Field(description="null: back to the kind's default")] = None
    on_shelf_at: ShelfTime = None
    off_shelf_at: ShelfTime = None
    hot_rank: HotRank | None = None
    specs: Specs | None = Field(default=None, description="sent with skus; a product's specs cannot be removed")
    skus: Skus | None = Field(default=None, description=(
        "the whole list: a combination not sent is disabled (kept for the orders naming it), a new one added"))


class StockAdjustment(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"delta": 50, "reason": "入库"}]})

    sku_id: SkuId | None = Field(default=None, description="required for a product with specs: whose stock moves")

    delta: Annotated[int, Field(ge=-10_000_000, le=10_000_000, description="units to add (negative: remove)")]
    reason: Annotated[str, Field(min_length=1, max_length=200, description="e.g. 入库, 盘点, 损耗")]


class CommissionSettingView(BaseModel):
    mode: CommissionMode
    l1: int
    l2: int


class SkuView(BaseModel):
    sku_id: str
    options: list[str]
    label: str = Field(description="the options joined with /, e.g. 成人/250g")
    price_fen: int
    stock: int
    sales: int
    commission: CommissionSettingView | None = Field(description="null: the product's setting")
    enabled: bool
    per_user_limit: int | None = Field(default=None, description="this SKU's own limit; null: the product's only")


class AdminProductView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        **ADMIN_PRODUCT, "attributes": TEA_ATTRIBUTES, "content": TEA_BLOCKS, "after_sales": TEA_AFTER_SALES}]})

    product_id: str
    name: str
    type: ProductType
    category_id: str
    images: list[str]
    description: str
    price_fen: int
    stock: int
    sales: int
    shipping_fee_fen: int
    per_user_limit: int | None
    on_shelf: bool
    low_stock_threshold: int
    low_on_stock: bool
    distribution_enabled: bool
    commission: CommissionSettingView
    version: int
    created_at: str | None
    updated_at: str | None
    attributes: ProductAttributesView | None = Field(default=None, description="null in lists: read the product")
    content: list[ContentBlockView] | None = Field(default=None, description="null in lists: read the product")
    after_sales: AfterSalesView | None = Field(default=None, description="null in lists: read the product")
    on_shelf_at: str | None = Field(default=None, description="planned on-shelf time (UTC); null: none")
    off_shelf_at: str | None = Field(default=None, description="planned off-shelf time (UTC); null: none")
    hot_rank: int = Field(default=0, description="爆款: 0 is not hot")
    specs: list[SpecView] = Field(default_factory=list, description="empty: a single-SKU product")
    skus: list[SkuView] = Field(default_factory=list, description="every SKU, disabled ones too (empty without specs)")


class AdminProductList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [{**ADMIN_PRODUCT, **UNREAD_CONTENT}, {**GAIWAN, **UNREAD_CONTENT}],
         "next_cursor": "kGW1VQtq9E3vvltEeyJwayI6IlBST0RVQ1QjcF8wMW00Y215eDUyOTkwemh2YWRkbWtyIiwic2siOiJQUk9EVUNUIn0",
         "truncated": False}]})

    items: list[AdminProductView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null: last page")
    truncated: bool = Field(default=False, description="true if the catalog is larger than one list can read")


# ---- products: batch edit (批量操作) -----------------------------------------------------------


AdminShelfParam = Literal["on", "off", "all"]
