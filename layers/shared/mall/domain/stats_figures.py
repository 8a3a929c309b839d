"""What the dashboard and the leaderboards compute from stored counters: sums, ranks, rates. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def int_field(item: Mapping[str, Any], name: str) -> int:
    """An integer attribute of an item or image; 0 when absent or not an integer."""
    value = item.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def ranked(scores: Iterable[tuple[str, int]]) -> list[tuple[int, str, int]]:
    """(rank, id, score), highest first, ties share a rank (1, 2, 2, 4) and are listed by id."""
    ordered = sorted(scores, key=lambda pair: (-pair[1], pair[0]))
    out: list[tuple[int, str, int]] = []
    for index, (subject, score) in enumerate(ordered):
        rank = out[-1][0] if out and out[-1][2] == score else index + 1
        out.append((rank, subject, score))
    return out



def sum_fields(items: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, int]:
    totals = dict.fromkeys(names, 0)
    for item in items:
        for name in names:
            totals[name] += int_field(item, name)
    return totals



def floor_div(numerator: int, denominator: int) -> int:
    return numerator // denominator if denominator > 0 else 0


def rate_bp(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` in basis points, floored; 0 when there is nothing to divide by."""
    return max(numerator, 0) * 10_000 // denominator if denominator > 0 else 0

