"""rate() / cron() / at() parsing and next-fire times, and the Scheduled Event payload."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from local.scheduler import (
    ScheduleExpressionError,
    Scheduler,
    parse_cron,
    parse_expression,
    parse_rate,
    scheduled_event,
)
from local.template_model import ScheduleSpec


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CRON_CASES = [
    # (expression, after, expected next fire)
    ("cron(0 2 * * ? *)", "2030-01-01T01:59:59", "2030-01-01T02:00:00"),
    ("cron(0 2 * * ? *)", "2030-01-01T02:00:00", "2030-01-02T02:00:00"),
    ("cron(0 2 * * ? *)", "2030-12-31T02:00:00", "2031-01-01T02:00:00"),
    ("cron(0/15 * * * ? *)", "2030-01-01T00:07:00", "2030-01-01T00:15:00"),
    ("cron(0/15 * * * ? *)", "2030-01-01T00:45:00", "2030-01-01T01:00:00"),
    ("cron(*/5 8-10 ? * MON-FRI *)", "2030-01-04T10:56:00", "2030-01-07T08:00:00"),  # Fri -> Mon
    ("cron(0 9 ? * 2-6 *)", "2030-01-05T00:00:00", "2030-01-07T09:00:00"),  # numeric MON-FRI
    ("cron(0 9 ? * SUN *)", "2030-01-01T00:00:00", "2030-01-06T09:00:00"),  # 1 = Sunday
    ("cron(0 9 ? * 1 *)", "2030-01-01T00:00:00", "2030-01-06T09:00:00"),
    ("cron(0 9 ? * sat *)", "2030-01-01T00:00:00", "2030-01-05T09:00:00"),  # names are case-insensitive
    ("cron(0 0 L * ? *)", "2030-01-31T00:00:00", "2030-02-28T00:00:00"),  # last day of month
    ("cron(0 0 L * ? *)", "2032-02-01T00:00:00", "2032-02-29T00:00:00"),  # leap year
    ("cron(0 0 L-2 * ? *)", "2030-02-01T00:00:00", "2030-02-26T00:00:00"),
    ("cron(0 12 15W * ? *)", "2030-06-01T00:00:00", "2030-06-14T12:00:00"),  # Sat 15th -> Fri 14th
    ("cron(0 12 15W * ? *)", "2030-01-01T00:00:00", "2030-01-15T12:00:00"),  # a weekday stays
    ("cron(0 12 1W * ? *)", "2030-05-31T13:00:00", "2030-06-03T12:00:00"),  # Sat 1st -> Mon 3rd
    ("cron(0 12 30W * ? *)", "2030-06-20T00:00:00", "2030-06-28T12:00:00"),  # Sun 30th -> Fri 28th
    ("cron(0 12 LW * ? *)", "2030-03-01T00:00:00", "2030-03-29T12:00:00"),  # last weekday
    ("cron(0 10 ? * 6L *)", "2030-01-01T00:00:00", "2030-01-25T10:00:00"),  # last Friday
    ("cron(0 10 ? * FRIL *)", "2030-01-01T00:00:00", "2030-01-25T10:00:00"),
    ("cron(0 10 ? * L *)", "2030-01-01T00:00:00", "2030-01-05T10:00:00"),  # L alone: Saturday
    ("cron(0 10 ? * 2#1 *)", "2030-01-01T00:00:00", "2030-01-07T10:00:00"),  # first Monday
    ("cron(0 10 ? * 2#1 *)", "2030-01-07T10:00:00", "2030-02-04T10:00:00"),
    ("cron(0 10 ? * MON#5 *)", "2030-01-01T00:00:00", "2030-04-29T10:00:00"),  # first month with 5
    ("cron(0 8 1 JAN,JUL ? *)", "2030-01-01T08:00:00", "2030-07-01T08:00:00"),
    ("cron(0 0 29 2 ? *)", "2030-03-01T00:00:00", "2032-02-29T00:00:00"),
    ("cron(30 22-2 * * ? *)", "2030-01-01T02:31:00", "2030-01-01T22:30:00"),  # wrapping range
    ("cron(0,30 9 * * ? *)", "2030-01-01T09:00:00", "2030-01-01T09:30:00"),
    ("cron(5-20/5 * * * ? *)", "2030-01-01T00:20:00", "2030-01-01T01:05:00"),
    ("cron(0 0 1 */3 ? *)", "2030-01-01T00:00:00", "2030-04-01T00:00:00"),
    ("cron(0 0 1 1 ? 2031/2)", "2030-01-01T00:00:00", "2031-01-01T00:00:00"),
    ("cron(0 0 1 1 ? 2031/2)", "2031-01-01T00:00:00", "2033-01-01T00:00:00"),
    ("cron(0 0 ? * 2-6 2030)", "2030-12-31T00:00:00", None),  # no more fire times
    ("cron(15 10 ? * 6L 2030-2031)", "2031-12-26T10:15:00", None),
]


@pytest.mark.parametrize(("expression", "after", "expected"), CRON_CASES)
def test_cron_next_fire(expression: str, after: str, expected: str | None) -> None:
    got = parse_cron(expression).next_after(utc(after))
    assert got == (utc(expected) if expected else None)


def test_cron_seconds_are_floored_and_result_is_strictly_after() -> None:
    cron = parse_cron("cron(* * * * ? *)")
    assert cron.next_after(utc("2030-01-01T00:00:30")) == utc("2030-01-01T00:01:00")
    assert cron.next_after(utc("2030-01-01T00:01:00")) == utc("2030-01-01T00:02:00")


def test_cron_with_time_zone() -> None:
    cron = parse_expression("cron(0 12 * * ? *)", timezone="Asia/Shanghai")
    assert cron.next_after(utc("2030-01-01T00:00:00")) == utc("2030-01-01T04:00:00")


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 2 * * * *)",  # both day fields given
        "cron(0 2 ? * ? *)",  # both '?'
        "cron(60 * * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 2 * * ?)",  # five fields
        "cron(0 2 32 * ? *)",
        "cron(0 2 ? * 8 *)",
        "cron(0 2 ? * MON#6 *)",
        "cron(0 2 ? 13 MON *)",
        "cron(0 2 ? FOO MON *)",
        "cron(0 2 5X * ? *)",
        "cron(0 2 * * ? 1969)",
        "cron(0/0 2 * * ? *)",
        "cron(L 2 * * ? *)",
        "cron(0 ? * * ? *)",
    ],
)
def test_invalid_cron(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_expression(expression)


def test_rate() -> None:
    anchor = utc("2030-01-01T00:00:00")
    rate = parse_rate("rate(5 minutes)", anchor)
    assert rate.next_after(anchor) == utc("2030-01-01T00:05:00")
    assert rate.next_after(utc("2030-01-01T00:07:00")) == utc("2030-01-01T00:10:00")
    assert rate.next_after(utc("2030-01-01T00:10:00")) == utc("2030-01-01T00:15:00")
    assert parse_rate("rate(1 hour)", anchor).next_after(anchor) == utc("2030-01-01T01:00:00")
    assert parse_rate("rate(2 days)", anchor).next_after(utc("2030-01-02T00:00:00")) == utc("2030-01-03T00:00:00")
    assert parse_rate("rate(1 minute)", anchor).next_after(utc("2030-01-01T00:00:30")) == utc("2030-01-01T00:01:00")


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(5 seconds)", "every 5 minutes"]
)
def test_invalid_rate(expression: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        parse_expression(expression)


def test_at() -> None:
    at = parse_expression("at(2030-01-01T08:00:00)")
    assert at.next_after(utc("2029-12-31T00:00:00")) == utc("2030-01-01T08:00:00")
    assert at.next_after(utc("2030-01-01T08:00:00")) is None
    shanghai = parse_expression("at(2030-01-01T08:00:00)", timezone="Asia/Shanghai")
    assert shanghai.next_after(utc("2029-12-31T00:00:00")) == utc("2030-01-01T00:00:00")


def _spec(**kw: object) -> ScheduleSpec:
    base: dict[str, object] = {
        "function_id": "JobFunction",
        "event_name": "Nightly",
        "expression": "cron(0 2 * * ? *)",
        "input": None,
        "enabled": True,
        "kind": "Schedule",
    }
    base.update(kw)
    return ScheduleSpec(**base)  # type: ignore[arg-type]


def test_scheduled_event_payload() -> None:
    event = scheduled_event(_spec(), utc("2030-01-02T02:00:00"))
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["version"] == "0"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == "000000000000"
    assert event["region"] == "us-east-1"
    assert event["time"] == "2030-01-02T02:00:00Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/mall-local-JobFunctionNightly"]
    assert event["detail"] == {}
    assert scheduled_event(_spec(input='{"job": "x"}'), utc("2030-01-02T02:00:00")) == {"job": "x"}


def test_scheduler_fires_due_schedules_in_background() -> None:
    start = utc("2030-01-01T01:59:00")
    now = [start]
    fired: list[tuple[str, datetime]] = []
    done = threading.Event()

    def fire(spec: ScheduleSpec, when: datetime) -> None:
        fired.append((spec.event_name, when))
        done.set()

    scheduler = Scheduler([_spec(), _spec(event_name="Off", enabled=False)], fire, clock=lambda: now[0])
    assert [s.event_name for s, _ in scheduler.upcoming()] == ["Nightly"]
    now[0] = start + timedelta(minutes=1)  # 02:00 is now due
    scheduler.start()
    try:
        assert done.wait(5)
    finally:
        scheduler.stop()
    assert fired == [("Nightly", utc("2030-01-01T02:00:00"))]
    assert scheduler.upcoming()[0][1] == utc("2030-01-02T02:00:00")
