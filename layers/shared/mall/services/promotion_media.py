"""Use cases: the promoter's QR code and product posters (推广码、商品海报).

Both images are kept in the media bucket under deterministic keys (mall.domain.posters), so a
repeat request costs a ``HeadObject`` and a locally signed URL: no WeChat call, no drawing.
Pillow is imported only when a poster is actually drawn, so the QR function never loads it
and no other function's cold start pays for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mall.clock import iso
from mall.config import MediaSettings
from mall.dal.objects import ObjectStore, ObjectTooLarge
from mall.domain.posters import (
    DEFAULT_CAPTION,
    LAYOUT,
    Box,
    PosterLayout,
    check_copy,
    fit_text,
    format_price,
    poster_fingerprint,
    poster_object_key,
    qr_object_key,
)
from mall.domain.referral import ShareTarget, share_target
from mall.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mall.integrations.wechat import image_content_type
from mall.schemas.promotion_media import PosterResponse, QrCodeResponse

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageFont

    from mall.domain.catalog import Product
    from mall.domain.referral import Promoter

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FONT_PATH = ASSETS / "fonts" / "wqy-microhei-subset.ttf"
DEFAULT_LOGO_PATH = ASSETS / "merchant-logo.png"
#: Identifies the bundled logo in poster fingerprints; bump when merchant-logo.png changes.
DEFAULT_LOGO_ID = "bundled:merchant-logo:1"
#: A product photo bigger than this (pixels) is not decoded (decompression bombs): placeholder instead.
MAX_IMAGE_PIXELS = 40_000_000
CACHE_CONTROL = "private, max-age=86400"


# ---------------------------------------------------------------------------------------
# Collaborators (the real ones: mall.dal.referral, mall.dal.catalog, mall.integrations.wechat)
# ---------------------------------------------------------------------------------------


class PromoterReader(Protocol):
    def get(self, user_id: str) -> Promoter | None: ...


class ProductReader(Protocol):
    def get(self, product_id: str) -> Product | None: ...


class QrSource(Protocol):
    def get_unlimited_qr(self, *, scene: str, page: str, width: int = ..., env_version: str = ...,
                         check_path: bool = ...) -> bytes: ...


#: Builds the WeChat client on first need (reading the app secret only on a cache miss).
QrSourceFactory = Callable[[], QrSource]


def active_promoter(promoters: PromoterReader, user_id: str) -> Promoter:
    """The caller as an active promoter, or 403: a frozen, disabled or pending promoter gets no
    new QR or poster (their old links stop earning anyway)."""
    promoter = promoters.get(user_id)
    if promoter is None or promoter.status != "active":
        raise Forbidden("only an active promoter has a QR code and posters", code="promoter_not_active",
                        details={"status": promoter.status if promoter else None})
    return promoter


# ---------------------------------------------------------------------------------------
# The promoter's QR code
# ---------------------------------------------------------------------------------------


def _target(promoter: Promoter, settings: MediaSettings) -> ShareTarget:
    """What the promoter's QR opens: the same target as their share link (``mall.domain.referral``)."""
    return share_target(settings.share_page, promoter.code)


def _qr_key(promoter: Promoter, settings: MediaSettings) -> str:
    target = _target(promoter, settings)
    return qr_object_key(code=target.scene, page=target.page, width=settings.qr_width,
                         env_version=settings.qr_env_version)


def ensure_qr(promoter: Promoter, *, store: ObjectStore, wechat: QrSourceFactory, settings: MediaSettings) -> str:
    """The key of the promoter's stored QR image, asking WeChat only when it is not stored yet.

    Two simultaneous first requests may both ask WeChat; both store the same image under the
    same key, so the result is the same (WeChat's unlimited QR has no count quota)."""
    key = _qr_key(promoter, settings)
    if store.exists(key):
        return key
    target = _target(promoter, settings)
    image = wechat().get_unlimited_qr(scene=target.scene, page=target.page, width=settings.qr_width,
                                      env_version=settings.qr_env_version, check_path=settings.qr_check_path)
    store.put(key, image, content_type=image_content_type(image) or "application/octet-stream",
              cache_control=CACHE_CONTROL, metadata={"scene": target.scene})
    return key


