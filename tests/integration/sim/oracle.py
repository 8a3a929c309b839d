"""Commission from first principles, written from docs/business-rules.md and independently of
``mall.domain.commission`` (which it checks), and the table helpers the integration suites share.

docs/business-rules.md, "Commission": per line and level, the first matching rate of product setting →
category → global (no promoter overrides in these suites), plus the earner's level points (a
percentage of the base, also on a ``fixed`` product); ``ratio`` is floor(base × bp / 10000),
``fixed`` is fen per unit; L1 + L2 ≤ 30% of the line's paid amount, L2 clamped first; a refund
reduces a commission pro rata, floored to the fen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mall.dal.table import Table, deserialize

BASIS = 10_000
CAP_LIMIT_BP = 3_000  # the fixed 30% rule (docs/business-rules.md): no setting can raise it

Snapshot = dict[tuple[str, str], dict[str, Any]]


def level_amount(mode: str, setting: int, quantity: int, base_fen: int, fallback_bp: int, *, points: int = 0) -> int:
    """What one level wants before the cap: ``setting`` is bp (ratio), fen per unit (fixed), or
    ignored (inherit: ``fallback_bp``, the category's rate or else the global one); ``points``
    the earner's level points, added to the rate (on a fixed product: a rate of the base)."""
    if mode == "fixed":
        return setting * quantity + base_fen * points // BASIS
    rate = setting if mode == "ratio" else fallback_bp
    return base_fen * (rate + points) // BASIS


def line_commission(*, base_fen: int, quantity: int, mode: str, l1: int, l2: int, enabled: bool,
                    fallback_bp: tuple[int, int], cap_bp: int = CAP_LIMIT_BP,
                    points: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """(L1, L2) fen of one order line when it was paid; ``points``: the L1 and L2 earners' level points."""
    if not enabled or base_fen <= 0:
        return 0, 0
    wanted1 = level_amount(mode, l1, quantity, base_fen, fallback_bp[0], points=points[0])
    wanted2 = level_amount(mode, l2, quantity, base_fen, fallback_bp[1], points=points[1])
    cap = base_fen * min(cap_bp, CAP_LIMIT_BP) // BASIS
    first = min(wanted1, cap)
    return first, min(wanted2, cap - first)


def after_refunds(amount: int, base: int, refunded: int) -> int:
    """A commission of ``amount`` on a line of ``base`` after ``refunded`` of it came back."""
    if refunded >= base:
        return 0
    return amount * (base - refunded) // base


# ---- table helpers ------------------------------------------------------------------------------


def scan(table: Table, *, keep: Callable[[dict[str, Any]], bool] | None = None) -> Snapshot:
    """Every item, strongly consistent, keyed by (pk, sk)."""
    items: Snapshot = {}
    request: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
    while True:
        page = table.client.scan(**request)
        for raw in page.get("Items", []):
            item = deserialize(raw)
            if keep is None or keep(item):
                items[(str(item["pk"]), str(item["sk"]))] = item
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def empty(table: Table) -> None:
    """Delete every item (a test table holds a few hundred)."""
    start: Any = None
    while True:
        request: Any = {"TableName": table.name, "ProjectionExpression": "pk, sk"}
        if start:
            request["ExclusiveStartKey"] = start
        page = table.client.scan(**request)
        keys = page.get("Items", [])
        for i in range(0, len(keys), 25):
            requests: Any = [{"DeleteRequest": {"Key": key}} for key in keys[i:i + 25]]
            pending = {table.name: requests}
            while pending:
                pending = table.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def normalised(snapshot: Snapshot, *, drop_fields: Iterable[str] = (),
               drop_items: Callable[[dict[str, Any]], bool] | None = None) -> Snapshot:
    """``snapshot`` without the fields (anywhere at the top level of an item) and items that
    legitimately differ between two runs of the same work."""
    dropped = set(drop_fields)
    return {key: {k: v for k, v in item.items() if k not in dropped} for key, item in snapshot.items()
            if drop_items is None or not drop_items(item)}


def differences(expected: Mapping[Any, Any], actual: Mapping[Any, Any], *, limit: int = 8) -> list[str]:
    """A readable list of what differs between two snapshots (the first ``limit``)."""
    found: list[str] = []
    for key in sorted(set(expected) | set(actual), key=str):
        if key not in actual:
            found.append(f"missing {key}: {expected[key]}")
        elif key not in expected:
            found.append(f"extra {key}: {actual[key]}")
        elif expected[key] != actual[key]:
            a, b = expected[key], actual[key]
            fields = sorted({*a, *b} - {f for f in {*a, *b} if a.get(f) == b.get(f)})
            found.append(f"{key}: " + ", ".join(f"{f}: {a.get(f)!r} != {b.get(f)!r}" for f in fields))
        if len(found) >= limit:
            break
    return found
