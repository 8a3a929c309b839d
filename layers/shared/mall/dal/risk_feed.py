"""The fraud scan's feed (docs/risk.md, "Fraud scan"): one small item per binding and per placed
order, written in the SAME transaction as the business write, so the scan can read what happened
since its watermark with a few strongly consistent Queries — never a table scan.

``RISK_FEED#<UTC yyyy-mm-ddTHH>#<shard 0-3>`` / ``<at>#<kind>#<ref>``, ``expires_at`` 14 days
later (an index, not a record: TTL may remove it). Its own module, importing nothing but the
table, because the writers (referral, orders) and the reader (``mall.dal.fraud``) import it."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from mall.clock import epoch, iso
from mall.dal.keys import feed_partition
from mall.dal.table import Item, Write

FEED_SHARDS = 4
FEED_TTL = timedelta(days=14)

FeedKind = Literal["bind", "order"]


def feed_shard(ref: str) -> int:
    return zlib.crc32(ref.encode()) % FEED_SHARDS


def feed_write(table_name: str, *, kind: FeedKind, ref: str, at: datetime, attrs: Mapping[str, Any]) -> Write:
    """The feed entry of a binding (``ref`` = the member) or an order (``ref`` = the order id), to
    put in the business write's own transaction. Unconditional: a retried transaction rewrites the
    same key. ``attrs`` are ids only (never a device id, an IP or personal data)."""
    stamp = iso(at)
    item: Item = {"pk": feed_partition(at, feed_shard(ref)), "sk": f"{stamp}#{kind}#{ref}", "entity": "risk_feed",
                  "kind": kind, "ref": ref, "at": stamp, "expires_at": epoch(at + FEED_TTL), **attrs}
    return Write.put(table_name, item)
