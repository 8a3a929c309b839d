"""Over HTTP against the local stack: a promoter's QR code and a product poster, fetched from
their presigned URLs (moto's S3) and decoded; the sandbox counts WeChat QR calls.

The promoter and the product are written with the referral and catalog repositories straight
into the stack's table (the same items their admin routes write), so this test needs no admin flow."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import requests
import zxingcpp
from PIL import Image

from tests.conftest import clear_caches

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@contextlib.contextmanager
def stack_env(stack: Any) -> Iterator[None]:
    """Run layer code in this process against the stack's DynamoDB and S3."""
    saved = dict(os.environ)
    os.environ.update(stack.env)
    clear_caches()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clear_caches()


def login(api: str, http: requests.Session, code: str) -> dict[str, Any]:
    response = http.post(f"{api}/auth/login", json={"code": code}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 640), (20, 160, 90)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def promoter(stack: Any, api: str, http: requests.Session) -> dict[str, str]:
    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.referral import PromoterRepository
    from mall.dal.table import main_table
    from mall.domain.catalog import Category, Product
    from mall.domain.referral import Promoter

    user_id = login(api, http, "e2e-media-promoter")["user_id"]
    with stack_env(stack):
        table = main_table()
        PromoterRepository(table).create(
            Promoter(user_id=user_id, code="E2EQR001", status="active", level_id="basic", applied_at=NOW),
            grant_role=True, replaces_rejected=False, now=NOW, reserve_code=True)
        if CategoryRepository(table).get("c_e2e_media") is None:
            CategoryRepository(table).create(Category(category_id="c_e2e_media", name="茶叶"))
        ProductRepository(table).create(Product(
            product_id="p_e2e_media", name="云南古树普洱茶 357g", type="physical", category_id="c_e2e_media",
            price_fen=12990, stock=5, images=["catalog/p_e2e_media/cover.jpg"], on_shelf=True, created_at=NOW))
        bucket = stack.function_env("PromoterPosterFunction")["MEDIA_BUCKET"]
        boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1").put_object(
            Bucket=bucket, Key="catalog/p_e2e_media/cover.jpg", Body=jpeg(), ContentType="image/jpeg")
    token = login(api, http, "e2e-media-promoter")["access_token"]  # now carries the promoter role
    return {"user_id": user_id, "token": token, "code": "E2EQR001"}


def qr_calls(stack: Any, scene: str) -> int:
    response = requests.get(f"{stack.sandbox_url}/wechat/sandbox/qr-calls", params={"scene": scene}, timeout=5)
    return int(response.json()["calls"])


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_promoter_qr_over_http_is_cached(stack: Any, api: str, http: requests.Session,
                                         promoter: dict[str, str]) -> None:
    first = http.get(f"{api}/promoter/qrcode", headers=auth(promoter["token"]), timeout=20)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["scene"] == promoter["code"]
    image = http.get(body["url"], timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert decode(image.content) == [f"{body['page']}?scene={promoter['code']}"]
    assert qr_calls(stack, promoter["code"]) == 1
    again = http.get(f"{api}/promoter/qrcode", headers=auth(promoter["token"]), timeout=20)
    assert again.status_code == 200 and qr_calls(stack, promoter["code"]) == 1
    assert http.get(again.json()["url"], timeout=10).content == image.content


def test_poster_over_http(stack: Any, api: str, http: requests.Session, promoter: dict[str, str]) -> None:
    response = http.post(f"{api}/promoter/posters", json={"product_id": "p_e2e_media", "slogan": "今日好茶"},
                         headers=auth(promoter["token"]), timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    png = http.get(body["url"], timeout=10)
    assert png.status_code == 200
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG" and image.size == (body["width"], body["height"]) == (750, 1334)
    assert decode(png.content) == [f"pages/index/index?scene={promoter['code']}"]
    green = image.convert("RGB").getpixel((375, 480))
    assert green[1] > 120 and green[0] < 60, green  # type: ignore[index]  # the product photo from the bucket


def test_customer_and_anonymous_are_refused(api: str, http: requests.Session) -> None:
    token = login(api, http, "e2e-media-customer")["access_token"]
    refused = http.get(f"{api}/promoter/qrcode", headers=auth(token), timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    poster = http.post(f"{api}/promoter/posters", json={"product_id": "p_e2e_media"}, headers=auth(token),
                       timeout=10)
    assert poster.status_code == 403
    assert http.get(f"{api}/promoter/qrcode", timeout=10).status_code == 401


def test_banned_slogan_is_refused_over_http(api: str, http: requests.Session, promoter: dict[str, str]) -> None:
    response = http.post(f"{api}/promoter/posters", json={"product_id": "p_e2e_media", "slogan": "拉人头就能躺赚"},
                         headers=auth(promoter["token"]), timeout=10)
    assert response.status_code == 422 and response.json()["error"]["code"] == "banned_phrase"
