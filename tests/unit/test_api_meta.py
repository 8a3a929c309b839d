"""The OpenAPI document, Swagger UI, and the 404/405 catch-all."""

from __future__ import annotations

import json

from tests.conftest import ROOT
from tests.unit.conftest import Invoke


def test_openapi_is_served_and_matches_the_committed_copy(invoke: Invoke) -> None:
    status, body, _ = invoke("api_meta", "GET", "/openapi.json")
    assert status == 200
    assert body == json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert body["openapi"].startswith("3.1")


def test_swagger_ui_is_a_self_contained_page(invoke: Invoke) -> None:
    status, body, headers = invoke("api_meta", "GET", "/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in body["raw"]


def test_unknown_route_is_404_with_the_error_shape(invoke: Invoke) -> None:
    status, body, _ = invoke("api_meta", "GET", "/no/such/thing")
    assert status == 404 and body["error"]["code"] == "route_not_found"


def test_known_path_wrong_method_is_405_with_allow(invoke: Invoke) -> None:
    status, body, headers = invoke("api_meta", "DELETE", "/me")
    assert status == 405 and headers["Allow"] == "GET"
    assert body["error"]["code"] == "method_not_allowed"


def test_openapi_copies_are_fresh() -> None:
    from tools.gen_openapi import main

    assert main(["--check"]) == 0, "run `make openapi`"
