"""A change of one business record as the domain reads it.

The data layer (``mall.dal.changes.record_change``) builds it from a table change: it says which kind
of record changed (``entity``), or None for an item that is not a record of its kind (an order's
status entry, say, which shares the order's ``entity``), and gives the record's attributes before
and after without its storage keys. So the domain decides on business attributes only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordChange:
    event_id: str  # the same on every redelivery of the change
    entity: str | None  # "order", "commission", ... ; None: not a record consumers read
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
