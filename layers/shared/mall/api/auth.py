"""Authentication and role checks, declared on each route.

``**secured(Role.CUSTOMER)`` adds a middleware that verifies the bearer token and the
role, records the principal for the route, and documents both in the OpenAPI document
(``security`` and ``x-mall-roles``), which the authorization test matrix reads."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from mall.clock import utc_now
from mall.domain.tokens import Principal, Role, verify_token
from mall.errors import Forbidden, Unauthenticated
from mall.secrets import get_secret

ANONYMOUS = "anonymous"
ROLES_EXTENSION = "x-mall-roles"
BEARER_AUTH = "bearerAuth"


def signing_key() -> bytes:
    return get_secret("token_signing_key").encode("utf-8")


def principal_from_headers(headers: dict[str, str]) -> Principal:
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>' from POST /auth/login", code="missing_token")
    return verify_token(token.strip(), key=signing_key(), now=utc_now())


def require_roles(*roles: Role) -> Any:
    allowed = frozenset(roles)

    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        principal = principal_from_headers(app.current_event.headers)
        if not principal.roles & allowed:
            raise Forbidden("your role may not use this operation", code="forbidden_role")
        app.append_context(principal=principal)  # type: ignore[no-untyped-call]
        return next_middleware(app)

    return middleware


def secured(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments for an authenticated route open to ``roles``."""
    return {
        "security": [{BEARER_AUTH: []}],
        "middlewares": [require_roles(*roles)],
        "openapi_extensions": {ROLES_EXTENSION: [r.value for r in roles]},
    }


def public() -> dict[str, Any]:
    """Route keyword arguments for a route anyone may call (login, rules, webhooks verify signatures)."""
    return {"openapi_extensions": {ROLES_EXTENSION: [ANONYMOUS]}}


def current_principal(app: APIGatewayHttpResolver) -> Principal:
    principal = app.context.get("principal")
    if not isinstance(principal, Principal):
        raise Unauthenticated("not authenticated")
    return principal
