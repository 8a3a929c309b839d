"""Specs and SKUs in the product editor, in headless Chromium: the merchant names a spec and its
values, prices, stocks and limits each combination, and the product is saved priced and stocked per SKU."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.console.conftest import TIMEOUT, admin_headers, open_product_editor

pytestmark = pytest.mark.e2e


def field(page: Any, handle: str) -> Any:
    """The text box of an input the editor marked (Element Plus puts the mark on the input or its wrapper)."""
    return page.locator(f"input[data-test={handle}], [data-test={handle}] input").first


def test_a_merchant_gives_a_product_specs_and_prices_each_combination(
        api: str, console: str, http: requests.Session, table: Table, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    name = f"规格测试 {run}"
    CategoryRepository(table).create(Category(category_id=f"sku-{run}", name="规格测试"))
    ProductRepository(table).create(Product(product_id=f"sku-{run}", name=name, type="physical",
                                            category_id=f"sku-{run}", price_fen=1_900, stock=3))
    admin = admin_headers(api, http)

    open_product_editor(page, console, run, name)
    page.locator("[data-test=add-spec]").click()
    field(page, "spec-name-0").fill("规格")
    field(page, "spec-values-0").fill("250g, 500g")
    field(page, "spec-values-0").press("Enter")
    field(page, "sku-price-1").wait_for()
    assert page.locator("[data-test=product-price]").count() == 0  # priced per SKU now
    field(page, "sku-price-0").fill("50")
    field(page, "sku-stock-0").fill("4")
    page.locator("[data-test=save-product]").click()
    # A combination without a price: the API's field is named at its row, nothing is saved.
    page.locator("[data-test=sku-editor]").get_by_text("请填写价格（元）").wait_for()
    field(page, "sku-limit-1").fill("2")  # 每人限购 of this SKU alone
    field(page, "sku-price-1").fill("90.50")
    page.locator("[data-test=save-product]").click()
    page.locator(".el-message--success").filter(has_text="商品已保存").wait_for()

    saved = http.get(f"{api}/admin/products/sku-{run}", headers=admin, timeout=TIMEOUT)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["specs"] == [{"name": "规格", "values": ["250g", "500g"]}]
    assert [(s["label"], s["price_fen"], s["stock"]) for s in body["skus"]] == [("250g", 5_000, 4), ("500g", 9_050, 0)]
    assert body["price_fen"] == 5_000 and body["stock"] == 4
    assert [s["per_user_limit"] for s in body["skus"]] == [None, 2]

    # The stock of a product with specs moves per SKU: the dialog names the SKU.
    page.locator("[data-test=products] tr", has_text=name).get_by_role("button", name="调整库存").click()
    page.locator("[data-test=stock-sku]").click()
    page.get_by_role("option", name="500g（库存 0）").click()
    field(page, "stock-delta").fill("6")
    page.locator("[data-test=save-stock]").click()
    page.locator(".el-message--success").filter(has_text="当前库存 10").wait_for()
    after = http.get(f"{api}/admin/products/sku-{run}", headers=admin, timeout=TIMEOUT).json()
    assert [s["stock"] for s in after["skus"]] == [4, 6] and after["stock"] == 10
