"""Product images in headless Chromium: a PNG picked in the product editor goes to the media bucket
(moto's S3, a cross-origin form post from the browser), is verified by the API and saved on the
product; a file that only claims to be a PNG is refused by the check, with the API's reason shown."""

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


def png(width: int = 120, height: int = 90) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 60)).save(picture, format="PNG")
    return picture.getvalue()


def test_an_uploaded_image_is_verified_and_saved_and_a_fake_one_refused(
        api: str, console: str, http: requests.Session, table: Table, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    name = f"图片测试 {run}"
    CategoryRepository(table).create(Category(category_id=f"img-{run}", name="图片测试"))
    ProductRepository(table).create(Product(product_id=f"img-{run}", name=name, type="physical",
                                            category_id=f"img-{run}", price_fen=1_900, stock=3))
    admin = admin_headers(api, http)

    open_product_editor(page, console, run, name)
    images = page.locator("[data-test=product-image]")
    file_input = page.locator("[data-test=image-input]")

    # Not an image type at all: refused before any request.
    file_input.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    page.locator(".el-message--error").filter(has_text="notes.txt：只能上传 JPG、PNG 或 WebP 图片").wait_for()
    assert images.count() == 0

    file_input.set_input_files({"name": "tea.png", "mimeType": "image/png", "buffer": png()})
    done = page.locator("[data-test=product-image][data-state=done]")
    done.wait_for()
    key = done.get_attribute("data-key")
    assert key is not None and key.startswith("product-images/") and key.endswith(".png")

    # Text renamed .png: the browser calls it image/png, storage takes it, the API's check refuses it.
    file_input.set_input_files({"name": "fake.png", "mimeType": "image/png", "buffer": b"not really a picture"})
    failed = page.locator("[data-test=product-image][data-state=failed]")
    failed.wait_for()
    assert "图片未通过检查" in failed.inner_text() and "not a readable image" in failed.inner_text()
    assert images.count() == 2 and done.count() == 1

    page.locator("[data-test=save-product]").click()
    page.locator(".el-message--success").filter(has_text="商品已保存").wait_for()
    saved = http.get(f"{api}/admin/products/img-{run}", headers=admin, timeout=TIMEOUT)
    assert saved.status_code == 200, saved.text
    assert saved.json()["images"] == [key]  # the verified key only, not the refused upload

    # Opened again: the saved image is shown from the media bucket through a signed URL.
    page.locator("[data-test=products] tr", has_text=name).get_by_role("button", name="编辑").click()
    shown = page.locator(f"[data-test=product-image][data-key='{key}'] img")
    shown.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 120", arg=shown.element_handle())
    assert "X-Amz-Signature" in (shown.get_attribute("src") or "")
    assert images.count() == 1
