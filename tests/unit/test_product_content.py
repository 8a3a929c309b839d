"""What a product says: the pure rules (attributes per kind, blocks, the after-sales policy, the
stored shape) and the 422s of the admin route naming the field (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from mall.domain.media import thumbnail_key, thumbnail_size
from mall.domain.product_content import (
    AfterSalesPolicy,
    ContentBlock,
    ProductAttributes,
    ProductContent,
    content_from_dict,
    content_problems,
)
from tests.unit.conftest import Invoke
from tests.unit.test_catalog_handlers import _media_bucket, category, get, verified_image, write  # noqa: F401

pytestmark = pytest.mark.usefixtures("moto_table", "_media_bucket")


def fields(product_type: str, content: ProductContent) -> list[str]:
    return [p.field for p in content_problems(product_type, content)]


def test_each_attribute_belongs_to_one_kind() -> None:
    tea = ProductContent(attributes=ProductAttributes(weight_g=250, origin="杭州", shelf_life_days=540))
    assert fields("physical", tea) == []
    assert fields("service", tea) == ["attributes.weight_g", "attributes.origin", "attributes.shelf_life_days"]
    tour = ProductContent(attributes=ProductAttributes(itinerary=("Day 1",), restrictions="18+",
                                                       terms_title="合同", terms_text="……"))
    assert fields("service", tour) == [] and "attributes.itinerary" in fields("physical", tour)
    card = ProductContent(attributes=ProductAttributes(delivery_method="code", delivery_note="付款后 5 分钟"))
    assert fields("virtual", card) == [] and fields("service", card) == ["attributes.delivery_method",
                                                                         "attributes.delivery_note"]


def test_blocks_and_the_policy_are_checked() -> None:
    blocks = (ContentBlock("heading", text="x" * 61), ContentBlock("image"), ContentBlock("text", text="a", key="k"))
    assert fields("physical", ProductContent(blocks=blocks)) == ["content.0.text", "content.1.key", "content.2"]
    short = AfterSalesPolicy(no_reason_return=True, return_window_days=6)
    assert fields("physical", ProductContent(after_sales=short)) == ["after_sales.return_window_days"]
    assert fields("physical", ProductContent(after_sales=AfterSalesPolicy(False, 0))) == []


def test_the_stored_shape_reads_back_the_same() -> None:
    content = ProductContent(attributes=ProductAttributes(weight_g=250, itinerary=()),
                             blocks=(ContentBlock("text", text="好茶"), ContentBlock("image", key="k")),
                             after_sales=AfterSalesPolicy(True, 7, "merchant", "note"))
    assert content_from_dict(content.as_dict()) == content
    assert content_from_dict(None) == ProductContent()
    assert ProductContent().policy("physical").no_reason_return
    assert not ProductContent().policy("service").no_reason_return


def test_thumbnail_keys_and_sizes() -> None:
    key = "product-images/" + "ab" * 16 + ".webp"
    assert thumbnail_key(key, 240) == "product-thumbs/" + "ab" * 16 + "-w240.webp"
    assert thumbnail_key(key, 300) is None and thumbnail_key("https://x/y.jpg", 240) is None
    assert thumbnail_size(1000, 500, 240) == (240, 120) and thumbnail_size(100, 80, 240) == (100, 80)


def create(invoke: Invoke, **payload: Any) -> tuple[int, dict[str, Any]]:
    status, body, _ = invoke("admin_products", "POST", "/admin/products", headers=write(), body={
        "name": "Tea", "type": "physical", "category_id": payload.pop("category_id"), "price_fen": 1000,
        "on_shelf": True, **payload})
    return status, body


@pytest.mark.parametrize(("payload", "field"), [
    ({"attributes": {"weight_g": 0}}, "attributes.weight_g"),
    ({"attributes": {"weight_g": "heavy"}}, "attributes.weight_g"),
    ({"attributes": {"colour": "red"}}, "attributes.colour"),
    ({"type": "service", "attributes": {"weight_g": 250}}, "attributes.weight_g"),
    ({"content": [{"type": "html", "text": "<b>x</b>"}]}, "content.0.type"),
    ({"content": [{"type": "image", "key": "javascript:alert(1)"}]}, "content.0.key"),
    ({"content": [{"type": "image", "key": "https://evil.example/x.jpg"}]}, "content.0.key"),
    ({"after_sales": {"no_reason_return": True, "return_window_days": 91}}, "after_sales.return_window_days"),
    ({"after_sales": {"no_reason_return": True, "return_window_days": 7, "return_shipping_paid_by": "x"}},
     "after_sales.return_shipping_paid_by"),
])
def test_the_admin_route_refuses_bad_content_naming_the_field(invoke: Invoke, payload: dict[str, Any],
                                                              field: str) -> None:
    tea = category(invoke)
    status, body = create(invoke, category_id=tea["category_id"], **payload)
    assert status == 422, body
    assert field in [f["field"] for f in body["error"]["fields"]], body


def test_the_product_page_shows_the_policy_and_the_description(invoke: Invoke) -> None:
    tea = category(invoke)
    status, created = create(invoke, category_id=tea["category_id"], images=[verified_image()],
                             attributes={"weight_g": 250}, content=[{"type": "text", "text": "好茶"}],
                             after_sales={"no_reason_return": True, "return_window_days": 7})
    assert status == 201, created
    assert created["attributes"] == {**dict.fromkeys(created["attributes"]), "weight_g": 250}
    status, page = get(invoke, "products", f"/products/{created['product_id']}")
    assert status == 200, page
    assert page["after_sales"] == {"no_reason_return": True, "return_window_days": 7,
                                   "return_shipping_paid_by": "buyer", "note": "", "is_default": False}
    assert page["content"][0]["text"] == "好茶" and page["attributes"]["weight_g"] == 250
    assert "product-thumbs/" in page["image_thumbnail_urls"][0] and "-w750.jpg" in page["image_thumbnail_urls"][0]
    status, listed = get(invoke, "products", "/products")
    assert "-w240.jpg" in listed["items"][0]["cover_thumbnail_url"] and "after_sales" not in listed["items"][0]
