"""Every settled record traced to the posting that settled it, from the stored items alone: a
SETTLED commission or bonus record names its posting (``settled_by``), that posting (of the
record's promoter) lists it in ``settles`` and no other posting does, and each settlement posting
moved exactly the sum of what its records settled (``settled_fen``). Shared by the settlement tests
and the money simulator's checks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from mall.dal.table import Table, deserialize


def scan_items(table: Table) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
    while True:
        page = table.client.scan(**kwargs)
        items.extend(deserialize(raw) for raw in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def trace_problems(items: Iterable[Mapping[str, Any]], counts: Counter[str] | None = None) -> list[str]:
    """What breaks the rule above (empty: every settled record traced, every settlement posting exact)."""
    counts = counts if counts is not None else Counter()
    problems: list[str] = []
    listed: dict[str, Mapping[str, Any]] = {}
    postings: dict[str, Mapping[str, Any]] = {}
    records: list[Mapping[str, Any]] = []
    for item in items:
        if item.get("entity") == "posting" and item.get("settles"):
            postings[str(item["posting_id"])] = item
            for record_id in item["settles"]:
                if record_id in listed:
                    problems.append(f"{record_id} listed by {listed[record_id]['posting_id']} and "
                                    f"{item['posting_id']}")
                listed[str(record_id)] = item
        elif item.get("entity") in {"commission", "bonus"} and item.get("status") == "SETTLED":
            records.append(item)
    moved: Counter[str] = Counter()
    for record in records:
        record_id = str(record.get("commission_id") or record.get("bonus_id"))
        posting = listed.pop(record_id, None)
        if posting is None or posting["posting_id"] != record.get("settled_by") \
                or posting["promoter_id"] != record["beneficiary_id"]:
            problems.append(f"{record_id}: settled_by {record.get('settled_by')}, listed by "
                            f"{posting and posting['posting_id']}")
            continue
        moved[str(posting["posting_id"])] += int(record["settled_fen"])
        counts["settled records traced"] += 1
    if listed:
        problems.append(f"settlement postings list records that are not SETTLED: {sorted(listed)[:5]}")
    for posting_id, posting in postings.items():
        if int(posting["amount_fen"]) != moved[posting_id]:
            problems.append(f"{posting_id} moved {posting['amount_fen']}, its records settled {moved[posting_id]}")
    counts["settlement postings"] += len(postings)
    return problems
