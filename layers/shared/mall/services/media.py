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
    recorded = {"width": facts.width, "height": facts.height, "bytes": facts.size}
    if problem is not None:
        store.delete(key)
        uploads.settle(upload_id, status=REJECTED, now=now, facts={**recorded, "problem": problem})
        raise InvalidInput(f"the uploaded file is not an acceptable image: {problem}", code="invalid_image",
                           fields=[FieldProblem("upload_id", problem)])
    if not uploads.settle(upload_id, status=VERIFIED, now=now, facts=recorded):
        again = uploads.get(upload_id) or {}
        if again.get("status") != VERIFIED:  # refused by a request running at the same time
            raise Conflict("this upload was refused; upload the image again", code="upload_refused")
    return _verified(upload_id, key, content_type, recorded)


def _verified(upload_id: str, key: str, content_type: str, facts: Mapping[str, object]) -> VerifiedImage:
    return VerifiedImage(upload_id=upload_id, key=key, content_type=content_type, width=int(str(facts["width"])),
                         height=int(str(facts["height"])), bytes=int(str(facts["bytes"])))


def unverified_images(uploads: MediaUploadRepository, images: list[str]) -> list[FieldProblem]:
    """A problem per image reference a product may not use: anything but the key of a verified upload."""
    ids = {i: rules.upload_id_of(ref) for i, ref in enumerate(images)}
    verified = uploads.verified(u for u in ids.values() if u)
    return [FieldProblem(f"images.{i}", "not a verified media-bucket image: upload it with POST /admin/media/uploads"
                         if u else "must be a media-bucket key from POST /admin/media/uploads, not a URL or path")
            for i, u in ids.items() if u is None or u not in verified]
