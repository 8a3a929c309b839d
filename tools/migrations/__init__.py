"""Data migrations: idempotent, resumable operator commands.

    python -m tools.migrations                 # list them
    python -m tools.migrations NAME [--dry-run] [--restart] [--page-size N]

Against AWS, set TABLE_NAME (the stack's TableName output) and AWS credentials; locally the
local stack's variables (``make migrate NAME=...``) point it at DynamoDB Local.

Each migration is a module in this package with a ``MIGRATION`` object. The runner scans the
table page by page and hands each item to ``Migration.apply``; after every page it records the
scan position in the item ``MIGRATION#<name>`` / ``STATE``, so a run that stops (a crash, a
timeout, Ctrl-C) resumes where it stopped, and a finished one does nothing until ``--restart``.
``apply`` must be idempotent on its own (a conditional write from the old shape to the new one,
or a write whose result does not depend on how often it runs): the page in flight when a run
stops is applied again on resume."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mall.clock import utc_now
from mall.dal.table import Item, Key, Table, deserialize, serialize

STATE_SORT_KEY = "STATE"


@dataclass(frozen=True)
class Migration:
    """``apply(table, item, dry_run)`` returns True when it changed (or, dry, would change) the item."""

    name: str
    description: str
    apply: Callable[[Table, Item, bool], bool]
    # A filter evaluated by DynamoDB on the scan, so items the migration ignores are not returned.
    filter_expression: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    # Run once the whole table has been applied (not in a dry run), before the run is recorded as
    # finished: idempotent, as a stop right after it runs it again.
    finish: Callable[[Table], None] | None = None


@dataclass
class Progress:
    scanned: int = 0
    changed: int = 0
    pages: int = 0
    finished: bool = False


def state_key(name: str) -> Key:
    return {"pk": f"MIGRATION#{name}", "sk": STATE_SORT_KEY}


def available() -> dict[str, Migration]:
    found: dict[str, Migration] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        migration = getattr(importlib.import_module(f"{__name__}.{module.name}"), "MIGRATION", None)
        if isinstance(migration, Migration):
            found[migration.name] = migration
    return found


def _pages(table: Table, migration: Migration, start: Key | None, page_size: int) -> Iterator[tuple[list[Item],
                                                                                                    Key | None]]:
    while True:
        body: dict[str, Any] = {"TableName": table.name, "Limit": page_size, "ConsistentRead": True}
        if migration.filter_expression:
            body["FilterExpression"] = migration.filter_expression
            if migration.names:
                body["ExpressionAttributeNames"] = migration.names
            if migration.values:
                body["ExpressionAttributeValues"] = serialize(migration.values)
        if start:
            body["ExclusiveStartKey"] = serialize(start)
        response = table.client.scan(**body)
        last_raw = response.get("LastEvaluatedKey")
        last = deserialize(last_raw) if last_raw else None
        yield [deserialize(raw) for raw in response.get("Items", [])], last
        if last is None:
            return
        start = last


def run(table: Table, migration: Migration, *, dry_run: bool = False, restart: bool = False,
        page_size: int = 200) -> Progress:
    """Run (or resume) one migration to the end of the table."""
    key = state_key(migration.name)
    state = table.get(key, consistent=True) or {}
    progress = Progress()
    if state.get("finished_at") and not restart:
        progress.finished = True
        return progress
    start: Key | None = None if restart else state.get("position")
    for items, last in _pages(table, migration, start, page_size):
        progress.pages += 1
        for item in items:
            if item.get("pk", "").startswith("MIGRATION#"):
                continue
            progress.scanned += 1
            if migration.apply(table, item, dry_run):
                progress.changed += 1
        if not dry_run:
            record: dict[str, Any] = {**key, "updated_at": utc_now().isoformat()}
            if last is not None:
                record["position"] = last
            else:
                if migration.finish is not None:
                    migration.finish(table)
                record["finished_at"] = utc_now().isoformat()
            table.put(record)
    progress.finished = True
    return progress
