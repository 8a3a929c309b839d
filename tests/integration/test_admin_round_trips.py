"""Admin routes stay within five DynamoDB round trips (the admin class's target; bench/dynamo_work.py
measures every route on the local stack): each use case is run on DynamoDB Local through a client
whose HTTP calls are counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.services.stats import dashboard, dashboard_default_range
from tests.integration.test_dashboard_series import Shop

pytestmark = pytest.mark.integration

ADMIN_ROUND_TRIPS = 5


class Counted:
    """A second client on the same table whose round trips (HTTP calls to DynamoDB) are counted."""

    def __init__(self, table: Table, endpoint: str) -> None:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        self.sent: list[str] = []
        client.meta.events.register("before-send.dynamodb", self._count)
        self.table = Table(table.name, client)

    def _count(self, **kwargs: Any) -> None:
        self.sent.append(str(kwargs.get("event_name", "")).rsplit(".", 1)[-1])

    def trips(self, work: Callable[[], object]) -> int:
        self.sent.clear()
        work()
        return len(self.sent)


@pytest.fixture
def counted(table: Table, ddb_endpoint: str) -> Iterator[Counted]:
    yield Counted(table, ddb_endpoint)


def test_the_dashboard_of_the_default_week_takes_at_most_five_round_trips(table: Table, counted: Counted) -> None:
    shop = Shop(table)
    now = datetime(2026, 11, 3, 4, tzinfo=UTC)  # the week 28 Oct – 3 Nov straddles a month's end
    for day in ("2026-10-28", "2026-10-31", "2026-11-01", "2026-11-03"):
        shop.order(f"{day}T03:00:00Z", 1_000, shared=True)
        shop.commission(f"{day}T03:01:00Z", 1, 100)
        shop.visit(f"{day}T05:00:00Z")
    first, last = dashboard_default_range(now)
    stats = StatsRepository(counted.table)

    views: list[Any] = []
    trips = counted.trips(lambda: views.append(dashboard(stats=stats, date_from=first, date_to=last, now=now)))

    view = views[0]
    assert view.paid_orders == 4 and view.buyers == 4 and view.promoters_active == 1
    assert [p.user_id for p in view.top_promoters] == ["u_star"] and view.top_products[0].units == 4
    assert trips <= ADMIN_ROUND_TRIPS, counted.sent
