"""The audit trail (数据留痕): append-only records of every admin action, settings change and
sensitive read — who, what, before/after, when and from where (docs/data-model.md, "audit").

- ``AUDIT#<yyyy-mm-dd>`` / ``<iso>#<audit_id>``: one partition per UTC day, oldest first, so a time
  range is one Query per day.
- gsi1 ``AUDIT_ACTOR#<actor>`` / ``<iso>#<audit_id>``: everything one admin did.
- gsi2 ``AUDIT_ENTITY#<entity_type>#<entity_id>`` / ``<iso>#<audit_id>``: the history of one thing.

Entries are only ever put with ``attribute_not_exists`` (this module has no update or delete) and
IAM denies changing ``AUDIT#`` items (template.yaml). ``expires_at`` keeps them
``RETENTION_DAYS`` (3 years and a margin) and then DynamoDB's TTL removes them; money records
(orders, postings, withdrawals) never get an ``expires_at``.

``write`` returns the Put for the caller's own transaction, so an action and its audit entry land
together or not at all; ``append`` writes one on its own (reads: reveals, exports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mall.clock import epoch, iso
from mall.dal.table import Item, Key, Table, Write
from mall.ids import new_id

#: 3 years (1,096 days with a leap day) plus a month's margin before TTL may remove an entry.
RETENTION_DAYS = 1096 + 31


def audit_partition(day: datetime) -> str:
    return f"AUDIT#{day.astimezone(UTC).date().isoformat()}"


def actor_partition(actor: str) -> str:
    return f"AUDIT_ACTOR#{actor}"


def entity_partition(entity_type: str, entity_id: str) -> str:
    return f"AUDIT_ENTITY#{entity_type}#{entity_id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened. ``before``/``after`` are the changed fields only (never personal
    data in clear: masked forms or nothing); ``details`` is anything else worth keeping (a reason,
    a reference)."""

    action: str  # dotted verb: "settings.save", "withdrawal.approve", "risk_case.confirm"
    actor: str  # an admin's user id, "system" for scheduled work, or the customer acting on themself
    entity_type: str  # "settings", "withdrawal", "order", "promoter", "risk_case", "customer", ...
    entity_id: str
    source_ip: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    subject_user: str | None = None  # the customer/promoter the entry is about, when there is one


@dataclass(frozen=True, slots=True)
class AuditRecord:
    audit_id: str
    action: str
    actor: str
    order_id: str
    at: str
    source_ip: str | None


class AuditLog:
    def __init__(self, table: Table) -> None:
        self._table = table

    def item(self, entry: AuditEntry, now: datetime) -> Item:
        audit_id = new_id("au")
        at = iso(now)
        sort = f"{at}#{audit_id}"
        item: Item = {
            "pk": audit_partition(now), "sk": sort, "entity": "audit", "audit_id": audit_id,
            "action": entry.action, "actor": entry.actor, "entity_type": entry.entity_type,
            "entity_id": entry.entity_id, "at": at, "source_ip": entry.source_ip,
            "gsi1pk": actor_partition(entry.actor), "gsi1sk": sort,
            "gsi2pk": entity_partition(entry.entity_type, entry.entity_id), "gsi2sk": sort,
            "expires_at": epoch(now + timedelta(days=RETENTION_DAYS)),
        }
        if entry.before is not None:
            item["before"] = dict(entry.before)
        if entry.after is not None:
            item["after"] = dict(entry.after)
        if entry.details:
            item["details"] = dict(entry.details)
        if entry.subject_user:
            item["subject_user"] = entry.subject_user
        if entry.entity_type == "order":  # older readers look for order_id
            item["order_id"] = entry.entity_id
        return item

    def write(self, entry: AuditEntry, now: datetime) -> Write:
        """The entry as a conditional Put for the caller's transaction."""
        return Write.put(self._table.name, self.item(entry, now), condition="attribute_not_exists(pk)")

    def append(self, entry: AuditEntry, now: datetime) -> Item:
        """Write one entry on its own; raises (nothing revealed) when it cannot be written."""
        item = self.item(entry, now)
        self._table.put(item, condition="attribute_not_exists(pk)")
        return item

    def record(self, *, action: str, actor: str, order_id: str, source_ip: str | None, now: datetime) -> AuditRecord:
        """An entry about an order (kept for the order views' callers)."""
        item = self.append(AuditEntry(action=action, actor=actor, entity_type="order", entity_id=order_id,
                                      source_ip=source_ip), now)
        return AuditRecord(audit_id=str(item["audit_id"]), action=action, actor=actor, order_id=order_id,
                           at=str(item["at"]), source_ip=source_ip)

    def on(self, day: datetime) -> list[Item]:
        """One UTC day's records, oldest first (for reviews and tests)."""
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query(partition=("pk", audit_partition(day)), limit=100, start_key=start)
            items += page.items
            start = page.last_key
            if not start:
                return items
