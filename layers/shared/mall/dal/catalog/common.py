"""What the catalog's items share: ceilings and the partition reader (their keys: ``mall.dal.keys.catalog``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mall.clock import parse_instant
from mall.dal.table import Item, Table, deserialize, serialize

#: A list reads the whole shelf partition and sorts in memory; beyond this many products it
#: stops reading (and says so) rather than let one request read without bound.
MAX_LISTED_PRODUCTS = 2000
MAX_CATEGORIES = 500
PRICE_DIGITS = 12


def instant_or_none(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def query_partition(table: Table, *, partition: str, ceiling: int, sort_from: str | None = None,
               sort_to: str | None = None) -> tuple[list[Item], bool]:
    """Every item of one gsi1 partition (optionally a sort-key range), up to ``ceiling`` items.
    Returns the items and whether more were left unread."""
    condition = "gsi1pk = :pk"
    values: dict[str, Any] = {":pk": partition}
    if sort_from is not None and sort_to is not None:
        condition += " AND gsi1sk BETWEEN :lo AND :hi"
        values.update({":lo": sort_from, ":hi": sort_to})
    elif sort_from is not None:
        condition += " AND gsi1sk >= :lo"
        values[":lo"] = sort_from
    elif sort_to is not None:
        condition += " AND gsi1sk <= :hi"
        values[":hi"] = sort_to
    items: list[Item] = []
    start: dict[str, Any] | None = None
    while True:
        body: dict[str, Any] = {"TableName": table.name, "IndexName": "gsi1", "KeyConditionExpression": condition,
                                "ExpressionAttributeValues": serialize(values), "Limit": ceiling - len(items) + 1}
        if start:
            body["ExclusiveStartKey"] = start
        response = table.client.query(**body)
        items.extend(deserialize(raw) for raw in response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if len(items) > ceiling:
            return items[:ceiling], True
        if not start:
            return items, False
