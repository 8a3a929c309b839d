"""Share visits (分享访问) and the per-source rate limit of reporting them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from mall.clock import china_day, epoch, iso
from mall.dal.keys import share_visit_key, visit_rate_key, visit_seen_partition
from mall.dal.referral.records import visitor_index
from mall.dal.table import ConditionFailed, Item, Table, TransactionCancelled, Write
from mall.ids import new_id

#: How long a source stays "seen" for a promoter's day (the day plus slack for China's offset).
VISIT_SEEN_TTL = timedelta(days=2)


class VisitRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, *, promoter_id: str, promoter_code: str, source: str, product_id: str | None,
               visitor_id: str | None, device_id: str | None, source_ip: str | None, now: datetime,
               sources: Sequence[str] = ()) -> tuple[str, bool]:
        """Store the visit; it is ``counted`` (in the statistics) when it is the first of each of its
        ``sources`` (keyed hashes of its IP, device, account) for this promoter today. The visit and
        the "seen" markers are one transaction, so of two visits from one source exactly one counts.
        Returns the visit id and whether it counted."""
        visit_id = new_id("v")
        item: Item = {**share_visit_key(promoter_id, iso(now), visit_id), "entity": "share_visit",
                      "visit_id": visit_id, "promoter_id": promoter_id, "promoter_code": promoter_code,
                      "source": source, "product_id": product_id, "visitor_id": visitor_id,
                      "device_id": device_id, "source_ip": source_ip, "at": iso(now), "counted": True,
                      **visitor_index(visitor_id, now, visit_id)}
        partition = visit_seen_partition(promoter_id, china_day(now))
        markers = [{"pk": partition, "sk": fp, "entity": "visit_seen", "at": iso(now),
                    "expires_at": epoch(now + VISIT_SEEN_TTL)} for fp in dict.fromkeys(sources)]
        try:
            self._table.transact([Write.put(self._table.name, item),
                                  *(Write.put(self._table.name, m, condition="attribute_not_exists(pk)")
                                    for m in markers)])
            return visit_id, True
        except TransactionCancelled as exc:
            # Seen already, or being marked by a visit from the same source at this very moment.
            if not set(exc.reasons) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise
        # A source was seen already: the visit is kept (fraud scans read it) but not counted, and
        # its other sources become seen too (a new device on a seen IP does not count tomorrow's
        # visit from another IP either, today).
        for marker in markers:
            with contextlib.suppress(ConditionFailed):
                self._table.put(marker, condition="attribute_not_exists(pk)")
        self._table.put({**item, "counted": False})
        return visit_id, False


class VisitRateLimiter:
    """A counter per source per fixed window (``VISIT_RATE#<keyed hash of the IP>`` / window start),
    incremented only while under the limit: one conditional update, so parallel requests never
    pass more than the limit."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def allow(self, *, source: str, window_start: int, window_seconds: int, limit: int) -> bool:
        key = visit_rate_key(source, window_start)
        try:
            self._table.update(key, "SET entity = :e, expires_at = :exp ADD hits :one",
                               condition="attribute_not_exists(hits) OR hits < :limit",
                               values={":e": "visit_rate", ":exp": window_start + window_seconds + 3600, ":one": 1,
                                       ":limit": limit})
        except ConditionFailed:
            return False
        return True
