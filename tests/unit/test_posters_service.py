"""Promoter QR and poster use cases with fake repositories, a fake WeChat and moto's S3:
exact poster size, the QR inside it decodes, caching, regeneration, refusals, photo fallbacks."""

from __future__ import annotations

import dataclasses
import io
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import zxingcpp
from moto import mock_aws
from PIL import Image

from local.sandbox import _qr_png, sandbox_qr_link
from mall.dal.objects import ObjectStore
from mall.domain.catalog import Product
from mall.domain.posters import LAYOUT, qr_object_key
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings
from mall.errors import Forbidden, InvalidInput, NotFound, TooManyRequests
from mall.services import promotion_media as media
from mall.services.promotion_media import DrawPoster, MediaSettings, product_poster, promoter_qr, render_poster

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BUCKET = "media-unit"
SETTINGS = MediaSettings(bucket=BUCKET, share_page="pages/index/index", qr_width=430)
PHRASES = DistributionSettings().all_banned_phrases()


class FakeWeChat:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_with: Exception | None = None

    def get_unlimited_qr(self, *, scene: str, page: str, width: int = 430, env_version: str = "release",
                         check_path: bool = True) -> bytes:
        self.calls.append({"scene": scene, "page": page, "width": width})
        if self.fail_with is not None:
            raise self.fail_with
        return _qr_png(sandbox_qr_link(page, scene), width)


class Repo:
    def __init__(self, **items: Any) -> None:
        self.items = dict(items)

    def get(self, key: str) -> Any:
        return self.items.get(key)


def promoter(user_id: str = "u_alice", code: str = "ALICE001", status: str = "active") -> Promoter:
    return Promoter(user_id=user_id, code=code, status=status, level_id="basic")  # type: ignore[arg-type]


def product(**changes: Any) -> Product:
    base = Product(product_id="p_tea", name="云南古树普洱茶 357g 饼茶", type="physical", category_id="c_tea",
                   price_fen=12990, stock=10, images=["catalog/p_tea/1.jpg"], on_shelf=True, version=3)
    return dataclasses.replace(base, **changes)


def jpeg(color: tuple[int, int, int] = (30, 120, 200), size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def store() -> Iterator[ObjectStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="catalog/p_tea/1.jpg", Body=jpeg(), ContentType="image/jpeg")
        yield ObjectStore(BUCKET, client=s3)


@pytest.fixture
def wx() -> FakeWeChat:
    return FakeWeChat()


def qr(store: ObjectStore, wx: FakeWeChat, user: str = "u_alice", promoters: Repo | None = None) -> Any:
    return promoter_qr(user_id=user, promoters=promoters or Repo(u_alice=promoter()), store=store,
                       wechat=lambda: wx, settings=SETTINGS, now=NOW)


def poster(store: ObjectStore, wx: FakeWeChat, *, products: Repo | None = None, slogan: str | None = None,
           promoters: Repo | None = None) -> Any:
    return product_poster(DrawPoster(user_id="u_alice", product_id="p_tea", slogan=slogan, now=NOW),
                          promoters=promoters or Repo(u_alice=promoter()),
                          products=products or Repo(p_tea=product()), banned_phrases=lambda: PHRASES, store=store,
                          wechat=lambda: wx, settings=SETTINGS)


def key_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.split(f"/{BUCKET}/", 1)[-1].lstrip("/"))


def stored(store: ObjectStore, url: str) -> bytes:
    obj = store.get(key_of(url))
    assert obj is not None, url
    return obj.body


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


# -- the promoter's QR --------------------------------------------------------------------------


def test_qr_is_stored_once_and_served_from_the_bucket_after(store: ObjectStore, wx: FakeWeChat) -> None:
    first = qr(store, wx)
    second = qr(store, wx)
    assert len(wx.calls) == 1, "the second request must not call WeChat"
    assert wx.calls[0] == {"scene": "ALICE001", "page": "pages/index/index", "width": 430}
    assert key_of(first.url) == key_of(second.url) == qr_object_key(
        code="ALICE001", page="pages/index/index", width=430, env_version="release")
    assert first.scene == "ALICE001" and first.expires_at == "2026-11-22T09:00:00Z"
    assert decode(stored(store, first.url)) == ["pages/index/index?scene=ALICE001"]
    assert store.get(key_of(first.url)).content_type == "image/png"  # type: ignore[union-attr]


