"""The cart (购物车): request and response models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.cart import MAX_CART_LINES, MAX_LINE_QUANTITY
from mall.schemas.common import ApiModel
from mall.schemas.orders import CartLineId, ProductId

__all__ = ["AddCartLineRequest", "CartLineId", "CartLineView", "CartView", "ChangeCartLineRequest", "SkuId"]

#: A SKU's id: its format only (whether the product has it is the catalog's to say).
SkuId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                             description="the SKU (规格) of a product with specs; omit for a product without")]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_LINE_QUANTITY)]

_LINE: JsonDict = {
    "line_id": "cl_6b1f0c55e2a94d7f8c31", "product_id": "p_01m4cmckqvx119jymzac3w", "sku_id": None,
    "name": "西湖龙井 250g", "image": "product-images/8fb36d4e020e267318b40af47f492d54.jpg", "quantity": 2,
    "unit_price_fen": 16800, "added_price_fen": 16800, "price_changed": False, "line_fen": 33600,
    "availability": "available", "available_stock": 120, "limit_left": None, "version": 1,
    "added_at": "2026-11-03T12:10:08Z", "updated_at": "2026-11-03T12:10:08Z"}
_CHANGED: JsonDict = {
    **_LINE, "line_id": "cl_0d9e4a7b3c5f1e2d8a6b", "product_id": "p_01m4cmyx52990zhvaddmkr", "name": "白瓷盖碗 150ml",
    "image": None, "quantity": 1, "unit_price_fen": 7200, "added_price_fen": 6800, "price_changed": True,
    "line_fen": 7200, "availability": "out_of_stock", "available_stock": 0}


class AddCartLineRequest(ApiModel):
    """加入购物车: adds ``quantity`` to the line of (product, SKU), making it if new."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"product_id": "p_01m4cmckqvx119jymzac3w", "quantity": 1}]})

    product_id: ProductId
    sku_id: SkuId | None = None
    quantity: Quantity = 1


class ChangeCartLineRequest(ApiModel):
    """The line's new quantity (not an increment)."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"quantity": 3, "version": 1}]})

    quantity: Quantity
    version: Annotated[int | None, Field(strict=True, ge=1,
                                         description="the line's `version` you read: 409 if it changed since")] = None


class CartLineView(BaseModel):
    """A line priced from the catalog as it is now (the cart holds no stock and fixes no price)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LINE]})

    line_id: str
    product_id: str
    sku_id: str | None
    name: str | None = Field(description="null when the product no longer exists")
    image: str | None
    quantity: int
    unit_price_fen: int | None = Field(description="the current unit price; null when the product is gone")
    added_price_fen: int = Field(description="the unit price when the line was added or last changed")
    price_changed: bool
    line_fen: int | None = Field(description="current unit price × quantity")
    availability: Literal["available", "gone", "off_shelf", "out_of_stock", "over_limit"] = Field(
        description="`available`: can be ordered now; else why not (`out_of_stock`: fewer left than the quantity)")
    available_stock: int | None
    limit_left: int | None = Field(description=(
        "how many more the per-customer limits allow (the product's and the SKU's own, the tighter); null: no limit"))
    version: int
    added_at: str
    updated_at: str


class CartView(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{
        "lines": [_LINE, _CHANGED], "line_count": 2, "max_lines": MAX_CART_LINES, "available_fen": 33600}]})

    lines: list[CartLineView] = Field(description="newest first")
    line_count: int
    max_lines: int
    available_fen: int = Field(description="the goods total of the available lines at current prices")
