"""Time, in one place, so tests can pin it and every timestamp has one format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` suffix and second precision, as the API shows times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str, *, assume_utc: bool = True) -> datetime:
    """An ISO-8601 date-time as ``iso`` stores it or a client sends it: ``Z`` (or ``z``) or an offset
    such as ``+08:00``. Without a zone it is UTC, or refused when ``assume_utc`` is False. Malformed
    text raises ValueError."""
    text = value.strip()
    if text.endswith("z"):
        text = text[:-1] + "Z"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"{value!r} has no time zone")
        return moment.replace(tzinfo=UTC)
    return moment


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


#: China Standard Time (no daylight saving): "today" and "this month" for promoters and limits.
CHINA = timezone(timedelta(hours=8))


def china_day(moment: datetime) -> str:
    """The calendar day in China, ``YYYY-MM-DD`` (daily limits, daily reports)."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d")


def china_day_start(moment: datetime) -> datetime:
    """Midnight (China time) of the day of ``moment``, as an aware datetime."""
    local = moment.astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def china_month_start(moment: datetime) -> datetime:
    return china_day_start(moment).replace(day=1)
