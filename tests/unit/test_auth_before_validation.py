"""The role check runs before Powertools reads the request, and a route must declare roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mall.api.auth import secured, signing_key
from mall.api.http import make_resolver
from mall.domain.tokens import Role, issue_token
from mall.schemas.common import ApiModel
from tests.unit.conftest import FakeContext, http_event


class Body(ApiModel):
    amount_fen: int


def _app():  # type: ignore[no-untyped-def]
    app = make_resolver()

    @app.post("/admin/things", **secured(Role.ADMIN))
    def admin_only(body: Body) -> dict[str, int]:
        return {"amount_fen": body.amount_fen}

    @app.post("/undeclared")
    def undeclared() -> dict[str, str]:
        return {"reached": "yes"}

    return app


def _call(path: str, roles: frozenset[Role] | None, body: object) -> tuple[int, dict[str, object]]:
    headers = {}
    if roles is not None:
        token = issue_token("u_x", roles, key=signing_key(), now=datetime.now(UTC), ttl_seconds=60)
        headers["authorization"] = f"Bearer {token}"
    result = _app().resolve(http_event("POST", path, body=body, headers=headers), FakeContext())
    return result["statusCode"], json.loads(result["body"])


def test_wrong_role_with_invalid_body_is_refused_by_role_not_by_validation() -> None:
    assert _call("/admin/things", frozenset({Role.CUSTOMER}), {"nope": 1})[0] == 403
    assert _call("/admin/things", None, {"nope": 1})[0] == 401


def test_right_role_is_then_validated() -> None:
    assert _call("/admin/things", frozenset({Role.ADMIN}), {"nope": 1})[0] == 422
    assert _call("/admin/things", frozenset({Role.ADMIN}), {"amount_fen": 5}) == (200, {"amount_fen": 5})


def test_a_route_declaring_no_roles_is_closed() -> None:
    status, body = _call("/undeclared", frozenset({Role.ADMIN}), {})
    assert status == 403 and body["error"]["code"] == "forbidden_role"  # type: ignore[index]


def test_unmatched_path_still_reaches_the_not_found_handler() -> None:
    assert _call("/nowhere", None, {})[0] == 404
