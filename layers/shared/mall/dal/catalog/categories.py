"""Categories (商品分类): ``CATEGORY#<id>`` / ``CATEGORY``, listed in display order on gsi1
``CATEGORIES`` / ``<sort 6 digits>#<id>``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mall.clock import iso, utc_now
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.catalog.common import MAX_CATEGORIES, instant_or_none, query_partition
from mall.dal.commission_rates import category_copy, category_deleted, category_write
from mall.dal.keys import CATEGORIES_PARTITION, category_key
from mall.dal.table import ConditionFailed, Item, Table, TransactionCancelled, Write
from mall.domain.catalog import Category
from mall.errors import Conflict, NotFound


def category_from_item(item: Item) -> Category:
    return Category(
        category_id=item["category_id"], name=item["name"], l1_rate_bp=item.get("l1_rate_bp"),
        l2_rate_bp=item.get("l2_rate_bp"), sort=int(item.get("sort", 0)),
        product_count=int(item.get("product_count", 0)), version=int(item.get("version", 1)),
        created_at=instant_or_none(item.get("created_at")), updated_at=instant_or_none(item.get("updated_at")),
    )


def category_state(category: Category) -> dict[str, Any]:
    """The category as JSON-safe values (a 409's ``details.current``)."""
    return {"category_id": category.category_id, "name": category.name, "l1_rate_bp": category.l1_rate_bp,
            "l2_rate_bp": category.l2_rate_bp, "sort": category.sort, "product_count": category.product_count,
            "version": category.version}


class CategoryRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, category_id: str, *, consistent: bool = False) -> Category | None:
        item = self._table.get(category_key(category_id), consistent=consistent)
        return category_from_item(item) if item else None

    def list_all(self) -> list[Category]:
        """Every category in display order (one small partition)."""
        items = query_partition(self._table, partition=CATEGORIES_PARTITION, ceiling=MAX_CATEGORIES)[0]
        return [category_from_item(i) for i in items]

    def create(self, category: Category, *, audit: AuditEntry | None = None) -> Category:
        """Put a new category (with ``audit``, its audit entry in the same transaction)."""
        created = iso(category.created_at) if category.created_at else None
        item: dict[str, Any] = {
            **category_key(category.category_id), "entity": "category", "gsi1pk": CATEGORIES_PARTITION,
            "gsi1sk": f"{category.sort:06d}#{category.category_id}", "category_id": category.category_id,
            "name": category.name, "l1_rate_bp": category.l1_rate_bp, "l2_rate_bp": category.l2_rate_bp,
            "sort": category.sort, "product_count": 0, "version": 1, "created_at": created, "updated_at": created,
        }
        copy = category_copy(category, version=1)
        try:
            if audit is None and copy is None:
                self._table.put(item, condition="attribute_not_exists(pk)")
            else:
                self._table.transact([
                    Write.put(self._table.name, item, condition="attribute_not_exists(pk)"),
                    *([Write.put(self._table.name, copy)] if copy is not None else []),
                    *([AuditLog(self._table).write(audit, category.created_at or utc_now())] if audit else [])])
        except (ConditionFailed, TransactionCancelled) as exc:
            raise Conflict(f"category {category.category_id} already exists", code="category_exists") from exc
        return category_from_item(item)

    def update(self, category: Category, *, expected_version: int, now: datetime,
               audit: AuditEntry | None = None) -> Category:
        """Write the editable fields of ``category`` if nobody changed it since ``expected_version``
        (with ``audit``, its audit entry in the same transaction)."""
        sets = ["#name = :name", "#sort = :sort", "gsi1sk = :gsi1sk", "version = :new", "updated_at = :now"]
        removes: list[str] = []
        values: dict[str, Any] = {":name": category.name, ":sort": category.sort,
                                  ":gsi1sk": f"{category.sort:06d}#{category.category_id}",
                                  ":new": expected_version + 1, ":now": iso(now), ":expected": expected_version}
        for name in ("l1_rate_bp", "l2_rate_bp"):
            value = getattr(category, name)
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        key = category_key(category.category_id)
        names = {"#name": "name", "#sort": "sort"}
        # The rate index's copy rides in the same transaction (docs: mall.dal.commission_rates).
        try:
            self._table.transact([Write.update(self._table.name, key, expression, condition="version = :expected",
                                               names=names, values=values),
                                  category_write(self._table.name, category, version=expected_version + 1),
                                  *([AuditLog(self._table).write(audit, now)] if audit else [])])
        except TransactionCancelled as exc:
            raise _category_conflict(category.category_id, exc.items[0] if exc.items else None,
                                     expected_version) from exc
        written = self.get(category.category_id, consistent=True)
        if written is None:  # pragma: no cover - deleted between the write and this read
            raise NotFound(f"no category {category.category_id}", code="category_not_found")
        return written

    def delete(self, category_id: str, *, expected_version: int, audit: AuditEntry | None = None,
               now: datetime | None = None) -> None:
        """Only an unchanged category without products (on or off shelf) can be deleted (with
        ``audit``, its audit entry at ``now``, in the same transaction)."""
        audit_writes = [AuditLog(self._table).write(audit, now or utc_now())] if audit else []
        try:
            self._table.transact([Write.delete(
                self._table.name, category_key(category_id),
                condition="version = :expected AND product_count = :zero",
                values={":expected": expected_version, ":zero": 0}),
                category_deleted(self._table.name, category_id), *audit_writes])
        except TransactionCancelled as exc:
            current = exc.items[0] if exc.items else None
            if current is not None and int(current.get("version", 1)) == expected_version:
                state = category_from_item(current)
                raise Conflict(f"category {category_id} still has {state.product_count} products; move them first",
                               code="category_not_empty", details={"current": category_state(state)}) from exc
            raise _category_conflict(category_id, current, expected_version) from exc


def _category_conflict(category_id: str, current: Item | None, expected_version: int) -> Exception:
    if current is None:
        return NotFound(f"no category {category_id}", code="category_not_found")
    state = category_from_item(current)
    return Conflict(f"category {category_id} changed since version {expected_version}; reload version "
                    f"{state.version} and retry", code="version_conflict",
                    details={"current_version": state.version, "current": category_state(state)})
