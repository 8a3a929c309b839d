"""Share visits cannot be farmed, on DynamoDB Local: a flood of anonymous visits from one source
adds one visit to the dashboard and the promoter's counters (whatever device ids it makes up), a
source past the configured rate is refused with a retry time and nothing stored, and parallel
requests never pass more than the limit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import china_day
from mall.dal.changes import change_message, parse_change
from mall.dal.identity import CustomerRepository
from mall.dal.referral import VisitRateLimiter, VisitRepository
from mall.dal.settings import SettingsRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain.referral import VisitRate
from mall.domain.settings import DistributionSettings, PromoterLevel
from mall.errors import TooManyRequests
from mall.schemas.referral import ApplyRequest, VisitResult
from mall.services.referral import ReferralRepositories
from mall.services.referral.promoters import apply
from mall.services.referral.visits import RecordVisit, record_visit
from mall.services.stats import apply_change, dashboard
from tests.integration.test_stats_pipeline import forwarded, stream_changes

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
OPEN = VisitRate(limit=1000, window_seconds=60)  # the rate is tested on its own below


def promoter(table: Table, uid: str) -> tuple[str, str]:
    """A new active promoter: (user id, share code)."""
    repo = SettingsRepository(table)
    if repo.current(consistent=True).version == 0:
        repo.save(DistributionSettings(promoter_review="auto", levels=[PromoterLevel(id="basic", name="普通")]),
                  based_on=0, saved_by="test", now=NOW - timedelta(days=1))
    customer, _ = CustomerRepository(table).get_or_create(app_id="wx_local_app", openid=f"openid-{uid}", unionid=None,
                                                          now=NOW - timedelta(days=2))
    view = apply(network=ReferralRepositories.on(table), user_id=customer.user_id,
                 body=ApplyRequest(nickname=f"店主{uid[-1]}"), now=NOW - timedelta(days=1))
    return customer.user_id, view.code


def visit(table: Table, **command: Any) -> VisitResult:
    """One reported share visit, as the share_visit function records it."""
    return record_visit(RecordVisit(**command), network=ReferralRepositories.on(table), visits=VisitRepository(table),
                        visit_rate=VisitRateLimiter(table))


def visits_counted(table: Table) -> dict[str, int]:
    """Run the stats pipeline over the table's stream; the dashboard's visits for NOW's day and
    each promoter's counter of that day."""
    for change in stream_changes(table):
        if forwarded(change):
            parsed = parse_change(json.dumps(change_message(change)))
            assert parsed is not None
            apply_change(stats=StatsRepository(table), change=parsed, now=NOW)
    day = china_day(NOW)
    board = dashboard(stats=StatsRepository(table), date_from=day, date_to=day, now=NOW)
    counted = {"dashboard": board.share_visits}
    for item in StatsRepository(table).entities(days=[day], months=[])["promoter"]:
        counted[f"USER#{item['user_id']}"] = int(item.get("share_visits", 0))
    return counted


@pytest.mark.table_stream
def test_fifty_anonymous_visits_from_one_source_count_once_per_promoter_and_day(table: Table) -> None:
    (ann_id, ann), (bo_id, bo) = promoter(table, "u_ann"), promoter(table, "u_bo")
    for n in range(50):  # a script: one IP, a new made-up device id each time
        visit(table, code=ann, source="link", product_id=None, visitor_id=None,
              device_id=f"dev-farm-{n}", source_ip="198.51.100.7", now=NOW + timedelta(seconds=n), rate=OPEN)
    for n in range(5):  # the same device through five IPs
        visit(table, code=ann, source="link", product_id=None, visitor_id=None,
              device_id="dev-farm-0", source_ip=f"203.0.113.{n + 1}", now=NOW, rate=OPEN)
    # Real, distinct visitors each count; the farm's source counts again for another promoter.
    for n in range(3):
        visit(table, code=ann, source="qr", product_id=None, visitor_id=None,
              device_id=f"dev-friend-{n}", source_ip=f"192.0.2.{n + 1}", now=NOW, rate=OPEN)
    visit(table, code=bo, source="link", product_id=None, visitor_id=None, device_id="dev-farm-1",
          source_ip="198.51.100.7", now=NOW, rate=OPEN)

    stored = table.query(partition=("pk", f"PVISITS#{ann_id}"), limit=200).items
    assert len(stored) == 58  # every visit is kept for the fraud scans
    assert sum(1 for v in stored if v["counted"]) == 4

    counted = visits_counted(table)
    assert counted["dashboard"] == 5
    assert counted == {"dashboard": 5, f"USER#{ann_id}": 4, f"USER#{bo_id}": 1}


def test_the_same_source_counts_again_the_next_day(table: Table) -> None:
    ann_id, ann = promoter(table, "u_ann")
    for day in (0, 0, 1):
        visit(table, code=ann, source="link", product_id=None, visitor_id=None, device_id="dev-1",
              source_ip="198.51.100.7", now=NOW + timedelta(days=day), rate=OPEN)
    stored = table.query(partition=("pk", f"PVISITS#{ann_id}"), limit=10).items
    assert [v["counted"] for v in sorted(stored, key=lambda v: v["sk"])] == [True, False, True]


def test_a_source_past_the_rate_is_refused_with_a_retry_time_and_nothing_is_stored(table: Table) -> None:
    ann_id, ann = promoter(table, "u_ann")
    rate = VisitRate(limit=5, window_seconds=60)
    start = NOW + timedelta(seconds=10)  # 10 s into a minute window
    for n in range(5):
        visit(table, code=ann, source="link", product_id=None, visitor_id=None, device_id=f"d{n}",
              source_ip="198.51.100.7", now=start, rate=rate)
    with pytest.raises(TooManyRequests) as refused:
        visit(table, code=ann, source="link", product_id=None, visitor_id=None, device_id="d5",
              source_ip="198.51.100.7", now=start + timedelta(seconds=5), rate=rate)
    assert refused.value.code == "too_many_visits" and refused.value.retry_after_seconds == 45
    # Unknown codes are counted too: a flood cannot probe codes past the limit either.
    with pytest.raises(TooManyRequests):
        visit(table, code="NOSUCHCODE", source="link", product_id=None, visitor_id=None,
              device_id=None, source_ip="198.51.100.7", now=start, rate=rate)
    assert len(table.query(partition=("pk", f"PVISITS#{ann_id}"), limit=20).items) == 5
    # Another source is not held up; the same one is welcome again in the next window.
    visit(table, code=ann, source="link", product_id=None, visitor_id=None, device_id="x",
          source_ip="192.0.2.1", now=start, rate=rate)
    visit(table, code=ann, source="link", product_id=None, visitor_id=None, device_id="d6",
          source_ip="198.51.100.7", now=start + timedelta(seconds=50), rate=rate)


def test_parallel_requests_pass_no_more_than_the_limit(table: Table) -> None:
    ann_id, ann = promoter(table, "u_ann")
    rate = VisitRate(limit=7, window_seconds=3600)

    def one(n: int) -> bool:
        try:
            visit(table, code=ann, source="link", product_id=None, visitor_id=None,
                  device_id=f"dev-{n}", source_ip="198.51.100.7", now=NOW, rate=rate)
        except TooManyRequests:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        passed = list(pool.map(one, range(30)))
    assert sum(passed) == 7
    stored = table.query(partition=("pk", f"PVISITS#{ann_id}"), limit=50).items
    assert len(stored) == 7 and sum(1 for v in stored if v["counted"]) == 1
