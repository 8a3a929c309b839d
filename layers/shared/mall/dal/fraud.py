"""The fraud scan's reads and its own items (docs/data-model.md, "risk"; design: docs/risk.md).

- feed entry ``RISK_FEED#<UTC yyyy-mm-ddTHH>#<shard 0-3>`` / ``<at>#<kind>#<ref>``: one small item
  per binding and per placed order, put in the SAME transaction as the binding or the order
  (``mall.dal.risk_feed.feed_write``), so the scan reads what happened since its watermark with a few strongly
  consistent Queries instead of scanning the table. ``expires_at`` 14 days later (TTL): it is an
  index, not a record.
- watermark ``RISK_SCAN`` / ``WATERMARK``: ``at``, the end of the last window scanned; moved only by
  a conditional update from the value the run read, so of two overlapping runs one moves it.
- hit ``RISK_HIT#<rule>#<window_key>`` / ``USER#<promoter>``: put if absent (a repeated scan
  finds it), gsi1 ``RISK_HITS#<China day>`` / ``<at>#<rule>#<promoter>`` to list a day's hits.

Everything else is read through the existing indexes with targeted Queries (a promoter's team,
commissions, withdrawals; refunds and withdrawals created in a time range by status)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mall.clock import china_day, epoch, iso, parse_instant
from mall.dal.commission_index import CommissionIndex, Where
from mall.dal.keys import (
    BUYER_ORDERS_FLOOR,
    RISK_SCAN_WATERMARK_KEY,
    buyer_partition,
    customer_profile_key,
    feed_partition,
    hit_key,
    hits_partition,
    order_address_key,
    order_key,
    refunds_partition,
    team_partition,
    withdrawal_promoter_partition,
    withdrawal_status_partition,
)
from mall.dal.order_items import with_address
from mall.dal.risk_feed import FEED_SHARDS, FeedKind
from mall.dal.table import ConditionFailed, Item, Key, Table
from mall.domain.fraud import Hit
from mall.domain.refunds import RefundStatus
from mall.domain.withdrawals import WithdrawalStatus

#: Hits are kept like the audit trail (≥ 3 years): they are why a case was or was not opened.
HIT_RETENTION = timedelta(days=1096 + 31)
#: Refunds that take money back (or are on their way to): a rejected or closed request is not one.
REFUND_STATUSES: tuple[str, ...] = (RefundStatus.REQUESTED, RefundStatus.PROCESSING, RefundStatus.SUCCEEDED,
                                    RefundStatus.FAILED)
#: Every withdrawal request counts, whatever became of it.
WITHDRAWAL_STATUSES: tuple[str, ...] = tuple(s.value for s in WithdrawalStatus)
#: The most of a promoter's own orders read for their phone / address / device fingerprints.
OWN_ORDERS_READ = 50
#: The most commission records of one promoter read per rule evaluation (newest first).
COMMISSIONS_READ = 5_000


@dataclass(frozen=True, slots=True)
class FeedEntry:
    kind: str
    ref: str
    at: datetime
    item: Item


def _dt(value: Any) -> datetime:
    return parse_instant(str(value))


def _hours(start: datetime, end: datetime) -> list[datetime]:
    first = start.replace(minute=0, second=0, microsecond=0)
    hours: list[datetime] = []
    while first <= end:
        hours.append(first)
        first += timedelta(hours=1)
    return hours


class FraudRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- the watermark ----------------------------------------------------------------------

    def watermark(self) -> datetime | None:
        item = self._table.get(RISK_SCAN_WATERMARK_KEY, consistent=True)
        return _dt(item["at"]) if item and item.get("at") else None

    def advance_watermark(self, *, old: datetime | None, new: datetime, now: datetime) -> bool:
        """Move the watermark from ``old`` (as this run read it) to ``new``. False when another run
        moved it meanwhile (this run's work was a harmless repeat)."""
        if old is not None and new <= old:
            return False
        condition = "attribute_not_exists(pk)" if old is None else "#at = :old"
        values: dict[str, Any] = {":new": iso(new), ":now": iso(now), ":e": "risk_scan_watermark", ":one": 1}
        if old is not None:
            values[":old"] = iso(old)
        try:
            self._table.update(RISK_SCAN_WATERMARK_KEY, "SET #at = :new, updated_at = :now, entity = :e ADD runs :one",
                               condition=condition, names={"#at": "at"}, values=values)
        except ConditionFailed:
            return False
        return True

    # ---- the feed -----------------------------------------------------------------------------

    def feed(self, start: datetime, end: datetime, *, kind: FeedKind | None = None) -> list[FeedEntry]:
        """Entries with ``start <= at <= end`` (second precision), oldest first: one strongly
        consistent Query per hour bucket and shard."""
        low, high = iso(start), iso(end) + "~"
        entries: list[FeedEntry] = []
        for hour in _hours(start, end):
            for shard in range(FEED_SHARDS):
                for item in self._all("#pk = :pk AND #sk BETWEEN :low AND :high", names={"#pk": "pk", "#sk": "sk"},
                                      values={":pk": feed_partition(hour, shard), ":low": low, ":high": high},
                                      consistent=True):
                    if kind is None or item.get("kind") == kind:
                        entries.append(FeedEntry(str(item["kind"]), str(item["ref"]), _dt(item["at"]), item))
        return sorted(entries, key=lambda e: (e.at, e.kind, e.ref))

    # ---- context reads (targeted) ---------------------------------------------------------------

    def team_bindings(self, promoter_id: str, start: datetime, end: datetime) -> list[Item]:
        """The promoter's current level-1 bindings made in [start, end] (gsi1 ``TEAM#<uid>``)."""
        return self._range("gsi1", team_partition(promoter_id), start, end)

    def commissions(self, promoter_id: str, since: datetime) -> tuple[list[Item], bool]:
        """The promoter's commission records created since ``since``, newest first (gsi1
        ``COMMISSIONS#<uid>``, its shards merged), at most ``COMMISSIONS_READ``; and whether that is all of them."""
        newest = CommissionIndex(self._table).items(promoter_id, newest_first=True, where=Where(low=iso(since)))
        found = list(itertools.islice(newest, COMMISSIONS_READ + 1))
        return found[:COMMISSIONS_READ], len(found) <= COMMISSIONS_READ

    def promoter_withdrawals(self, promoter_id: str, start: datetime, end: datetime) -> list[Item]:
        """The promoter's withdrawal requests created in [start, end] (gsi2 ``PROMOTER_WITHDRAWALS#``)."""
        return self._range("gsi2", withdrawal_promoter_partition(promoter_id), start, end)

    def withdrawals_created(self, start: datetime, end: datetime) -> list[Item]:
        """Every withdrawal requested in [start, end]: one Query per status partition (gsi1)."""
        found: dict[str, Item] = {}
        for status in WITHDRAWAL_STATUSES:
            for item in self._range("gsi1", withdrawal_status_partition(status), start, end):
                found[str(item["withdrawal_id"])] = item
        return list(found.values())

    def refunds_created(self, start: datetime, end: datetime) -> list[Item]:
        """Customer refunds requested in [start, end] that are not rejected or closed (gsi1
        ``REFUNDS#<status>``). A paid-after-expiry refund concerns an order nobody earned on."""
        found: dict[str, Item] = {}
        for status in REFUND_STATUSES:
            for item in self._range("gsi1", refunds_partition(status), start, end):
                if item.get("kind") != "paid_after_expiry":
                    found[str(item["refund_id"])] = item
        return list(found.values())

    def orders(self, order_ids: Iterable[str]) -> dict[str, Item]:
        """The orders with their delivery addresses (kept apart: ``mall.dal.order_items``), one batch."""
        ids = list(dict.fromkeys(order_ids))
        keys: list[Key] = [k for order_id in ids for k in (order_key(order_id), order_address_key(order_id))]
        if not keys:
            return {}
        found = self._table.batch_get(keys)
        apart = {str(i["order_id"]): i for i in found if i.get("entity") == "order_address"}
        return {str(i["order_id"]): with_address(i, apart.get(str(i["order_id"]))) for i in found
                if i.get("entity") != "order_address"}

    def profiles(self, user_ids: Iterable[str]) -> dict[str, Item]:
        keys: list[Key] = [customer_profile_key(uid) for uid in dict.fromkeys(user_ids)]
        return {str(item["user_id"]): item for item in self._table.batch_get(keys)} if keys else {}

    def own_orders(self, user_id: str) -> list[Item]:
        """The user's own latest orders (gsi1 ``BUYER#<uid>``, newest first; the address items and share
        visits indexed there too sort below ``BUYER_ORDERS_FLOOR``, out of the key condition)."""
        page = self._table.query_where("#pk = :pk AND #sk >= :floor", names={"#pk": "gsi1pk", "#sk": "gsi1sk"},
                                       values={":pk": buyer_partition(user_id), ":floor": BUYER_ORDERS_FLOOR},
                                       index="gsi1", limit=OWN_ORDERS_READ, newest_first=True)
        orders = [i for i in page.items if i.get("entity") == "order"]
        missing = [str(i["order_id"]) for i in orders if i.get("address") is None]
        apart = {str(i["order_id"]): i for i in self._table.batch_get([order_address_key(o) for o in missing])} \
            if missing else {}
        return [with_address(i, apart.get(str(i["order_id"]))) for i in orders]

    # ---- hits -------------------------------------------------------------------------------------

    def record_hit(self, hit: Hit, *, mode: str, now: datetime) -> bool:
        """Put the hit if it is not there yet. False: an earlier run recorded it already."""
        stamp = iso(now)
        item: Item = {**hit_key(hit.rule, hit.window_key, hit.promoter_id), "entity": "risk_hit", "rule": hit.rule,
                      "promoter_id": hit.promoter_id, "window_key": hit.window_key, "mode": mode,
                      "evidence": hit.evidence, "at": stamp, "gsi1pk": hits_partition(china_day(now)),
                      "gsi1sk": f"{stamp}#{hit.rule}#{hit.promoter_id}",
                      "expires_at": epoch(now + HIT_RETENTION)}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def hits_on(self, day: str) -> list[Item]:
        """The hits recorded on a China day, oldest first."""
        return self._all("#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": hits_partition(day)}, index="gsi1")

    def hit(self, rule: str, window_key: str, promoter_id: str) -> Item | None:
        return self._table.get(hit_key(rule, window_key, promoter_id), consistent=True)

    # ---- helpers --------------------------------------------------------------------------------------

    def _range(self, index: str, partition: str, start: datetime, end: datetime) -> list[Item]:
        """Items of an index partition whose sort key (``<iso time>#...``) falls in [start, end]."""
        return self._all("#pk = :pk AND #sk BETWEEN :low AND :high", names={"#pk": f"{index}pk", "#sk": f"{index}sk"},
                         values={":pk": partition, ":low": iso(start), ":high": iso(end) + "~"}, index=index)

    def _all(self, condition: str, *, names: Mapping[str, str], values: Mapping[str, Any], index: str | None = None,
             consistent: bool = False) -> list[Item]:
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where(condition, names=names, values=values, index=index, limit=None,
                                           start_key=start, consistent=consistent)
            items += page.items
            start = page.last_key
            if start is None:
                return items


def ids(items: Sequence[Item], name: str) -> list[str]:
    return [str(i[name]) for i in items if i.get(name)]
