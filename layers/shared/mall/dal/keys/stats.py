"""Keys of the stats items (docs/data-model.md "insight", docs/dashboard.md): the sharded day, month
and running totals aggregates, the per-product / per-promoter / per-buyer items of each period, team
sales, leaderboard entries, buyers' first orders, distinct-member markers and the applied markers.

Each builder returns exactly the key stored today: changing one is a change to stored data (and
the applied and distinct markers are what keeps every change counted once)."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from mall.dal.table import Key
from mall.domain.stats_periods import month_of_day

if TYPE_CHECKING:
    from mall.domain.stats import Target

#: Shards of each day's and month's aggregate and of the running totals. One item takes ~1,000
#: writes/s (and transactions on one item also conflict): 8 shards keep a busy day's aggregate far
#: from both (docs/dashboard.md, "contention"). Raising it is safe (readers read every shard that
#: may exist: older days simply have empty higher shards); never lower it.
DAY_SHARDS = 8
SCORE_OFFSET = 10**15  # scores may be negative for a moment (changes arrive in any order)
SCORE_DIGITS = 16
STATS_SK = "STATS"


def change_shard(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) % DAY_SHARDS


def applied_key(event_id: str, part: int) -> Key:
    return {"pk": f"STATS_APPLIED#{event_id}", "sk": f"PART#{part}"}


#: Partitions whose changes are few over the item's whole life (an order and its commission records:
#: a handful of changes that move figures), so one marker item can list them all.
_GROUPED_PARTITIONS = ("ORDER#",)


def applied_group(partition: str) -> str | None:
    """The partition whose changes share one applied-marker item, or None (one marker per change part)."""
    return partition if partition.startswith(_GROUPED_PARTITIONS) else None


def applied_group_key(group: str) -> Key:
    """The one marker item listing the applied change parts of the partition ``group``. Event ids are
    stream ids (hex, never ``ORDER#…``), so it never meets an ``applied_key``."""
    return {"pk": f"STATS_APPLIED#{group}", "sk": "CHANGES"}


def day_key(day: str, shard: int) -> Key:
    return {"pk": f"STATS_DAY#{day}#{shard}", "sk": STATS_SK}


def month_key(month: str, shard: int) -> Key:
    return {"pk": f"STATS_MONTH#{month}#{shard}", "sk": STATS_SK}


def totals_key(shard: int) -> Key:
    return {"pk": f"STATS_TOTALS#{shard}", "sk": STATS_SK}


#: The month shard and the totals shard that receive each folded day's sums and say, by their
#: ``folded_through`` day, which days they hold (mall.dal.stats_fold).
FOLD_SHARD = 0


_ENTITY_PARTITIONS = {"product": ("STATS_PRODUCT", "PRODUCT#"), "promoter": ("STATS_PROMOTER", "USER#"),
                      "buyer": ("STATS_BUYER", "USER#")}


def stats_entity_partition(kind: str, granularity: str, period: str) -> str:
    """``STATS_PRODUCT_DAY#2026-11-03``, ``STATS_PROMOTER_MONTH#2026-11`` …: one partition per kind and
    period, where the product, promoter and buyer items were kept before ``stats_entities_partition``
    (only the migration ``stats_entity_partitions`` reads them)."""
    return f"{_ENTITY_PARTITIONS[kind][0]}_{granularity}#{period}"


_ENTITY_KINDS = {"product": "PRODUCT", "promoter": "PROMOTER", "buyer": "BUYER"}
_KIND_OF_TAG = {tag: kind for kind, tag in _ENTITY_KINDS.items()}


def stats_entities_partition(granularity: str, period: str) -> str:
    """The product, promoter and buyer items of every day of a month (``STATS_ENTITIES_DAY#2026-11``,
    from a day ``2026-11-03``) share one partition, sorted by day first: the dashboard reads the items
    of a range of days with one Query per month it touches, not one per kind and day. The items of
    every month of a year (``STATS_ENTITIES_MONTH#2026``, from a month ``2026-11``) were kept beside
    them until the dashboard summed days instead (the migration ``stats_entity_months_dropped``
    deletes them)."""
    if granularity == "DAY":
        return f"STATS_ENTITIES_DAY#{month_of_day(period)}"
    return f"STATS_ENTITIES_MONTH#{period[:4]}"


def stats_entity_sort_key(kind: str, period: str, subject: str) -> str:
    """``2026-11-03#PROMOTER#u_1``: the period, then the kind, then who or what."""
    return f"{period}#{_ENTITY_KINDS[kind]}#{subject}"


def stats_entity_kind(sort_key: str) -> str:
    """``product``, ``promoter`` or ``buyer``: the kind named by a ``stats_entity_sort_key``."""
    return _KIND_OF_TAG[sort_key.split("#")[1]]


def team_sales_key(month: str, uid: str) -> Key:
    # Imported here, as in ``team_order_key``: the stats rules are heavy for a module every function loads.
    from mall.domain.stats import team_sales_shard

    return {"pk": f"TEAM_SALES#{month}#{team_sales_shard(uid):02d}", "sk": f"USER#{uid}"}


def board_partition(board: str, period_key: str) -> str:
    return f"BOARD#{board}#{period_key}"


def board_key(board: str, period_key: str, uid: str) -> Key:
    return {"pk": board_partition(board, period_key), "sk": f"USER#{uid}"}


#: Where a leaderboard entry keeps its score and which index sorts it, by the board the item belongs to
#: and the board scored: a promoter's sales score of a period whose sales board is folded lives on
#: their commission entry of that period (``sales_board_folded``), sorted by gsi2.
BOARD_SCORE_FIELDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("commission", "commission"): ("score_fen", "gsi1pk", "gsi1sk"),
    ("sales", "sales"): ("score_fen", "gsi1pk", "gsi1sk"),
    ("commission", "sales"): ("sales_score_fen", "gsi2pk", "gsi2sk"),
}


