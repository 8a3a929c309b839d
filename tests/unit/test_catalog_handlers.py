"""The catalog's handlers (admin categories, admin products, customer browsing) on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from mall.dal.keys import upload_key
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain.referral import Promoter
from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, Invoke, http_event, load_function
from tests.unit.test_published_metrics import Output, output  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def _media_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Product views sign their images' keys for the media bucket (no S3 call)."""
    from mall.dal import objects
    from mall.services import media_bucket

    def clear() -> None:
        media_bucket.media_settings.cache_clear()
        media_bucket.media_store.cache_clear()
        objects.s3_client.cache_clear()

    monkeypatch.setenv("MEDIA_BUCKET", "media-catalog")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    clear()
    yield
    clear()

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
_keys = count(1)


def token(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


def admin() -> dict[str, str]:
    return token("admin:alice", Role.ADMIN)


def write(**extra: str) -> dict[str, str]:
    return {**admin(), "idempotency-key": f"test-key-{next(_keys):06d}", **extra}


def get(invoke: Invoke, function: str, path: str, query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """GET with a query string (the shared ``invoke`` builds events without one)."""
    if function not in _modules:
        _modules[function] = load_function(function)
    module = _modules[function]
    event = http_event("GET", path, headers=headers)
    if query:
        event["rawQueryString"] = urlencode(query)
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    result = module.handler(event, FakeContext())
    return result["statusCode"], json.loads(result.get("body") or "{}")


_modules: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _fresh_modules() -> None:
    _modules.clear()


def category(invoke: Invoke, name: str = "Tea", **fields: Any) -> dict[str, Any]:
    status, body, _ = invoke("admin_categories", "POST", "/admin/categories", body={"name": name, **fields},
                             headers=write())
    assert status == 201, body
    return body


IMAGE_ID = "a1" * 16
IMAGE = f"product-images/{IMAGE_ID}.jpg"


def verified_image(upload_id: str = IMAGE_ID, key: str = IMAGE, status: str = "VERIFIED") -> str:
    """An upload as POST /admin/media/uploads/{id}/verify leaves it."""
    main_table().put({**upload_key(upload_id), "entity": "media_upload", "upload_id": upload_id, "key": key,
                      "content_type": "image/jpeg", "status": status})
    return key


def product(invoke: Invoke, category_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"name": "Longjing tea", "type": "physical", "category_id": category_id, "price_fen": 10_000,
               "stock": 20, "on_shelf": True, "images": [verified_image()], **fields}
    status, body, _ = invoke("admin_products", "POST", "/admin/products", body=payload, headers=write())
    assert status == 201, body
    return body


# ---- categories ------------------------------------------------------------------------------


def test_category_lifecycle(invoke: Invoke) -> None:
    tea = category(invoke, "Tea", sort=2, l1_rate_bp=1200)
    coffee = category(invoke, "Coffee", sort=1)
    status, listed, _ = invoke("admin_categories", "GET", "/admin/categories", headers=admin())
    assert status == 200 and [c["name"] for c in listed["items"]] == ["Coffee", "Tea"]
    path = f"/admin/categories/{tea['category_id']}"
    status, changed, _ = invoke("admin_categories", "PATCH", path, body={"version": 1, "l1_rate_bp": None,
                                                                         "name": "Green tea"}, headers=admin())
    assert status == 200 and changed["version"] == 2 and changed["l1_rate_bp"] is None and changed["sort"] == 2
    status, stale, _ = invoke("admin_categories", "PATCH", path, body={"version": 1, "name": "Lost"}, headers=admin())
    assert status == 409 and stale["error"]["code"] == "version_conflict"
    assert stale["error"]["details"]["current"]["name"] == "Green tea"
    status, _, _ = invoke("admin_categories", "DELETE", f"/admin/categories/{coffee['category_id']}",
                          headers=admin(), raw_body="")
    assert status == 422  # the version is required


def test_category_rates_over_the_cap_are_refused(invoke: Invoke) -> None:
    # Rates within the fixed limit but over the cap with other settings: test_catalog_services.py.
    status, body, _ = invoke("admin_categories", "POST", "/admin/categories",
                             body={"name": "Silly", "l1_rate_bp": 9000}, headers=write())
    assert status == 422 and body["error"]["fields"][0]["field"] == "l1_rate_bp"  # above the fixed 30% limit


def test_customers_may_not_use_admin_routes(invoke: Invoke) -> None:
    status, body, _ = invoke("admin_categories", "GET", "/admin/categories", headers=token("u_x", Role.CUSTOMER))
    assert status == 403 and body["error"]["code"] == "forbidden_role"


# ---- products: admin -------------------------------------------------------------------------


def test_create_get_and_replay_with_the_same_key(invoke: Invoke) -> None:
    tea = category(invoke)
    headers = write()
    payload = {"name": "Tea", "type": "virtual", "category_id": tea["category_id"], "price_fen": 990,
               "commission": {"mode": "fixed", "l1": 100, "l2": 50}}
    first = invoke("admin_products", "POST", "/admin/products", body=payload, headers=headers)
    again = invoke("admin_products", "POST", "/admin/products", body=payload, headers=headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    created = first[1]
    assert created["commission"] == {"mode": "fixed", "l1": 100, "l2": 50} and created["on_shelf"] is False
    status, fetched, _ = invoke("admin_products", "GET", f"/admin/products/{created['product_id']}", headers=admin())
    assert status == 200 and fetched == created
    status, listed, _ = invoke("admin_categories", "GET", f"/admin/categories/{tea['category_id']}", headers=admin())
    assert listed["product_count"] == 1


def test_a_batch_edit_takes_products_off_the_shelf_and_reports_each(invoke: Invoke) -> None:
    # The batch's use case is imported by the route on its first use: through the handler, as a cold container.
    tea = category(invoke)
    made = product(invoke, tea["category_id"])
    missing = "p_" + "0" * 22
    status, body, _ = invoke("admin_products", "POST", "/admin/products/batch",
                             body={"product_ids": [made["product_id"], missing], "on_shelf": False}, headers=write())
    assert status == 200, body
    assert {i["product_id"]: i["outcome"] for i in body["items"]} == {made["product_id"]: "updated",
                                                                     missing: "not_found"}
    status, fetched, _ = invoke("admin_products", "GET", f"/admin/products/{made['product_id']}", headers=admin())
    assert status == 200 and fetched["on_shelf"] is False


# Refused by the request model; what the catalog's own rules refuse: test_catalog_services.py.
@pytest.mark.parametrize(("fields", "field"), [
    ({"price_fen": 0}, "price_fen"),
    ({"images": ["ftp://x/y.jpg"]}, "images.0"),
    ({"images": ["https://img.example.com/1.jpg"]}, "images.0"),
    ({"images": ["http://2130706433/a.png"]}, "images.0"),
    ({"images": ["product-images/../qr/x.png"]}, "images.0"),
    ({"type": "spaceship"}, "type"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_products_are_refused_naming_the_field(invoke: Invoke, fields: dict[str, Any], field: str) -> None:
    tea = category(invoke)
    payload = {"name": "Tea", "type": "physical", "category_id": tea["category_id"], "price_fen": 10_000, **fields}
    status, body, _ = invoke("admin_products", "POST", "/admin/products", body=payload, headers=write())
    assert status == 422, body
    assert field in [f["field"] for f in body["error"]["fields"]]
    status, listed, _ = invoke("admin_categories", "GET", f"/admin/categories/{tea['category_id']}", headers=admin())
    assert listed["product_count"] == 0  # bad input changes nothing


# ---- customers -------------------------------------------------------------------------------


def _shop(invoke: Invoke) -> dict[str, str]:
    tea, cups = category(invoke, "Tea"), category(invoke, "Cups", l1_rate_bp=2000, l2_rate_bp=500)
    made = {
        "green": product(invoke, tea["category_id"], name="Green tea", price_fen=3000),
        "oolong": product(invoke, tea["category_id"], name="Oolong tea", price_fen=8000,
                          commission={"mode": "ratio", "l1": 1500, "l2": 500}),
        "cup": product(invoke, cups["category_id"], name="Tea cup", price_fen=1000),
        "pot": product(invoke, cups["category_id"], name="Teapot", price_fen=20_000, on_shelf=False),
        "fixed": product(invoke, tea["category_id"], name="Gift card", type="virtual", price_fen=5000,
                         commission={"mode": "fixed", "l1": 300, "l2": 100}),
    }
    return {k: v["product_id"] for k, v in made.items()} | {"tea": tea["category_id"], "cups": cups["category_id"]}


def test_guests_browse_on_shelf_products_sorted_filtered_and_paged(invoke: Invoke) -> None:
    ids = _shop(invoke)
    status, body = get(invoke, "products", "/products", {"sort": "price_asc"})
    assert status == 200
    assert [p["name"] for p in body["items"]] == ["Tea cup", "Green tea", "Gift card", "Oolong tea"]
    assert all(p["promoter_earn_fen"] is None for p in body["items"])
    _, body = get(invoke, "products", "/products", {"sort": "price_desc", "category_id": ids["tea"], "q": "TEA"})
    assert [p["name"] for p in body["items"]] == ["Oolong tea", "Green tea"]
    _, body = get(invoke, "products", "/products", {"min_price_fen": 1000, "max_price_fen": 5000, "sort": "price_asc"})
    assert [p["price_fen"] for p in body["items"]] == [1000, 3000, 5000]
    _, page1 = get(invoke, "products", "/products", {"sort": "price_asc", "limit": 3})
    _, page2 = get(invoke, "products", "/products", {"sort": "price_asc", "limit": 3, "cursor": page1["next_cursor"]})
    assert [p["name"] for p in page2["items"]] == ["Oolong tea"] and page2["next_cursor"] is None
    status, wrong = get(invoke, "products", "/products", {"sort": "price_desc", "cursor": page1["next_cursor"]})
    assert status == 422 and wrong["error"]["code"] == "invalid_cursor"
    status, wrong = get(invoke, "products", "/products", {"min_price_fen": 9, "max_price_fen": 1})
    assert status == 422
    status, wrong = get(invoke, "products", "/products", {"sort": "cheapest"})
    assert status == 422 and wrong["error"]["fields"][0]["field"] == "query:sort"


def test_detail_and_categories(invoke: Invoke) -> None:
    ids = _shop(invoke)
    status, detail = get(invoke, "products", f"/products/{ids['oolong']}")
    assert status == 200 and detail["category_name"] == "Tea" and detail["on_shelf"] is True
    assert detail["images"] == [IMAGE] and detail["cover_image"] == detail["images"][0]
    shown = urlsplit(detail["image_urls"][0])
    assert shown.path.endswith(f"/{IMAGE}") and "X-Amz-Signature=" in shown.query  # the bucket is private
    assert detail["cover_image_url"] == detail["image_urls"][0]
    status, off = get(invoke, "products", f"/products/{ids['pot']}")
    assert status == 200 and off["on_shelf"] is False
    status, _ = get(invoke, "products", "/products/p_nothing")
    assert status == 404
    status, cats = get(invoke, "products", "/categories")
    assert status == 200 and {c["name"] for c in cats["items"]} == {"Tea", "Cups"}


def test_a_sent_token_must_be_valid(invoke: Invoke) -> None:
    _shop(invoke)
    status, body = get(invoke, "products", "/products", headers={"authorization": "Bearer nope"})
    assert status == 401
    status, body = get(invoke, "products", "/products", headers=token("u_plain", Role.CUSTOMER))
    assert status == 200 and all(p["promoter_earn_fen"] is None for p in body["items"])


def _promoter(user_id: str, status: str, level_id: str = "basic", l1_override_bp: int | None = None) -> None:
    PromoterRepository(main_table()).create(
        Promoter(user_id=user_id, code=f"C{user_id[-4:]}", status=status, level_id=level_id,  # type: ignore[arg-type]
                 l1_override_bp=l1_override_bp, applied_at=NOW),
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=False)


def test_an_active_promoter_sees_what_they_would_earn(invoke: Invoke) -> None:
    # What each product earns (category, global, fixed and product rates): test_catalog_services.py.
    ids = _shop(invoke)
    _promoter("u_promoter0001", "active")
    _promoter("u_frozen000001", "frozen")
    _, detail = get(invoke, "products", f"/products/{ids['oolong']}",
                    headers=token("u_promoter0001", Role.CUSTOMER, Role.PROMOTER))
    assert detail["promoter_earn_fen"] == 1200
    _, frozen = get(invoke, "products", f"/products/{ids['oolong']}",
                    headers=token("u_frozen000001", Role.CUSTOMER, Role.PROMOTER))
    assert frozen["promoter_earn_fen"] is None


def test_crossing_into_low_stock_counts_it_once(invoke: Invoke, output: Output) -> None:  # noqa: F811
    tea = category(invoke)
    made = product(invoke, tea["category_id"], stock=10, low_stock_threshold=3)
    output.lines()
    path = f"/admin/products/{made['product_id']}/stock-adjustments"

    def low_stock_counts() -> list[float]:
        return [line["counts"]["LowStockProducts"] for line in output.lines()
                if line.get("message") == "counts" and "LowStockProducts" in line["counts"]]

    invoke("admin_products", "POST", path, body={"delta": -8, "reason": "损耗"}, headers=write())
    assert low_stock_counts() == [1]  # a count in the invocation's log line (no alarm reads it as a metric)
    invoke("admin_products", "POST", path, body={"delta": -1, "reason": "损耗"}, headers=write())
    assert low_stock_counts() == []  # already flagged: not counted again




def test_ranking_by_earnings_is_for_active_promoters_and_a_sku_product_shows_its_skus(invoke: Invoke) -> None:
    tea = category(invoke)
    made = product(invoke, tea["category_id"], price_fen=None, specs=[{"name": "规格", "values": ["250g", "500g"]}],
                   skus=[{"options": ["250g"], "price_fen": 5_000, "stock": 3},
                         {"options": ["500g"], "price_fen": 9_000, "stock": 0}])
    _promoter("u_promoter0001", "active")
    status, ranked = get(invoke, "products", "/products", {"sort": "commission_desc", "min_commission_fen": 100},
                         headers=token("u_promoter0001", Role.CUSTOMER, Role.PROMOTER))
    assert status == 200 and [(p["price_fen"], p["max_price_fen"]) for p in ranked["items"]] == [(5_000, 9_000)]
    assert ranked["items"][0]["promoter_earn_max_fen"] == 900  # the global 10% of the 500g SKU
    for headers in ({}, token("u_plain", Role.CUSTOMER)):
        status, refused = get(invoke, "products", "/products", {"sort": "commission_desc"}, headers=headers)
        assert status == 422 and refused["error"]["fields"][0]["field"] == "query:sort"
    status, detail = get(invoke, "products", f"/products/{made['product_id']}")
    assert status == 200 and [(s["label"], s["available"]) for s in detail["skus"]] == [("250g", True),
                                                                                         ("500g", False)]
