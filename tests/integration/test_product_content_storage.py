"""What a product says, on DynamoDB Local: typed attributes per kind, the description's blocks and
the after-sales policy are stored in the product's own detail item (the shelf lists never read
it), checked against the product's kind and the verified uploads (422 naming the field, nothing
written), and shown on the product page in at most three round trips, a promoter's too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.catalog import CategoryRepository
from mall.dal.keys import product_detail_key, product_key
from mall.dal.media import MediaUploadRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.catalog import Category
from mall.domain.referral import Promoter
from mall.errors import InvalidInput
from mall.schemas.catalog import ProductCreate, ProductUpdate
from mall.services.catalog import browsing, products
from mall.services.catalog.common import CatalogRepositories
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
COVER = "product-images/" + "c1" * 16 + ".jpg"
PHOTO = "product-images/" + "d2" * 16 + ".png"
UNCHECKED = "product-images/" + "e3" * 16 + ".jpg"

TEA: dict[str, Any] = {
    "name": "西湖龙井 250g", "type": "physical", "category_id": "c_tea", "price_fen": 16800, "stock": 50,
    "on_shelf": True, "images": [COVER],
    "attributes": {"weight_g": 250, "origin": "杭州西湖", "shelf_life_days": 540},
    "content": [{"type": "heading", "text": "产地"}, {"type": "text", "text": "<script>alert(1)</script> 明前采摘"},
                {"type": "image", "key": PHOTO}],
    "after_sales": {"no_reason_return": True, "return_window_days": 15, "return_shipping_paid_by": "merchant",
                    "note": "破损包赔"},
}


@pytest.fixture
def repos(table: Table) -> CatalogRepositories:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶叶"))
    uploads = MediaUploadRepository(table)
    for key, kind in ((COVER, "image/jpeg"), (PHOTO, "image/png")):
        upload_id = key.split("/")[1].split(".")[0]
        uploads.import_verified(upload_id=upload_id, key=key, content_type=kind, by="test", now=NOW,
                                facts={"width": 800, "height": 800, "bytes": 1000, "thumbnails": [240, 750]})
    return CatalogRepositories.on(table)


def create(repos: CatalogRepositories, **fields: Any) -> str:
    body = ProductCreate.model_validate({**TEA, **fields})
    return products.create_product(repos=repos, body=body, now=NOW).product_id


def refused(work: Any) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        work()
    return [p.field for p in caught.value.fields]


def sign(key: str) -> str:
    return f"https://media.example/{key}?sig"


def test_the_page_shows_what_the_product_says_and_lists_stay_small(repos: CatalogRepositories, table: Table) -> None:
    product_id = create(repos)
    page = browsing.product_detail(repos=repos, product_id=product_id, viewer=None, image_url=sign)
    assert page.attributes.model_dump(exclude_none=True) == TEA["attributes"]
    assert [b.type for b in page.content] == ["heading", "text", "image"]
    assert page.content[1].text == "<script>alert(1)</script> 明前采摘"  # text, never interpreted as markup
    assert page.content[2].url == sign(PHOTO)
    assert page.content[2].thumbnail_url == sign("product-thumbs/" + "d2" * 16 + "-w750.png")
    assert page.after_sales is not None
    assert (page.after_sales.return_window_days, page.after_sales.return_shipping_paid_by,
            page.after_sales.is_default) == (15, "merchant", False)
    assert page.image_thumbnail_urls == [sign("product-thumbs/" + "c1" * 16 + "-w750.jpg")]
    listed = browsing.browse_products(browsing.BrowseProducts(where=browsing.ListingFilter(), sort="newest",
                                                              limit=10), repos=repos, image_url=sign)
    assert listed.items[0].cover_thumbnail_url == sign("product-thumbs/" + "c1" * 16 + "-w240.jpg")
    # The shelf item (what every list reads) carries none of it: it lives in the detail item.
    shelf_item = table.get(product_key(product_id)) or {}
    assert not {"attributes", "blocks", "after_sales"} & set(shelf_item)
    assert (table.get(product_detail_key(product_id)) or {})["attributes"]["weight_g"] == 250
    admin = products.get_admin_product(repos=repos, product_id=product_id)
    assert admin.attributes is not None and admin.attributes.origin == "杭州西湖"


def test_a_product_without_content_shows_its_kinds_default_policy(repos: CatalogRepositories) -> None:
    product_id = create(repos, attributes={}, content=[], after_sales=None, type="virtual", images=[],
                        shipping_fee_fen=0)
    page = browsing.product_detail(repos=repos, product_id=product_id, viewer=None)
    assert page.after_sales is not None
    assert (page.after_sales.no_reason_return, page.after_sales.is_default) == (False, True)
    physical = browsing.product_detail(repos=repos, product_id=create(repos, after_sales=None), viewer=None)
    assert physical.after_sales is not None and physical.after_sales.no_reason_return
    assert physical.after_sales.return_window_days == 7


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "service", "attributes": {"weight_g": 250}}, "attributes.weight_g"),
    ({"type": "virtual", "attributes": {"itinerary": ["Day 1"]}}, "attributes.itinerary"),
    ({"attributes": {"delivery_method": "code"}}, "attributes.delivery_method"),
    ({"type": "service", "attributes": {"terms_title": "服务合同"}}, "attributes.terms_text"),
    ({"content": [{"type": "image", "key": UNCHECKED}]}, "content.0.key"),
    ({"content": [{"type": "image"}]}, "content.0.key"),
    ({"content": [{"type": "text", "text": " "}]}, "content.0.text"),
    ({"images": [COVER, COVER]}, "images.1"),
    ({"after_sales": {"no_reason_return": True, "return_window_days": 3}}, "after_sales.return_window_days"),
])
def test_content_that_does_not_fit_the_kind_is_refused_naming_the_field(
        repos: CatalogRepositories, table: Table, fields: dict[str, Any], field: str) -> None:
    if fields.get("type") in ("service", "virtual"):
        fields = {"shipping_fee_fen": 0, **fields}
    assert field in refused(lambda: create(repos, **fields))
    assert CategoryRepository(table).get("c_tea").product_count == 0  # type: ignore[union-attr]


def test_an_edit_replaces_content_and_a_new_kind_needs_its_own_attributes(
        repos: CatalogRepositories, table: Table) -> None:
    product_id = create(repos)

    def update(version: int, **fields: Any) -> Any:
        return products.update_product(repos=repos, product_id=product_id, now=NOW,
                                       body=ProductUpdate.model_validate({"version": version, **fields}))

    # A service keeps no weight: the change of kind is refused until the attributes are replaced.
    assert refused(lambda: update(1, type="service", shipping_fee_fen=0)) == ["attributes.weight_g",
                                                                             "attributes.origin",
                                                                             "attributes.shelf_life_days"]
    changed = update(1, type="service", shipping_fee_fen=0, after_sales=None, attributes={
        "itinerary": ["08:00 集合", "12:00 午餐"], "restrictions": "70 岁以上需家属陪同",
        "terms_title": "旅游服务合同", "terms_text": "第一条 ……"})
    assert changed.version == 2 and changed.after_sales is not None and changed.after_sales.is_default
    assert changed.content is not None and len(changed.content) == 3  # kept: not sent
    page = browsing.product_detail(repos=repos, product_id=product_id, viewer=None)
    assert page.attributes.itinerary == ["08:00 集合", "12:00 午餐"] and page.attributes.weight_g is None
    # An edit of the listing fields only leaves the detail item alone.
    before = table.get(product_detail_key(product_id))
    assert update(2, price_fen=15800).attributes is not None
    assert table.get(product_detail_key(product_id)) == before


def test_the_product_page_takes_at_most_three_round_trips_for_a_promoter(
        repos: CatalogRepositories, table: Table) -> None:
    product_id = create(repos)
    PromoterRepository(table).create(
        Promoter(user_id="u_promoter0001", code="CP0001", status="active", level_id="basic", applied_at=NOW),
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=False)
    trips = Trips(table.client)
    page = trips.of(lambda: browsing.product_detail(repos=repos, product_id=product_id, viewer="u_promoter0001"))
    assert page.promoter_earn_fen is not None and page.promoter_earn_fen > 0
    assert page.attributes.weight_g == 250
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    guest = trips.of(lambda: browsing.product_detail(repos=repos, product_id=product_id, viewer=None))
    assert guest.promoter_earn_fen is None and len(trips.sent) <= 2, trips.sent


def test_an_edit_of_the_price_reads_no_upload_and_writes_no_detail(repos: CatalogRepositories, table: Table) -> None:
    product_id = create(repos)
    trips = Trips(table.client)
    edited = trips.of(lambda: products.update_product(
        repos=repos, product_id=product_id, now=NOW, body=ProductUpdate.model_validate({"version": 1,
                                                                                         "price_fen": 15800})))
    assert edited.price_fen == 15800 and edited.content is not None and len(edited.content) == 3
    # the product with its detail, the transaction, the product read back: no read of the uploads
    assert trips.sent == ["BatchGetItem", "TransactWriteItems", "GetItem"], trips.sent
