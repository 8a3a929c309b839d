"""The one-off import of products' image URLs, on DynamoDB Local: a reachable image becomes a
verified media-bucket key the product may keep using; a URL aimed at this machine is refused
without a connection and cleared with a note to re-upload; a second run changes nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

from PIL import Image

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.keys import audit_entity_partition, upload_key
from mall.dal.media import MediaUploadRepository
from mall.dal.objects import StoredObject
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.services.product_images import unverified_images
from tests.unit.test_image_fetch import loopback_only, server
from tools.image_fetch import GuardedFetcher
from tools.migrations import Migration, run
from tools.migrations.product_image_keys import MIGRATION, Importer

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


class MemoryStore:
    """The media bucket's put/get (S3 itself is not what is tested here)."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}

    def put(self, key: str, body: bytes, *, content_type: str, **_: object) -> None:
        self.objects[key] = StoredObject(body=body, content_type=content_type)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 160, 60)).save(out, format="JPEG")
    return out.getvalue()


def seed(table: Table, images: list[str]) -> None:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶"))
    ProductRepository(table).create(Product(product_id="p_old", name="老茶", type="physical", category_id="c_tea",
                                            price_fen=1000, stock=5, images=images, created_at=NOW, updated_at=NOW))


def migration(importer: Importer) -> Migration:
    return Migration(name=MIGRATION.name, description="test", apply=importer.apply,
                     filter_expression=MIGRATION.filter_expression, values=MIGRATION.values)


def test_a_reachable_image_becomes_a_verified_key_and_a_repeat_changes_nothing(table: Table) -> None:
    body = jpeg()

    def ok(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    store = MemoryStore()
    with server(ok) as (port, seen):
        url = f"http://127.0.0.1:{port}/tea.jpg"
        seed(table, [url, "product-images/" + "d4" * 16 + ".png"])
        importer = Importer(store, GuardedFetcher(allow=loopback_only))  # type: ignore[arg-type]
        assert run(table, migration(importer)).changed == 1
        assert run(table, migration(importer), restart=True).changed == 0
    assert seen == ["/tea.jpg"]
    product = ProductRepository(table).get("p_old", consistent=True)
    assert product is not None and product.version == 2
    key = product.images[0]
    assert key.startswith("product-images/") and key.endswith(".jpg") and store.objects[key].body == body
    assert product.images[1] == "product-images/" + "d4" * 16 + ".png"  # a key already: kept as it is
    record = table.get(upload_key(key.split("/")[1].split(".")[0]), consistent=True)
    assert record is not None and record["status"] == "VERIFIED"
    assert unverified_images(MediaUploadRepository(table), [key]) == []  # the product can be saved with it
    assert record["facts"]["thumbnails"] == [240, 750]  # made with the import, like an upload's
    assert key.replace("product-images/", "product-thumbs/").replace(".jpg", "-w240.jpg") in store.objects


def test_a_url_aimed_at_this_machine_is_cleared_with_a_note_and_never_connected(table: Table) -> None:
    def ok(h: BaseHTTPRequestHandler) -> None:  # must never be reached
        h.send_response(200)
        h.end_headers()
        h.wfile.write(jpeg())

    store = MemoryStore()
    with server(ok) as (port, seen):
        urls = [f"http://2130706433:{port}/a.jpg", f"https://127.1:{port}/b.jpg", f"http://localhost:{port}/c.jpg"]
        seed(table, urls)
        assert run(table, migration(Importer(store))).changed == 1  # type: ignore[arg-type]
    assert seen == [] and store.objects == {}
    item = table.get({"pk": "PRODUCT#p_old", "sk": "PRODUCT"}, consistent=True)
    assert item is not None and item["images"] == []
    assert [n["url"] for n in item["image_reupload"]] == urls
    assert all("non-global" in n["reason"] for n in item["image_reupload"])
    audit = table.query(partition=("gsi2pk", audit_entity_partition("product", "p_old")), index="gsi2").items
    assert [(a["action"], a["details"]["to_reupload"]) for a in audit] == [("product.images_import", urls)]


def test_a_dry_run_counts_and_fetches_nothing(table: Table) -> None:
    seed(table, ["https://img.example.com/x.jpg"])
    assert run(table, migration(Importer(MemoryStore())), dry_run=True).changed == 1  # type: ignore[arg-type]
    product = ProductRepository(table).get("p_old", consistent=True)
    assert product is not None and product.images == ["https://img.example.com/x.jpg"]
