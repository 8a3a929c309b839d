"""The thumbnails of images verified before thumbnails were made, on DynamoDB Local: each verified
upload without them gets its 240 and 750 px copies and a note of them; a repeat, a pending upload
and an image missing from the bucket change nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

from mall.dal.keys import upload_key
from mall.dal.media import MediaUploadRepository
from mall.dal.objects import StoredObject
from mall.dal.table import Table
from tools.migrations import Migration, run
from tools.migrations.image_thumbnails import MIGRATION, Thumbnailer

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
OLD = "a0" * 16
MISSING = "b0" * 16
PENDING = "c0" * 16


class MemoryStore:
    """The media bucket's get/put (S3 itself is not what is tested here)."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}

    def put(self, key: str, body: bytes, *, content_type: str, **_: object) -> None:
        self.objects[key] = StoredObject(body=body, content_type=content_type)

    def get(self, key: str, *, max_bytes: int | None = None) -> StoredObject | None:
        return self.objects.get(key)


def migration(thumbnailer: Thumbnailer) -> Migration:
    return Migration(name=MIGRATION.name, description="test", apply=thumbnailer.apply,
                     filter_expression=MIGRATION.filter_expression, names=MIGRATION.names, values=MIGRATION.values)


def test_old_verified_images_get_their_thumbnails_once(table: Table) -> None:
    store = MemoryStore()
    photo = io.BytesIO()
    Image.new("RGB", (1000, 500), (20, 160, 60)).save(photo, format="JPEG")
    uploads = MediaUploadRepository(table)
    for upload_id in (OLD, MISSING):
        uploads.import_verified(upload_id=upload_id, key=f"product-images/{upload_id}.jpg", content_type="image/jpeg",
                                by="test", now=NOW, facts={"width": 1000, "height": 500, "bytes": 1})
    uploads.create(upload_id=PENDING, key=f"product-images/{PENDING}.jpg", content_type="image/jpeg", by="test",
                   now=NOW)
    store.put(f"product-images/{OLD}.jpg", photo.getvalue(), content_type="image/jpeg")
    thumbnailer = Thumbnailer(store)  # type: ignore[arg-type]

    assert run(table, migration(thumbnailer), dry_run=True).changed == 2
    assert not [k for k in store.objects if k.startswith("product-thumbs/")]  # a dry run writes nothing

    assert run(table, migration(thumbnailer)).changed == 1
    small = Image.open(io.BytesIO(store.objects[f"product-thumbs/{OLD}-w240.jpg"].body))
    assert small.size == (240, 120)
    assert f"product-thumbs/{OLD}-w750.jpg" in store.objects
    assert (table.get(upload_key(OLD)) or {})["facts"]["thumbnails"] == [240, 750]
    assert thumbnailer.report == [f"product-images/{MISSING}.jpg"]
    assert "facts" not in (table.get(upload_key(PENDING)) or {})

    assert run(table, migration(thumbnailer), restart=True).changed == 0
