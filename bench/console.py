"""The merchant console: what a first visit downloads, and how soon the dashboard is drawn.

- Initial JavaScript: the scripts ``index.html`` loads before any page (its module script and
  modulepreload links), gzipped as a CDN serves them; target ≤ 350 KB. Each page's own chunk is
  listed beside it (loaded when the page is opened).
- Dashboard: in headless Chromium (Debian's ``chromium``) against the local stack, logged in, the
  time from navigating to the dashboard until its three charts have painted; target ≤ 2 s. The
  median of ``repeat`` navigations after one warm-up.

Run ``make console-build`` first (``make bench`` does)."""

from __future__ import annotations

import gzip
import re
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
_SCRIPT = re.compile(r'<(?:script[^>]*type="module"[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+)"')


def _gzip_kb(path: Path) -> float:
    return len(gzip.compress(path.read_bytes(), compresslevel=9)) / 1024


def bundle_sizes(dist: Path = DIST) -> dict[str, Any]:
    index = (dist / "index.html").read_text(encoding="utf-8")
    initial = sorted({src.split("/console/", 1)[-1] for src in _SCRIPT.findall(index)})
    sizes = {name: round(_gzip_kb(dist / name), 1) for name in initial}
    chunks = {p.relative_to(dist).as_posix(): round(_gzip_kb(p), 1) for p in sorted((dist / "assets").glob("*.js"))
              if p.relative_to(dist).as_posix() not in sizes}
    total = round(sum(sizes.values()), 1)
    return {"initial_files": sizes, "initial_kb_gzip": total, "target_kb": INITIAL_TARGET_KB,
            "status": "PASS" if total <= INITIAL_TARGET_KB else "OVER", "lazy_chunks_kb_gzip": chunks}


def dashboard_draw_ms(repeat: int) -> list[float]:
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
            page.goto(console + "login")
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
    return timings


def run(repeat: int | None = None) -> dict[str, Any]:
    if not (DIST / "index.html").is_file():
        raise RuntimeError("the console is not built: make console-build")
    sizes = bundle_sizes()
    rows = [("initial script", "KB gzip", "")]
    rows += [(name, f"{kb:.1f}", "") for name, kb in sizes["initial_files"].items()]
    rows.append(("total", f"{sizes['initial_kb_gzip']:.1f}", f"{sizes['status']} (target <= {INITIAL_TARGET_KB})"))
    print_table(rows)
    timings = dashboard_draw_ms(max(1, repeat or 5))
    median = statistics.median(timings)
    status = "PASS" if median <= DASHBOARD_TARGET_MS else "OVER"
    print(f"\ndashboard drawn after navigation: median {median:.0f} ms over {len(timings)} "
          f"(min {min(timings):.0f}, max {max(timings):.0f}) — {status} (target <= {DASHBOARD_TARGET_MS} ms)")
    return {"bundle": sizes, "dashboard_ms": {"median": round(median, 1), "samples": [round(t, 1) for t in timings],
                                              "target": DASHBOARD_TARGET_MS, "status": status}}
