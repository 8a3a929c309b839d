"""Round trips of routes the bench found over their class, counted on DynamoDB Local before each
request is sent: a customer and promoter route stays within three, an admin route within five."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.dal.coupons import CouponRepository
from mall.dal.keys import board_entry_board
from mall.dal.stats import StatsRepository
from mall.dal.stats_boards import board_write
from mall.dal.table import Table
from mall.domain.settings import BindingMode
from mall.domain.stats_periods import period_key
from mall.errors import Conflict
from mall.services import coupons as service
from mall.services import stats as stats_service
from mall.services.coupons import ClaimCoupon, CouponRepositories
from tests.integration.test_admin_round_trips import Counted
from tests.integration.test_coupons import template
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips
from tests.integration.test_payment_snapshot import T0, World

pytestmark = pytest.mark.integration
ADMIN_ROUTE_TRIPS = 5  # bench/_route_classes.py


@pytest.fixture
def counted(table: Table, ddb_endpoint: str) -> Iterator[Counted]:
    yield Counted(table, ddb_endpoint)


@pytest.mark.parametrize("mode", [BindingMode.INVITE_CODE, BindingMode.FIRST_CLICK, BindingMode.FIRST_PAYMENT])
def test_claiming_a_promoter_bound_coupon_through_a_share_takes_at_most_three_round_trips(
        table: Table, ddb_client: Any, mode: BindingMode) -> None:
    world = World(table, mode=mode)
    promoter, code = world.promoter("p")
    tid = template(table, promoter_bound=True, min_spend_fen=0)
    fresh = world.customer("fresh")
    repos = CouponRepositories.on(table)
    # A warm container: it has served a claim through a share, so it knows the binding mode's path.
    service.claim(ClaimCoupon(template_id=tid, user_id=world.customer("warm"), now=T0, share_code=code), repos=repos)
    trips = Trips(ddb_client)
    claimed = trips.of(lambda: service.claim(ClaimCoupon(template_id=tid, user_id=fresh, now=T0, share_code=code),
                                             repos=repos))
    assert claimed.share_effect == ("share_source" if mode == BindingMode.FIRST_PAYMENT else "bound")
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    if mode != BindingMode.FIRST_PAYMENT:
        assert world.parent(fresh) == promoter


def _score(table: Table, board: str, key: str, uid: str, score: int, *, folded_from: str = "") -> None:
    """A promoter's score as the stats worker writes it, in the layout of ``folded_from``."""
    table.write_one(board_write(table.name, board_entry_board(board, key, folded_from), key, uid,
                                changes={board: score}, stored=None))


@pytest.mark.parametrize("folded_from", ["", "2026-12-01"])  # the month's sales board folded, or its own items
def test_a_promoter_with_sales_but_off_the_board_gets_their_rank_within_three_round_trips(
        table: Table, counted: Counted, monkeypatch: pytest.MonkeyPatch, folded_from: str) -> None:
    monkeypatch.setattr(stats_service, "BOARD_SIZE", 2)  # two on the board: the third is off it
    now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    key = period_key("month", "2026-11-20")
    for uid, score in (("u_top", 9_000), ("u_second", 5_000), ("u_third", 1_000), ("u_none", 0)):
        _score(table, "sales", key, uid, score, folded_from=folded_from)
    views: list[Any] = []
    trips = counted.trips(lambda: views.append(stats_service.promoter_leaderboard(
        stats=StatsRepository(counted.table, sales_folded_from=folded_from), board="sales", period="month",
        caller_id="u_third", now=now)))
    # The board; the nicknames, the settings and the caller's own entry in one BatchGetItem; the count above.
    assert trips <= CUSTOMER_ROUTE_TRIPS, counted.sent
    me = views[0].me
    assert [e.rank for e in views[0].entries] == [1, 2] and not any(e.is_me for e in views[0].entries)
    assert (me.rank, me.score_fen, me.beyond_cap) == (3, 1_000, False)


def test_the_admin_refresh_of_a_parcel_that_needs_the_phone_takes_at_most_four_round_trips_of_its_own(
        table: Table) -> None:
    from mall.dal.orders import OrderRepository
    from mall.dal.settings import SettingsRepository
    from mall.dal.tracking import TrackingRepository
    from mall.domain.tracking import Parcel
    from mall.integrations.tracking.kuaidi100 import parse_result
    from mall.services import tracking
    from tests.integration.test_parcel_tracking import NOW, FakeProvider, events
    from tests.unit.test_fulfilment_factory import ADDRESS, put_order

    class PhoneRecorder(FakeProvider):
        def query(self, parcel: Parcel, *, phone: str | None) -> Any:
            self.phones.append(phone)
            return super().query(parcel, phone=phone)

    from mall.domain.settings import DistributionSettings

    SettingsRepository(table).save(DistributionSettings.model_validate({"orders": {"auto_confirm_days": 7}}),
                                   based_on=0, saved_by="admin:test", now=NOW)
    order = put_order(table, status="SHIPPED", shipped_at="2026-11-20T08:00:00Z", carrier="SF", tracking_no="SF77")
    oid = order["order_id"]
    repo, provider = TrackingRepository(table), PhoneRecorder()
    repo.register(oid, Parcel(0, "SF", "SF77"), now=NOW)
    provider.answer = parse_result({"state": "0", "ischeck": "0", "com": "shunfeng", "nu": "SF77",
                                    "data": events((NOW, "运输中"))})
    trips = Trips(table.client)
    view = trips.of(lambda: tracking.refresh_tracking(repo=repo, settings=SettingsRepository(table), provider=provider,
                                                      order_id=oid, now=NOW, orders=OrderRepository(table)))
    assert view.parcels[0].state == "in_transit" and provider.phones == [ADDRESS["phone"]]
    # The order with its address and the view's settings, the parcels, the query's slot, the trail: four,
    # so that the admin's session, read again once a minute per container, still fits the route's five.
    assert len(trips.sent) <= ADMIN_ROUTE_TRIPS - 1, trips.sent
    assert view.auto_confirm is not None and view.auto_confirm.days == 7  # the merchant's, read in the first batch


def test_a_share_claim_refused_in_the_visits_transaction_stores_neither_the_visit_nor_the_binding(
        table: Table) -> None:
    world = World(table)  # first_click: the claim rides in the share visit's transaction
    promoter, code = world.promoter("p")
    tid = template(table, promoter_bound=True, min_spend_fen=0, total_quantity=1)
    repos = CouponRepositories.on(table)
    service.claim(ClaimCoupon(template_id=tid, user_id=world.customer("first"), now=T0, share_code=code), repos=repos)
    late = world.customer("late")
    with pytest.raises(Conflict) as refused:
        service.claim(ClaimCoupon(template_id=tid, user_id=late, now=T0, share_code=code), repos=repos)
    assert refused.value.code == "coupon_sold_out"
    assert world.parent(late) is None and CouponRepository(table).coupons_of(late) == []
    visitors = [v.get("visitor_id") for v in table.query(partition=("pk", f"PVISITS#{promoter}"), limit=10).items]
    assert late not in visitors
