"""Product image uploads (商品图片上传): the server picks the key, the admin uploads straight to
S3 with a presigned POST, and the server checks the stored object before a product may use it
(rules: ``mall.domain.media``; records: ``mall.dal.media``; docs/security.md)."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta
from io import BytesIO

from mall.clock import iso
from mall.dal.media import PENDING, REJECTED, VERIFIED, MediaUploadRepository
from mall.dal.objects import ObjectStore, ObjectTooLarge
from mall.domain import media as rules
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.media import UploadForm, UploadRequest, VerifiedImage


def inspect_image(data: bytes) -> rules.ImageFacts:
    """Decode untrusted bytes far enough to know the format and size, refusing decompression bombs
    (the pixel count is checked from the header, before any pixel is decoded)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as probe:
                width, height, fmt = probe.width, probe.height, probe.format
                if width * height > rules.MAX_IMAGE_PIXELS:
                    return rules.ImageFacts(format=None, width=width, height=height, size=len(data))
                probe.verify()  # structure and checksums
            with Image.open(BytesIO(data)) as full:
                full.load()  # every pixel decodes (verify() does not decode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return rules.ImageFacts(format=None, width=0, height=0, size=len(data))
    return rules.ImageFacts(format=fmt, width=width, height=height, size=len(data))


def make_thumbnails(data: bytes, content_type: str) -> dict[int, bytes]:
    """The copies of a verified image per width of ``rules.THUMBNAIL_WIDTHS``, in its own format,
    turned upright by its EXIF orientation (a phone photo is stored sideways with a flag) and
    without its metadata (EXIF can carry where a photo was taken)."""
    from PIL import Image, ImageOps

    fmt = rules.IMAGE_TYPES[content_type][0]
    made: dict[int, bytes] = {}
    with Image.open(BytesIO(data)) as original:
        upright = ImageOps.exif_transpose(original)
        if fmt == "JPEG" and upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        for width in rules.THUMBNAIL_WIDTHS:
            size = rules.thumbnail_size(upright.width, upright.height, width)
            copy = upright.resize(size, Image.Resampling.LANCZOS) if size != upright.size else upright.copy()
            out = BytesIO()
            options: dict[str, object] = {"quality": 82, "optimize": True} if fmt in ("JPEG", "WEBP") else {
                "optimize": True}
            copy.save(out, format=fmt, **options)
            made[width] = out.getvalue()
    return made


def store_thumbnails(store: ObjectStore, key: str, data: bytes, content_type: str) -> list[int]:
    """Make and store the image's thumbnails under the keys ``rules.thumbnail_key`` derives from its
    key: the same bytes every time, so a repeat (a retried verify, the migration) is harmless."""
    for width, body in make_thumbnails(data, content_type).items():
        thumb = rules.thumbnail_key(key, width)
        if thumb is None:  # pragma: no cover - only image keys reach here
            raise ValueError(f"{key} is not an image key")
        store.put(thumb, body, content_type=content_type, cache_control=THUMBNAIL_CACHE_CONTROL)
    return list(rules.THUMBNAIL_WIDTHS)


#: A thumbnail's key is derived from an upload that never changes: caches may keep it.
THUMBNAIL_CACHE_CONTROL = "public, max-age=31536000, immutable"


def start_upload(*, uploads: MediaUploadRepository, store: ObjectStore, body: UploadRequest, by: str,
                 now: datetime) -> UploadForm:
    upload_id = secrets.token_hex(16)
    key = rules.image_key(upload_id, body.content_type)
    uploads.create(upload_id=upload_id, key=key, content_type=body.content_type, by=by, now=now)
    form = store.presigned_post(key, content_type=body.content_type, max_bytes=rules.MAX_IMAGE_BYTES,
                                expires_in=rules.UPLOAD_TTL_SECONDS)
    return UploadForm(upload_id=upload_id, key=key, url=form["url"], fields=form["fields"],
                      max_bytes=rules.MAX_IMAGE_BYTES,
                      expires_at=iso(now + timedelta(seconds=rules.UPLOAD_TTL_SECONDS)))


def verify_upload(*, uploads: MediaUploadRepository, store: ObjectStore, upload_id: str,
                  now: datetime) -> VerifiedImage:
    """Check the uploaded object; VERIFIED (usable by products) or 422 ``invalid_image`` (the object
    is deleted and the upload refused for good). Repeating a verified one answers the same."""
    upload = uploads.get(upload_id) if rules.UPLOAD_ID.match(upload_id) else None
    if upload is None:
        raise NotFound("no such upload (or it expired)", code="upload_not_found")
    key, content_type = str(upload["key"]), str(upload["content_type"])
    if upload["status"] == VERIFIED:
        return _verified(upload_id, key, content_type, dict(upload.get("facts") or {}))
    if upload["status"] != PENDING:
        raise Conflict("this upload was refused; upload the image again", code="upload_refused")
    try:
        stored = store.get(key, max_bytes=rules.MAX_IMAGE_BYTES)
    except ObjectTooLarge:
        stored = None
        facts = rules.ImageFacts(format=None, width=0, height=0, size=rules.MAX_IMAGE_BYTES + 1)
    else:
        if stored is None:
            raise Conflict("nothing was uploaded yet: POST the form to S3 first", code="upload_missing")
        facts = inspect_image(stored.body)
    problem = rules.image_problem(facts, content_type)
    recorded: dict[str, object] = {"width": facts.width, "height": facts.height, "bytes": facts.size}
    if problem is not None:
        store.delete(key)
        uploads.settle(upload_id, status=REJECTED, now=now, facts={**recorded, "problem": problem})
        raise InvalidInput(f"the uploaded file is not an acceptable image: {problem}", code="invalid_image",
                           fields=[FieldProblem("upload_id", problem)])
    if stored is None:  # pragma: no cover - a missing or oversized object has a problem
        raise Conflict("nothing was uploaded yet: POST the form to S3 first", code="upload_missing")
    # Made before the upload counts as verified, so a verified image always has its thumbnails.
    recorded["thumbnails"] = store_thumbnails(store, key, stored.body, content_type)
    if not uploads.settle(upload_id, status=VERIFIED, now=now, facts=recorded):
        again = uploads.get(upload_id) or {}
        if again.get("status") != VERIFIED:  # refused by a request running at the same time
            raise Conflict("this upload was refused; upload the image again", code="upload_refused")
    return _verified(upload_id, key, content_type, recorded)


def _verified(upload_id: str, key: str, content_type: str, facts: Mapping[str, object]) -> VerifiedImage:
    widths = facts.get("thumbnails")
    thumbs = [rules.thumbnail_key(key, int(w)) for w in widths] if isinstance(widths, list) else []
    return VerifiedImage(upload_id=upload_id, key=key, content_type=content_type, width=int(str(facts["width"])),
                         height=int(str(facts["height"])), bytes=int(str(facts["bytes"])),
                         thumbnails=[t for t in thumbs if t])
