"""The API's own metadata: ``GET /openapi.json``, Swagger UI at ``GET /docs``, and the
catch-all ``$default`` route that answers 404 for unknown paths and 405 (with ``Allow``)
for a known path called with the wrong method.

``openapi.json`` beside this file is generated from the handlers' code by
``make openapi`` (tools/gen_openapi.py) and checked for staleness by the tests."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

from mall.api.auth import public
from mall.api.errors import error_response
from mall.api.http import NotFoundError, Response, entrypoint, make_resolver

SPEC_PATH = Path(__file__).with_name("openapi.json")
META_ROUTES = {"/openapi.json": {"GET"}, "/docs": {"GET"}}
app = make_resolver()


@lru_cache(maxsize=1)
def spec_text() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def route_table() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path regex, allowed methods) for every documented route."""
    paths: dict[str, Any] = json.loads(spec_text()).get("paths", {})
    table = []
    for template, operations in {**paths, **META_ROUTES}.items():
        methods = frozenset(m.upper() for m in operations)
        pattern = re.sub(r"\\\{[^/]+?\\\+\\\}", ".+", re.escape(template))
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern)
        table.append((re.compile(f"^{pattern}$"), methods))
    return table


@app.get("/openapi.json", include_in_schema=False, **public())
def openapi() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=spec_text(),
                    headers={"Cache-Control": "max-age=300"})


@app.get("/docs", include_in_schema=False, **public())
def docs() -> Response[str]:
    # Powertools ships the Swagger UI assets, so the page works with no CDN (also locally offline).
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(generate_swagger_html.__code__.co_filename).parent
    page = generate_swagger_html(
        spec_text(),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        persist_authorization=True,
    )
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page)


@app.not_found
def unknown_route(exc: NotFoundError) -> Response[str]:
    path = app.current_event.path
    allowed = set().union(*(methods for pattern, methods in route_table() if pattern.match(path)))
    if allowed:
        allow = ", ".join(sorted(allowed))
        return error_response(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                              f"{app.current_event.http_method} is not allowed here; use {allow}",
                              headers={"Allow": allow})
    return error_response(HTTPStatus.NOT_FOUND, "route_not_found", f"no route for {path}")


handler = entrypoint(app)
