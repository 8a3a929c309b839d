"""``Idempotency-Key`` markers written inside a use case's own transaction.

Powertools' idempotency costs two writes of its own around the use case (claim the key, then
store the result). On a hot route the marker instead rides in the business transaction: the
marker is put, conditional on no live marker for the key, in the same ``TransactWriteItems`` as
the thing it guards, with the response it answers. A retry finds it (read in the use case's one
``BatchGetItem``, or returned by the cancelled transaction) and gets the stored response back; a
different body under the same key is refused. Nothing is claimed before the work, so a refused
request leaves no marker and its key can be used again, as with Powertools. There is no
"in progress" state: of two concurrent requests with one key, one transaction commits and the
other, cancelled by the marker's condition, answers with the marker it finds (the first answer).
So the use case must know its whole answer before its transaction (the order's WeChat Pay prepay
comes first for that reason)."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.config import function_environment, get_settings
from mall.dal.keys import request_marker_key
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write

#: A stored answer longer than this is kept zlib-compressed (``response_z``): an order's answer with
#: its payment parameters is about 1 KB of JSON, which took the marker over 1 KB, i.e. 4 write units
#: inside the transaction instead of 2. Shorter answers stay plain text (``response``).
COMPRESS_OVER_BYTES = 512

__all__ = ["COMPRESS_OVER_BYTES", "MarkedRequest", "MarkerState", "RequestMarker", "RequestMarkers",
           "TransactionCancelled", "Write"]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RequestMarker:
    """One request's marker: where it lives and the fingerprint of the body it was sent with."""

    key: Key
    payload_hash: str


@dataclass(frozen=True, slots=True)
class MarkerState:
    """A live marker found for a request key."""

    payload_hash: str
    response: str


class RequestMarkers:
    """The markers of one function (its idempotency partition, as Powertools')."""

    def __init__(self, table: Table, function: str | None = None) -> None:
        self._table = table
        self._function = function or function_environment().function_name or "local"

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def marker(self, caller: str, key: str, payload: Mapping[str, Any]) -> RequestMarker:
        """The marker of ``key`` sent by ``caller`` (a key is the caller's own: two callers never collide)."""
        return RequestMarker(request_marker_key(self._function, _digest([caller, key])), _digest(payload))

    def state(self, marker: RequestMarker, item: Item | None, now: datetime) -> MarkerState | None:
        """The live marker in ``item`` (None when absent or past its time to live)."""
        if item is None or int(item.get("expires_at", 0)) <= int(now.timestamp()):
            return None
        return MarkerState(payload_hash=_stored_hash(item["payload_hash"]), response=_stored_response(item))

    def found(self, marker: RequestMarker, items: Iterable[Item], now: datetime) -> MarkerState | None:
        """The marker among the items of a batch read that asked for ``marker.key`` too."""
        for item in items:
            if item.get("pk") == marker.key["pk"] and item.get("sk") == marker.key["sk"]:
                return self.state(marker, item, now)
        return None

    def get(self, marker: RequestMarker, now: datetime) -> MarkerState | None:
        return self.state(marker, self._table.get(marker.key, consistent=True), now)

    def put(self, marker: RequestMarker, *, response: str, now: datetime) -> Write:
        """The marker's put for the business transaction, conditional on no live marker for the key
        (an expired one, which TTL has not removed yet, may be replaced)."""
        # The body's digest as its 32 bytes rather than 64 hex digits: it keeps the marker under 1 KB.
        item: Item = {**marker.key, "entity": "request_marker",
                      "payload_hash": bytes.fromhex(marker.payload_hash), **_response_attribute(response),
                      "expires_at": int(now.timestamp()) + get_settings().idempotency_ttl_seconds}
        return Write.put(self._table.name, item, condition="attribute_not_exists(pk) OR expires_at <= :now",
                         values={":now": int(now.timestamp())})


def _response_attribute(response: str) -> Item:
    body = response.encode()
    if len(body) <= COMPRESS_OVER_BYTES:
        return {"response": response}
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: no header or checksum
    return {"response_z": packer.compress(body) + packer.flush()}


def _raw(value: Any) -> bytes:
    return bytes(getattr(value, "value", value))  # boto3 reads a binary attribute as ``Binary``


def _stored_hash(value: Any) -> str:
    return value if isinstance(value, str) else _raw(value).hex()


def _stored_response(item: Item) -> str:
    """The answer as stored: plain (short answers, and every marker written before compression) or
    compressed."""
    if "response" in item:
        return str(item["response"])
    return zlib.decompress(_raw(item["response_z"]), -zlib.MAX_WBITS).decode()


@dataclass(frozen=True, slots=True)
class MarkedRequest:
    """A request sent with an ``Idempotency-Key``: the function's markers, its marker, and when."""

    markers: RequestMarkers
    marker: RequestMarker
    now: datetime

    def found(self, items: Iterable[Item]) -> MarkerState | None:
        return self.markers.found(self.marker, items, self.now)

    def state(self, item: Item | None) -> MarkerState | None:
        return self.markers.state(self.marker, item, self.now)

    def get(self) -> MarkerState | None:
        return self.markers.get(self.marker, self.now)

    def put(self, response: str) -> Write:
        return self.markers.put(self.marker, response=response, now=self.now)
