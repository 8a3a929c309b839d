"""The product list's batch edit (批量操作) in headless Chromium: two products picked in the list are
taken off the shelf with a fixed commission; the one whose price cannot carry that commission under
the cap is refused with its reason, the other changed, as the drawer shows and the API confirms."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.console.conftest import TIMEOUT, admin_headers, log_in

pytestmark = pytest.mark.e2e


def test_a_batch_edit_changes_the_selected_products_and_shows_a_refusal(
        api: str, console: str, http: requests.Session, table: Table, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    CategoryRepository(table).create(Category(category_id=f"batch-{run}", name="批量测试"))
    products = ProductRepository(table)
    for suffix, price in (("tea", 10_000), ("cheap", 1_000)):
        products.create(Product(product_id=f"batch-{suffix}-{run}", name=f"批量 {suffix} {run}", type="physical",
                                category_id=f"batch-{run}", price_fen=price, stock=5, on_shelf=True))

    log_in(page, console)
    page.locator("[data-nav=products]").click()
    page.get_by_placeholder("商品名称关键字").fill(run)
    page.get_by_placeholder("商品名称关键字").press("Enter")
    for suffix in ("tea", "cheap"):
        page.locator("[data-test=products] tr", has_text=f"批量 {suffix} {run}").locator(".el-checkbox").click()
    page.locator("[data-test=batch-edit]").click()
    drawer = page.locator("[data-test=batch-drawer]")
    drawer.locator("[data-test=batch-shelf]").get_by_text("下架").click()
    drawer.get_by_text("固定金额").click()
    drawer.get_by_label("一级（元/件）").fill("20")
    drawer.get_by_label("二级（元/件）").fill("10")
    drawer.locator("[data-test=batch-apply]").click()

    result = drawer.locator("[data-test=batch-result]")
    result.locator("tr", has_text=f"批量 tea {run}").get_by_text("已修改").wait_for()
    result.locator("tr", has_text=f"批量 cheap {run}").get_by_text("被拒绝").wait_for()

    admin = admin_headers(api, http)
    tea = http.get(f"{api}/admin/products/batch-tea-{run}", headers=admin, timeout=TIMEOUT).json()
    cheap = http.get(f"{api}/admin/products/batch-cheap-{run}", headers=admin, timeout=TIMEOUT).json()
    assert (tea["on_shelf"], tea["commission"], tea["version"]) == (False, {"mode": "fixed", "l1": 2000, "l2": 1000}, 2)
    assert (cheap["on_shelf"], cheap["commission"]["mode"], cheap["version"]) == (True, "inherit", 1)

    # The tea now pays the whole 30% cap: while it does, every campaign or wake-up boost a later test
    # saves on this stack would be refused at save. Back to the category's rates.
    back = http.post(f"{api}/admin/products/batch", headers={**admin, "idempotency-key": f"batch-back-{run}"},
                     json={"product_ids": [f"batch-tea-{run}"], "commission": {"mode": "inherit"}}, timeout=TIMEOUT)
    assert back.status_code == 200 and back.json()["items"][0]["outcome"] == "updated", back.text
