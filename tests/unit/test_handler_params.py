"""Handlers share one definition of ids in the path, page size, cursor, error responses and the
source IP (mall.api.params): the same kind of value is validated and documented the same way on
every route."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from tests.conftest import ROOT

HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))


def _parameters() -> list[tuple[str, dict[str, Any]]]:
    paths = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    return [(f"{method.upper()} {path}", parameter)
            for path, operations in paths.items() for method, operation in operations.items()
            for parameter in operation.get("parameters", [])]


def test_a_path_parameter_has_one_schema_wherever_it_appears() -> None:
    schemas: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for route, parameter in _parameters():
        if parameter["in"] == "path":
            schemas[parameter["name"]][json.dumps(parameter["schema"], sort_keys=True)].append(route)
    drifted = {name: dict(variants) for name, variants in schemas.items() if len(variants) > 1}
    assert not drifted


def test_every_list_takes_the_same_cursor_and_page_size() -> None:
    cursors, limits = set(), set()
    for _, parameter in _parameters():
        if parameter["in"] != "query":
            continue
        if parameter["name"] == "cursor":
            cursors.add(json.dumps(parameter, sort_keys=True))
        elif parameter["name"] == "limit":
            schema = {k: v for k, v in parameter["schema"].items() if k not in {"maximum", "default"}}
            limits.add(json.dumps({**parameter, "schema": schema}, sort_keys=True))
    assert len(cursors) == 1, cursors
    assert len(limits) == 1, limits


def test_handlers_use_the_shared_helpers_instead_of_their_own_copies() -> None:
    copies = {
        "an error response written out": re.compile(r'"model":\s*ErrorBody'),
        "the source IP read from the event": re.compile(r"request_context\.http\.source_ip"),
        "an id path parameter defined locally": re.compile(r"Annotated\[str, Path\(min_length=\d+, max_length=64"),
        "a cursor query defined locally": re.compile(r"cursor: Annotated\[str \| None, Query\("),
        "a page size defined locally": re.compile(r"limit: Annotated\[int, Query\("),
    }
    found = [f"{handler.parent.name}: {what}" for handler in HANDLERS
             for what, pattern in copies.items() if pattern.search(handler.read_text())]
    assert not found
