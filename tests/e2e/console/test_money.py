"""The console's money pages in headless Chromium against the local stack: an export is created in
the page, followed until the worker has written it, and downloaded; the withdrawal list downloads
as CSV, and a bank transfer's full account is revealed (audited) and the transfer marked paid."""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.test_exports_e2e import put_listed_order
from tests.e2e.test_payouts_e2e import new_promoter, withdraw
from tests.e2e.test_referral_e2e import save_settings

pytestmark = pytest.mark.e2e

TIMEOUT = 15
#: No other test places orders on this China day, so the export's rows are the ones seeded here.
DAY = "2023-07-19"


def _rows(path: str | Path) -> list[dict[str, str]]:
    content = Path(path).read_bytes()
    assert content.startswith(codecs.BOM_UTF8)  # Excel reads the Chinese only with the mark
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_an_export_is_created_followed_and_downloaded(api: str, console: str, http: requests.Session,
                                                      table: Table, page: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = []
    for n, at in enumerate(["2023-07-18T16:00:00Z", "2023-07-19T15:59:59Z"]):  # both 19 July, China time
        order_id = f"o_console{tag}{n}"
        put_listed_order(table, order_id, status="PAID", at=at, amount_fen=4_560 + n, title="控制台导出测试",
                         buyer_id="u_console_buyer")
        ids.append(order_id)

    log_in(page, console)
    page.goto(console + "exports")
    page.get_by_placeholder("开始日期").fill(DAY)
    page.get_by_placeholder("结束日期").fill(DAY)
    page.get_by_placeholder("结束日期").press("Enter")
    page.locator("[data-test=export-create]").click()
    row = page.locator("[data-test=exports] .el-table__row").filter(has_text=f"{DAY} 至 {DAY}").first
    row.locator("[data-test=export-download]").wait_for()  # the page polled until the worker finished
    assert "已完成" in row.inner_text()
    with page.expect_download() as started:
        row.locator("[data-test=export-download]").click()
    download = started.value
    rows = _rows(download.path())
    assert [r["order_id"] for r in rows if r["order_id"] in ids] == ids
    assert [r["amount_yuan"] for r in rows if r["order_id"] in ids] == ["45.60", "45.61"]

    jobs = http.get(f"{api}/admin/exports", headers=admin_headers(api, http), timeout=TIMEOUT).json()["items"]
    job = next(j for j in jobs if (j["from_date"], j["to_date"], j["kind"]) == (DAY, DAY, "orders"))
    assert job["status"] == "DONE" and job["rows"] == len(rows) and download.suggested_filename == job["filename"]


def test_withdrawals_download_as_csv_and_a_bank_transfer_is_marked_paid(
        api: str, console: str, http: requests.Session, table: Table, page: Any) -> None:
    admin = admin_headers(api, http)
    rules = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()["settings"]
    save_settings(api, http, admin, withdrawal={**rules["withdrawal"], "methods": ["wechat", "bank"]})
    try:
        uid, token = new_promoter(api, http, admin, table, balance_fen=8_800)
        created = withdraw(api, http, admin, token, {
            "amount_fen": 8_800, "method": "bank",
            "bank": {"bank_name": "招商银行", "account_name": "赵六", "account_no": "6214830087654321"}})
    finally:  # the stack is shared: leave the rules as they were
        save_settings(api, http, admin, withdrawal=rules["withdrawal"])
    wid = created["withdrawal_id"]

    log_in(page, console)
    page.goto(console + "withdrawals")
    page.locator(".toolbar .el-select").first.click()
    page.locator(".el-select-dropdown__item").filter(has_text="已通过").click()
    page.get_by_placeholder("推广员 ID").fill(uid)
    page.get_by_placeholder("推广员 ID").press("Enter")
    listed = page.locator("[data-test=withdrawals]").get_by_text(wid)
    listed.wait_for()
    with page.expect_download() as started:
        page.locator("[data-test=export-csv]").click()
    assert started.value.suggested_filename.endswith(".csv")
    exported = _rows(started.value.path())
    assert [r["withdrawal_id"] for r in exported] == [wid]  # the list's filters, not every withdrawal

    listed.click()
    page.locator("[data-test=reveal-bank]").click()
    assert "6214830087654321" in page.locator("[data-test=bank-account]").inner_text()
    page.locator("[data-test=mark-paid]").click()
    page.locator("[data-test=mark-text]").fill("CMB20231119000042")
    page.locator("[data-test=mark-submit]").click()
    page.locator(".el-message--success").filter(has_text="已标记为已打款").wait_for()

    state = http.get(f"{api}/admin/withdrawals/{wid}", headers=admin, timeout=TIMEOUT).json()
    assert (state["status"], state["bank_reference"]) == ("PAID", "CMB20231119000042")
    audit = http.get(f"{api}/admin/audit", headers=admin, timeout=TIMEOUT, params={
        "entity_type": "withdrawal", "entity_id": wid, "action": "withdrawal.bank_account_reveal"}).json()
    assert len(audit["items"]) == 1
