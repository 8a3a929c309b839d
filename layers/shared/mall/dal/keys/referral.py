"""Keys of the referral network: promoters, bindings, codes, activity, team indexes and share
visits (docs/data-model.md, "referral")."""

from __future__ import annotations

from mall.dal.keys.users import user_partition
from mall.dal.table import Item, Key

#: Sort-key prefix of a user's binding history (``USER#<uid>`` / ``BINDING_HISTORY#<at>#<id>``).
BINDING_HISTORY_PREFIX = "BINDING_HISTORY#"


def promoter_key(user_id: str) -> Key:
    return {"pk": user_partition(user_id), "sk": "PROMOTER"}


def binding_key(user_id: str) -> Key:
    return {"pk": user_partition(user_id), "sk": "BINDING"}


def code_key(code: str) -> Key:
    return {"pk": f"PCODE#{code}", "sk": "PCODE"}


def activity_key(user_id: str) -> Key:
    return {"pk": user_partition(user_id), "sk": "PROMOTER_ACTIVITY"}


def activity_partition(day: str) -> str:
    return f"PROMOTER_ACTIVE_ON#{day}"


def promoter_status_partition(status: str) -> str:
    """gsi1 ``PROMOTERS#<status>``: the promoters of one status."""
    return f"PROMOTERS#{status}"


def promoters_partition(status: str) -> tuple[str, str]:
    """The index partition promoters of one status are listed from (a cursor of that list is bound to it)."""
    return "gsi1pk", promoter_status_partition(status)


def promoter_history_partition(user_id: str) -> tuple[str, str]:
    return "pk", user_partition(user_id)


def team_partition(parent_id: str) -> str:
    """gsi1 ``TEAM#<parent>`` of a binding: a promoter's level-1 team."""
    return f"TEAM#{parent_id}"


def team_index_key(binding: Item) -> Key:
    """A binding's key in the team index (to resume a team page after it)."""
    return {k: binding[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}


def team_bindings_partition(promoter_id: str) -> str:
    return f"TEAM_BINDINGS#{promoter_id}"


def visit_seen_partition(promoter_id: str, day: str) -> str:
    return f"VISIT_SEEN#{promoter_id}#{day}"


def visit_seen_key(promoter_id: str, day: str, source: str) -> dict[str, str]:
    """A source (keyed hash) seen visiting ``promoter_id``'s shares on ``day`` (China's day)."""
    return {"pk": visit_seen_partition(promoter_id, day), "sk": source}


def visitor_partition(visitor_id: str) -> str:
    return f"VISITOR#{visitor_id}"


def buyer_visit_sort_key(at: str, visit_id: str) -> str:
    """gsi1 sort key of a logged-in visitor's share visit under their ``BUYER#<uid>``: after their
    orders in a newest-first list (``!`` sorts before every ISO time)."""
    return f"!VISIT#{at}#{visit_id}"


def share_visit_key(promoter_id: str, at: str, visit_id: str) -> Key:
    """``PVISITS#<promoter>`` / ``VISIT#<at>#<visit_id>``: one visit through a promoter's share."""
    return {"pk": f"PVISITS#{promoter_id}", "sk": f"VISIT#{at}#{visit_id}"}


def visit_rate_key(source: str, window_start: int) -> Key:
    """The visits of one source in one rate window."""
    return {"pk": f"VISIT_RATE#{source}", "sk": str(window_start)}


def referral_order_partition(order_id: str) -> str:
    """``REFERRAL_ORDER#<order_id>``: what the referral counters took from one order."""
    return f"REFERRAL_ORDER#{order_id}"


def referral_counted_key(order_id: str) -> Key:
    return {"pk": referral_order_partition(order_id), "sk": "COUNTED"}


def referral_refund_key(order_id: str, refund_id: str) -> Key:
    return {"pk": referral_order_partition(order_id), "sk": f"REFUND#{refund_id}"}
