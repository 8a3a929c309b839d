"""What a product says, in headless Chromium on the local stack: the merchant fills the attributes
of a physical product, a paragraph of its description and its own after-sales policy; a policy the
API would refuse is named inline and nothing is saved; the saved one is what the shop's product page
shows, and the gallery's thumbnail loads from the local media bucket."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
import requests
from PIL import Image

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.console.conftest import TIMEOUT, admin_headers, open_product_editor

pytestmark = pytest.mark.e2e


def uploaded_image(api: str, http: requests.Session, admin: dict[str, str]) -> str:
    """A verified upload, as the editor's image picker leaves it."""
    form = http.post(f"{api}/admin/media/uploads", json={"content_type": "image/png"},
                     headers={**admin, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT).json()
    picture = io.BytesIO()
    Image.new("RGB", (900, 600), (30, 120, 60)).save(picture, format="PNG")
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("tea.png", picture.getvalue())},
                         timeout=TIMEOUT)
    assert sent.status_code in (200, 204), sent.text
    verified = http.post(f"{api}/admin/media/uploads/{form['upload_id']}/verify",
                         headers={**admin, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert verified.status_code == 200, verified.text
    return str(verified.json()["key"])


def test_the_editor_saves_attributes_description_and_after_sales_shown_with_the_product(
        api: str, console: str, http: requests.Session, table: Table, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    name = f"详情测试 {run}"
    admin = admin_headers(api, http)
    key = uploaded_image(api, http, admin)
    CategoryRepository(table).create(Category(category_id=f"cnt-{run}", name="详情测试"))
    ProductRepository(table).create(Product(product_id=f"cnt-{run}", name=name, type="physical", on_shelf=True,
                                            category_id=f"cnt-{run}", price_fen=16_800, stock=3, images=[key]))

    open_product_editor(page, console, run, name)
    page.locator("[data-test=attr-weight] input").fill("250")
    page.locator("[data-test=attr-origin]").fill("杭州西湖")
    page.locator("[data-test=add-text]").click()
    page.locator("[data-test=block-text]").fill("<b>明前</b>采摘")
    page.locator("[data-test=own-policy]").click()
    page.locator("[data-test=return-days] input").fill("3")
    page.locator("[data-test=return-days] input").press("Tab")

    # 7天无理由 with a 3-day window: named at the field, nothing sent.
    page.locator("[data-test=save-product]").click()
    page.locator(".el-form-item__error", has_text="退货期限至少 7 天").wait_for()
    unsaved = http.get(f"{api}/admin/products/cnt-{run}", headers=admin, timeout=TIMEOUT).json()
    assert unsaved["version"] == 1 and unsaved["attributes"]["weight_g"] is None

    page.locator("[data-test=return-days] input").fill("15")
    page.locator("[data-test=return-days] input").press("Tab")
    page.locator("[data-test=save-product]").click()
    page.locator(".el-message--success").filter(has_text="商品已保存").wait_for()

    shown = http.get(f"{api}/products/cnt-{run}", timeout=TIMEOUT).json()
    assert (shown["attributes"]["weight_g"], shown["attributes"]["origin"]) == (250, "杭州西湖")
    assert shown["content"] == [{"type": "text", "text": "<b>明前</b>采摘", "key": None, "url": None,
                                 "thumbnail_url": None}]
    assert shown["after_sales"] == {"no_reason_return": True, "return_window_days": 15,
                                    "return_shipping_paid_by": "buyer", "note": "", "is_default": False}
    thumb = requests.get(shown["image_thumbnail_urls"][0], timeout=TIMEOUT)
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (750, 500)

    # Opened again, the editor shows what was saved.
    page.locator("[data-test=products] tr", has_text=name).get_by_role("button", name="编辑").click()
    page.wait_for_function("() => document.querySelector('[data-test=attr-origin]')?.value === '杭州西湖'")
    assert page.locator("[data-test=block-text]").input_value() == "<b>明前</b>采摘"
