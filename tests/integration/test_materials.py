"""The materials center on DynamoDB Local, moto's S3 server and the WeChat sandbox: banned phrases and
stale versions refused, a promoter's list per product plus the general ones with their own share
link filled in, and a poster on a template drawn once, its QR the promoter's own; round trips counted."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from PIL import Image

from local.queues import MotoServer
from mall.api.cursor import CursorCodec
from mall.config import MediaSettings, get_settings
from mall.dal.keys import audit_entity_partition
from mall.dal.materials import MaterialRepository
from mall.dal.media import MediaUploadRepository
from mall.dal.objects import ObjectStore
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.tokens import Role
from mall.errors import Conflict, InvalidInput, NotFound
from mall.integrations import wechat as wechat_module
from mall.integrations.wechat import WeChatServerClient
from mall.schemas.materials import MaterialCreate, MaterialUpdate
from mall.services import materials as center
from mall.services.material_posters import DrawTemplatePoster, template_poster
from tests.conftest import bearer
from tests.integration.test_admin_round_trips import ADMIN_ROUND_TRIPS
from tests.integration.test_admin_round_trips import call as admin_call  # noqa: F401 - the handler-calling fixture
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.integration.test_promotion_media import BUCKET, add_product, add_promoter, decode, key_of

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LAYOUT = {"qr": {"x": 470, "y": 1054, "width": 240, "height": 240},
          "title": {"x": 40, "y": 900, "width": 670, "height": 96},
          "price": {"x": 40, "y": 1000, "width": 400, "height": 64},
          "nickname": {"x": 40, "y": 1100, "width": 400, "height": 48}, "text_color": "#222222"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = MotoServer()
    yield server.start()
    server.stop()


@pytest.fixture
def store(s3_endpoint: str) -> ObjectStore:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="local",
                          aws_secret_access_key="local",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    return ObjectStore(BUCKET, client=client)


@pytest.fixture
def settings() -> MediaSettings:
    return MediaSettings(bucket=BUCKET, share_page="pages/index/index", qr_width=430)


@pytest.fixture
def wechat(sandbox_url: str) -> Callable[[], WeChatServerClient]:
    wechat_module._token_cache.clear()

    def build() -> WeChatServerClient:
        return WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id=get_settings().wechat_app_id,
                                  app_secret="it-secret", timeout=5)

    return build


@pytest.fixture
def sources(table: Table, store: ObjectStore) -> center.MaterialSources:
    phrases = SettingsRepository(table).current().settings.all_banned_phrases
    return center.MaterialSources(materials=MaterialRepository(table), uploads=MediaUploadRepository(table),
                                  banned_phrases=phrases, store=store)


def edit(at: datetime = NOW) -> center.MaterialEdit:
    return center.MaterialEdit(by="u_admin", source_ip="203.0.113.9", now=at)


def verified_background(table: Table, store: ObjectStore) -> str:
    """A background the merchant uploaded and the server verified: a coloured 750 × 1334 PNG."""
    upload_id = secrets.token_hex(16)
    key = f"product-images/{upload_id}.png"
    out = io.BytesIO()
    Image.new("RGB", (750, 1334), (40, 90, 160)).save(out, format="PNG")
    store.put(key, out.getvalue(), content_type="image/png")
    MediaUploadRepository(table).import_verified(upload_id=upload_id, key=key, content_type="image/png", by="u_admin",
                                                 now=NOW, facts={"width": 750, "height": 1334, "bytes": 1})
    return key


def create(sources: center.MaterialSources, **fields: Any) -> Any:
    return center.create_material(MaterialCreate.model_validate(fields), edit=edit(), sources=sources)


def test_a_banned_phrase_is_refused_naming_the_field_and_the_phrase(table: Table,
                                                                    sources: center.MaterialSources) -> None:
    with pytest.raises(InvalidInput) as refused:
        create(sources, kind="text", title="推荐语", text="加入我们, 天天躺赚 {share_link}")
    assert refused.value.code == "banned_phrase"
    assert [(f.field, f.reason) for f in refused.value.fields] == [("text", "contains the banned phrase '躺赚'")]
    with pytest.raises(InvalidInput) as title:
        create(sources, kind="text", title="发展下线攻略", text="好茶")
    assert [f.field for f in title.value.fields] == ["title"]
    with pytest.raises(InvalidInput) as placeholder:
        create(sources, kind="text", title="推荐语", text="看这里 {link}")
    assert [f.field for f in placeholder.value.fields] == ["text"]
    assert center.list_materials(center.MaterialQuery(product_id=None, general=False, kind=None, limit=50,
                                                      cursor=None),
                                 materials=sources.materials, store=sources.store,
                                 cursors=CursorCodec(lambda: b"test-key")).items == []


def test_a_background_must_be_a_verified_upload_and_a_template_must_fit(table: Table, store: ObjectStore,
                                                                       sources: center.MaterialSources) -> None:
    with pytest.raises(InvalidInput) as unverified:
        create(sources, kind="background", title="秋日", image_key=f"product-images/{'0' * 32}.png")
    assert [f.field for f in unverified.value.fields] == ["image_key"]
    with pytest.raises(InvalidInput) as url:
        create(sources, kind="background", title="秋日", image_key="https://evil.example/bg.png")
    assert [f.field for f in url.value.fields] == ["image_key"]
    background = create(sources, kind="background", title="秋日", image_key=verified_background(table, store))
    outside = {**LAYOUT, "qr": {"x": 600, "y": 1054, "width": 240, "height": 240}}
    with pytest.raises(InvalidInput) as bounds:
        create(sources, kind="template", title="秋日海报", background_id=background.material_id, layout=outside)
    assert [f.field for f in bounds.value.fields] == ["layout.qr"]
    with pytest.raises(InvalidInput) as missing:
        create(sources, kind="template", title="秋日海报", background_id="mat_nope", layout=LAYOUT)
    assert [f.field for f in missing.value.fields] == ["background_id"]


def test_a_stale_version_is_409_and_changes_nothing(table: Table, sources: center.MaterialSources) -> None:
    text = create(sources, kind="text", title="推荐语", text="好茶 {share_link}")
    assert text.version == 1
    first = center.update_material(text.material_id, MaterialUpdate(version=1, enabled=False),
                                   edit=edit(NOW + timedelta(minutes=1)), sources=sources)
    assert (first.version, first.enabled) == (2, False)
    with pytest.raises(Conflict) as stale:
        center.update_material(text.material_id, MaterialUpdate(version=1, text="另一段"), edit=edit(),
                               sources=sources)
    current: Any = stale.value.details["current"]
    assert stale.value.code == "version_conflict" and current["version"] == 2
    again = center.get_material(text.material_id, materials=sources.materials, store=sources.store)
    assert (again.version, again.text, again.enabled) == (2, "好茶 {share_link}", False)
    with pytest.raises(InvalidInput):  # a banned phrase on update too
        center.update_material(text.material_id, MaterialUpdate(version=2, text="无限代分红"), edit=edit(),
                               sources=sources)
    with pytest.raises(NotFound):
        center.update_material("mat_nope", MaterialUpdate(version=1, enabled=True), edit=edit(), sources=sources)
    audit = table.query(partition=("gsi2pk", audit_entity_partition("material", text.material_id)),
                        index="gsi2").items
    assert [a["action"] for a in audit] == ["material.create", "material.update"]


def test_a_promoter_lists_a_products_and_the_general_materials_filled_with_their_own_link(
        table: Table, store: ObjectStore, sources: center.MaterialSources, settings: MediaSettings) -> None:
    add_promoter(table, "u_mat_alice", "MATALIC1")
    tea = create(sources, kind="text", title="普洱推荐", product_id="p_mat_tea", text="普洱好茶 {share_link} 码{code}")
    general = create(sources, kind="text", title="通用推荐", text="全场好物 {share_link}")
    create(sources, kind="text", title="别的商品", product_id="p_mat_other", text="别的 {share_link}")
    hidden = create(sources, kind="text", title="停用的", text="停用 {share_link}")
    center.update_material(hidden.material_id, MaterialUpdate(version=1, enabled=False), edit=edit(), sources=sources)
    background = create(sources, kind="background", title="秋日", image_key=verified_background(table, store))
    template = create(sources, kind="template", title="秋日海报", background_id=background.material_id,
                      layout=LAYOUT)

    trips = Trips(table.client)
    listed = trips.of(lambda: center.promoter_materials(
        user_id="u_mat_alice", product_id="p_mat_tea", promoters=PromoterRepository(table),
        materials=sources.materials, store=store, settings=settings))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    by_id = {m.material_id: m for m in listed.items}
    # The product's own first, then the general ones; another product's and the disabled one never.
    assert next(iter(by_id)) == tea.material_id
    assert set(list(by_id)[1:]) == {general.material_id, template.material_id}
    assert by_id[tea.material_id].text == "普洱好茶 pages/index/index?scene=MATALIC1 码MATALIC1"
    assert by_id[general.material_id].text == "全场好物 pages/index/index?scene=MATALIC1"
    assert by_id[template.material_id].kind == "template" and by_id[template.material_id].preview_url
    general_only = center.promoter_materials(user_id="u_mat_alice", product_id=None,
                                             promoters=PromoterRepository(table), materials=sources.materials,
                                             store=store, settings=settings)
    assert {m.material_id for m in general_only.items} == {general.material_id, template.material_id}


def test_a_poster_on_a_template_is_drawn_once_with_the_promoters_own_qr(
        table: Table, store: ObjectStore, sources: center.MaterialSources, settings: MediaSettings,
        wechat: Callable[[], Any]) -> None:
    add_promoter(table, "u_mat_bob", "MATBOB01")
    add_product(table, "p_mat_1")
    background = create(sources, kind="background", title="秋日", image_key=verified_background(table, store))
    template = create(sources, kind="template", title="秋日海报", background_id=background.material_id,
                      layout=LAYOUT)
    puts: list[str] = []
    counting = _CountingStore(store, puts)
    phrases = sources.banned_phrases

    def draw() -> Any:
        return template_poster(DrawTemplatePoster(user_id="u_mat_bob", product_id="p_mat_1",
                                                  template_id=template.material_id, now=NOW),
                               promoters=PromoterRepository(table), templates=sources.materials,
                               banned_phrases=phrases, store=counting, wechat=wechat, settings=settings)

    trips = Trips(table.client)
    first = trips.of(draw)
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    key = key_of(first.url)
    assert first.template_id == template.material_id and f"-{template.material_id}-" in key
    stored = store.get(key)
    assert stored is not None
    image = Image.open(io.BytesIO(stored.body))
    assert image.size == (750, 1334)
    assert image.convert("RGB").getpixel((5, 5)) == (40, 90, 160)  # the template's background
    assert decode(stored.body) == ["pages/index/index?scene=MATBOB01"]
    drawn = [k for k in puts if k.startswith("posters/")]
    assert drawn == [key]
    second = draw()
    assert key_of(second.url) == key and [k for k in puts if k.startswith("posters/")] == [key]  # not redrawn
    # A new version of the template is a new poster.
    center.update_material(template.material_id, MaterialUpdate(version=1, title="秋日海报二"), edit=edit(),
                           sources=sources)
    third = draw()
    assert key_of(third.url) != key and len([k for k in puts if k.startswith("posters/")]) == 2
    # A disabled template draws nothing.
    center.update_material(template.material_id, MaterialUpdate(version=2, enabled=False), edit=edit(),
                           sources=sources)
    with pytest.raises(NotFound):
        draw()


class _CountingStore(ObjectStore):
    """The real store, noting every key written (a redraw would write the poster again)."""

    def __init__(self, inner: ObjectStore, puts: list[str]) -> None:
        super().__init__(inner.bucket, client=inner.client)
        self._puts = puts

    def put(self, key: str, body: bytes, *, content_type: str, cache_control: str | None = None,
            metadata: dict[str, str] | None = None) -> None:
        self._puts.append(key)
        super().put(key, body, content_type=content_type, cache_control=cache_control, metadata=metadata)



def test_the_routes_through_their_handlers_stay_within_their_round_trips(
        table: Table, admin_call: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811 - the fixture
    """Admin writes and reads within five round trips, the promoter's list within three, counted on
    the real handlers (every DynamoDB call their client sends)."""
    monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
    add_promoter(table, "u_mat_carol", "MATCARO1")
    call = admin_call
    created = call("admin_media", "POST", "/admin/materials",
                   {"kind": "text", "title": "推荐语", "product_id": "p_mat_2", "text": "好茶 {share_link}"},
                   key="mat-trips-1")
    assert created.status == 201 and created.trips <= ADMIN_ROUND_TRIPS, (created.body, created.sent)
    material_id = created.body["material_id"]
    changed = call("admin_media", "PATCH", f"/admin/materials/{material_id}", {"version": 1, "title": "推荐语二"})
    assert changed.status == 200 and changed.trips <= ADMIN_ROUND_TRIPS, (changed.body, changed.sent)
    listed = call("admin_media", "GET", "/admin/materials", query={"product_id": "p_mat_2"})
    assert listed.status == 200 and listed.trips <= ADMIN_ROUND_TRIPS, listed.sent
    assert [m["title"] for m in listed.body["items"]] == ["推荐语二"]
    mine = call("promoter_poster", "GET", "/promoter/materials", query={"product_id": "p_mat_2"},
                headers=bearer("u_mat_carol", Role.CUSTOMER, Role.PROMOTER))
    assert mine.status == 200 and mine.trips <= CUSTOMER_ROUTE_TRIPS, (mine.body, mine.sent)
    assert [m["text"] for m in mine.body["items"]] == ["好茶 pages/index/index?scene=MATCARO1"]
