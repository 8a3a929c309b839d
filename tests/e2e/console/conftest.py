"""The merchant console in a real headless Chromium (Debian's ``chromium`` driven by Playwright's
Python API, no browser download), against the same local stack as the other end-to-end tests: one
stack and one browser for every console test, a fresh browser context (no shared session) per test."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from local.stack import CONSOLE_DIST
from mall.dal.table import Table

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    return found


#: Seconds the browser tests took, from the browser's start to its close (printed in the summary).
_SUITE: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "seconds" in _SUITE:
        terminalreporter.write_line(f"console browser tests: {_SUITE['seconds']:.1f} s with one Chromium")


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not (CONSOLE_DIST / "index.html").is_file():
        pytest.fail("the console is not built: `make test` builds it (make console-build)")
    started = time.perf_counter()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=_chromium(), headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()
            _SUITE["seconds"] = time.perf_counter() - started
            # Under pytest-xdist each worker has its own Chromium and the controller prints the
            # summary (tests/e2e/conftest.py): hand it this worker's time.
            workeroutput = getattr(request.config, "workeroutput", None)
            if workeroutput is not None:
                workeroutput["console_browser_seconds"] = _SUITE["seconds"]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def console(api: str) -> str:
    return f"{api}/console/"


@pytest.fixture(scope="session")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def log_in(page: Any, console: str, username: str = DEMO_ADMIN, password: str = DEMO_ADMIN_PASSWORD) -> None:
    page.goto(console)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/dashboard")


def open_product_editor(page: Any, console: str, keyword: str, name: str) -> None:
    """Log in, find the product by a keyword of its name, and open its editor."""
    log_in(page, console)
    page.locator("[data-nav=products]").click()
    page.get_by_placeholder("商品名称关键字").fill(keyword)
    page.get_by_placeholder("商品名称关键字").press("Enter")
    page.locator("[data-test=products] tr", has_text=name).get_by_role("button", name="编辑").click()


def admin_headers(api: str, http: requests.Session, username: str = DEMO_ADMIN,
                  password: str = DEMO_ADMIN_PASSWORD) -> dict[str, str]:
    reply = http.post(f"{api}/admin/auth/login", json={"username": username, "password": password}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}
