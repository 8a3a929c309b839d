"""What a product says (商品详情): the request's attributes, blocks and after-sales policy turned
into ``ProductContent``, and shown (rules: ``mall.domain.product_content``; docs/catalog.md). The checks
against the verified uploads are the admin's (``mall.services.catalog.products``): the customer's
catalog, which imports this module for the views, loads neither the uploads' service nor the request
models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mall.domain import media as media_rules
from mall.domain.product_content import (
    AfterSalesPolicy,
    ContentBlock,
    ProductAttributes,
    ProductContent,
)
from mall.schemas.product_content import AfterSalesView, ContentBlockView, ProductAttributesView

if TYPE_CHECKING:
    from mall.schemas.product_content_in import AfterSalesIn, ContentBlockIn, ProductAttributesIn

#: ``key -> URL`` a client may show a media-bucket object from (a signed GET: the bucket is private).
ImageUrl = Callable[[str], str]

#: The request fields that are stored in the product's detail item.
CONTENT_FIELDS = frozenset({"attributes", "content", "after_sales"})


def attributes_of(body: ProductAttributesIn) -> ProductAttributes:
    values: dict[str, Any] = body.model_dump(exclude_none=True)
    if "itinerary" in values:
        values["itinerary"] = tuple(values["itinerary"])
    return ProductAttributes(**values)


def blocks_of(blocks: list[ContentBlockIn]) -> tuple[ContentBlock, ...]:
    return tuple(ContentBlock(type=b.type, text=b.text or "", key=b.key or "") for b in blocks)


def policy_of(body: AfterSalesIn | None) -> AfterSalesPolicy | None:
    if body is None:
        return None
    return AfterSalesPolicy(no_reason_return=body.no_reason_return, return_window_days=body.return_window_days,
                            return_shipping_paid_by=body.return_shipping_paid_by, note=body.note)


def content_of(changes: dict[str, Any], current: ProductContent | None) -> ProductContent:
    """``current`` with the content fields sent (a request model's attributes) replaced."""
    content = current or ProductContent()
    if "attributes" in changes:
        sent = changes["attributes"]
        content = replace(content, attributes=attributes_of(sent) if sent is not None else ProductAttributes())
    if "content" in changes:
        content = replace(content, blocks=blocks_of(changes["content"] or []))
    if "after_sales" in changes:
        content = replace(content, after_sales=policy_of(changes["after_sales"]))
    return content


def _thumbnail(key: str, width: int, image_url: ImageUrl | None) -> str | None:
    thumb = media_rules.thumbnail_key(key, width)
    return image_url(thumb) if thumb and image_url else None


def attributes_view(content: ProductContent) -> ProductAttributesView:
    return ProductAttributesView(**content.attributes.as_dict())


def blocks_view(content: ProductContent, image_url: ImageUrl | None = None) -> list[ContentBlockView]:
    return [ContentBlockView(type=b.type, key=b.key, url=image_url(b.key) if image_url else None,
                             thumbnail_url=_thumbnail(b.key, media_rules.PAGE_THUMBNAIL, image_url))
            if b.type == "image" else ContentBlockView(type=b.type, text=b.text) for b in content.blocks]


def after_sales_view(content: ProductContent, product_type: str) -> AfterSalesView:
    policy = content.policy(product_type)
    return AfterSalesView(**policy.as_dict(), is_default=content.after_sales is None)


def thumbnail_url(ref: str, width: int, image_url: ImageUrl | None) -> str | None:
    """Where a client shows the ``width`` px copy of an image from. A URL not yet imported (see
    tools.import_product_images) has no copy: the client shows the URL itself."""
    if "://" in ref:
        return ref
    return _thumbnail(ref, width, image_url)
