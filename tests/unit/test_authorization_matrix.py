"""The authorization matrix: every route of template.yaml × every kind of caller.

Generated from the route table and the roles each operation declares (``x-mall-roles`` in
the OpenAPI document), so a new route is covered the moment it is routed, and a route that
declares no roles fails here. A caller whose role is not declared must be stopped before
the handler runs (401 without a token, 403 ``forbidden_role`` with the wrong role);
a caller whose role is declared must get past the role check."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.template import load_template
from mall.domain.tokens import Role, issue_token
from tests.conftest import ROOT, TEMPLATE, clear_caches, table_request
from tests.unit.conftest import FakeContext, http_event, load_function

CALLERS: dict[str, frozenset[Role] | None] = {
    "anonymous": None,
    "customer": frozenset({Role.CUSTOMER}),
    "promoter": frozenset({Role.CUSTOMER, Role.PROMOTER}),
    "admin": frozenset({Role.ADMIN}),
}


def _operations() -> list[tuple[str, str, str, list[str]]]:
    documented = json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"]
    template = load_template(TEMPLATE)
    rows = []
    for route in template.routes:
        if route.path == "$default" or route.path not in documented:
            continue
        op = documented[route.path].get(route.method.lower())
        if op is None:
            continue
        function_dir = template.functions[route.function_id].code_dir.name
        rows.append((function_dir, route.method.upper(), route.path, list(op.get("x-mall-roles", []))))
    return sorted(rows)


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def handlers() -> Iterator[dict[str, ModuleType]]:
    """One moto table and one cold start per function for the whole matrix (hundreds of calls)."""
    name = f"matrix-{uuid.uuid4().hex[:8]}"
    previous = os.environ.get("TABLE_NAME")
    os.environ["TABLE_NAME"] = name
    try:
        with mock_aws():
            clear_caches()
            request = table_request(name)
            request.pop("DeletionProtectionEnabled", None)
            boto3.client("dynamodb", region_name="us-east-1").create_table(**request)
            yield {}
    finally:
        if previous is None:
            os.environ.pop("TABLE_NAME", None)
        else:
            os.environ["TABLE_NAME"] = previous


def _token(roles: frozenset[Role]) -> str:
    from mall.api.auth import signing_key

    subject = "admin:matrix" if Role.ADMIN in roles else "u_matrixcaller000000000000"
    return issue_token(subject, roles, key=signing_key(), now=datetime.now(UTC), ttl_seconds=600)


def test_the_matrix_covers_every_routed_operation() -> None:
    routed = {(r.method.upper(), r.path) for r in load_template(TEMPLATE).routes if r.path != "$default"}
    covered = {(method, path) for _, method, path, _ in OPERATIONS}
    assert routed - {("GET", "/openapi.json"), ("GET", "/docs")} <= covered
    for _, method, path, roles in OPERATIONS:
        assert roles, f"{method} {path} declares no roles"


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for _, m, p, _ in OPERATIONS])
def test_route_admits_exactly_its_declared_roles(handlers: dict[str, ModuleType],
                                                 operation: tuple[str, str, str, list[str]], caller: str) -> None:
    function_dir, method, path, roles = operation
    caller_roles = CALLERS[caller]
    headers: dict[str, str] = {"idempotency-key": "matrix-0001"}
    if caller_roles is not None:
        headers["authorization"] = f"Bearer {_token(caller_roles)}"
    concrete = re.sub(r"\{[^}]+\}", "matrix_missing", path)
    event = http_event(method, concrete, body={} if method in {"POST", "PUT", "PATCH"} else None, headers=headers)
    event["routeKey"] = f"{method} {path}"
    if function_dir not in handlers:
        handlers[function_dir] = load_function(function_dir)
    result: dict[str, Any] = handlers[function_dir].handler(event, FakeContext())
    status = result["statusCode"]
    body = json.loads(result.get("body") or "{}") if "json" in (result.get("headers") or {}).get(
        "Content-Type", "application/json") else {}
    code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None

    admitted = "anonymous" in roles or (caller_roles is not None and bool({r.value for r in caller_roles} & set(roles)))
    if admitted:
        assert status != 401, f"{caller} refused as unauthenticated by {method} {path}: {body}"
        assert code != "forbidden_role", f"{caller} refused by the role check of {method} {path}"
    elif caller_roles is None:
        assert status == 401, f"anonymous reached {method} {path}: {status} {body}"
    else:
        assert (status, code) == (403, "forbidden_role"), f"{caller} reached {method} {path}: {status} {body}"