def test_each_promoter_gets_their_own_qr(store: ObjectStore, wx: FakeWeChat) -> None:
    promoters = Repo(u_alice=promoter(), u_bob=promoter("u_bob", "BOB00002"))
    alice = qr(store, wx, "u_alice", promoters)
    bob = qr(store, wx, "u_bob", promoters)
    assert key_of(alice.url) != key_of(bob.url)
    assert decode(stored(store, bob.url)) == ["pages/index/index?scene=BOB00002"]


@pytest.mark.parametrize("status", ["applied", "frozen", "disabled", "rejected", None])
def test_only_an_active_promoter_gets_a_qr(store: ObjectStore, wx: FakeWeChat, status: str | None) -> None:
    promoters = Repo(u_alice=promoter(status=status)) if status else Repo()
    with pytest.raises(Forbidden) as refused:
        qr(store, wx, promoters=promoters)
    assert refused.value.code == "promoter_not_active" and not wx.calls


def test_a_wechat_refusal_stores_nothing(store: ObjectStore, wx: FakeWeChat) -> None:
    wx.fail_with = TooManyRequests("slow down", retry_after_seconds=60)
    with pytest.raises(TooManyRequests):
        qr(store, wx)
    wx.fail_with = None
    qr(store, wx)
    assert len(wx.calls) == 2


# -- posters -------------------------------------------------------------------------------------


