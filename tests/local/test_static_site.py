"""The console's files beside the local API, served as CloudFront serves them in AWS."""

from __future__ import annotations

from pathlib import Path

from local.static_site import StaticSite


def _site(tmp_path: Path) -> StaticSite:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=app></div>", encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "config.json").write_text('{"apiBaseUrl": ""}', encoding="utf-8")
    (tmp_path.parent / "secret.txt").write_text("not yours", encoding="utf-8")
    return StaticSite("/console", tmp_path)


def test_pages_of_the_router_fall_back_to_index_html_never_cached(tmp_path: Path) -> None:
    site = _site(tmp_path)
    for path in ("/console/", "/console/withdrawals", "/console/promoters/u_1"):
        response = site.serve("GET", path)
        assert response.status == 200 and b"id=app" in response.body
        assert ("Cache-Control", "no-cache") in response.headers


def test_hashed_assets_are_cached_for_a_year_and_missing_ones_are_404(tmp_path: Path) -> None:
    site = _site(tmp_path)
    asset = site.serve("GET", "/console/assets/index-abc123.js")
    assert asset.status == 200 and asset.body == b"console.log(1)"
    assert ("Cache-Control", "public, max-age=31536000, immutable") in asset.headers
    assert ("Content-Type", "text/javascript; charset=utf-8") in asset.headers or any(
        name == "Content-Type" and "javascript" in value for name, value in asset.headers)
    assert site.serve("GET", "/console/assets/gone-999.js").status == 404
    assert site.serve("GET", "/console/config.json").headers[1] == ("Cache-Control", "no-cache")


def test_nothing_outside_the_folder_and_only_reads(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert site.serve("GET", "/console/../secret.txt").status == 404
    assert site.serve("GET", "/console/%2e%2e/secret.txt").status in (200, 404)  # never the file itself
    assert b"not yours" not in site.serve("GET", "/console/%2e%2e/secret.txt").body
    assert site.serve("POST", "/console/").status == 405
    assert site.serve("GET", "/console").status == 301
    assert site.handles("/console/x") and site.handles("/console") and not site.handles("/consoles")


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    response = StaticSite("/console", tmp_path / "missing").serve("GET", "/console/")
    assert response.status == 503 and b"make run" in response.body
