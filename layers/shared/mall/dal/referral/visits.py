"""Share visits (分享访问) and the per-source rate limit of reporting them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mall.clock import china_day, epoch, iso
from mall.dal.keys import share_visit_key, visit_rate_key, visit_seen_key, visit_seen_partition
from mall.dal.referral.bindings import BindingRepository, BindPlan
from mall.dal.referral.records import visitor_index
from mall.dal.table import ConditionFailed, Item, Table, TransactionCancelled, Write
from mall.ids import new_id

#: How long a source stays "seen" for a promoter's day (the day plus slack for China's offset).
VISIT_SEEN_TTL = timedelta(days=2)


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` visits from ``source`` (a keyed hash of the IP) in the window starting at
    ``window_start`` (epoch seconds)."""

    source: str
    window_start: int
    window_seconds: int
    limit: int


class VisitRateExceeded(Exception):
    """The visit's source reported more visits in its window than the limit allows."""


class ExtraWritesRefused(Exception):
    """A condition of the writes another use case added to the visit's transaction failed:
    ``failed`` holds their indexes among those writes. Nothing was stored."""

    def __init__(self, failed: frozenset[int]) -> None:
        super().__init__(f"conditions failed: {sorted(failed)}")
        self.failed = failed


@dataclass(frozen=True)
class NewVisit:
    """A share visit to store: ``sources`` are the keyed hashes of its IP, device and account."""

    promoter_id: str
    promoter_code: str
    source: str
    product_id: str | None
    visitor_id: str | None
    device_id: str | None
    source_ip: str | None
    now: datetime
    sources: Sequence[str] = ()


def _visit_item(v: NewVisit, visit_id: str, *, counted: bool) -> Item:
    return {**share_visit_key(v.promoter_id, iso(v.now), visit_id), "entity": "share_visit", "visit_id": visit_id,
            "promoter_id": v.promoter_id, "promoter_code": v.promoter_code, "source": v.source,
            "product_id": v.product_id, "visitor_id": v.visitor_id, "device_id": v.device_id,
            "source_ip": v.source_ip, "at": iso(v.now), "counted": counted,
            **visitor_index(v.visitor_id, v.now, visit_id)}


def _seen_marker(promoter_id: str, fingerprint: str, now: datetime) -> Item:
    return {**visit_seen_key(promoter_id, china_day(now), fingerprint), "entity": "visit_seen", "at": iso(now),
            "expires_at": epoch(now + VISIT_SEEN_TTL)}


def _rate_write(table: str, rate: RateLimit) -> Write:
    return Write.update(table, visit_rate_key(rate.source, rate.window_start),
                        "SET entity = :e, expires_at = :exp ADD hits :one",
                        condition="attribute_not_exists(hits) OR hits < :limit",
                        values={":e": "visit_rate", ":exp": rate.window_start + rate.window_seconds + 3600,
                                ":one": 1, ":limit": rate.limit})


class VisitRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record_at_once(self, visit: NewVisit, *, seen: frozenset[str], rate: RateLimit | None,
                       bind: BindPlan | None, extra: Sequence[Write] = ()) -> tuple[str, bool]:
        """Store the visit in one transaction with everything it moves: the source's rate counter
        (only while under the limit), the "seen" markers of its sources not seen today (each only if
        still absent, so of two visits from one source exactly one counts), and the visitor's bind.
        The visit counts in the statistics when none of its sources was ``seen`` (as read).

        Raises ``VisitRateExceeded`` (nothing stored) when the source is past its limit, and
        ``TransactionCancelled`` when a concurrent visit or bind changed what was read: read and
        decide again. ``extra``: another use case's writes, last in the transaction (a coupon claimed
        through the share); ``ExtraWritesRefused`` when one of their conditions failed. Returns the
        visit id and whether it counted."""
        t = self._table.name
        visit_id = new_id("v")
        writes = [_rate_write(t, rate)] if rate is not None else []
        writes.append(Write.put(t, _visit_item(visit, visit_id, counted=not seen)))
        writes += [Write.put(t, _seen_marker(visit.promoter_id, fp, visit.now), condition="attribute_not_exists(pk)")
                   for fp in dict.fromkeys(visit.sources) if fp not in seen]
        if bind is not None:
            writes += BindingRepository(self._table).writes(bind)
        first_extra = len(writes)
        writes += extra
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            if rate is not None and exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                raise VisitRateExceeded from exc
            failed = frozenset(i - first_extra for i, reason in enumerate(exc.reasons)
                               if i >= first_extra and reason == "ConditionalCheckFailed")
            if failed:
                raise ExtraWritesRefused(failed) from exc
            raise
        return visit_id, not seen

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
