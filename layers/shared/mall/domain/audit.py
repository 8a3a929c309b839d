"""The audit trail's pure rules (数据留痕): what "before / after" means, and the query windows.

``changed_fields`` turns two states (a settings document, a product, a promoter's rates) into the
fields that differ, by dotted path (``commission.l1_rate_bp``, ``levels.1.name``: the paths a 422
names), so an entry keeps what changed and not two whole copies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

#: A request without an actor or an entity reads day partitions; it may span at most this many days.
MAX_WINDOW_DAYS = 31
#: Without ``from``, a day-partition query covers the last day.
DEFAULT_WINDOW = timedelta(days=1)
#: More changed paths than this (a whole new document) are kept as the first ones plus a count.
MAX_CHANGED_PATHS = 200

_MISSING = object()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested mappings and lists by dotted path; an empty mapping or list is a leaf."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value:
        out = {}
        for index, inner in enumerate(value):
            out.update(flatten(inner, f"{prefix}.{index}" if prefix else str(index)))
        return out
    if isinstance(value, Mapping):
        return {prefix: {}} if prefix else {}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return {prefix: []} if prefix else {}
    return {prefix: value} if prefix else {}


def changed_fields(before: Mapping[str, Any] | None,
                   after: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The paths whose values differ, with their old and new values (None: absent on that side).

    ``before=None`` (a creation) gives every field of ``after``; ``after=None`` (a deletion) every
    field of ``before``. More than ``MAX_CHANGED_PATHS`` paths are cut, with ``_truncated`` saying
    how many were left out."""
    old = flatten(before or {})
    new = flatten(after or {})
    paths = [p for p in sorted(set(old) | set(new)) if old.get(p, _MISSING) != new.get(p, _MISSING)]
    kept = paths[:MAX_CHANGED_PATHS]
    was = {p: old.get(p) for p in kept}
    now = {p: new.get(p) for p in kept}
    if len(paths) > len(kept):
        was["_truncated"] = now["_truncated"] = len(paths) - len(kept)
    return was, now


def utc_days(start: datetime, end: datetime) -> list[str]:
    """The UTC days from ``end`` back to ``start`` (newest first), ``YYYY-MM-DD``."""
    first, last = start.date(), end.date()
    days: list[str] = []
    day = last
    while day >= first:
        days.append(day.isoformat())
        day -= timedelta(days=1)
    return days
