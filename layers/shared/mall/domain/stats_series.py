"""The dashboard's trend series (趋势): which periods a range is drawn in, and each period's figures
summed from the aggregate items read for it. Pure.

A range of at most ``DAY_SERIES_MAX_DAYS`` China days is drawn day by day (the days of two whole
months still fit a chart's width); a longer one month by month, the first and last months counting
only their days inside the range. Every period of the axis appears, with zeros when nothing happened,
so a chart's axis is continuous."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from mall.domain.stats_figures import int_field
from mall.domain.stats_periods import month_of_day

Granularity = Literal["day", "month"]

DAY_SERIES_MAX_DAYS = 62

#: The aggregate counters a series point carries (names as the aggregates store them).
SERIES_FIELDS: tuple[str, ...] = ("gmv_fen", "paid_orders", "refund_fen", "comm_l1_created_fen",
                                  "comm_l2_created_fen", "share_visits", "shared_orders")


def series_granularity(start: date, end: date) -> Granularity:
    return "day" if (end - start).days + 1 <= DAY_SERIES_MAX_DAYS else "month"


def days_between(start: date, end: date) -> list[str]:
    """Every China day of ``start..end`` (inclusive), ``YYYY-MM-DD``."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def series_periods(start: date, end: date, granularity: Granularity) -> list[str]:
    """The axis: every day, or every month (``YYYY-MM``) touched by the range, in order."""
    if granularity == "day":
        return days_between(start, end)
    months: list[str] = []
    current = start.replace(day=1)
    while current <= end:
        months.append(current.strftime("%Y-%m"))
        current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def series_sums(items_by_period: Mapping[str, Sequence[Mapping[str, Any]]], periods: Sequence[str],
                granularity: Granularity) -> list[dict[str, int]]:
    """``SERIES_FIELDS`` summed per period of ``periods``, in that order. ``items_by_period`` maps the
    period each item was read for (a day ``YYYY-MM-DD`` or a whole month ``YYYY-MM``) to its items;
    at month granularity a day's items count in its month. Items of periods off the axis raise: the
    reads and the axis must cover the same range."""
    sums = {period: dict.fromkeys(SERIES_FIELDS, 0) for period in periods}
    for read_for, items in items_by_period.items():
        period = read_for if granularity == "day" or len(read_for) == 7 else month_of_day(read_for)
        if period not in sums:
            raise ValueError(f"items read for {read_for} are outside the series' periods")
        point = sums[period]
        for item in items:
            for name in SERIES_FIELDS:
                point[name] += int_field(item, name)
    return [sums[period] for period in periods]
