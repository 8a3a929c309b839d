"""What a product says (商品详情): the request's attributes, blocks and after-sales policy turned
into ``ProductContent``, checked against the product's kind and the verified uploads, and shown
(rules: ``mall.domain.product_content``; docs/catalog.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mall.domain import media as media_rules
from mall.domain.catalog import Product
from mall.domain.product_content import (
    AfterSalesPolicy,
    ContentBlock,
    ProductAttributes,
    ProductContent,
    content_problems,
)
from mall.schemas.product_content import (
    AfterSalesIn,
    AfterSalesView,
    ContentBlockIn,
    ContentBlockView,
    ProductAttributesIn,
    ProductAttributesView,
)
from mall.services.catalog.common import CatalogRepositories, refuse
from mall.services.media import duplicate_images, unverified_images

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
