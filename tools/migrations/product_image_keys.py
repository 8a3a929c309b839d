"""Products' image URLs become verified media-bucket keys (or are cleared with a note to re-upload).

Products saved before images were uploads hold external URLs. Each URL is fetched once through
``tools.image_fetch.GuardedFetcher`` (global addresses only, no redirect, a total deadline),
checked like an upload (``mall.services.media.inspect_image``: jpeg, png or webp, sane dimensions,
no decompression bomb), stored under ``product-images/<id>.<ext>`` with a VERIFIED upload record,
and the product's ``images`` is rewritten to the keys. A URL that cannot be had that way is
dropped and listed in ``image_reupload`` (URL and reason) for the merchant to upload again.

Idempotent and resumable: the upload id is derived from (product, URL), so a repeat stores the
same object under the same key and finds the record written; the product is rewritten only if
its ``images`` are still the ones read (``images = :seen``), bumping its ``version`` as an edit does.
Run it with ``python -m tools.import_product_images`` (needs ``MEDIA_BUCKET`` as well)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from mall.clock import iso, utc_now
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import upload_key
from mall.dal.media import MediaUploadRepository
from mall.dal.objects import ObjectStore
from mall.dal.table import ConditionFailed, Item, Table, TransactionCancelled, Write
from mall.domain import media as rules
from mall.services.media import inspect_image, store_thumbnails
from tools.image_fetch import FetchRefused, GuardedFetcher
from tools.migrations import Migration

NAME = "product_image_keys"
BY = "operator:import_product_images"
_FORMAT_TYPES = {fmt: content_type for content_type, (fmt, _ext) in rules.IMAGE_TYPES.items()}


def is_url(ref: object) -> bool:
    return isinstance(ref, str) and "://" in ref


@dataclass
class Importer:
    """What one import needs: the media bucket and the fetcher (the guarded one in production)."""

    store: ObjectStore
    fetcher: GuardedFetcher = field(default_factory=GuardedFetcher)
    report: list[dict[str, str]] = field(default_factory=list)

    def image(self, table: Table, product_id: str, url: str) -> str:
        """The verified key for ``url`` (fetched, checked and stored once); FetchRefused otherwise."""
        upload_id = hashlib.sha256(f"{product_id}\x1f{url}".encode()).hexdigest()[:32]
        existing = table.get(upload_key(upload_id), consistent=True)
        if existing is not None and existing.get("status") == "VERIFIED":
            return str(existing["key"])
        data = self.fetcher.fetch(url)
        facts = inspect_image(data)
        content_type = _FORMAT_TYPES.get(facts.format or "", "")
        problem = rules.image_problem(facts, content_type) if content_type else "not a jpeg, png or webp image"
        if problem is not None:
            raise FetchRefused(problem)
        key = rules.image_key(upload_id, content_type)
        self.store.put(key, data, content_type=content_type, metadata={"imported-from-product": product_id})
        # Like a verified upload, an imported image has its thumbnails before it is recorded.
        widths = store_thumbnails(self.store, key, data, content_type)
        with contextlib.suppress(ConditionFailed):  # a previous run stored and recorded the same object
            MediaUploadRepository(table).import_verified(
                upload_id=upload_id, key=key, content_type=content_type, by=BY, now=utc_now(),
                facts={"width": facts.width, "height": facts.height, "bytes": facts.size, "thumbnails": widths})
        return key

    def apply(self, table: Table, item: Item, dry_run: bool) -> bool:
        images = list(item.get("images") or [])
        if item.get("entity") != "product" or not any(is_url(ref) for ref in images):
            return False
        if dry_run:
            return True
        product_id = str(item["product_id"])
        kept: list[str] = []
        dropped: list[dict[str, str]] = []
        for ref in images:
            if not is_url(ref):
                kept.append(ref)
                continue
            try:
                kept.append(self.image(table, product_id, ref))
            except FetchRefused as refused:
                dropped.append({"url": ref, "reason": refused.reason})
        now = utc_now()
        values: dict[str, Any] = {":new": kept, ":seen": images, ":one": 1, ":now": iso(now), ":notes": dropped}
        update = "SET #images = :new, #version = #version + :one, updated_at = :now"
        update += ", image_reupload = :notes" if dropped else " REMOVE image_reupload"
        audit = AuditEntry(action="product.images_import", actor=BY, entity_type="product", entity_id=product_id,
                           before={"images": images}, after={"images": kept},
                           details={"to_reupload": [n["url"] for n in dropped]})
        try:
            table.transact([
                Write.update(table.name, {"pk": item["pk"], "sk": item["sk"]}, update, condition="#images = :seen",
                             names={"#images": "images", "#version": "version"},
                             values=values if dropped else {k: v for k, v in values.items() if k != ":notes"}),
                AuditLog(table).write(audit, now)])
        except TransactionCancelled as exc:
            if exc.conditional_failures == [0]:
                return False  # edited meanwhile: the next run looks at it again
            raise
        for note in dropped:
            self.report.append({"product_id": product_id, **note})
        return True


def _apply(table: Table, item: Item, dry_run: bool) -> bool:
    bucket = os.environ.get("MEDIA_BUCKET")
    if not bucket:
        raise SystemExit("MEDIA_BUCKET is not set: the stack's media bucket (output MediaBucketName)")
    return Importer(ObjectStore(bucket)).apply(table, item, dry_run)


MIGRATION = Migration(
    name=NAME,
    description="products' external image URLs → verified media-bucket keys (or cleared, noted for re-upload)",
    apply=_apply,
    filter_expression="entity = :product AND attribute_exists(images)",
    values={":product": "product"},
)
