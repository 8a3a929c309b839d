"""What the rules disclosure (规则公示) is made of: sections of items, each with a stable English
``key``, a Chinese ``label`` and ``text`` and, for numbers, the integer ``value`` with its ``unit``;
the two earning levels; the promoter levels. Pure. Rendered by ``mall.domain.rules_disclosure``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Unit = Literal["fen", "bp", "days", "count", "hours"]
Value = int | str | bool | None


@dataclass(frozen=True)
class RuleItem:
    key: str
    label: str
    text: str
    value: Value = None
    unit: Unit | None = None


@dataclass(frozen=True)
class RuleSection:
    key: str
    title: str
    items: list[RuleItem]


@dataclass(frozen=True)
class EarningLevel:
    level: int  # 1 or 2, never more
    name: str
    rate_bp: int
    rate_text: str


@dataclass(frozen=True)
class LevelRule:
    id: str
    name: str
    l1_points_bp: int
    l2_points_bp: int
    l1_rate_bp: int
    l2_rate_bp: int
    text: str


@dataclass(frozen=True)
class Disclosure:
    version: int
    effective_at: datetime | None
    title: str
    promoter_title: str
    earning_levels: list[EarningLevel]
    levels: list[LevelRule]
    sections: list[RuleSection] = field(default_factory=list)


# ---- formatting (integers in, text out; no float anywhere) -----------------------------------------


def percent(bp: int) -> str:
    """Basis points as a percentage without trailing zeros: 1000 → "10%", 250 → "2.5%", 125 → "1.25%"."""
    sign = "-" if bp < 0 else ""
    whole, rest = divmod(abs(bp), 100)
    if rest == 0:
        return f"{sign}{whole}%"
    return f"{sign}{whole}.{rest:02d}".rstrip("0") + "%"

