"""The one forced refresh of the WeChat access token at a time, across every container.

WeChat's stable token (getStableAccessToken) allows a forced refresh only a few times a day per
app (20), at least 30 s apart, and each one revokes the token every other container holds. The
lease is one item, ``WECHAT#<app id>`` / ``FORCE_REFRESH``: a conditional update takes it only when
the last forced refresh is ``MIN_INTERVAL_SECONDS`` old and today's count (China Standard Time, the
day WeChat counts) is under ``DAILY_CAP``; whoever loses the race does not force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from mall.clock import utc_now
from mall.dal.keys import wechat_refresh_key
from mall.dal.table import ConditionFailed, Table

#: WeChat's rule is 30 s between forced refreshes; a few seconds more absorb clock differences
#: between containers.
MIN_INTERVAL_SECONDS = 35
#: Half of WeChat's 20 a day: the rest stays for an operator who must revoke a leaked token by hand.
DAILY_CAP = 10
_CHINA = timezone(timedelta(hours=8))


class ForceRefreshLease:
    """``mall.integrations.wechat.ForceRefreshGate`` on the main table."""

    def __init__(self, table: Table, *, clock: Callable[[], datetime] = utc_now,
                 min_interval_seconds: int = MIN_INTERVAL_SECONDS, daily_cap: int = DAILY_CAP) -> None:
        self._table = table
        self._clock = clock
        self._interval = min_interval_seconds
        self._cap = daily_cap

    def try_acquire(self, app_id: str) -> bool:
        now = self._clock()
        now_s = int(now.timestamp())
        day = now.astimezone(_CHINA).date().isoformat()
        key = wechat_refresh_key(app_id)
        values = {":one": 1, ":now": now_s, ":edge": now_s - self._interval, ":day": day}
        try:  # the same day: under the cap and long enough after the last one
            self._table.update(key, "SET refreshes = refreshes + :one, last_at = :now",
                               condition="#day = :day AND refreshes < :cap AND last_at <= :edge",
                               names={"#day": "day"}, values={**values, ":cap": self._cap})
            return True
        except ConditionFailed:
            pass
        try:  # the first of the day (or ever)
            self._table.update(key, "SET #day = :day, refreshes = :one, last_at = :now, entity = :e",
                               condition="attribute_not_exists(pk) OR (#day <> :day AND last_at <= :edge)",
                               names={"#day": "day"}, values={**values, ":e": "wechat_force_refresh"})
            return True
        except ConditionFailed:
            return False
