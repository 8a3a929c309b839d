"""The merchant's promoter list (推广员列表), pure: its sort orders and the figures it shows.

- 累计佣金 ``commission_total_fen``: what the promoter holds and has been paid from commission, bonuses
  and adjustments, net of refunds: frozen + available + withdrawing + withdrawn − owed (the wallet;
  withdrawal fees, kept by the merchant, are not in it).
- 本月佣金 ``commission_month_fen``: commission created this China month, at its current value (the
  monthly commission leaderboard's score, the dashboard's definition).
- 团队人数 ``team_size``: level-1 + level-2 members.

Sorting by a figure reads the whole status partition (up to ``MAX_SORTED`` promoters, as the catalog
reads its shelf) and sorts in memory; sorting by the cumulative commission would read every wallet
and is not offered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from mall.domain.referral import Promoter

PromoterSort = Literal["newest", "sales_desc", "team_sales_desc", "team_desc", "last_active_desc",
                       "month_commission_desc"]

#: The most promoters one sorted list reads (one status); beyond it the list says ``truncated``.
MAX_SORTED = 2_000


def team_size(p: Promoter) -> int:
    return p.direct_members + p.second_level_members


def commission_total(wallet: Mapping[str, Any] | None) -> int:
    if not wallet:
        return 0
    return sum(int(wallet.get(f"{a}_fen", 0)) for a in ("frozen", "available", "withdrawing", "withdrawn", "debt"))


def sort_key(sort: PromoterSort, month_commission: Mapping[str, int]) -> Callable[[Promoter], tuple[Any, ...]]:
    """Highest first, ties by user id (so pages are stable)."""
    def figure(p: Promoter) -> Any:
        if sort == "sales_desc":
            return p.own_sales_fen
        if sort == "team_sales_desc":
            return p.team_sales_fen
        if sort == "team_desc":
            return team_size(p)
        if sort == "last_active_desc":
            return p.last_active_at.isoformat() if p.last_active_at else ""
        return month_commission.get(p.user_id, 0)

    return lambda p: (figure(p), p.user_id)
