"""The referral items' shapes in the single table (their keys: ``mall.dal.keys.referral``): item
↔ domain mapping, and the writes several referral repositories add to their transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from mall.clock import iso, parse_instant
from mall.dal.keys import (
    activity_key,
    activity_partition,
    buyer_partition,
    buyer_visit_sort_key,
    team_bindings_partition,
    team_partition,
    user_partition,
)
from mall.dal.table import Item, Key, Write
from mall.domain.referral.model import Binding, BindSource, BindTrigger, Counters, LevelSource, Promoter, PromoterStatus
from mall.ids import new_id

#: The promoter item's last paid order whose sale the referral worker counted on it (set in the sale's
#: transaction): an eventually consistent read that shows it shows that sale and every write before it.
COUNTED_ORDER = "counted_order"


def _dt(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def promoter_from_item(item: Item) -> Promoter:
    return Promoter(
        user_id=item["user_id"], code=item["code"], status=cast(PromoterStatus, item["status"]),
        level_id=item["level_id"], l1_override_bp=item.get("l1_override_bp"),
        l2_override_bp=item.get("l2_override_bp"), nickname=item.get("nickname"),
        applied_at=_dt(item.get("applied_at")), activated_at=_dt(item.get("activated_at")),
        accepted_rules_version=int(item.get("accepted_rules_version", 0)),
        accepted_rules_at=_dt(item.get("accepted_rules_at")),
        direct_members=int(item.get("direct_members", 0)),
        second_level_members=int(item.get("second_level_members", 0)),
        own_sales_fen=int(item.get("own_sales_fen", 0)), team_sales_fen=int(item.get("team_sales_fen", 0)),
        last_active_at=_dt(item.get("last_active_at")), reason=item.get("reason"),
        version=int(item.get("version", 1)), effective_members=int(item.get("effective_members", 0)),
        level_source=cast(LevelSource, item["level_source"]) if item.get("level_source") in ("auto", "admin")
        else None,
        agreement_pending=bool(item.get("agreement_pending", False)),
    )


def binding_from_item(item: Item) -> Binding:
    return Binding(
        user_id=item["user_id"], parent_id=item["parent_id"], bound_at=parse_instant(item["bound_at"]),
        source=cast(BindSource, item["source"]), trigger=cast(BindTrigger, item["trigger"]),
        promoter_code=item.get("promoter_code"), sales_fen=int(item.get("sales_fen", 0)),
        version=int(item.get("version", 1)), paid=bool(item.get("paid", False)),
    )


def new_history_sk(prefix: str, now: datetime) -> str:
    return f"{prefix}#{iso(now)}#{new_id('h')}"


def counters_condition(counters: Counters, values: dict[str, Any]) -> str:
    """The promoter's stored counters are exactly ``counters`` (absent counts as 0)."""
    values |= {":c_members": counters.effective_members, ":c_own": counters.own_sales_fen,
               ":c_team": counters.team_sales_fen}
    parts = []
    for name, placeholder in (("effective_members", ":c_members"), ("own_sales_fen", ":c_own"),
                              ("team_sales_fen", ":c_team")):
        part = f"{name} = {placeholder}"
        if values[placeholder] == 0:
            part = f"({part} OR attribute_not_exists({name}))"
        parts.append(part)
    return " AND ".join(parts)


def promoter_history_write(table_name: str, user_id: str, now: datetime, *, action: str, from_status: str | None,
                           to_status: str | None, by: str, reason: str | None,
                           extra: Mapping[str, Any] | None = None) -> Write:
    """A promoter history entry (``USER#<uid>/PROMOTER_HISTORY#<at>#<id>``), written with the change."""
    item = {"pk": user_partition(user_id), "sk": new_history_sk("PROMOTER_HISTORY", now), "entity": "promoter_history",
            "user_id": user_id, "action": action, "from_status": from_status, "to_status": to_status,
            "by": by, "reason": reason, "at": iso(now), **(extra or {})}
    return Write.put(table_name, item)


def activity_day(now: datetime) -> str:
    """The day partition an activity at ``now`` puts the marker in."""
    return now.date().isoformat()


def activity_write(table_name: str, user_id: str, now: datetime) -> Write:
    """Move the activity marker to today's day partition (the downgrade job's index)."""
    return Write.put(table_name, {**activity_key(user_id), "entity": "promoter_activity", "user_id": user_id,
                                  "last_active_at": iso(now), "gsi1pk": activity_partition(activity_day(now)),
                                  "gsi1sk": user_id})


def in_team(key: Key | None, parent_id: str) -> bool:
    """Whether ``key`` (a binding's index key, as a team page's cursor holds it) is in ``parent_id``'s
    level-1 team (gsi1 ``TEAM#<parent>``)."""
    return key is not None and key.get("gsi1pk") == team_partition(parent_id)


def team_history_index(history: Mapping[str, Any], history_sk: str) -> dict[str, str]:
    """A binding history entry is also found from the promoters it concerns: gsi1 under the new
    parent (a member joined), gsi2 under the old one (a member left) — ``GET /promoter/history``."""
    index: dict[str, str] = {}
    if history.get("to_parent"):
        index |= {"gsi1pk": team_bindings_partition(str(history["to_parent"])), "gsi1sk": history_sk}
    if history.get("from_parent"):
        index |= {"gsi2pk": team_bindings_partition(str(history["from_parent"])), "gsi2sk": history_sk}
    return index


def visitor_index(visitor_id: str | None, now: datetime, visit_id: str) -> dict[str, str]:
    """gsi1 ``BUYER#<uid>`` / ``!VISIT#<at>#<visit_id>`` on a logged-in visitor's visits: the erasure
    request (``mall.services.erasure``) finds a customer's visits, and their device and IP, in the same
    Query as their orders. (Visits recorded before carry gsi2 ``VISITOR#<uid>``;
    ``tools/migrations/buyer_index_entries`` gives them this entry too.)"""
    if not visitor_id:
        return {}
    return {"gsi1pk": buyer_partition(visitor_id), "gsi1sk": buyer_visit_sort_key(iso(now), visit_id)}
