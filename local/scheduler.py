"""EventBridge schedules, locally: ``rate()``, ``cron()`` and ``at()`` expressions.

``cron(minutes hours day-of-month month day-of-week year)`` follows EventBridge's rules
(UTC unless a ScheduleV2 gives ``ScheduleExpressionTimezone``):

======== ============ =========================================
field    values       wildcards
======== ============ =========================================
minutes  0-59         , - * /
hours    0-23         , - * /
dom      1-31         , - * ? / L W   (``L``, ``L-3``, ``15W``, ``LW``)
month    1-12 JAN-DEC , - * /
dow      1-7 SUN-SAT  , - * ? / L #   (``L`` = SAT, ``6L`` = last Friday, ``2#1`` = first Monday)
year     1970-2199    , - * /
======== ============ =========================================

Exactly one of day-of-month and day-of-week must be ``?``, as EventBridge requires.
``rate(1 minute)`` / ``rate(5 minutes)`` (hours, days too; the unit is singular for 1,
plural otherwise) fires every interval from the moment the scheduler starts.

The background ``Scheduler`` fires each enabled schedule at its times, each firing on a
thread of its own: runs may overlap, as in AWS.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from local.template_model import ACCOUNT_ID, REGION, ScheduleSpec

log = logging.getLogger("local.scheduler")

MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS = {k.upper(): v for k, v in MONTHS.items()}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
MAX_YEAR = 2199


class ScheduleExpressionError(ValueError):
    """Not a valid EventBridge schedule expression."""


class Expression(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (aware UTC), or None if none is left."""
        ...


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------
# rate() and at()
# ---------------------------------------------------------------------------------------

