"""A team's order counted by the stats worker before the order's marker item listed the orders it
counted has only its own item, ``STATS_SEEN#TEAM_ORDER#<month>#<uid>`` / ``<order_id>``. This lists
``<month>#<uid>`` in that order's marker item, ``STATS_APPLIED#ORDER#<order_id>`` / ``CHANGES``
(string set ``seen``, as the worker's settlement transaction does), so the worker can stop reading the
``STATS_SEEN#`` items (parameter ``StatsSeenItemsRead=0``, docs/runbook.md) and still count each order
once per beneficiary and month.

The fold is an ``ADD`` to the set (once however often it runs) that also creates the marker item if it
is absent (``entity``, ``applied_at``) and removes its ``expires_at``: an item listing a counted order is
kept for good, as the worker keeps it. Only then is the ``STATS_SEEN#`` item deleted, so at every moment
one of the two says the order was counted. Safe while the worker runs: a worker that still reads the
``STATS_SEEN#`` items finds the order counted in either; one that decided to count it on a stale read
fails on its own condition that the order's item does not list it yet, and reads again; one that sets
the marker item's expiry does so only while ``seen`` is absent, and the fold removes an expiry set
before it. A run again finds the folded items gone."""

from __future__ import annotations

from mall.clock import iso, utc_now
from mall.dal.keys import applied_group_key, distinct_group, distinct_key, distinct_token
from mall.dal.retry import retry_conflicts
from mall.dal.table import Item, Table, Write
from mall.domain.stats import Target
from tools.migrations import Migration

NAME = "stats_seen_marks_folded"
PREFIX = "STATS_SEEN#TEAM_ORDER#"
ATTEMPTS = 8  # a conflict with a worker's transaction on the same marker item is retried; a run again resumes


def _scope(item: Item) -> tuple[Target, str] | None:
    """The team (month and promoter) and the order a ``STATS_SEEN#`` item counted, or None."""
    month, _, uid = str(item.get("pk", "")).removeprefix(PREFIX).partition("#")
    order_id = str(item.get("sk", ""))
    if not str(item.get("pk", "")).startswith(PREFIX) or not month or not uid or not order_id:
        return None
    scope = Target("team_sales", month, uid)
    return (scope, order_id) if distinct_key(scope, order_id) == {"pk": item["pk"], "sk": item["sk"]} else None


def apply(table: Table, item: Item, dry_run: bool) -> bool:
    found = _scope(item)
    if found is None:
        return False
    scope, order_id = found
    group = distinct_group(scope, order_id)
    if group is None:
        return False
    if dry_run:
        return True
    fold = Write.update(table.name, applied_group_key(group),
                        "SET entity = :e, applied_at = if_not_exists(applied_at, :at) ADD #s :s REMOVE expires_at",
                        names={"#s": "seen"},
                        values={":e": "stats_applied", ":at": iso(utc_now()), ":s": {distinct_token(scope)}})
    retry_conflicts(lambda: table.write_one(fold), attempts=ATTEMPTS)
    drop = Write.delete(table.name, distinct_key(scope, order_id))
    retry_conflicts(lambda: table.write_one(drop), attempts=ATTEMPTS)
    return True


MIGRATION = Migration(
    name=NAME,
    description="list each team order counted by a STATS_SEEN#TEAM_ORDER# item in its order's stats marker item "
                "(seen) and delete the old item, so the stats worker reads only the order's item",
    apply=apply,
    filter_expression="begins_with(pk, :seen)",
    values={":seen": PREFIX},
)
