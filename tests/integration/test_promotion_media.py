"""QR codes and posters on DynamoDB Local (the real referral and catalog repositories), moto's S3
server and the WeChat sandbox over HTTP, including parallel first requests."""

from __future__ import annotations

import io
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import zxingcpp
from botocore.config import Config
from PIL import Image

from local import sandbox
from local.queues import MotoServer
from mall.config import get_settings
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.objects import ObjectStore
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.domain.referral import Promoter
from mall.errors import Forbidden
from mall.integrations import wechat as wechat_module
from mall.integrations.wechat import WeChatServerClient
from mall.services.promotion_media import DrawPoster, MediaSettings, product_poster, promoter_qr

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BUCKET = "media-it"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = MotoServer()
    yield server.start()
    server.stop()


@pytest.fixture
def store(s3_endpoint: str) -> ObjectStore:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="local",
                          aws_secret_access_key="local",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                        max_pool_connections=32))
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return ObjectStore(BUCKET, client=client)


@pytest.fixture
def settings() -> MediaSettings:
    return MediaSettings(bucket=BUCKET, share_page="pages/index/index", qr_width=430)


@pytest.fixture
def wechat(sandbox_url: str) -> Any:
    wechat_module._token_cache.clear()

    def build() -> WeChatServerClient:
        return WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id=get_settings().wechat_app_id,
                                  app_secret="it-secret", timeout=5)

    return build


def add_promoter(table: Table, user_id: str, code: str, status: str = "active") -> None:
    PromoterRepository(table).create(
        Promoter(user_id=user_id, code=code, status=status, level_id="basic", applied_at=NOW),  # type: ignore[arg-type]
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)


def add_product(table: Table, product_id: str, *, price_fen: int = 12990) -> None:
    if CategoryRepository(table).get("c_it") is None:
        CategoryRepository(table).create(Category(category_id="c_it", name="茶"))
    ProductRepository(table).create(Product(product_id=product_id, name="普洱茶", type="physical",
                                            category_id="c_it", price_fen=price_fen, stock=3, on_shelf=True,
                                            created_at=NOW))


def key_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path).split(f"/{BUCKET}/", 1)[1]


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_parallel_first_requests_for_one_poster_agree(table: Table, store: ObjectStore, settings: MediaSettings,
                                                       wechat: Any) -> None:
    add_promoter(table, "u_it_alice", "ITALICE1")
    add_product(table, "p_it_1")
    phrases = SettingsRepository(table).current().settings.all_banned_phrases

    def request(_: int) -> str:
        result = product_poster(DrawPoster(user_id="u_it_alice", product_id="p_it_1", slogan=None, now=NOW),
                                promoters=PromoterRepository(table), products=ProductRepository(table),
                                banned_phrases=phrases, store=store, wechat=wechat, settings=settings)
        return key_of(result.url)

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(request, range(8)))
    assert len(keys) == 1
    stored = store.get(keys.pop())
    assert stored is not None and stored.content_type == "image/png"
    assert Image.open(io.BytesIO(stored.body)).size == (750, 1334)
    assert decode(stored.body) == ["pages/index/index?scene=ITALICE1"]
    # However many raced, later requests are served from the bucket.
    before = sandbox.qr_calls["ITALICE1"]
    request(0)
    assert sandbox.qr_calls["ITALICE1"] == before


def test_parallel_promoters_each_get_their_own_qr(table: Table, store: ObjectStore, settings: MediaSettings,
                                                   wechat: Any) -> None:
    codes = {f"u_it_p{i}": f"ITPAR{i:03d}" for i in range(6)}
    for user_id, code in codes.items():
        add_promoter(table, user_id, code)

    def request(user_id: str) -> tuple[str, list[str]]:
        result = promoter_qr(user_id=user_id, promoters=PromoterRepository(table), store=store, wechat=wechat,
                             settings=settings, now=NOW)
        body = store.get(key_of(result.url))
        assert body is not None
        return user_id, decode(body.body)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(pool.map(request, codes))
    assert results == {user_id: [f"pages/index/index?scene={code}"] for user_id, code in codes.items()}


def test_a_frozen_promoter_is_refused_with_the_real_repository(table: Table, store: ObjectStore,
                                                                settings: MediaSettings, wechat: Any) -> None:
    add_promoter(table, "u_it_frozen", "ITFROZE1", status="applied")
    with pytest.raises(Forbidden):
        promoter_qr(user_id="u_it_frozen", promoters=PromoterRepository(table), store=store, wechat=wechat,
                    settings=settings, now=NOW)
    assert sandbox.qr_calls["ITFROZE1"] == 0
