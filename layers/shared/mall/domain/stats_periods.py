"""China days, ISO weeks and months of the stats (数据看板, 排行榜): the period a counter or a score
belongs to, read from an item's own timestamps, and how a range of days is covered. Pure."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from mall.clock import CHINA, parse_instant

Period = Literal["week", "month"]
PERIODS: tuple[Period, ...] = ("week", "month")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_instant(str(value), assume_utc=False)
    except ValueError:
        return None


def day_of(value: Any) -> str | None:
    """The China day (``YYYY-MM-DD``) of an ISO timestamp; None when absent or unreadable."""
    moment = parse_time(value)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d") if moment else None


def month_of_day(day: str) -> str:
    return day[:7]


def week_of_day(day: str) -> str:
    """The ISO week (Monday first) of a China day: ``2026-W45``."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def period_key(period: Period, day: str) -> str:
    return week_of_day(day) if period == "week" else month_of_day(day)


def period_start(key: str) -> str:
    """The first China day of a period key: ``2026-W45`` → ``2026-11-02`` (its Monday), ``2026-11`` → ``2026-11-01``."""
    if "-W" in key:
        year, week = key.split("-W")
        return date.fromisocalendar(int(year), int(week), 1).isoformat()
    return f"{key}-01"


def period_bounds(period: Period, day: str) -> tuple[str, str]:
    """First and last China day of the week (Monday–Sunday) or month holding ``day``."""
    current = date.fromisoformat(day)
    if period == "week":
        start = current - timedelta(days=current.weekday())
        return start.isoformat(), (start + timedelta(days=6)).isoformat()
    start = current.replace(day=1)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.isoformat(), (following - timedelta(days=1)).isoformat()



def split_range(start: date, end: date) -> tuple[list[str], list[str]]:
    """Cover ``start..end`` (inclusive) with whole months (``YYYY-MM``) and the remaining days
    (``YYYY-MM-DD``): a year is read as 12 month items instead of 365 day items."""
    months: list[str] = []
    days: list[str] = []
    current = start
    while current <= end:
        if current.day == 1:
            following = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
            if following - timedelta(days=1) <= end:
                months.append(current.strftime("%Y-%m"))
                current = following
                continue
        days.append(current.isoformat())
        current += timedelta(days=1)
    return months, days

