"""Product images (商品图片): what the media bucket accepts and what a product may refer to. Pure.

A product refers to its images by media-bucket key only, never by a URL: the server fetches no
address a user typed (no server-side request forgery). The key is the server's choice
(``product-images/<32 hex>.<ext>``); the admin uploads the bytes straight to S3 with a presigned
POST bound to that key, one of ``IMAGE_TYPES`` and at most ``MAX_IMAGE_BYTES``, and the server
then checks the object is a real image of that type and of sane dimensions before any product may
use it (``mall.services.media``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Declared content type → (Pillow's format name, file extension).
IMAGE_TYPES: dict[str, tuple[str, str]] = {"image/jpeg": ("JPEG", "jpg"), "image/png": ("PNG", "png"),
                                          "image/webp": ("WEBP", "webp")}
MAX_IMAGE_BYTES = 5_000_000
MIN_IMAGE_SIDE = 64
MAX_IMAGE_SIDE = 6000
#: Pixels decoded at most (a 5 MB file can claim a billion pixels: a decompression bomb).
MAX_IMAGE_PIXELS = 25_000_000
#: How long a presigned POST may be used.
UPLOAD_TTL_SECONDS = 600

PRODUCT_IMAGE_PREFIX = "product-images/"
#: Widths of the smaller copies made when an upload is verified: 240 for lists, 750 for the product
#: page (a phone's width at 2x). Their keys are not image keys: no product can refer to one.
THUMBNAIL_WIDTHS: tuple[int, ...] = (240, 750)
THUMBNAIL_PREFIX = "product-thumbs/"
LIST_THUMBNAIL, PAGE_THUMBNAIL = THUMBNAIL_WIDTHS
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
IMAGE_KEY = re.compile(r"^product-images/(?P<upload_id>[0-9a-f]{32})\.(?P<ext>jpg|png|webp)$")


def image_key(upload_id: str, content_type: str) -> str:
    """The object key of an upload: chosen here, never by the client."""
    if not UPLOAD_ID.match(upload_id) or content_type not in IMAGE_TYPES:
        raise ValueError("not an upload id or an accepted image type")
    return f"{PRODUCT_IMAGE_PREFIX}{upload_id}.{IMAGE_TYPES[content_type][1]}"


def thumbnail_key(key: str, width: int) -> str | None:
    """Where the ``width`` px wide copy of the image ``key`` is; None for anything but an image key."""
    found = IMAGE_KEY.match(key)
    if found is None or width not in THUMBNAIL_WIDTHS:
        return None
    return f"{THUMBNAIL_PREFIX}{found['upload_id']}-w{width}.{found['ext']}"


def thumbnail_size(width: int, height: int, target: int) -> tuple[int, int]:
    """The size of a copy ``target`` wide, never wider than the original (no upscaling)."""
    if width <= target:
        return width, height
    return target, max(1, round(height * target / width))


def upload_id_of(key: str) -> str | None:
    """The upload a product image key came from; None when ``key`` is not one (a URL, a path …)."""
    found = IMAGE_KEY.match(key)
    return found["upload_id"] if found else None


@dataclass(frozen=True)
class ImageFacts:
    """What decoding the stored bytes found."""

    format: str | None  # Pillow's name; None: not an image Pillow can read
    width: int
    height: int
    size: int


def image_problem(facts: ImageFacts, content_type: str) -> str | None:
    """Why the object cannot be a product image, or None when it can."""
    if facts.size > MAX_IMAGE_BYTES:
        return f"larger than {MAX_IMAGE_BYTES} bytes"
    if facts.format is None:
        return "not a readable image (or too many pixels)"
    expected = IMAGE_TYPES.get(content_type, ("", ""))[0]
    if facts.format != expected:
        return f"declared {content_type} but is {facts.format}"
    if min(facts.width, facts.height) < MIN_IMAGE_SIDE or max(facts.width, facts.height) > MAX_IMAGE_SIDE:
        return f"{facts.width}×{facts.height}: each side must be {MIN_IMAGE_SIDE}–{MAX_IMAGE_SIDE} pixels"
    if facts.width * facts.height > MAX_IMAGE_PIXELS:
        return f"more than {MAX_IMAGE_PIXELS} pixels"
    return None
