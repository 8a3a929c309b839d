"""What a product says, as the API returns it: typed attributes, the description's blocks and the
after-sales policy (rules: ``mall.domain.product_content``; what the admin API takes:
``mall.schemas.product_content_in``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mall.domain.product_content import BlockType, DeliveryMethod, ReturnShippingPayer


class ProductAttributesView(BaseModel):
    """The attributes set; the others are null."""

    weight_g: int | None = None
    origin: str | None = None
    shelf_life_days: int | None = None
    itinerary: list[str] | None = None
    restrictions: str | None = None
    terms_title: str | None = None
    terms_text: str | None = None
    delivery_method: DeliveryMethod | None = None
    delivery_note: str | None = None


class ContentBlockView(BaseModel):
    type: BlockType
    text: str | None = None
    key: str | None = None
    url: str | None = Field(default=None, description="image blocks: a signed URL to show it from")
    thumbnail_url: str | None = Field(default=None, description="image blocks: its 750 px wide version")


class AfterSalesView(BaseModel):
    no_reason_return: bool
    return_window_days: int
    return_shipping_paid_by: ReturnShippingPayer
    note: str
    is_default: bool = Field(description="true: the product states none; this is its kind's default")