def test_poster_has_the_exact_size_and_its_qr_decodes_to_the_share_link(store: ObjectStore, wx: FakeWeChat) -> None:
    result = poster(store, wx)
    png = stored(store, result.url)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (LAYOUT.width, LAYOUT.height) == (result.width, result.height)
    assert decode(png) == ["pages/index/index?scene=ALICE001"]
    # The product photo from the bucket is drawn (its blue), not the grey placeholder.
    centre = image.getpixel((LAYOUT.image.x + LAYOUT.image.width // 2, LAYOUT.image.y + LAYOUT.image.height // 2))
    assert centre[2] > 150 and centre[0] < 80  # type: ignore[index]


def test_poster_reuses_the_qr_and_is_drawn_once(store: ObjectStore, wx: FakeWeChat,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    qr(store, wx)
    drawn: list[str] = []
    real = media.render_poster

    def counting(**kw: Any) -> bytes:
        drawn.append(kw["name"])
        return real(**kw)

    monkeypatch.setattr(media, "render_poster", counting)
    first, second = poster(store, wx), poster(store, wx)
    assert key_of(first.url) == key_of(second.url)
    assert len(drawn) == 1 and len(wx.calls) == 1


@pytest.mark.parametrize("change", [{"price_fen": 9900}, {"name": "普洱熟茶"}, {"version": 4},
                                    {"images": ["catalog/p_tea/2.jpg"]}])
def test_a_changed_product_gets_a_new_poster(store: ObjectStore, wx: FakeWeChat, change: dict[str, Any]) -> None:
    before = poster(store, wx)
    after = poster(store, wx, products=Repo(p_tea=product(**change)))
    assert key_of(before.url) != key_of(after.url)
    assert store.exists(key_of(before.url)) and store.exists(key_of(after.url))


def test_a_slogan_is_part_of_the_poster(store: ObjectStore, wx: FakeWeChat) -> None:
    plain, with_slogan = poster(store, wx), poster(store, wx, slogan="今日好茶推荐")
    assert key_of(plain.url) != key_of(with_slogan.url)


@pytest.mark.parametrize(("slogan", "name", "field"), [("躺赚好茶", None, "slogan"),
                                                      (None, "拉人头套餐", "product_id")])
def test_banned_phrases_on_a_poster_are_refused(store: ObjectStore, wx: FakeWeChat, slogan: str | None,
                                                name: str | None, field: str) -> None:
    products = Repo(p_tea=product(name=name)) if name else None
    with pytest.raises(InvalidInput) as refused:
        poster(store, wx, slogan=slogan, products=products)
    assert refused.value.code == "banned_phrase" and refused.value.fields[0].field == field
    assert not wx.calls


@pytest.mark.parametrize("products", [Repo(), Repo(p_tea=product(on_shelf=False))])
def test_poster_of_a_missing_or_unlisted_product_is_404(store: ObjectStore, wx: FakeWeChat, products: Repo) -> None:
    with pytest.raises(NotFound):
        poster(store, wx, products=products)


def test_poster_of_a_product_outside_distribution_is_refused(store: ObjectStore, wx: FakeWeChat) -> None:
    with pytest.raises(InvalidInput) as refused:
        poster(store, wx, products=Repo(p_tea=product(distribution_enabled=False)))
    assert refused.value.code == "product_not_distributed"


def test_inactive_promoter_gets_no_poster(store: ObjectStore, wx: FakeWeChat) -> None:
    with pytest.raises(Forbidden):
        poster(store, wx, promoters=Repo(u_alice=promoter(status="frozen")))


def test_a_bucket_photo_is_drawn(store: ObjectStore, wx: FakeWeChat) -> None:
    store.put("product-images/" + "c3" * 16 + ".jpg", jpeg((200, 30, 30)), content_type="image/jpeg")
    result = poster(store, wx, products=Repo(p_tea=product(images=["product-images/" + "c3" * 16 + ".jpg"])))
    image = Image.open(io.BytesIO(stored(store, result.url))).convert("RGB")
    r, g, _ = image.getpixel((LAYOUT.image.x + 10, LAYOUT.image.y + 10))  # type: ignore[misc]
    assert r > 150 and g < 80


@pytest.mark.parametrize("images", [[], ["catalog/none.jpg"], ["https://img.example/broken.jpg"],
                                    ["http://img.example/plain-http.jpg"]])
def test_an_unavailable_photo_falls_back_to_a_placeholder(store: ObjectStore, wx: FakeWeChat,
                                                          images: list[str]) -> None:
    result = poster(store, wx, products=Repo(p_tea=product(images=images)))
    image = Image.open(io.BytesIO(stored(store, result.url))).convert("RGB")
    assert image.size == (750, 1334)
    assert image.getpixel((LAYOUT.image.x + 5, LAYOUT.image.y + 5)) == (242, 242, 242)
    assert decode(stored(store, result.url)) == ["pages/index/index?scene=ALICE001"]


def test_the_poster_connects_to_no_address_a_product_names(store: ObjectStore, wx: FakeWeChat) -> None:
    """Product images used to be URLs the poster fetched: every spelling of 127.0.0.1 reached this
    machine. Now no URL is fetched at all, whatever it names: the listener sees no connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    spellings = [f"https://{host}:{port}/a.jpg" for host in
                 ("2130706433", "0177.0.0.1", "127.1", "0x7f000001", "0", "localhost", "[::ffff:127.0.0.1]",
                  "127.0.0.1")] + [f"http://127.0.0.1:{port}/a.jpg"]
    try:
        for n, url in enumerate(spellings):
            # The production path: no test double for any fetching.
            result = product_poster(DrawPoster(user_id="u_alice", product_id="p_tea", slogan=None, now=NOW),
                                    promoters=Repo(u_alice=promoter()),
                                    products=Repo(p_tea=product(images=[url], version=100 + n)),
                                    banned_phrases=lambda: PHRASES, store=store, wechat=lambda: wx,
                                    settings=SETTINGS)
            assert stored(store, result.url)[:8] == b"\x89PNG\r\n\x1a\n"
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_an_oversized_bucket_photo_is_not_read(store: ObjectStore) -> None:
    small = SETTINGS.model_copy(update={"image_max_bytes": 1024})
    data = media.load_product_image("catalog/p_tea/1.jpg", store=store, settings=small)
    assert data is None


def test_a_decompression_bomb_is_a_placeholder_not_a_crash() -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 Mpx, a few KB
    png = render_poster(name="茶", price_fen=100, slogan=None, qr=_qr_png("x?scene=A", 430), photo=bomb.getvalue(),
                        logo=None)
    assert Image.open(io.BytesIO(png)).size == (750, 1334)


def test_a_chinese_name_is_drawn_with_real_glyphs() -> None:
    """The bundled font draws Chinese: two different characters give different pixels (a font
    without them draws the same empty box for both)."""
    def name_pixels(name: str) -> bytes:
        png = render_poster(name=name, price_fen=100, slogan=None, qr=_qr_png("x?scene=A", 430), photo=None,
                            logo=None)
        box = LAYOUT.name
        return Image.open(io.BytesIO(png)).convert("L").crop((box.x, box.y, box.x + 60, box.y + 60)).tobytes()

    assert name_pixels("茶") != name_pixels("酒")
    assert name_pixels("茶") != bytes(len(name_pixels("茶"))) and min(name_pixels("茶")) < 100
