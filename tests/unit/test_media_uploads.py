"""POST /admin/media/uploads and …/verify through the real handler (moto for DynamoDB and S3): the
server picks the key, the form fixes type and size, and only a real image of the declared type and
of sane dimensions is verified; anything else is refused 422 and deleted. A product then takes the
verified key and nothing else."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from PIL import Image

from mall.dal import objects
from mall.domain.tokens import Role
from mall.services import media_bucket
from tests.conftest import bearer
from tests.unit.conftest import Invoke

BUCKET = "media-uploads"


def clear_media_caches() -> None:
    media_bucket.media_settings.cache_clear()
    media_bucket.media_store.cache_clear()
    objects.s3_client.cache_clear()


@pytest.fixture(autouse=True)
def _media(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    clear_media_caches()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield
    clear_media_caches()


def admin() -> dict[str, str]:
    return {**bearer("admin:alice", Role.ADMIN), "idempotency-key": uuid.uuid4().hex}


def image(fmt: str, size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


def start(invoke: Invoke, content_type: str = "image/jpeg") -> dict[str, Any]:
    status, form, _ = invoke("admin_media", "POST", "/admin/media/uploads", body={"content_type": content_type},
                             headers=admin())
    assert status == 201, form
    return form


def upload(form: dict[str, Any], data: bytes) -> None:
    """What the browser's POST of the form leaves in the bucket (moto runs in-process here)."""
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=BUCKET, Key=form["key"], Body=data,
                                                           ContentType=form["fields"]["Content-Type"])


def verify(invoke: Invoke, upload_id: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = invoke("admin_media", "POST", f"/admin/media/uploads/{upload_id}/verify", headers=admin())
    return status, body


def exists(key: str) -> bool:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=key)
    return bool(listed.get("Contents"))


def test_the_form_is_bound_to_a_key_type_and_size_the_server_chose(invoke: Invoke) -> None:
    form = start(invoke, "image/png")
    assert form["key"] == f"product-images/{form['upload_id']}.png"
    assert form["fields"]["key"] == form["key"] and form["fields"]["Content-Type"] == "image/png"
    assert form["max_bytes"] == 5_000_000 and "policy" in form["fields"]
    status, body, _ = invoke("admin_media", "POST", "/admin/media/uploads", body={"content_type": "image/svg+xml"},
                             headers=admin())
    assert status == 422 and body["error"]["fields"][0]["field"] == "content_type"
    status, body, _ = invoke("admin_media", "POST", "/admin/media/uploads",
                             body={"content_type": "image/png", "key": "qr/mine.png"}, headers=admin())
    assert status == 422  # the client cannot name the key


def test_a_real_image_is_verified_and_a_product_may_then_use_it(invoke: Invoke) -> None:
    form = start(invoke)
    assert verify(invoke, form["upload_id"])[1]["error"]["code"] == "upload_missing"
    upload(form, image("JPEG"))
    status, body = verify(invoke, form["upload_id"])
    assert status == 200, body
    assert (body["key"], body["width"], body["height"]) == (form["key"], 800, 600)
    assert verify(invoke, form["upload_id"]) == (200, body)  # a repeat answers the same
    status, category, _ = invoke("admin_categories", "POST", "/admin/categories", body={"name": "Tea"},
                                 headers=admin())
    assert status == 201, category
    status, product, _ = invoke("admin_products", "POST", "/admin/products", headers=admin(), body={
        "name": "Tea", "type": "virtual", "category_id": category["category_id"], "price_fen": 100,
        "images": [form["key"]]})
    assert status == 201 and product["images"] == [form["key"]], product


@pytest.mark.parametrize(("declared", "data"), [
    ("image/jpeg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
    ("image/jpeg", image("PNG")),  # not what it was declared as
    ("image/png", image("PNG", (20, 20))),  # too small to be a product photo
    ("image/png", image("PNG", (7000, 64))),  # a side too long
    ("image/webp", image("JPEG")[:200]),  # truncated
])
def test_anything_but_a_sane_image_of_the_declared_type_is_refused_and_deleted(
        invoke: Invoke, declared: str, data: bytes) -> None:
    form = start(invoke, declared)
    upload(form, data)
    status, body = verify(invoke, form["upload_id"])
    assert status == 422 and body["error"]["code"] == "invalid_image", body
    assert body["error"]["fields"][0]["field"] == "upload_id"
    assert not exists(form["key"])
    status, again = verify(invoke, form["upload_id"])
    assert status == 409 and again["error"]["code"] == "upload_refused"


def test_a_decompression_bomb_is_refused_without_decoding_it(invoke: Invoke) -> None:
    bomb = io.BytesIO()
    Image.new("1", (6000, 6000)).save(bomb, format="PNG")  # 36 Mpx in a few KB
    form = start(invoke, "image/png")
    upload(form, bomb.getvalue())
    status, body = verify(invoke, form["upload_id"])
    assert status == 422 and body["error"]["code"] == "invalid_image", body


def test_unknown_uploads_are_404(invoke: Invoke) -> None:
    assert verify(invoke, "0" * 32)[0] == 404
    assert verify(invoke, "not-an-id")[0] == 422


def stored(key: str) -> Image.Image:
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return Image.open(io.BytesIO(body))


def test_verifying_makes_upright_thumbnails_without_metadata_under_keys_the_server_derives(invoke: Invoke) -> None:
    # A phone photo: stored 1600×1200 landscape with the EXIF flag "rotate 90°" and where it was taken.
    photo = Image.new("RGB", (1600, 1200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was held upright
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    photo.save(out, format="JPEG", exif=exif)
    form = start(invoke)
    upload(form, out.getvalue())
    status, body = verify(invoke, form["upload_id"])
    assert status == 200, body
    upload_id = form["upload_id"]
    assert body["thumbnails"] == [f"product-thumbs/{upload_id}-w240.jpg", f"product-thumbs/{upload_id}-w750.jpg"]
    for key, width in zip(body["thumbnails"], (240, 750), strict=True):
        thumb = stored(key)
        assert thumb.format == "JPEG" and thumb.size == (width, width * 1600 // 1200)  # upright: portrait
        assert not thumb.getexif()
    assert verify(invoke, upload_id) == (200, body)  # a repeat answers the same


def test_a_small_image_is_not_enlarged(invoke: Invoke) -> None:
    form = start(invoke, "image/png")
    upload(form, image("PNG", (300, 200)))
    status, body = verify(invoke, form["upload_id"])
    assert status == 200, body
    assert stored(body["thumbnails"][0]).size == (240, 160)
    assert stored(body["thumbnails"][1]).size == (300, 200)
