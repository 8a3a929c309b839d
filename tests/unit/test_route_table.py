"""template.yaml (what API Gateway routes) and the OpenAPI document (what the code serves)
describe the same routes, so neither can drift from the other."""

from __future__ import annotations

import json

from local.template import load_template
from tests.conftest import ROOT, TEMPLATE

META_ROUTES = {("GET", "/openapi.json"), ("GET", "/docs")}


def template_routes() -> set[tuple[str, str]]:
    return {(r.method.upper(), r.path) for r in load_template(TEMPLATE).routes if r.path != "$default"}


def openapi_routes() -> set[tuple[str, str]]:
    paths = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_template_route_is_documented_and_every_documented_route_is_routed() -> None:
    assert template_routes() - META_ROUTES == openapi_routes()


def test_every_operation_declares_who_may_call_it() -> None:
    paths = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    for path, ops in paths.items():
        for method, op in ops.items():
            roles = op.get("x-mall-roles")
            assert roles, f"{method.upper()} {path} has no x-mall-roles: use secured(...) or public()"
            assert ("anonymous" in roles) == (not op.get("security")), f"{method.upper()} {path}"


def test_there_is_a_catch_all_for_404_and_405() -> None:
    routes = load_template(TEMPLATE).routes
    assert any(r.path == "$default" for r in routes)
