"""Authentication and role checks, declared on each route.

``**secured(Role.CUSTOMER)`` declares the roles in the OpenAPI document (``security`` and
``x-mall-roles``, which the authorization test matrix reads); ``public()`` declares the
route open; an admin route declares the capability it needs, ``**staff(Capability.MONEY_RULES)``,
which declares the staff roles holding it (``mall.domain.staff``) and names it in
``x-mall-capability``. ``AuthorisingValidation`` enforces the declaration for every route of a resolver
made by ``mall.api.http.make_resolver``: it verifies the bearer token and the role before
Powertools validates the request, so a caller without the right role learns nothing about
the route's input (401/403, never a 422) and a route that declares no roles is refused."""

from __future__ import annotations

import threading
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.types import EventHandlerInstance

from mall.api import strict_json
from mall.clock import utc_now
from mall.domain.staff import Capability, admits, roles_for
from mall.domain.tokens import Principal, Role, verify_token
from mall.errors import FieldProblem, Forbidden, Unauthenticated, UnsupportedMediaType
from mall.secrets import get_secret

ANONYMOUS = "anonymous"
ROLES_EXTENSION = "x-mall-roles"
CAPABILITY_EXTENSION = "x-mall-capability"
BEARER_AUTH = "bearerAuth"


def signing_key() -> bytes:
    return get_secret("token_signing_key").encode("utf-8")


def principal_from_headers(headers: dict[str, str]) -> Principal:
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>' from POST /auth/login", code="missing_token")
    return verify_token(token.strip(), key=signing_key(), now=utc_now())


#: How long a container trusts what it read of an admin account's session (version, disabled):
#: a disabled admin's or an old password's tokens stop working within this many seconds.
SESSION_CACHE_SECONDS = 60
_sessions: dict[tuple[str, str], tuple[float, tuple[int, bool] | None]] = {}
_sessions_lock = threading.Lock()


def _admin_session(username: str, *, at_least: int) -> tuple[int, bool] | None:
    """(session version, disabled) of the admin account, read at most once a minute per container;
    read again at once when a token carries a newer version than the one cached (a fresh login)."""
    # Imported here: api_meta serves no admin route and needs no table client in its cold start.
    from mall.dal.identity import AdminRepository
    from mall.dal.table import main_table

    table = main_table()
    key = (table.name, username)
    with _sessions_lock:
        cached = _sessions.get(key)
    if cached and cached[0] > time.monotonic() and (cached[1] is None or cached[1][0] >= at_least):
        return cached[1]
    state = AdminRepository(table).session_state(username)
    with _sessions_lock:
        _sessions[key] = (time.monotonic() + SESSION_CACHE_SECONDS, state)
    return state


def ensure_session_current(principal: Principal) -> None:
    """An admin token is refused once its account is disabled or its session version moved on (a
    password change, a disable, a change of roles): old tokens stop working within ``SESSION_CACHE_SECONDS``. Accounts
    are never deleted, so a token whose account cannot be found has nothing to compare against."""
    if not principal.is_admin or not principal.subject.startswith("admin:"):
        return
    state = _admin_session(principal.subject.removeprefix("admin:"), at_least=principal.session_version)
    if state is None:
        return
    version, disabled = state
    if disabled or version != principal.session_version:
        raise Unauthenticated("this session has ended (the account was disabled, or its password or roles "
                              "changed); log in again", code="session_revoked")


def _declared_roles(app: EventHandlerInstance) -> list[str]:
    route = app.context.get("_route")
    extensions = getattr(route, "openapi_extensions", None) or {}
    roles = extensions.get(ROLES_EXTENSION)
    return list(roles) if isinstance(roles, list) else []


def _is_not_found_route(app: EventHandlerInstance) -> bool:
    """Powertools sends an unmatched request through a catch-all route (rule ``.*``) so that
    middlewares and the not-found handler run; it has no roles because it serves nothing."""
    route = app.context.get("_route")
    rule = getattr(route, "rule", None)
    return getattr(rule, "pattern", None) in {".*", "^.*$"}


class AuthorisingValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation (which always runs first in the middleware stack),
    preceded by the route's role check so no input is read before the caller is known."""

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response[Any]:
        declared = _declared_roles(app)
        if not declared:
            if _is_not_found_route(app):
                return super().handler(app, next_middleware)  # no route matched: the 404 handler answers
            raise Forbidden("this operation declares no roles", code="forbidden_role")
        if ANONYMOUS not in declared:
            principal = principal_from_headers(app.current_event.headers)
            if not admits(declared, principal.roles):
                raise Forbidden("your role may not use this operation", code="forbidden_role")
            ensure_session_current(principal)
            app.append_context(principal=principal)  # type: ignore[no-untyped-call]
        return super().handler(app, next_middleware)

    def _get_body(self, app: EventHandlerInstance) -> dict[str, Any]:
        """Bodies are JSON (UTF-8). Powertools would also try forms and multipart and let a
        missing boundary or undecodable bytes escape as a plain exception (a 500): refuse those
        here as the client's mistake."""
        content_type = app.current_event.headers.get("content-type", "").strip()
        if content_type and not content_type.lower().startswith("application/json"):
            raise UnsupportedMediaType("request bodies are JSON", fields=[FieldProblem(
                "header:content-type", f"{content_type[:64]!r} is not application/json")])
        try:
            return super()._get_body(app)
        except UnicodeDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "body is not UTF-8",
                                           "input": {}, "ctx": {}}]) from exc

    def _parse_json_data(self, app: EventHandlerInstance) -> dict[str, Any]:
        """The body through ``mall.api.strict_json`` (depth, integer size, duplicate keys), kept as
        the event's ``json_body`` so a handler reading it sees exactly what was validated."""
        text = app.current_event.decoded_body
        if not text:
            return None  # type: ignore[return-value]  # no body: the route's model says whether one is required
        try:
            parsed = strict_json.loads(text)
        except strict_json.BodyRefused as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": exc.reason,
                                           "input": {}, "ctx": {"error": exc.reason}}]) from exc
        app.current_event.__dict__["json_body"] = parsed  # json_body is a cached_property
        return parsed  # type: ignore[no-any-return]


def secured(*roles: Role) -> dict[str, Any]:
    """Route keyword arguments for an authenticated route open to ``roles``."""
    return {
        "security": [{BEARER_AUTH: []}],
        "openapi_extensions": {ROLES_EXTENSION: [r.value for r in roles]},
    }


def staff(capability: Capability) -> dict[str, Any]:
    """Route keyword arguments for an admin route needing ``capability``: open to the staff roles
    holding it (``mall.domain.staff.ROLES_BY_CAPABILITY``)."""
    declared = secured(*roles_for(capability))
    declared["openapi_extensions"][CAPABILITY_EXTENSION] = capability.value
    return declared


def public() -> dict[str, Any]:
    """Route keyword arguments for a route anyone may call (login, rules, webhooks verify signatures)."""
    return {"openapi_extensions": {ROLES_EXTENSION: [ANONYMOUS]}}


def current_principal(app: APIGatewayHttpResolver) -> Principal:
    principal = app.context.get("principal")
    if not isinstance(principal, Principal):
        raise Unauthenticated("not authenticated")
    return principal