def promoter_qr(*, user_id: str, promoters: PromoterReader, store: ObjectStore, wechat: QrSourceFactory,
                settings: MediaSettings, now: datetime) -> QrCodeResponse:
    """GET /promoter/qrcode: always the caller's own QR (there is no id to ask for another's)."""
    promoter = active_promoter(promoters, user_id)
    key = ensure_qr(promoter, store=store, wechat=wechat, settings=settings)
    target = _target(promoter, settings)
    return QrCodeResponse(url=store.presigned_url(key, expires_in=settings.url_ttl_seconds),
                          expires_at=iso(now + timedelta(seconds=settings.url_ttl_seconds)), scene=target.scene,
                          page=target.page, share_link=target.link, width=settings.qr_width)


# ---------------------------------------------------------------------------------------
# Posters
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawPoster:
    """A promoter's request for their poster of a product (with an optional slogan of their own)."""

    user_id: str
    product_id: str
    slogan: str | None
    now: datetime


def product_poster(command: DrawPoster, *, promoters: PromoterReader, products: ProductReader,
                   banned_phrases: Callable[[], tuple[str, ...]], store: ObjectStore, wechat: QrSourceFactory,
                   settings: MediaSettings) -> PosterResponse:
    """POST /promoter/posters: the caller's poster for a product, drawn once per version of
    everything on it (product name, price, image and version, slogan, QR, logo)."""
    slogan, now = command.slogan, command.now
    promoter = active_promoter(promoters, command.user_id)
    product = products.get(command.product_id)
    if product is None or not product.on_shelf:
        raise NotFound("no such product on sale", code="product_not_found")
    if not product.distribution_enabled:
        raise InvalidInput("this product is not in the distribution programme", code="product_not_distributed",
                           fields=[FieldProblem("product_id", "not in the distribution programme")])
    check_copy({"slogan": slogan, "product_id": product.name}, banned_phrases(), single_line=("slogan",))

    image_ref = product.images[0] if product.images else None
    qr_key = _qr_key(promoter, settings)
    logo_id = settings.merchant_logo_key or DEFAULT_LOGO_ID
    fingerprint = poster_fingerprint(product_name=product.name, price_fen=product.price_fen, image=image_ref,
                                     product_version=(product.version, product.updated_at), slogan=slogan,
                                     qr_key=qr_key, logo=logo_id)
    key = poster_object_key(user_id=promoter.user_id, code=promoter.code, product_id=product.product_id,
                            fingerprint=fingerprint)
    if not store.exists(key):
        ensure_qr(promoter, store=store, wechat=wechat, settings=settings)
        qr = store.get(qr_key)
        if qr is None:  # deleted between the two calls: a lifecycle rule or an operator
            raise NotFound("the QR code disappeared while drawing; try again", code="qr_missing")
        photo = load_product_image(image_ref, store=store, settings=settings)
        logo = _load_logo(settings, store)
        png = render_poster(name=product.name, price_fen=product.price_fen, slogan=slogan, qr=qr.body,
                            photo=photo, logo=logo)
        store.put(key, png, content_type="image/png", cache_control=CACHE_CONTROL,
                  metadata={"product-id": product.product_id, "product-version": str(product.version)})
    return PosterResponse(url=store.presigned_url(key, expires_in=settings.url_ttl_seconds),
                          expires_at=iso(now + timedelta(seconds=settings.url_ttl_seconds)),
                          product_id=product.product_id, width=LAYOUT.width, height=LAYOUT.height)


# -- product photos -----------------------------------------------------------------------


def load_product_image(ref: str | None, *, store: ObjectStore, settings: MediaSettings) -> bytes | None:
    """The product photo's bytes, read from the media bucket (size limit). Nothing else is ever
    fetched: a reference that is a URL (a product saved before images became uploads, not yet
    imported by ``tools.import_product_images``) gets the placeholder, like a missing object."""
    if not ref or "://" in ref:
        return None
    try:
        stored = store.get(ref.lstrip("/"), max_bytes=settings.image_max_bytes)
    except ObjectTooLarge:
        return None
    except Exception:  # a poster never fails for want of a photo
        return None
    return stored.body if stored else None


