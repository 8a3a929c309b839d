"""The materials center in headless Chromium: the merchant writes a text with a banned phrase (refused
beside the field), corrects it, saves, and disables it; the API then holds the corrected, disabled text."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_write_a_text_refused_for_a_banned_phrase_then_saved_and_disabled(api: str, http: requests.Session,
                                                                          page: Any, console: str) -> None:
    product_id = f"p_mat_{uuid.uuid4().hex[:8]}"
    log_in(page, console)
    page.locator("[data-nav=materials]").click()
    page.locator("[data-test=new-material]").click()
    page.locator("[data-test=material-title]").fill("普洱推荐语")
    page.locator("[data-test=material-product]").fill(product_id)
    page.locator("[data-test=material-text]").fill("一起躺赚 {share_link}")
    page.locator("[data-test=save-material]").click()
    page.get_by_text("contains the banned phrase '躺赚'").wait_for()

    page.locator("[data-test=material-text]").fill("明前头采, 一口回甘 {share_link}")
    page.locator("[data-test=save-material]").click()
    page.locator("[data-test=filter-product]").fill(product_id)
    page.locator("[data-test=filter-product]").press("Enter")
    row = page.locator("[data-test=materials] tr", has_text="普洱推荐语")
    row.wait_for()
    row.locator("[data-test=material-enabled]").click()
    page.get_by_text("已停用").wait_for()

    listed = http.get(f"{api}/admin/materials", params={"product_id": product_id}, headers=admin_headers(api, http),
                      timeout=TIMEOUT).json()["items"]
    assert [(m["text"], m["enabled"], m["version"]) for m in listed] == [("明前头采, 一口回甘 {share_link}", False, 2)]
