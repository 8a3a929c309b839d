"""The audit log (审计日志): append-only records of who saw or did something sensitive
(docs/data-model.md, "after payment").

``AUDIT#<yyyy-mm-dd>`` / ``<iso>#<audit_id>``: one partition per UTC day, newest last, so a day's
records are one Query. Put with ``attribute_not_exists``, never updated or deleted, and never given
an ``expires_at``: audit records are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mall.clock import iso
from mall.dal.table import Item, Key, Table
from mall.ids import new_id


def audit_partition(day: datetime) -> str:
    return f"AUDIT#{day.astimezone(UTC).date().isoformat()}"


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

    def record(self, *, action: str, actor: str, order_id: str, source_ip: str | None, now: datetime) -> AuditRecord:
        """Append one record; raises (nothing revealed) when it cannot be written."""
        record = AuditRecord(audit_id=new_id("au"), action=action, actor=actor, order_id=order_id, at=iso(now),
                             source_ip=source_ip)
        item: Item = {"pk": audit_partition(now), "sk": f"{record.at}#{record.audit_id}", "entity": "audit",
                      "audit_id": record.audit_id, "action": action, "actor": actor, "order_id": order_id,
                      "at": record.at, "source_ip": source_ip}
        self._table.put(item, condition="attribute_not_exists(pk)")
        return record

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
