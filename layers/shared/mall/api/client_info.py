"""Who is calling from where: the device fingerprint the mini-program sends and the source IP.

Both are stored for the fraud scan (``mall.services.fraud``) on the items the request writes,
and never written to a log line."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver

#: The longest device fingerprint kept (the request models allow the same).
DEVICE_ID_MAX_LENGTH = 128


def device_id(headers: Mapping[str, str] | None, body_value: str | None = None) -> str | None:
    """The body's ``device_id`` if sent, else the ``x-device-id`` header; cut to 128 characters."""
    raw = body_value
    if not raw and headers:
        raw = headers.get("x-device-id") or headers.get("X-Device-Id")
    value = (raw or "").strip()[:DEVICE_ID_MAX_LENGTH]
    return value or None


def source_ip(app: APIGatewayHttpResolver) -> str | None:
    """The caller's IP as API Gateway saw it (``requestContext.http.sourceIp``)."""
    try:
        value = app.current_event.request_context.http.source_ip
    except (KeyError, AttributeError, TypeError):
        return None
    return str(value) if value else None


def client(app: APIGatewayHttpResolver, body_device_id: str | None = None) -> tuple[str | None, str | None]:
    """(device id, source IP) of the current request."""
    return device_id(app.current_event.headers, body_device_id), source_ip(app)
