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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mall.clock import epoch, iso
from mall.dal.keys import actor_partition, audit_entity_partition, audit_partition
from mall.dal.table import Item, Key, Page, Table, Write
from mall.domain import masking
from mall.ids import new_id

#: 3 years (1,096 days with a leap day) plus a month's margin before TTL may remove an entry.
RETENTION_DAYS = 1096 + 31


#: Keys whose values are personal data: an entry keeps only their masked form (or nothing for
#: ciphertexts), whatever a caller passes — a safety net under "never raw personal data".
def _last4(value: str) -> str:
    return "****" + value[-4:]


_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": masking.mask_phone, "mobile": masking.mask_phone, "phone_number": masking.mask_phone,
    "real_name": masking.mask_name, "account_name": masking.mask_name, "receiver_name": masking.mask_name,
    "address": masking.mask_address, "detail": masking.mask_address, "street": masking.mask_address,
    "account_no": _last4, "id_card": _last4,
}


def scrub(value: Any, key: str = "") -> Any:
    """``value`` with personal data masked (by key name, at any depth); ``*_enc`` values dropped."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v, str(k)) for k, v in value.items() if not str(k).endswith("_enc")}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    leaf = key.rsplit(".", 1)[-1]
    masker = _MASKERS.get(leaf)
    if masker is not None and isinstance(value, str) and value:
        return masker(value)
    return value


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
            "gsi2pk": audit_entity_partition(entry.entity_type, entry.entity_id), "gsi2sk": sort,
            "expires_at": epoch(now + timedelta(days=RETENTION_DAYS)),
        }
        if entry.before is not None:
            item["before"] = scrub(entry.before)
        if entry.after is not None:
            item["after"] = scrub(entry.after)
        if entry.details:
            item["details"] = scrub(entry.details)
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

    # ---- queries (GET /admin/audit) ----------------------------------------------------------

    def by_actor(self, actor: str, *, start: datetime, end: datetime, limit: int, start_key: Key | None = None,
                 action: str | None = None) -> Page:
        """What one actor did between ``start`` and ``end`` (inclusive, second precision), newest first."""
        return self._range(("gsi1pk", "gsi1sk", "gsi1"), actor_partition(actor), start=start, end=end, limit=limit,
                           start_key=start_key, action=action)

    def by_entity(self, entity_type: str, entity_id: str, *, start: datetime, end: datetime, limit: int,
                  start_key: Key | None = None, action: str | None = None, actor: str | None = None) -> Page:
        """The history of one thing, newest first (optionally only one actor's entries)."""
        return self._range(("gsi2pk", "gsi2sk", "gsi2"), audit_entity_partition(entity_type, entity_id), start=start,
                           end=end, limit=limit, start_key=start_key, action=action, actor=actor)

    def on_day_range(self, day: datetime, *, start: datetime, end: datetime, limit: int,
                     start_key: Key | None = None, action: str | None = None) -> Page:
        """One UTC day partition, only entries between ``start`` and ``end``, newest first."""
        return self._range(("pk", "sk", None), audit_partition(day), start=start, end=end, limit=limit,
                           start_key=start_key, action=action)

    def _range(self, keys: tuple[str, str, str | None], partition: str, *, start: datetime, end: datetime,
               limit: int, start_key: Key | None, action: str | None = None, actor: str | None = None) -> Page:
        pk_name, sk_name, index = keys
        names = {"#pk": pk_name, "#sk": sk_name}
        # Sort keys are "<iso seconds>#<audit_id>": "~" sorts after "#", so ``end``'s second is included.
        values: dict[str, Any] = {":pk": partition, ":lo": iso(start), ":hi": f"{iso(end)}~"}
        filters: list[str] = []
        if action is not None:
            names["#action"] = "action"
            values[":action"] = action
            filters.append("#action = :action")
        if actor is not None:
            names["#actor"] = "actor"
            values[":actor"] = actor
            filters.append("#actor = :actor")
        return self._table.query_where("#pk = :pk AND #sk BETWEEN :lo AND :hi", names=names, values=values,
                                       index=index, limit=limit, start_key=start_key, newest_first=True,
                                       filter_expression=" AND ".join(filters) or None)
