"""What a product says, as the admin API takes it: typed attributes, the description's blocks and the
after-sales policy (rules: ``mall.domain.product_content``; what the API returns: ``mall.schemas.product_content``).

A module of their own, so that the customer's catalog, which only shows products, does not create
these models when it starts."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from mall.domain.media import upload_id_of
from mall.domain.product_content import (
    MAX_BLOCKS,
    MAX_ITINERARY_STEPS,
    MAX_RETURN_WINDOW_DAYS,
    MAX_TEXT,
    BlockType,
    DeliveryMethod,
    ReturnShippingPayer,
)
from mall.schemas.common import ApiModel


def _media_key(value: str) -> str:
    if upload_id_of(value) is None:
        raise ValueError("must be a media-bucket key from POST /admin/media/uploads (product-images/…), not a URL")
    return value


MediaKey = Annotated[str, Field(min_length=10, max_length=128), AfterValidator(_media_key)]
Line = Annotated[str, Field(min_length=1, max_length=200)]


class ProductAttributesIn(ApiModel):
    """Each attribute belongs to one kind of product; one of another kind is refused (422 naming it)."""

    weight_g: Annotated[int | None, Field(ge=1, le=1_000_000, description="physical: net weight in grams")] = None
    origin: Annotated[str | None, Field(min_length=1, max_length=60, description="physical: 产地")] = None
    shelf_life_days: Annotated[int | None, Field(ge=1, le=3650, description="physical: 保质期 in days")] = None
    itinerary: Annotated[list[Line] | None, Field(max_length=MAX_ITINERARY_STEPS,
                                                  description="service: 行程 / 服务流程, one step a line")] = None
    restrictions: Annotated[str | None, Field(min_length=1, max_length=1000,
                                              description="service: 出行限制 / 适用人群 / 预约须知")] = None
    terms_title: Annotated[str | None, Field(min_length=1, max_length=60,
                                             description="service: the terms' (电子合同) title")] = None
    terms_text: Annotated[str | None, Field(min_length=1, max_length=20_000,
                                            description="service: the terms as plain text, shown in full")] = None
    delivery_method: Annotated[DeliveryMethod | None, Field(
        description="virtual: code (卡密), link, account (直充) or manual")] = None
    delivery_note: Annotated[str | None, Field(min_length=1, max_length=500,
                                               description="virtual: how and when it arrives")] = None


class ContentBlockIn(ApiModel):
    """``heading`` (≤ 60) or ``text`` (≤ 2000, plain text: no markup is interpreted) with ``text``;
    ``image`` with ``key``, a verified upload's media-bucket key."""

    type: BlockType
    text: Annotated[str | None, Field(max_length=MAX_TEXT)] = None
    key: MediaKey | None = None


class AfterSalesIn(ApiModel):
    no_reason_return: bool = Field(description="7天无理由退货; needs return_window_days ≥ 7")
    return_window_days: Annotated[int, Field(ge=0, le=MAX_RETURN_WINDOW_DAYS,
                                             description="days after receipt a return is accepted")]
    return_shipping_paid_by: ReturnShippingPayer = "buyer"
    note: Annotated[str, Field(max_length=500, description="free text, e.g. 退改规则")] = ""


Blocks = Annotated[list[ContentBlockIn], Field(max_length=MAX_BLOCKS, description=(
    "the rich description, in order: headings, paragraphs and images (at most 50)"))]