def sales_board_folded(period_key: str, folded_from: str) -> bool:
    """Whether the sales board of ``period_key`` lives on the commission entries (gsi2) instead of
    ``BOARD#sales#…`` items of its own: periods starting on or after the day ``folded_from`` (empty:
    every period). Periods before it keep the items they were written with."""
    from mall.domain.stats_periods import period_start

    return period_start(period_key) >= folded_from


def board_entry_board(board: str, period_key: str, folded_from: str) -> str:
    """The board whose ``board_key`` item holds ``board``'s score of ``period_key``."""
    return "commission" if board == "sales" and sales_board_folded(period_key, folded_from) else board


def board_sort_key(score: int, uid: str) -> str:
    return f"{score + SCORE_OFFSET:0{SCORE_DIGITS}d}#{uid}"


def buyer_key(uid: str) -> Key:
    return {"pk": f"USER#{uid}", "sk": "STATS_BUYER"}


def distinct_scope(scope: Target) -> str:
    """The stored name of a distinct scope (in its markers' keys and ``scope`` attribute)."""
    if scope.kind == "team_sales":
        return f"TEAM_ORDER#{scope.period}#{scope.subject}"
    raise ValueError(f"no distinct members are counted within {scope.kind} counters")


def distinct_key(scope: Target, member: str) -> Key:
    return {"pk": f"STATS_SEEN#{distinct_scope(scope)}", "sk": member}


def distinct_group(scope: Target, member: str) -> str | None:
    """The order whose applied-marker item (``applied_group_key``) also lists ``member`` as counted
    within ``scope``, or None (a ``distinct_key`` item of its own). A team's order is the member
    itself, and its records' changes write that item in the same transaction anyway."""
    from mall.dal.keys.orders import order_pk

    return order_pk(member) if scope.kind == "team_sales" else None


def distinct_token(scope: Target) -> str:
    """How a counted member's ``scope`` is named in its ``distinct_group`` item (string set ``seen``)."""
    return f"{scope.period}#{scope.subject}"


def key_id(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


def funnel_partition(uid: str) -> str:
    """A promoter's funnel items (``FUNNEL#<uid>``, sort key ``<day>#<source>#<product>``): the
    promoter reads a range of days with one Query of their own partition."""
    return f"FUNNEL#{uid}"


def funnel_key(uid: str, day: str, source: str, product_id: str) -> Key:
    return {"pk": funnel_partition(uid), "sk": f"{day}#{source}#{product_id}"}


def counter_items(target: Target, shard: int) -> list[tuple[Key, dict[str, Any]]]:
    """The items a counter of ``target`` is added to, each with the attributes that name it."""
    if target.kind == "funnel":
        from mall.domain.stats_funnel import split_subject

        uid, source, product = split_subject(target.subject)
        return [(funnel_key(uid, target.period, source, product),
                 {"entity": "stats_funnel_day", "day": target.period, "user_id": uid, "source": source,
                  "product_id": product})]
    if target.kind == "agg":
        month = month_of_day(target.period)
        return [(day_key(target.period, shard), {"entity": "stats_day", "day": target.period, "shard": shard}),
                (month_key(month, shard), {"entity": "stats_month", "month": month, "shard": shard})]
    if target.kind == "totals":
        return [(totals_key(shard), {"entity": "stats_totals", "shard": shard})]
    if target.kind == "team_sales":
        return [(team_sales_key(target.period, target.subject),
                 {"entity": "team_sales", "promoter_id": target.subject, "month": target.period})]
    # A product's, promoter's or buyer's figures are kept per day only: the dashboard sums a month's
    # days (one Query of the month's partition), so a change writes one item here, not two.
    name = "product_id" if target.kind == "product" else "user_id"
    return [({"pk": stats_entities_partition("DAY", target.period),
              "sk": stats_entity_sort_key(target.kind, target.period, target.subject)},
             {"entity": f"stats_{target.kind}_day", "day": target.period, name: target.subject})]

