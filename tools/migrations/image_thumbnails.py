"""Verified product images get their thumbnails (240 and 750 px wide).

Uploads verified before thumbnails were made at verification (and images the
``product_image_keys`` import stored) have none, so the thumbnail URLs the product list and page
give would not load. For each VERIFIED upload record whose facts list no thumbnails, the image is
read from the media bucket, its copies are made and stored under the keys derived from its key
(``mall.domain.media.thumbnail_key``), and the record notes them (conditionally: only if still
without). Idempotent and resumable: the copies are the same bytes every time, the note is written
once. An image missing from the bucket is skipped and listed (``report``). Needs ``MEDIA_BUCKET``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mall.dal.media import MediaUploadRepository
from mall.dal.objects import ObjectStore
from mall.dal.table import Item, Table
from mall.domain import media as rules
from mall.services.media import store_thumbnails
from tools.migrations import Migration

NAME = "image_thumbnails"


@dataclass
class Thumbnailer:
    store: ObjectStore
    report: list[str] = field(default_factory=list)

    def apply(self, table: Table, item: Item, dry_run: bool) -> bool:
        facts = item.get("facts") or {}
        key, content_type = str(item.get("key", "")), str(item.get("content_type", ""))
        if item.get("status") != "VERIFIED" or "thumbnails" in facts or rules.upload_id_of(key) is None:
            return False
        if dry_run:
            return True
        stored = self.store.get(key, max_bytes=rules.MAX_IMAGE_BYTES)
        if stored is None:
            self.report.append(key)
            return False
        widths = store_thumbnails(self.store, key, stored.body, content_type)
        return MediaUploadRepository(table).record_thumbnails(str(item["upload_id"]), widths)


def _apply(table: Table, item: Item, dry_run: bool) -> bool:
    bucket = os.environ.get("MEDIA_BUCKET")
    if not bucket:
        raise SystemExit("MEDIA_BUCKET is not set: the stack's media bucket (output MediaBucketName)")
    return Thumbnailer(ObjectStore(bucket)).apply(table, item, dry_run)


MIGRATION = Migration(
    name=NAME,
    description="verified product images without thumbnails get their 240 and 750 px copies",
    apply=_apply,
    filter_expression="entity = :upload AND #s = :verified AND attribute_not_exists(facts.thumbnails)",
    names={"#s": "status"},
    values={":upload": "media_upload", ":verified": "VERIFIED"},
)
