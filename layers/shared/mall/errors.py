"""Domain exceptions. They say what went wrong in business terms; ``mall.api.errors``
maps each class to an HTTP status in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One bad input field: its dotted path and why it was refused."""

    field: str
    reason: str


class DomainError(Exception):
    """Base class. ``code`` is a stable machine-readable identifier for clients."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, fields: list[FieldProblem] | None = None,
                 details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or []
        self.details = details or {}


class InvalidInput(DomainError):
    """The request is well-formed but a value breaks a business rule."""

    code = "invalid_input"


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = "unauthenticated"


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    code = "forbidden"


class UnsupportedMediaType(DomainError):
    """The request body is not in a format the API reads (JSON only)."""

    code = "unsupported_media_type"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with the current state (already bound, already paid, ...)."""

    code = "conflict"


class TooManyRequests(DomainError):
    """Throttled or locked out; ``retry_after_seconds`` says when to come back."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class UpstreamUnavailable(DomainError):
    """A provider (WeChat, WeChat Pay) is busy or unreachable; the request may be retried."""

    code = "upstream_unavailable"
