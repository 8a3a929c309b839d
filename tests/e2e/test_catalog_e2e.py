"""The catalog over HTTP against the local stack: the admin builds a category and products,
customers (and guests) list, search, sort, page and open them."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
import requests
from PIL import Image

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD


@pytest.fixture(scope="module")
def admin(api: str, http: requests.Session) -> dict[str, str]:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=10)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def upload_image(api: str, http: requests.Session, admin: dict[str, str]) -> str:
    """The merchant console's upload: the form from the API, the file straight to S3 (moto), the check."""
    form = created(http.post(f"{api}/admin/media/uploads", json={"content_type": "image/png"}, headers=admin,
                             timeout=10))
    picture = io.BytesIO()
    Image.new("RGB", (300, 300), (180, 40, 40)).save(picture, format="PNG")
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("tea.png", picture.getvalue())},
                           timeout=10)
    assert posted.status_code in (200, 204), posted.text
    verified = http.post(f"{api}/admin/media/uploads/{form['upload_id']}/verify", headers=admin, timeout=10)
    assert verified.status_code == 200, verified.text
    refused = http.post(f"{api}/admin/products", headers={**admin, **key()}, timeout=10, json={
        "name": "SSRF", "type": "virtual", "category_id": "c_demo_cards", "price_fen": 100,
        "images": ["http://2130706433/latest/meta-data"]})
    assert refused.status_code == 422, refused.text
    return str(verified.json()["key"])


def test_admin_builds_the_catalog_and_customers_browse_it(api: str, http: requests.Session,
                                                          admin: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:6]
    category = created(http.post(f"{api}/admin/categories", json={"name": f"E2E {tag}", "l1_rate_bp": 1500},
                                 headers={**admin, **key()}, timeout=10))
    cid = category["category_id"]
    specs = [("physical", 3000, True), ("service", 1000, True), ("virtual", 2000, True), ("physical", 500, False)]
    image = upload_image(api, http, admin)
    products = []
    for index, (kind, price, on_shelf) in enumerate(specs):
        products.append(created(http.post(f"{api}/admin/products", headers={**admin, **key()}, timeout=10, json={
            "name": f"E2E {tag} item {index}", "type": kind, "category_id": cid, "price_fen": price, "stock": 5,
            "on_shelf": on_shelf, "images": [image],
            "shipping_fee_fen": 600 if kind == "physical" else 0})))

    # A guest lists the category, cheapest first, two per page.
    page1 = http.get(f"{api}/products", params={"category_id": cid, "sort": "price_asc", "limit": 2}, timeout=10)
    assert page1.status_code == 200, page1.text
    assert [p["price_fen"] for p in page1.json()["items"]] == [1000, 2000]
    page2 = http.get(f"{api}/products", params={"category_id": cid, "sort": "price_asc", "limit": 2,
                                                "cursor": page1.json()["next_cursor"]}, timeout=10)
    assert [p["price_fen"] for p in page2.json()["items"]] == [3000] and page2.json()["next_cursor"] is None

    # Search by keyword and price range, most expensive first; the off-shelf product never shows.
    search = http.get(f"{api}/products", params={"q": f"e2e {tag}", "min_price_fen": 400, "max_price_fen": 2500,
                                                 "sort": "price_desc"}, timeout=10)
    assert [p["name"] for p in search.json()["items"]] == [f"E2E {tag} item 2", f"E2E {tag} item 1"]

    # A logged-in customer sees the detail (no promoter earnings: not a promoter).
    login = http.post(f"{api}/auth/login", json={"code": f"e2e-catalog-{tag}"}, timeout=10)
    customer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    detail = http.get(f"{api}/products/{products[0]['product_id']}", headers=customer, timeout=10)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["category_name"] == f"E2E {tag}" and body["shipping_fee_fen"] == 600
    assert body["promoter_earn_fen"] is None and body["on_shelf"] is True
    shown = requests.get(body["image_urls"][0], timeout=10)  # the signed URL of the private bucket's object
    assert shown.status_code == 200 and shown.content[:8] == b"\x89PNG\r\n\x1a\n"

    # The seeded active promoter (local/hooks.py) sees what they would earn: the category's 15% at least.
    promoter = http.post(f"{api}/auth/login", json={"code": "demo-promoter"}, timeout=10)
    if promoter.status_code == 200:
        as_promoter = http.get(f"{api}/products", params={"category_id": cid, "sort": "price_asc"},
                               headers={"Authorization": f"Bearer {promoter.json()['access_token']}"}, timeout=10)
        earn = [p["promoter_earn_fen"] for p in as_promoter.json()["items"]]
        assert all(isinstance(e, int) and e > 0 for e in earn), earn

    # Off shelf, then on again, with the version the admin read.
    path = f"{api}/admin/products/{products[1]['product_id']}"
    off = http.patch(path, json={"version": 1, "on_shelf": False}, headers=admin, timeout=10)
    assert off.status_code == 200 and off.json()["version"] == 2
    stale = http.patch(path, json={"version": 1, "on_shelf": True}, headers=admin, timeout=10)
    assert stale.status_code == 409 and stale.json()["error"]["details"]["current"]["on_shelf"] is False
    listed = http.get(f"{api}/products", params={"category_id": cid}, timeout=10).json()["items"]
    assert {p["product_id"] for p in listed} == {products[0]["product_id"], products[2]["product_id"]}

    # Sales sort reflects reservations made by orders (here: a stock adjustment keeps sales at 0).
    adjust = http.post(f"{api}/admin/products/{products[0]['product_id']}/stock-adjustments",
                       json={"delta": -5, "reason": "盘点"}, headers={**admin, **key()}, timeout=10)
    assert adjust.status_code == 200 and adjust.json()["low_on_stock"] is True
    low = http.get(f"{api}/admin/products/low-stock", params={"limit": 100}, headers=admin, timeout=10)
    assert products[0]["product_id"] in {p["product_id"] for p in low.json()["items"]}

    # The category cannot go while it has products.
    refused = http.delete(f"{api}/admin/categories/{cid}", params={"version": 1}, headers=admin, timeout=10)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "category_not_empty"


def test_commission_over_the_cap_is_refused_with_422(api: str, http: requests.Session,
                                                     admin: dict[str, str]) -> None:
    category = created(http.post(f"{api}/admin/categories", json={"name": "E2E cap"}, headers={**admin, **key()},
                                 timeout=10))
    response = http.post(f"{api}/admin/products", headers={**admin, **key()}, timeout=10, json={
        "name": "Too generous", "type": "physical", "category_id": category["category_id"], "price_fen": 1000,
        "commission": {"mode": "ratio", "l1": 2500, "l2": 1000}})
    assert response.status_code == 422
    assert {f["field"] for f in response.json()["error"]["fields"]} == {"commission.l1", "commission.l2"}
    rates = http.patch(f"{api}/admin/categories/{category['category_id']}",
                       json={"version": 1, "l1_rate_bp": 2800}, headers=admin, timeout=10)
    assert rates.status_code == 422 and rates.json()["error"]["fields"][0]["field"] == "l1_rate_bp"


def test_browsing_is_public_but_admin_routes_are_not(api: str, http: requests.Session) -> None:
    assert http.get(f"{api}/products", timeout=10).status_code == 200
    assert http.get(f"{api}/categories", timeout=10).status_code == 200
    assert http.get(f"{api}/products/p_definitely_missing", timeout=10).status_code == 404
    assert http.get(f"{api}/admin/products", timeout=10).status_code == 401
    assert http.get(f"{api}/products", headers={"Authorization": "Bearer junk"}, timeout=10).status_code == 401
