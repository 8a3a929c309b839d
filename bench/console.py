"""The merchant console: what a first visit downloads, and how soon the dashboard is drawn.

- Initial JavaScript: every script the browser fetches to show the first page (the login page:
  ``index.html``'s module script, its preloads and the page's chunks), gzipped as a CDN serves
  them; target ≤ 350 KB. The other chunks load when their page is opened.
- Dashboard: in headless Chromium (Debian's ``chromium``) against the local stack, logged in, the
  time from navigating to the dashboard until its three charts have painted; target ≤ 2 s. The
  median of ``repeat`` navigations after one warm-up.

Run ``make console-build`` first (``make bench`` does)."""

from __future__ import annotations

import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT
from bench._report import print_table

DIST = ROOT / "console" / "dist"
INITIAL_TARGET_KB = 350
DASHBOARD_TARGET_MS = 2000


def _gzip_kb(path: Path) -> float:
    return len(gzip.compress(path.read_bytes(), compresslevel=9)) / 1024


def dashboard_draw_ms(repeat: int) -> tuple[list[float], dict[str, float]]:
    from playwright.sync_api import sync_playwright

    from bench._local import running_stack
    from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("Debian's chromium is not installed (make browser)")
    timings: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-console-") as data, running_stack(Path(data)) as stack:
        console = f"{str(stack.base_url).rstrip('/')}/console/"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 800})
            fetched: list[str] = []
            page.on("request", lambda request: fetched.append(request.url)
                    if request.resource_type == "script" else None)
            page.goto(console + "login")
            page.get_by_label("用户名").wait_for()
            first_load = {name: round(_gzip_kb(DIST / name), 1)
                          for name in sorted({url.split("/console/", 1)[-1] for url in fetched})}
            page.get_by_label("用户名").fill(DEMO_ADMIN)
            page.get_by_label("密码").fill(DEMO_ADMIN_PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url("**/console/dashboard")
            for attempt in range(repeat + 1):
                page.goto(console + "withdrawals")
                page.locator("[data-test=withdrawals]").wait_for()
                started = time.perf_counter()
                page.locator("[data-nav=dashboard]").click()
                page.wait_for_function("document.querySelectorAll('.chart canvas').length === 3")
                page.locator("[data-test=kpi]").first.wait_for()
                if attempt:  # the first navigation warms the page's chunk and the API's functions
                    timings.append((time.perf_counter() - started) * 1000)
            browser.close()
    return timings, first_load


def run(repeat: int | None = None) -> dict[str, Any]:
    if not (DIST / "index.html").is_file():
        raise RuntimeError("the console is not built: make console-build")
    timings, first_load = dashboard_draw_ms(max(1, repeat or 5))
    total = round(sum(first_load.values()), 1)
    sizes = {"first_load_files": first_load, "first_load_kb_gzip": total, "target_kb": INITIAL_TARGET_KB,
             "status": "PASS" if total <= INITIAL_TARGET_KB else "OVER"}
    rows = [("script fetched for the first page", "KB gzip", "")]
    rows += [(name, f"{kb:.1f}", "") for name, kb in first_load.items()]
    rows.append(("total", f"{total:.1f}", f"{sizes['status']} (target <= {INITIAL_TARGET_KB})"))
    print_table(rows)
    median = statistics.median(timings)
    status = "PASS" if median <= DASHBOARD_TARGET_MS else "OVER"
    print(f"\ndashboard drawn after navigation: median {median:.0f} ms over {len(timings)} "
          f"(min {min(timings):.0f}, max {max(timings):.0f}) — {status} (target <= {DASHBOARD_TARGET_MS} ms)")
    return {"bundle": sizes, "dashboard_ms": {"median": round(median, 1), "samples": [round(t, 1) for t in timings],
                                              "target": DASHBOARD_TARGET_MS, "status": status}}