_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_AT_RE = re.compile(r"^at\(\s*(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    interval: timedelta
    anchor: datetime

    def next_after(self, after: datetime) -> datetime | None:
        after = _utc(after)
        if after < self.anchor:
            return self.anchor + self.interval
        elapsed = (after - self.anchor) // self.interval
        return self.anchor + (elapsed + 1) * self.interval


def parse_rate(expression: str, anchor: datetime | None = None) -> Rate:
    match = _RATE_RE.match(expression.strip())
    if not match:
        raise ScheduleExpressionError(f"not a rate expression: {expression!r}")
    value, unit = int(match.group(1)), match.group(2).lower()
    if value <= 0:
        raise ScheduleExpressionError(f"{expression!r}: the value must be a positive integer")
    singular = not unit.endswith("s")
    if (value == 1) != singular:
        raise ScheduleExpressionError(f"{expression!r}: use a singular unit for 1 and a plural one otherwise")
    start = _utc(anchor or datetime.now(UTC)).replace(microsecond=0)
    return Rate(timedelta(seconds=value * _UNIT_SECONDS[unit.rstrip("s")]), start)


@dataclass(frozen=True)
class At:
    moment: datetime

    def next_after(self, after: datetime) -> datetime | None:
        return self.moment if self.moment > _utc(after) else None


# ---------------------------------------------------------------------------------------
# cron()
# ---------------------------------------------------------------------------------------


def _number(token: str, low: int, high: int, names: dict[str, int] | None, field: str) -> int:
    key = token.upper()
    if names and key in names:
        return names[key]
    if not token.isdigit():
        raise ScheduleExpressionError(f"{field}: {token!r} is not a valid value")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{field}: {value} is out of range {low}-{high}")
    return value


def _range_values(start: int, end: int, step: int, low: int, high: int) -> set[int]:
    if end >= start:
        return set(range(start, end + 1, step))
    # A wrapping range such as FRI-MON or 22-2.
    span = list(range(start, high + 1)) + list(range(low, end + 1))
    return set(span[::step])


def _parse_list(text: str, low: int, high: int, names: dict[str, int] | None, field: str) -> set[int]:
    """``*``, ``a``, ``a-b``, ``a/s``, ``*/s``, ``a-b/s`` and lists of them."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleExpressionError(f"{field}: empty list item in {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"{field}: bad step in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(first, low, high, names, field)
            end = _number(last, low, high, names, field)
        else:
            start = _number(base, low, high, names, field)
            end = high if step_text else start
        values |= _range_values(start, end, step, low, high)
    return values


@dataclass(frozen=True)
class _DomTerm:
    kind: str  # "days", "last", "weekday", "last-weekday"
    days: frozenset[int] = frozenset()
    value: int = 0

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        if self.kind == "days":
            return {d for d in self.days if d <= length}
        if self.kind == "last":
            day = length - self.value
            return {day} if day >= 1 else set()
        target = length if self.kind == "last-weekday" else self.value
        if target > length:
            return set()
        return {_nearest_weekday(year, month, target, length)}


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    weekday = calendar.weekday(year, month, day)  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: the Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, unless that leaves the month
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True)
class _DowTerm:
    kind: str  # "days", "last-of-month", "nth"
    days: frozenset[int] = frozenset()
    value: int = 0  # the weekday for last-of-month / nth
    nth: int = 0

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        matching = [d for d in range(1, length + 1) if _aws_weekday(year, month, d) == self.value]
        if self.kind == "days":
            return {d for d in range(1, length + 1) if _aws_weekday(year, month, d) in self.days}
        if self.kind == "last-of-month":
            return {matching[-1]}
        return {matching[self.nth - 1]} if self.nth <= len(matching) else set()


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday .. 7 = Saturday."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _parse_dom(text: str) -> list[_DomTerm]:
    terms: list[_DomTerm] = []
    for item in text.upper().split(","):
        if item == "L":
            terms.append(_DomTerm("last"))
        elif re.fullmatch(r"L-\d+", item):
            offset = int(item[2:])
            if offset > 30:
                raise ScheduleExpressionError(f"day-of-month: {item!r} offset is out of range")
            terms.append(_DomTerm("last", value=offset))
        elif item == "LW":
            terms.append(_DomTerm("last-weekday"))
        elif re.fullmatch(r"\d+W", item):
            terms.append(_DomTerm("weekday", value=_number(item[:-1], 1, 31, None, "day-of-month")))
        elif "L" in item or "W" in item:
            raise ScheduleExpressionError(f"day-of-month: {item!r} is not valid")
        else:
            terms.append(_DomTerm("days", frozenset(_parse_list(item, 1, 31, None, "day-of-month"))))
    return terms


def _parse_dow(text: str) -> list[_DowTerm]:
    terms: list[_DowTerm] = []
    for item in text.upper().split(","):
        if item == "L":
            terms.append(_DowTerm("days", frozenset({7})))
        elif item.endswith("L"):
            terms.append(_DowTerm("last-of-month", value=_number(item[:-1], 1, 7, DAYS, "day-of-week")))
        elif "#" in item:
            day, _, nth = item.partition("#")
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ScheduleExpressionError(f"day-of-week: {item!r}: the n in d#n must be 1-5")
            terms.append(_DowTerm("nth", value=_number(day, 1, 7, DAYS, "day-of-week"), nth=int(nth)))
        else:
            terms.append(_DowTerm("days", frozenset(_parse_list(item, 1, 7, DAYS, "day-of-week"))))
    return terms


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    dom: tuple[_DomTerm, ...] | None  # None: "?"
    months: frozenset[int]
    dow: tuple[_DowTerm, ...] | None  # None: "?"
    years: frozenset[int]
    timezone: str | None = None

    def days(self, year: int, month: int) -> list[int]:
        terms: Iterable[_DomTerm | _DowTerm] = self.dom if self.dom is not None else self.dow or ()
        found: set[int] = set()
        for term in terms:
            found |= term.days_in(year, month)
        return sorted(found)

    def next_after(self, after: datetime) -> datetime | None:
        after = _utc(after)
        zone = ZoneInfo(self.timezone) if self.timezone else None
        local = after.astimezone(zone).replace(tzinfo=None) if zone else after.replace(tzinfo=None)
        start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        found = self._next_wall_time(start)
        if found is None:
            return None
        if zone is None:
            return found.replace(tzinfo=UTC)
        return found.replace(tzinfo=zone).astimezone(UTC)

    def _next_wall_time(self, start: datetime) -> datetime | None:
        floor = (start.year, start.month, start.day, start.hour, start.minute)
        for year in range(start.year, MAX_YEAR + 1):
            if year not in self.years:
                continue
            for month in sorted(self.months):
                if (year, month) < floor[:2]:
                    continue
                for day in self.days(year, month):
                    if (year, month, day) < floor[:3]:
                        continue
                    for hour in self.hours:
                        if (year, month, day, hour) < floor[:4]:
                            continue
                        for minute in self.minutes:
                            if (year, month, day, hour, minute) >= floor:
                                return datetime(year, month, day, hour, minute)
        return None


def parse_cron(expression: str, timezone: str | None = None) -> Cron:
    text = expression.strip()
    match = re.fullmatch(r"cron\((.*)\)", text, re.IGNORECASE)
    if not match:
        raise ScheduleExpressionError(f"not a cron expression: {expression!r}")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"{expression!r}: cron needs 6 fields (minutes hours day-of-month month day-of-week year)"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    for name, value in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in value or "L" in value.upper().replace("JUL", "") or "#" in value:
            raise ScheduleExpressionError(f"{expression!r}: {name} does not take {value!r}")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (KeyError, ValueError) as exc:
            raise ScheduleExpressionError(f"unknown time zone {timezone!r}") from exc
    return Cron(
        minutes=tuple(sorted(_parse_list(minutes, 0, 59, None, "minutes"))),
        hours=tuple(sorted(_parse_list(hours, 0, 23, None, "hours"))),
        dom=None if dom == "?" else tuple(_parse_dom(dom)),
        months=frozenset(_parse_list(month, 1, 12, MONTHS, "month")),
        dow=None if dow == "?" else tuple(_parse_dow(dow)),
        years=frozenset(_parse_list(year, 1970, MAX_YEAR, None, "year")),
        timezone=timezone,
    )


def parse_expression(expression: str, *, timezone: str | None = None, anchor: datetime | None = None) -> Expression:
    """Parse ``rate(...)``, ``cron(...)`` or ``at(...)``."""
    text = expression.strip()
    lower = text.lower()
    if lower.startswith("rate("):
        return parse_rate(text, anchor)
    if lower.startswith("cron("):
        return parse_cron(text, timezone)
    match = _AT_RE.match(text)
    if match:
        moment = datetime.fromisoformat(match.group(1))
        zone = ZoneInfo(timezone) if timezone else UTC
        return At(moment.replace(tzinfo=zone).astimezone(UTC))
    raise ScheduleExpressionError(f"not a schedule expression: {expression!r}")


# ---------------------------------------------------------------------------------------
# Events and the background scheduler
# ---------------------------------------------------------------------------------------


def iso_z(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(spec: ScheduleSpec, when: datetime) -> Any:
    """What the function receives: the ``Input`` JSON if given, else a Scheduled Event."""
    if spec.input is not None:
        return json.loads(spec.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": iso_z(when),
        "region": REGION,
        "resources": [spec.resource_arn],
        "detail": {},
    }


class Scheduler:
    """Fires schedules on time in a background thread; each firing runs on its own thread."""

    def __init__(
        self,
        schedules: Iterable[ScheduleSpec],
        fire: Callable[[ScheduleSpec, datetime], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.fire = fire
        now = clock()
        self._entries: list[tuple[ScheduleSpec, Expression, datetime | None]] = []
        for spec in schedules:
            if not spec.enabled:
                log.info("schedule %s.%s is disabled", spec.function_id, spec.event_name)
                continue
            expression = parse_expression(spec.expression, timezone=spec.timezone, anchor=now)
            self._entries.append((spec, expression, expression.next_after(now)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def upcoming(self) -> list[tuple[ScheduleSpec, datetime]]:
        return [(spec, nxt) for spec, _, nxt in self._entries if nxt is not None]

    def start(self) -> None:
        if self._entries and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            pending = [nxt for _, _, nxt in self._entries if nxt is not None]
            if not pending:
                return
            wait = (min(pending) - self.clock()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 30.0))
                continue
            now = self.clock()
            for index, (spec, expression, nxt) in enumerate(self._entries):
                if nxt is not None and nxt <= now:
                    self._launch(spec, nxt)
                    self._entries[index] = (spec, expression, expression.next_after(max(nxt, now)))

    def _launch(self, spec: ScheduleSpec, when: datetime) -> None:
        self.fired += 1
        log.info("schedule %s.%s fires for %s", spec.function_id, spec.event_name, iso_z(when))
        threading.Thread(target=self.fire, args=(spec, when), name=f"schedule-{spec.function_id}", daemon=True).start()
