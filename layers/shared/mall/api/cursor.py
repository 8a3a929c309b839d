"""Opaque pagination cursors: the DynamoDB LastEvaluatedKey (or a list's own page position),
signed so a client cannot forge one that reads another partition.

Services page through ``cursors``, the one codec of the process: it signs with the token signing
key, read through ``mall.secrets`` on each use (so a rotated key is picked up as tokens pick it
up), and no handler or service ever handles the key itself. A list binds its cursors to itself by
naming its partition when it decodes (``cursors.decode(cursor, partition=("pk", "USER#u1"))``) or
by carrying its own fingerprint inside the position."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from mall.errors import FieldProblem, InvalidInput
from mall.secrets import get_secret


def encode_cursor(last_key: Mapping[str, Any] | None, *, key: bytes) -> str | None:
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



class CursorCodec:
    """Turns a page position into the opaque ``next_cursor`` a client sends back, and back again."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def encode(self, position: Mapping[str, Any] | None) -> str | None:
        """The cursor of the next page; ``None`` when there is none (no position)."""
        return encode_cursor(position, key=self._key()) if position else None

    def decode(self, cursor: str | None, *, partition: tuple[str, str] | None = None) -> dict[str, Any] | None:
        """The position a cursor holds, or ``None`` for the first page; a cursor that was not signed
        here, or (given ``partition``) that belongs to another list, is a 422 ``invalid_cursor``."""
        return decode_cursor(cursor, key=self._key(), partition=partition)


def _signing_key() -> bytes:
    return get_secret("token_signing_key").encode("utf-8")


cursors = CursorCodec(_signing_key)
