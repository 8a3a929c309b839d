"""Over HTTP against the local API: login → /me, admin login, the error shape, 404 and 405."""

from __future__ import annotations

import json

import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from tests.conftest import ROOT


def test_login_then_me(api: str, http: requests.Session) -> None:
    login = http.post(f"{api}/auth/login", json={"code": "e2e-buyer", "device_id": "dev-1"}, timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = http.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200
    assert me.json()["id"] == login.json()["user_id"] and me.json()["kind"] == "customer"


def test_seeded_admin_can_log_in(api: str, http: requests.Session) -> None:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=10)
    assert login.status_code == 200, login.text
    me = http.get(f"{api}/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=10)
    assert me.json()["kind"] == "admin"


def test_bad_input_gets_the_error_shape_naming_the_field(api: str, http: requests.Session) -> None:
    response = http.post(f"{api}/auth/login", json={"kode": "x"}, timeout=10)
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert fields == {"code", "kode"}
    malformed = http.post(f"{api}/auth/login", data=b"{oops", headers={"content-type": "application/json"},
                          timeout=10)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"


def test_anonymous_me_is_401(api: str, http: requests.Session) -> None:
    response = http.get(f"{api}/me", timeout=10)
    assert response.status_code == 401 and response.json()["error"]["code"] == "missing_token"


def test_unknown_route_is_404_and_wrong_method_is_405(api: str, http: requests.Session) -> None:
    missing = http.get(f"{api}/definitely/not/here", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "route_not_found"
    wrong = http.delete(f"{api}/me", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"


def test_openapi_and_docs_are_served(api: str, http: requests.Session) -> None:
    spec = http.get(f"{api}/openapi.json", timeout=10)
    assert spec.status_code == 200
    assert spec.json() == json.loads((ROOT / "docs" / "openapi.json").read_text())
    docs = http.get(f"{api}/docs", timeout=10)
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
