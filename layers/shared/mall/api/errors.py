"""The one place where exceptions become HTTP responses.

Shape (every 4xx/5xx): ``{"error": {"code": str, "message": str, "fields": [{"field", "reason"}]}}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from mall import errors

STATUS_BY_ERROR: list[tuple[type[errors.DomainError], HTTPStatus]] = [
    (errors.InvalidInput, HTTPStatus.UNPROCESSABLE_ENTITY),
    (errors.Unauthenticated, HTTPStatus.UNAUTHORIZED),
    (errors.Forbidden, HTTPStatus.FORBIDDEN),
    (errors.NotFound, HTTPStatus.NOT_FOUND),
    (errors.UnsupportedMediaType, HTTPStatus.UNSUPPORTED_MEDIA_TYPE),
    (errors.Conflict, HTTPStatus.CONFLICT),
    (errors.TooManyRequests, HTTPStatus.TOO_MANY_REQUESTS),
    (errors.UpstreamUnavailable, HTTPStatus.SERVICE_UNAVAILABLE),
]


def error_response(status: int, code: str, message: str, *, fields: list[dict[str, str]] | None = None,
                   details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response[str]:
    payload: dict[str, Any] = {"code": code, "message": message, "fields": fields or []}
    if details:
        payload["details"] = details
    return Response(status_code=status, content_type="application/json",
                    body=json.dumps({"error": payload}, ensure_ascii=False), headers=headers or {})


def from_domain_error(exc: errors.DomainError) -> Response[str]:
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls)), HTTPStatus.BAD_REQUEST)
    headers = {}
    if isinstance(exc, errors.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    fields = [{"field": f.field, "reason": f.reason} for f in exc.fields]
    return error_response(status, exc.code, exc.message, fields=fields, details=exc.details, headers=headers)


_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def from_validation_error(exc: RequestValidationError) -> Response[str]:
    """Pydantic's errors become one entry per field: ``body.code`` → ``code``; a header keeps its name."""
    problems: list[dict[str, str]] = []
    malformed_json: str | None = None
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            malformed_json = str(ctx.get("error") or "not valid JSON") if isinstance(ctx, dict) else "not valid JSON"
        if loc and loc[0] in _LOCATIONS:
            where, path = loc[0], loc[1:]
        else:
            where, path = "body", loc
        name = ".".join(path) if path else where
        if where == "header":
            name = f"header:{name}"
        elif where in {"query", "path"}:
            name = f"{where}:{name}"
        problems.append({"field": name, "reason": str(err.get("msg", "invalid"))})
    if malformed_json is not None:
        return error_response(HTTPStatus.BAD_REQUEST, "malformed_json", "request body is not valid JSON",
                              fields=[{"field": "body", "reason": malformed_json}])
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "request has invalid fields",
                          fields=problems)
