"""Catalog models of the mini-program: the categories and products customers browse.

Apart from the merchant console's models (``mall.schemas.catalog``), whose validators are most of the
catalog schemas' build time, so that the product pages do not build them at cold start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mall.domain.catalog import ListingSort, ProductType
from mall.schemas.catalog_examples import (
    COVER_KEY,
    COVER_URL,
    PAGE_THUMB_URL,
    SUMMARY,
    TEA_AFTER_SALES,
    TEA_ATTRIBUTES,
    TEA_BLOCKS,
    TEA_IMAGE_BLOCK,
)
from mall.schemas.product_content import AfterSalesView, ContentBlockView, ProductAttributesView

ListingSortParam = ListingSort


# ---- categories ------------------------------------------------------------------------------


class PublicCategory(BaseModel):
    category_id: str
    name: str


class PublicCategoryList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"category_id": "c_01m4ckt9rbte01pz24dawc", "name": "茶叶"},
        {"category_id": "c_01m4ckx1mddwmtkz7dctt4", "name": "茶具"}]}]})

    items: list[PublicCategory]


# ---- products --------------------------------------------------------------------------------


class SpecView(BaseModel):
    name: str
    values: list[str]


class ProductSummary(BaseModel):
    product_id: str
    name: str
    type: ProductType
    category_id: str
    cover_image: str | None
    cover_image_url: str | None = Field(default=None, description=(
        "where to show the cover from: a signed media-bucket URL, valid for MEDIA_URL_TTL_SECONDS"))
    price_fen: int
    shipping_fee_fen: int
    stock: int
    sales: int
    cover_thumbnail_url: str | None = Field(default=None, description="the cover 240 px wide, for lists")
    promoter_earn_fen: int | None = Field(
        default=None, description="for an active promoter only: the L1 commission on one unit at this price")
    hot: bool = Field(default=False, description="爆款 (hot mark set by the merchant)")
    max_price_fen: int | None = Field(default=None, description=(
        "with SKUs, the highest SKU price (price_fen is the lowest); null: one price"))
    promoter_earn_max_fen: int | None = Field(default=None, description=(
        "for an active promoter only: the L1 commission on one unit of the best-paying SKU"))


class PublicSkuView(BaseModel):
    sku_id: str
    options: list[str]
    label: str
    price_fen: int
    stock: int
    available: bool = Field(description="in stock and on sale: can be ordered now")
    promoter_earn_fen: int | None = Field(default=None, description="for an active promoter only, per unit")
    per_user_limit: int | None = Field(default=None, description=(
        "限购 of this SKU per customer (on top of the product's); null: the product's limit only"))


class ProductDetail(ProductSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**SUMMARY, "promoter_earn_fen": 2016, "promoter_earn_max_fen": 2016, "images": [COVER_KEY],
         "image_urls": [COVER_URL],
         "description": "明前特级龙井, 杭州西湖产区, 罐装 250g", "category_name": "茶叶", "per_user_limit": 5,
         "on_shelf": True, "image_thumbnail_urls": [PAGE_THUMB_URL], "attributes": TEA_ATTRIBUTES,
         "content": [*TEA_BLOCKS[:2], {**TEA_IMAGE_BLOCK, "url": COVER_URL, "thumbnail_url": PAGE_THUMB_URL}],
         "after_sales": TEA_AFTER_SALES, "specs": [], "skus": []}]})

    images: list[str]
    image_urls: list[str] = Field(default_factory=list, description="`images` as signed URLs to show, same order")
    description: str
    category_name: str | None
    per_user_limit: int | None
    on_shelf: bool = Field(description="false: 已下架, shown so old share links open, but it cannot be ordered")
    image_thumbnail_urls: list[str] = Field(default_factory=list, description="`images` 750 px wide, same order")
    attributes: ProductAttributesView = Field(default_factory=ProductAttributesView)
    content: list[ContentBlockView] = Field(default_factory=list, description="the rich description, in order")
    after_sales: AfterSalesView | None = Field(default=None, description="售后政策, shown with the product")
    specs: list[SpecView] = Field(default_factory=list, description="empty: one SKU, order without sku_id")
    skus: list[PublicSkuView] = Field(default_factory=list, description="the enabled SKUs (empty without specs)")


class ProductList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [{**SUMMARY, "promoter_earn_fen": None}], "next_cursor": None}]})

    items: list[ProductSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null: last page")
