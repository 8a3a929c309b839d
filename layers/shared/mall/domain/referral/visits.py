"""Share visits (分享访问): what counts in the statistics, and how fast one source may report.
Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class VisitRate:
    """At most ``limit`` share visits per source IP per ``window_seconds`` (fixed windows)."""

    limit: int
    window_seconds: int


def visit_sources(*, source_ip: str | None, device_id: str | None, visitor_id: str | None) -> list[tuple[str, str]]:
    """What identifies where a visit came from: its IP, its device id, its logged-in account.

    A visit counts in the statistics (dashboard visits, conversion, a promoter's visits) only when
    none of these has visited the same promoter earlier that day (China's day): a device id is
    whatever the client sends, so a new one per request must not make a new visit, and neither may
    a new IP with the same device. Several people behind one IP (a shared Wi-Fi, carrier NAT) count
    once per promoter and day: the count can be low, never inflated. Every visit is still stored."""
    found = (("ip", source_ip), ("device", device_id), ("visitor", visitor_id))
    return [(kind, value) for kind, value in found if value]


def rate_window(now: datetime, window_seconds: int) -> tuple[int, int]:
    """The fixed window ``now`` falls in (its start, epoch seconds) and the whole seconds until the next."""
    moment = int(now.timestamp())
    start = moment - moment % window_seconds
    return start, max(1, start + window_seconds - moment)
