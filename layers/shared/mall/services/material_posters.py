"""A promoter's poster on one of the merchant's templates (海报模板): the template's background (a
verified upload in our own bucket, never an address anybody typed), the promoter's own QR code,
their nickname, and the product's title and price in the template's boxes.

Kept in the media bucket under a key made of the promoter, the template, the product and the
versions of everything drawn (``mall.domain.materials.template_poster_key``): a repeat costs a
``HeadObject``, never a redraw. Pillow is imported only when a poster is drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from typing import Protocol

from mall.clock import iso
from mall.config import MediaSettings
from mall.dal.objects import ObjectStore, ObjectTooLarge
from mall.domain import media as image_rules
from mall.domain.catalog import Product
from mall.domain.materials import (
    QR_MARGIN,
    Material,
    TemplateLayout,
    max_lines,
    template_poster_fingerprint,
    template_poster_key,
    text_sizes,
)
from mall.domain.posters import POSTER_HEIGHT, POSTER_WIDTH, check_copy, fit_text, format_price
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.schemas.promotion_media import PosterResponse
from mall.services import promotion_media as media
from mall.services.promotion_media import PromoterReader, QrSourceFactory, active_promoter, ensure_qr


class TemplateReader(Protocol):
    def template_and_product(self, template_id: str, product_id: str) -> tuple[Material | None, Product | None]: ...


@dataclass(frozen=True)
class DrawTemplatePoster:
    """A promoter's request for their poster of a product on a template."""

    user_id: str
    product_id: str
    template_id: str
    now: datetime


def template_poster(command: DrawTemplatePoster, *, promoters: PromoterReader, templates: TemplateReader,
                    banned_phrases: Callable[[], tuple[str, ...]], store: ObjectStore, wechat: QrSourceFactory,
                    settings: MediaSettings) -> PosterResponse:
    """POST /promoter/posters with ``template_id``: three table reads (the promoter, the template and
    product together, the banned phrases), then the bucket."""
    promoter = active_promoter(promoters, command.user_id)
    template, product = templates.template_and_product(command.template_id, command.product_id)
    if template is None or template.kind != "template" or not template.enabled or template.layout is None:
        raise NotFound("no such template", code="template_not_found")
    if product is None or not product.on_shelf:
        raise NotFound("no such product on sale", code="product_not_found")
    if not product.distribution_enabled:
        raise InvalidInput("this product is not in the distribution programme", code="product_not_distributed",
                           fields=[FieldProblem("product_id", "not in the distribution programme")])
    if template.product_id is not None and template.product_id != product.product_id:
        raise InvalidInput("this template is for another product", code="validation_error",
                           fields=[FieldProblem("template_id", "made for another product")])
    check_copy({"product_id": product.name, "nickname": promoter.nickname}, banned_phrases())
    image_key = template.image_key or ""
    qr_key = media._qr_key(promoter, settings)
    fingerprint = template_poster_fingerprint(
        template_id=template.material_id, template_version=template.version, image_key=image_key,
        product_name=product.name, price_fen=product.price_fen, product_version=(product.version, product.updated_at),
        nickname=promoter.nickname, qr_key=qr_key)
    key = template_poster_key(user_id=promoter.user_id, code=promoter.code, product_id=product.product_id,
                              template_id=template.material_id, fingerprint=fingerprint)
    if not store.exists(key):
        ensure_qr(promoter, store=store, wechat=wechat, settings=settings)
        qr = store.get(qr_key)
        if qr is None:  # deleted between the two calls: a lifecycle rule or an operator
            raise NotFound("the QR code disappeared while drawing; try again", code="qr_missing")
        png = render_template_poster(template.layout, background=_background(image_key, store), qr=qr.body,
                                     title=product.name, price_fen=product.price_fen, nickname=promoter.nickname)
        store.put(key, png, content_type="image/png", cache_control=media.CACHE_CONTROL,
                  metadata={"product-id": product.product_id, "template-id": template.material_id,
                            "template-version": str(template.version)})
    return PosterResponse(url=store.presigned_url(key, expires_in=settings.url_ttl_seconds),
                          expires_at=iso(command.now + timedelta(seconds=settings.url_ttl_seconds)),
                          product_id=product.product_id, width=POSTER_WIDTH, height=POSTER_HEIGHT,
                          template_id=template.material_id)


def _background(image_key: str, store: ObjectStore) -> bytes | None:
    """The template's background from our bucket, only under a verified upload's key (size limit)."""
    if image_rules.upload_id_of(image_key) is None:
        return None
    try:
        stored = store.get(image_key, max_bytes=image_rules.MAX_IMAGE_BYTES)
    except ObjectTooLarge:
        return None
    return stored.body if stored else None


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def render_template_poster(layout: TemplateLayout, *, background: bytes | None, qr: bytes, title: str, price_fen: int,
                           nickname: str | None) -> bytes:
    """The poster as PNG bytes, 750 × 1334: the background cropped to fill, the texts fitted in
    their boxes, the QR code on a white square (a quiet zone on any background)."""
    from PIL import Image, ImageDraw, ImageOps

    canvas = Image.new("RGB", (POSTER_WIDTH, POSTER_HEIGHT), (255, 255, 255))
    picture = media._decode(background)
    if picture is not None:
        canvas.paste(ImageOps.fit(picture.convert("RGB"), canvas.size, Image.Resampling.LANCZOS), (0, 0))
    draw = ImageDraw.Draw(canvas)
    color = _rgb(layout.text_color)
    texts = {"title": title, "price": format_price(price_fen)}
    if nickname and layout.nickname is not None:
        texts["nickname"] = nickname
    for name, text in texts.items():
        box = layout.text_boxes()[name]
        sizes = text_sizes(box)
        fitted = fit_text(text, width=box.width, max_lines=max_lines(box, min(sizes)), sizes=sizes,
                          measure=media._measure)
        fitted = fit_text(text, width=box.width, max_lines=max_lines(box, fitted.size), sizes=(fitted.size,),
                          measure=media._measure)
        line_height = int(fitted.size * 1.35)
        for i, line in enumerate(fitted.lines):
            draw.text((box.x, box.y + i * line_height), line, font=media._font(fitted.size), fill=color)
    qr_image = media._decode(qr)
    if qr_image is None:
        raise ValueError("the stored QR code is not an image")
    box = layout.qr
    draw.rectangle((box.x - QR_MARGIN, box.y - QR_MARGIN, box.right + QR_MARGIN - 1, box.bottom + QR_MARGIN - 1),
                   fill=(255, 255, 255))
    tile = qr_image.convert("RGBA").resize(box.size(), Image.Resampling.LANCZOS)
    canvas.paste(tile, box.xy(), tile)
    out = BytesIO()
    canvas.save(out, format="PNG", compress_level=6)
    return out.getvalue()
