"""Catalog models: categories and products for the merchant console and the mini-program."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from mall.domain.catalog import CommissionMode, ListingSort, ProductType
from mall.domain.media import upload_id_of
from mall.domain.settings import COMMISSION_CAP_LIMIT_BP
from mall.schemas.common import ApiModel

Fen = Annotated[int, Field(ge=0, le=10_000_000_000, description="integer fen (分)")]
PriceFen = Annotated[int, Field(ge=1, le=10_000_000_000, description="integer fen (分), at least 1")]
RateBp = Annotated[int, Field(ge=0, le=COMMISSION_CAP_LIMIT_BP, description="basis points: 1000 = 10%")]
Version = Annotated[int, Field(ge=1, description="the version you read; a stale one gets 409 with the current state")]
Name = Annotated[str, Field(min_length=1, max_length=60)]
CategoryId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _image_key(value: str) -> str:
    # A key only: the server fetches no address a user typed (mall.domain.media).
    if upload_id_of(value) is None:
        raise ValueError("must be a media-bucket key from POST /admin/media/uploads (product-images/…), not a URL")
    return value


ImageKey = Annotated[str, Field(min_length=10, max_length=128), AfterValidator(_image_key)]
Images = Annotated[list[ImageKey], Field(max_length=9, description=(
    "media-bucket keys of verified uploads (POST /admin/media/uploads, then …/verify); the first is the "
    "cover; at most 9"))]


# ---- categories ------------------------------------------------------------------------------


class CategoryCreate(ApiModel):
    name: Name
    sort: Annotated[int, Field(ge=0, le=999_999, description="display order, ascending")] = 0
    l1_rate_bp: Annotated[RateBp | None, Field(description="this category's L1 rate; null: the global rate")] = None
    l2_rate_bp: Annotated[RateBp | None, Field(description="this category's L2 rate; null: the global rate")] = None


class CategoryUpdate(ApiModel):
    """Only the fields sent change; send ``null`` for a rate to fall back to the global rate."""

    version: Version
    name: Name | None = None
    sort: Annotated[int | None, Field(ge=0, le=999_999)] = None
    l1_rate_bp: RateBp | None = None
    l2_rate_bp: RateBp | None = None


class CategoryView(BaseModel):
    category_id: str
    name: str
    sort: int
    l1_rate_bp: int | None
    l2_rate_bp: int | None
    product_count: int
    version: int
    created_at: str | None
    updated_at: str | None


class PublicCategory(BaseModel):
    category_id: str
    name: str


class CategoryList(BaseModel):
    items: list[CategoryView]


class PublicCategoryList(BaseModel):
    items: list[PublicCategory]


# ---- products: admin -------------------------------------------------------------------------


class CommissionSettingIn(ApiModel):
    """``inherit``: the category's or the global rates. ``ratio``: l1/l2 in basis points of the
    line's paid amount. ``fixed``: l1/l2 in fen per unit. Refused (422) if it could pay more
    than the cap (default 30%) of the price with the highest level's points."""

    mode: CommissionMode = "inherit"
    l1: Annotated[int, Field(ge=0, le=10_000_000_000, description="bp (ratio) or fen per unit (fixed)")] = 0
    l2: Annotated[int, Field(ge=0, le=10_000_000_000, description="bp (ratio) or fen per unit (fixed)")] = 0


class ProductCreate(ApiModel):
    name: Name
    type: ProductType = Field(description="physical (实物, shipped), service (服务, verified by code), virtual (虚拟)")
    category_id: CategoryId
    images: Images = Field(default_factory=list)
    description: Annotated[str, Field(max_length=2000)] = ""
    price_fen: PriceFen
    stock: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    shipping_fee_fen: Fen = 0
    per_user_limit: Annotated[int | None, Field(ge=1, le=10_000, description="null: no limit")] = None
    on_shelf: bool = False
    low_stock_threshold: Annotated[int, Field(ge=0, le=10_000_000, description="flag when stock ≤ this")] = 0
    distribution_enabled: bool = True
    commission: CommissionSettingIn = CommissionSettingIn()


class ProductUpdate(ApiModel):
    """Only the fields sent change (stock changes through stock adjustments). ``version`` is required."""

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


class StockAdjustment(ApiModel):
    delta: Annotated[int, Field(ge=-10_000_000, le=10_000_000, description="units to add (negative: remove)")]
    reason: Annotated[str, Field(min_length=1, max_length=200, description="e.g. 入库, 盘点, 损耗")]


class CommissionSettingView(BaseModel):
    mode: CommissionMode
    l1: int
    l2: int


class AdminProductView(BaseModel):
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


class AdminProductList(BaseModel):
    items: list[AdminProductView]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null: last page")
    truncated: bool = Field(default=False, description="true if the catalog is larger than one list can read")


# ---- products: customers ---------------------------------------------------------------------


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
    promoter_earn_fen: int | None = Field(
        default=None, description="for an active promoter only: the L1 commission on one unit at this price")


class ProductDetail(ProductSummary):
    images: list[str]
    image_urls: list[str] = Field(default_factory=list, description="`images` as signed URLs to show, same order")
    description: str
    category_name: str | None
    per_user_limit: int | None
    on_shelf: bool = Field(description="false: 已下架, shown so old share links open, but it cannot be ordered")


class ProductList(BaseModel):
    items: list[ProductSummary]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; null: last page")


ListingSortParam = ListingSort
AdminShelfParam = Literal["on", "off", "all"]
