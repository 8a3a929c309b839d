"""Opaque pagination cursors: the DynamoDB LastEvaluatedKey, signed so a client cannot
forge one that reads another partition."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from mall.errors import FieldProblem, InvalidInput


def encode_cursor(last_key: dict[str, Any] | None, *, key: bytes) -> str | None:
    if not last_key:
        return None
    payload = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac + payload).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None, *, key: bytes, partition: tuple[str, str] | None = None) -> dict[str, Any] | None:
    """The start key, checked: signature valid and (if given) in the expected partition."""
    if not cursor:
        return None
    bad = InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                       fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()[:12]):
            raise bad
        start = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise bad from exc
    if not isinstance(start, dict):
        raise bad
    if partition is not None and start.get(partition[0]) != partition[1]:
        raise bad
    return start
