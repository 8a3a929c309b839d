"""Levels (等级): what the sales counters add and take back, and when a promoter moves up or down.
Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from mall.domain.referral.model import Counters
from mall.domain.settings_terms import is_headcount_only

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings, PromoterLevel


def distribution_base(lines: Iterable[Mapping[str, Any]]) -> int:
    """分销基数 of an order's lines: what the buyer paid for the lines that take part in
    distribution (``distribution_enabled``, the default), without shipping. Sales counters add
    this when an order is paid and subtract the same base of what a succeeded refund returns."""
    return sum(int(line.get("paid_fen", 0)) for line in lines if bool(line.get("distribution_enabled", True)))


def refunded_base(order_lines: Iterable[Mapping[str, Any]], refund_lines: Iterable[Mapping[str, Any]]) -> int:
    """The distribution base a refund takes back: its amounts on lines that take part. Shipping never
    counts, so a refund of the shipping alone (no lines) takes back nothing."""
    by_id = {str(line.get("line_id")): line for line in order_lines}
    total = 0
    for line in refund_lines:
        order_line = by_id.get(str(line.get("line_id")))
        if order_line is not None and bool(order_line.get("distribution_enabled", True)):
            total += int(line.get("amount_fen", 0))
    return total


def _level_index(settings: DistributionSettings, level_id: str) -> int:
    for index, level in enumerate(settings.levels):
        if level.id == level_id:
            return index
    return 0


def meets(level: PromoterLevel, counters: Counters) -> bool:
    """Every condition the level sets holds. A level with no condition is only ever given by an admin,
    and so is one whose only condition is a headcount (never earned by recruiting alone)."""
    up = level.upgrade
    if is_headcount_only(up):
        return False
    conditions = [
        (up.direct_members_at_least, counters.effective_members),
        (up.own_sales_at_least_fen, counters.own_sales_fen),
        (up.team_sales_at_least_fen, counters.team_sales_fen),
    ]
    set_conditions = [(need, have) for need, have in conditions if need is not None]
    return bool(set_conditions) and all(have >= need for need, have in set_conditions)


def upgrade_target(settings: DistributionSettings, level_id: str, counters: Counters) -> str | None:
    """The highest level above the current one whose conditions hold, or None (upgrades only)."""
    current = _level_index(settings, level_id)
    target = None
    for index in range(current + 1, len(settings.levels)):
        if meets(settings.levels[index], counters):
            target = settings.levels[index].id
    return target


def level_after_refund(settings: DistributionSettings, level_id: str, counters: Counters) -> str | None:
    """After a refund lowered the counters: the highest level at or below the current one whose
    conditions still hold (the entry level always does), or None when the current one still holds.
    Only for a level earned automatically; an admin's choice is not re-evaluated."""
    current = _level_index(settings, level_id)
    if current == 0 or meets(settings.levels[current], counters):
        return None
    for index in range(current - 1, 0, -1):
        if meets(settings.levels[index], counters):
            return settings.levels[index].id
    return settings.levels[0].id


def downgrade_target(settings: DistributionSettings, level_id: str, last_active_at: datetime | None,
                     now: datetime) -> str | None:
    """One level down after ``level_downgrade_inactive_days`` without activity; None if not due."""
    current = _level_index(settings, level_id)
    if current == 0 or last_active_at is None:
        return None
    if now - last_active_at < timedelta(days=settings.level_downgrade_inactive_days):
        return None
    return settings.levels[current - 1].id


@dataclass(frozen=True)
class Requirement:
    name: Literal["direct_members", "own_sales_fen", "team_sales_fen"]
    required: int
    current: int

    @property
    def met(self) -> bool:
        return self.current >= self.required


@dataclass(frozen=True)
class Progress:
    next_level_id: str | None
    next_level_name: str | None
    requirements: list[Requirement] = field(default_factory=list)


def progress_to_next(settings: DistributionSettings, level_id: str, counters: Counters) -> Progress:
    index = _level_index(settings, level_id)
    if index + 1 >= len(settings.levels):
        return Progress(None, None)
    nxt = settings.levels[index + 1]
    up = nxt.upgrade
    reqs = [
        Requirement("direct_members", up.direct_members_at_least, counters.effective_members)
        if up.direct_members_at_least is not None else None,
        Requirement("own_sales_fen", up.own_sales_at_least_fen, counters.own_sales_fen)
        if up.own_sales_at_least_fen is not None else None,
        Requirement("team_sales_fen", up.team_sales_at_least_fen, counters.team_sales_fen)
        if up.team_sales_at_least_fen is not None else None,
    ]
    return Progress(nxt.id, nxt.name, [r for r in reqs if r is not None])