def _load_logo(settings: MediaSettings, store: ObjectStore) -> bytes:
    if settings.merchant_logo_key:
        try:
            stored = store.get(settings.merchant_logo_key, max_bytes=settings.image_max_bytes)
        except Exception:
            stored = None
        if stored is not None:
            return stored.body
    return DEFAULT_LOGO_PATH.read_bytes()


# -- drawing (Pillow) -----------------------------------------------------------------------


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size)  # Latin only: Chinese would be empty boxes


def _measure(text: str, size: int) -> int:
    return int(_font(size).getlength(text) + 0.999)


def _decode(data: bytes | None, *, limit: int = MAX_IMAGE_PIXELS) -> PILImage.Image | None:
    """Decode untrusted image bytes, or None (corrupt, unsupported, too many pixels)."""
    if not data:
        return None
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
            if image.width * image.height > limit:
                return None
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None
    return image


def _placeholder(box: Box) -> PILImage.Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", box.size(), (242, 242, 242))
    draw = ImageDraw.Draw(image)
    text = "暂无图片"
    size = 40
    width = _measure(text, size)
    draw.text(((box.width - width) // 2, box.height // 2), text, font=_font(size), fill=(170, 170, 170),
              anchor="lm")
    return image


def render_poster(*, name: str, price_fen: int, slogan: str | None, qr: bytes, photo: bytes | None,
                  logo: bytes | None, layout: PosterLayout = LAYOUT) -> bytes:
    """The poster as PNG bytes, exactly ``layout.width`` × ``layout.height``."""
    from PIL import Image, ImageDraw, ImageOps

    canvas = Image.new("RGB", (layout.width, layout.height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)

    logo_image = _decode(logo)
    if logo_image is not None:
        logo_image = ImageOps.contain(logo_image.convert("RGBA"), layout.logo.size(), Image.Resampling.LANCZOS)
        canvas.paste(logo_image, layout.logo.xy(), logo_image)

    picture = _decode(photo)
    if picture is None:
        tile = _placeholder(layout.image)
    else:
        tile = ImageOps.fit(picture.convert("RGB"), layout.image.size(), Image.Resampling.LANCZOS)
    canvas.paste(tile, layout.image.xy())

    name_text = fit_text(name, width=layout.name.width, max_lines=layout.name_max_lines, sizes=layout.name_sizes,
                         measure=_measure)
    line_height = int(name_text.size * 1.35)
    for i, line in enumerate(name_text.lines):
        draw.text((layout.name.x, layout.name.y + i * line_height), line, font=_font(name_text.size),
                  fill=(34, 34, 34))

    draw.text(layout.price.xy(), format_price(price_fen), font=_font(layout.price_size), fill=(224, 46, 36))

    caption = fit_text(slogan or DEFAULT_CAPTION, width=layout.caption.width, max_lines=layout.caption_max_lines,
                       sizes=layout.caption_sizes, measure=_measure)
    caption_height = int(caption.size * 1.35)
    for i, line in enumerate(caption.lines):
        draw.text((layout.caption.x, layout.caption.y + i * caption_height), line, font=_font(caption.size),
                  fill=(102, 102, 102))

    qr_image = _decode(qr)
    if qr_image is None:
        raise ValueError("the stored QR code is not an image")
    # WeChat's code is round and anti-aliased (LANCZOS keeps it smooth); a square sandbox QR
    # resized with LANCZOS still decodes at 240 px.
    qr_tile = qr_image.convert("RGBA").resize(layout.qr.size(), Image.Resampling.LANCZOS)
    canvas.paste(qr_tile, layout.qr.xy(), qr_tile)
    hint = "长按识别小程序码" if slogan else "扫码查看"
    hint_size = 22
    hint_width = _measure(hint, hint_size)
    draw.text((layout.qr.x + (layout.qr.width - hint_width) // 2, layout.qr.bottom + 8), hint,
              font=_font(hint_size), fill=(153, 153, 153))

    out = BytesIO()
    canvas.save(out, format="PNG", compress_level=6)
    return out.getvalue()
