"""Models shared by many endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiModel(BaseModel):
    """Base of every request body: unknown fields are refused, so typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldError(BaseModel):
    field: str = Field(description="the field, e.g. `code`, `lines.0.quantity`, `header:idempotency-key`")
    reason: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. `validation_error`")
    message: str
    fields: list[FieldError] = Field(default_factory=list)
    details: dict[str, Any] | None = Field(
        default=None, description="present on some refusals: e.g. `binding` (already bound), `retry_after_seconds`")


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail
