"""Weekly operations reports in the console: a report made by the scheduled function (its event names
a week) is listed with its dates and downloaded through its presigned link; the file is the report's
CSV and the API lists the same report."""

from __future__ import annotations

import codecs
import random
from typing import Any

import pytest
import requests

from tests.e2e.console.conftest import admin_headers, log_in

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_a_weekly_report_is_listed_and_downloaded(api: str, console: str, http: requests.Session, stack: Any,
                                                  page: Any) -> None:
    week = f"20{random.randint(10, 19)}-W{random.randint(10, 50):02d}"  # a week no other test reports
    made = stack.invoke("WeeklyReportFunction", {"week": week})
    assert made["report_id"] == f"wr_{week}" and made["result"] == "made", made

    log_in(page, console)
    page.goto(console + "reports")
    row = page.locator("[data-test=reports] .el-table__row").filter(has_text=week)
    row.wait_for()
    with page.expect_download() as started:
        row.locator("[data-test=report-download]").click()
    assert started.value.suggested_filename.startswith(f"weekly-report-{week}-")
    with open(started.value.path(), "rb") as file:
        body = file.read()
    assert body.startswith(codecs.BOM_UTF8)
    assert body.decode("utf-8-sig").splitlines()[0] == "section,rank,subject_id,subject_name,metric,value"

    listed = http.get(f"{api}/admin/reports", headers=admin_headers(api, http), timeout=TIMEOUT).json()
    assert f"wr_{week}" in [r["report_id"] for r in listed["items"]]
