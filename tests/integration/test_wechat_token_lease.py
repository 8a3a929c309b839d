"""The WeChat forced-refresh lease on DynamoDB Local: across containers at most one forced refresh
per interval, and no more than the daily cap (WeChat: 20 a day, 30 s apart)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

from mall.dal.table import Table
from mall.dal.wechat_tokens import DAILY_CAP, MIN_INTERVAL_SECONDS, ForceRefreshLease

# 08:00 in China is midnight UTC: a new WeChat day starts at 16:00 UTC.
START = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def test_parallel_containers_get_one_forced_refresh_per_interval(table: Table) -> None:
    workers = 24
    barrier = Barrier(workers)

    def container(_: int) -> bool:
        lease = ForceRefreshLease(table, clock=lambda: START)
        barrier.wait()
        return lease.try_acquire("wx_app")

    with ThreadPoolExecutor(workers) as pool:
        assert sum(pool.map(container, range(workers))) == 1
    assert not ForceRefreshLease(table, clock=lambda: START + timedelta(seconds=MIN_INTERVAL_SECONDS - 1)
                                 ).try_acquire("wx_app")
    assert ForceRefreshLease(table, clock=lambda: START + timedelta(seconds=MIN_INTERVAL_SECONDS)
                             ).try_acquire("wx_app")
    assert ForceRefreshLease(table, clock=lambda: START).try_acquire("wx_other_app")  # per app


def test_the_daily_cap_holds_until_the_next_china_day(table: Table) -> None:
    granted = [ForceRefreshLease(table, clock=lambda n=n: START + timedelta(minutes=n)).try_acquire("wx_app")
               for n in range(DAILY_CAP + 5)]
    assert granted == [True] * DAILY_CAP + [False] * 5
    # 15:59 UTC is still the same day in China; 16:00 UTC is the next one.
    assert not ForceRefreshLease(table, clock=lambda: START.replace(hour=15, minute=59)).try_acquire("wx_app")
    assert ForceRefreshLease(table, clock=lambda: START.replace(hour=16)).try_acquire("wx_app")
