"""GET /promoter/qrcode and POST /promoter/posters through the real handlers: moto for DynamoDB
and S3, the WeChat sandbox over HTTP, the real referral and catalog repositories."""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import zxingcpp
from PIL import Image

from local import sandbox
from mall.dal import objects
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain.catalog import Category, Product
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from mall.services import media_bucket
from tests.conftest import bearer as signed_header
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function

BUCKET = "media-handlers"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def clear_media_caches() -> None:
    media_bucket.media_settings.cache_clear()
    media_bucket.media_store.cache_clear()
    objects.s3_client.cache_clear()


@pytest.fixture(autouse=True)
def _media(moto_table: str, sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WECHAT_API_BASE", f"{sandbox_url}/wechat")
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    monkeypatch.setenv("SHARE_PAGE", "pages/index/index")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    clear_media_caches()
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    yield
    clear_media_caches()


def add_promoter(user_id: str, code: str, status: str = "active") -> None:
    PromoterRepository(main_table()).create(
        Promoter(user_id=user_id, code=code, status=status, level_id="basic", applied_at=NOW),  # type: ignore[arg-type]
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)


def add_product(product_id: str = "p_tea", **changes: Any) -> None:
    categories = CategoryRepository(main_table())
    if categories.get("c_tea") is None:
        categories.create(Category(category_id="c_tea", name="茶"))
    fields: dict[str, Any] = {"product_id": product_id, "name": "云南古树普洱茶", "type": "physical",
                              "category_id": "c_tea", "price_fen": 12990, "stock": 10, "images": [],
                              "on_shelf": True, "created_at": NOW, **changes}
    ProductRepository(main_table()).create(Product(**fields))


def bearer(user_id: str, *roles: Role) -> dict[str, str]:
    return signed_header(user_id, *(roles or (Role.CUSTOMER, Role.PROMOTER)))


def fetch(url: str) -> bytes:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    key = path.split(f"/{BUCKET}/", 1)[1] if f"/{BUCKET}/" in path else path.lstrip("/")
    body: bytes = boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_promoter_gets_their_qr_and_a_repeat_makes_no_wechat_call(invoke: Invoke) -> None:
    add_promoter("u_alice", "ALICEH01")
    status, first, _ = invoke("promoter_qrcode", "GET", "/promoter/qrcode", headers=bearer("u_alice"))
    assert status == 200, first
    assert first["scene"] == "ALICEH01" and first["page"] == "pages/index/index" and first["width"] == 430
    assert decode(fetch(first["url"])) == ["pages/index/index?scene=ALICEH01"]
    calls = sandbox.qr_calls["ALICEH01"]
    status, second, _ = invoke("promoter_qrcode", "GET", "/promoter/qrcode", headers=bearer("u_alice"))
    assert status == 200 and sandbox.qr_calls["ALICEH01"] == calls == 1
    assert fetch(second["url"]) == fetch(first["url"])


def test_a_customer_gets_403_and_anonymous_401(invoke: Invoke) -> None:
    status, body, _ = invoke("promoter_qrcode", "GET", "/promoter/qrcode", headers=bearer("u_carol", Role.CUSTOMER))
    assert (status, body["error"]["code"]) == (403, "forbidden_role")
    status, body, _ = invoke("promoter_poster", "POST", "/promoter/posters", body={"product_id": "p_tea"},
                             headers=bearer("u_carol", Role.CUSTOMER))
    assert (status, body["error"]["code"]) == (403, "forbidden_role")
    assert invoke("promoter_qrcode", "GET", "/promoter/qrcode")[0] == 401


def test_a_promoter_role_in_the_token_is_not_enough_once_frozen(invoke: Invoke) -> None:
    add_promoter("u_frozen", "FROZEN01", status="frozen")
    status, body, _ = invoke("promoter_qrcode", "GET", "/promoter/qrcode", headers=bearer("u_frozen"))
    assert (status, body["error"]["code"]) == (403, "promoter_not_active")
    assert sandbox.qr_calls["FROZEN01"] == 0


def test_there_is_no_way_to_ask_for_another_promoters_qr() -> None:
    add_promoter("u_alice", "ALICEH02")
    add_promoter("u_bob", "BOBBYH02")
    handler = load_function("promoter_qrcode").handler
    event = http_event("GET", "/promoter/qrcode", headers=bearer("u_alice"))
    event["rawQueryString"] = "user_id=u_bob&code=BOBBYH02"
    event["queryStringParameters"] = {"user_id": "u_bob", "code": "BOBBYH02"}
    result = handler(event, FakeContext())
    body = json.loads(result["body"])
    assert result["statusCode"] == 200 and body["scene"] == "ALICEH02"
    assert sandbox.qr_calls["BOBBYH02"] == 0


def test_poster_over_the_handler(invoke: Invoke) -> None:
    add_promoter("u_alice", "ALICEH03")
    add_product()
    status, body, _ = invoke("promoter_poster", "POST", "/promoter/posters", body={"product_id": "p_tea"},
                             headers=bearer("u_alice"))
    assert status == 200, body
    png = fetch(body["url"])
    assert Image.open(io.BytesIO(png)).size == (body["width"], body["height"]) == (750, 1334)
    assert decode(png) == ["pages/index/index?scene=ALICEH03"]


def test_the_qr_in_a_poster_opens_exactly_the_profiles_share_link(invoke: Invoke,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Link, QR and poster are one share target (``mall.domain.referral.share_target``), read from the
    same SHARE_PAGE: a mini-program page other than the default proves they do not drift apart."""
    monkeypatch.setenv("SHARE_PAGE", "pages/share/landing")
    clear_media_caches()
    add_promoter("u_alice", "ALICEH05")
    add_product()
    status, profile, _ = invoke("promoter_profile", "GET", "/promoter/profile", headers=bearer("u_alice"))
    assert status == 200, profile
    assert profile["share_link"] == "pages/share/landing?scene=ALICEH05"
    status, poster, _ = invoke("promoter_poster", "POST", "/promoter/posters", body={"product_id": "p_tea"},
                               headers=bearer("u_alice"))
    assert status == 200, poster
    assert decode(fetch(poster["url"])) == [profile["share_link"]]
    status, qr, _ = invoke("promoter_qrcode", "GET", "/promoter/qrcode", headers=bearer("u_alice"))
    assert status == 200 and qr["share_link"] == profile["share_link"] == decode(fetch(qr["url"]))[0]


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"product_id": "p_nope"}, 404, "product_not_found"),
    ({}, 422, "validation_error"),
    ({"product_id": "p_tea", "extra": 1}, 422, "validation_error"),
    ({"product_id": "p_tea", "slogan": "天天躺赚"}, 422, "banned_phrase"),
    ({"product_id": "p_tea", "slogan": "躺\u200b赚每月过万"}, 422, "banned_phrase"),
    ({"product_id": "p_tea", "slogan": "躺賺每月过万"}, 422, "banned_phrase"),
    ({"product_id": "p_tea", "slogan": "躺.赚每月过万"}, 422, "banned_phrase"),
    ({"product_id": "p_tea", "slogan": "\u202e代限无"}, 422, "banned_phrase"),
    ({"product_id": "p_tea", "slogan": "好茶\n好价"}, 422, "invalid_text"),
    ({"product_id": "p_tea", "slogan": "x" * 25}, 422, "validation_error"),
])
def test_poster_refusals(invoke: Invoke, payload: dict[str, Any], status: int, code: str) -> None:
    add_promoter("u_alice", "ALICEH04")
    add_product()
    got, body, _ = invoke("promoter_poster", "POST", "/promoter/posters", body=payload, headers=bearer("u_alice"))
    assert (got, body["error"]["code"]) == (status, code), body


def test_materials_over_the_handlers(invoke: Invoke) -> None:
    """The merchant saves a text through the admin route (a banned phrase is a 422 naming the field
    and the phrase); the promoter lists it with their own share link; a template id that is not
    one is a 404, and a slogan does not go with a template."""
    add_promoter("u_alice", "ALICEH06")
    add_product()
    admin = {**bearer("u_owner", Role.ADMIN), "idempotency-key": "mat-create-1"}
    status, body, _ = invoke("admin_media", "POST", "/admin/materials", headers=admin,
                             body={"kind": "text", "title": "推荐语", "text": "一起躺赚 {share_link}"})
    assert (status, body["error"]["code"]) == (422, "banned_phrase"), body
    assert body["error"]["fields"] == [{"field": "text", "reason": "contains the banned phrase '躺赚'"}]
    admin["idempotency-key"] = "mat-create-2"
    status, created, _ = invoke("admin_media", "POST", "/admin/materials", headers=admin,
                                body={"kind": "text", "title": "推荐语", "product_id": "p_tea",
                                      "text": "好茶 {share_link}"})
    assert status == 201 and created["version"] == 1, created
    status, listed, _ = invoke("promoter_poster", "GET", "/promoter/materials", headers=bearer("u_alice"))
    assert status == 200 and listed["items"] == []  # general ones only: none
    event = http_event("GET", "/promoter/materials", headers=bearer("u_alice"))
    event["queryStringParameters"] = {"product_id": "p_tea"}
    event["rawQueryString"] = "product_id=p_tea"
    result = load_function("promoter_poster").handler(event, FakeContext())
    items = json.loads(result["body"])["items"]
    assert [i["text"] for i in items] == ["好茶 pages/index/index?scene=ALICEH06"]
    status, body, _ = invoke("promoter_poster", "POST", "/promoter/posters", headers=bearer("u_alice"),
                             body={"product_id": "p_tea", "template_id": created["material_id"]})
    assert (status, body["error"]["code"]) == (404, "template_not_found")  # a text is not a template
    status, body, _ = invoke("promoter_poster", "POST", "/promoter/posters", headers=bearer("u_alice"),
                             body={"product_id": "p_tea", "template_id": "mat_x", "slogan": "好茶"})
    assert (status, body["error"]["code"]) == (422, "validation_error")
    assert body["error"]["fields"][0]["field"] == "slogan"
