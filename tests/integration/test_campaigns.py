"""Commission campaigns on DynamoDB Local: saved or refused by the cap (nothing written), the one in
force at payment recorded on the order's basis and in each record's rule snapshot, targeted rates
only for the chosen promoters, versions, and the round trips of the routes and the payment path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mall.dal.campaigns import CampaignRepository
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commission_rates import RateIndex
from mall.dal.payment_snapshot import PaymentSnapshotStore
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.tokens import Role
from mall.errors import Conflict, InvalidInput
from mall.schemas.campaigns import CampaignRequest
from mall.schemas.settings import SaveSettingsRequest
from mall.services import campaigns as service
from mall.services import settings as settings_service
from mall.services.campaigns import Actor, CampaignRepositories
from mall.services.referral import ReferralRepositories
from mall.services.referral.promoters import SetOverride, set_override
from tests.integration.test_payment_snapshot import T0, World, _chain

pytestmark = pytest.mark.integration




def _request(*, boost: dict[str, Any], scope: dict[str, Any] | None = None, starts: datetime = T0 - timedelta(hours=1),
             ends: datetime = T0 + timedelta(days=1), name: str = "周末双倍") -> CampaignRequest:
    return CampaignRequest.model_validate({"name": name, "starts_at": starts.isoformat(), "ends_at": ends.isoformat(),
                                           "scope": scope or {}, "boost": boost})


def _create(table: Table, body: CampaignRequest, *, now: datetime = T0 - timedelta(hours=2)) -> service.CampaignView:
    return service.create(CampaignRepositories.on(table), body, Actor("owner", "203.0.113.9", now))


def _by_level(world: World, order_id: str) -> dict[int, tuple[str, int, dict[str, Any]]]:
    """The order's one line: per level, who earns, how much and why."""
    return {level: found for (_, level), found in world.records(order_id).items()}


def _trips(ddb_client: Any, work: Callable[[], object]) -> int:
    sent: list[str] = []

    def count(**kwargs: Any) -> None:
        sent.append(str(kwargs.get("event_name", "")))

    ddb_client.meta.events.register("before-send.dynamodb", count, unique_id="campaign-trips")
    try:
        work()
    finally:
        ddb_client.meta.events.unregister("before-send.dynamodb", unique_id="campaign-trips")
    return len(sent)


def test_a_campaign_over_the_cap_is_refused_naming_the_field_and_nothing_is_written(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())  # global 10% / 5%, category 12% / 6%, senior +3% / +1%
    with pytest.raises(InvalidInput) as refused:
        _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 1200}))  # 12+3+12 + 6+1 = 34%
    assert refused.value.code == "commission_over_cap"
    assert [p.field for p in refused.value.fields] == ["boost.l1_points_bp"]
    assert CampaignRepository(world.table).read(consistent=True).version == 0
    with pytest.raises(InvalidInput) as doubled:
        _create(world.table, _request(boost={"kind": "multiplier", "multiplier_percent": 200}))  # 2 × 22% = 44%
    assert [p.field for p in doubled.value.fields] == ["boost.multiplier_percent"]
    saved = _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 300}))
    assert saved.version == 1 and saved.status == "upcoming"  # saved an hour before its start
    assert service.list_campaigns(campaigns=CampaignRepository(world.table), now=T0).items[0].campaign_id == \
        saved.campaign_id


def test_the_campaign_in_force_at_payment_is_recorded_on_the_basis_and_in_each_record(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    a, b, buyer = _chain(world)
    campaign = _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 300, "l2_points_bp": 100}))
    order_id = world.pay(world.place(buyer))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    basis = PaymentSnapshotStore(world.table).get(order_id)
    assert basis is not None and [c.campaign_id for c in basis.campaigns] == [campaign.campaign_id]
    records = _by_level(world, order_id)
    (l1_who, l1_fen, l1_rule), (l2_who, l2_fen, l2_rule) = records[1], records[2]
    assert (l1_who, l1_fen, l2_who, l2_fen) == (b, 1500, a, 700)  # category 12% + 3%, 6% + 1%
    assert l1_rule["campaign"] == {"campaign_id": campaign.campaign_id, "name": "周末双倍", "origin": "merchant",
                                   "boost": {"kind": "points", "l1_points_bp": 300, "l2_points_bp": 100,
                                             "multiplier_percent": 100}}
    assert l1_rule["campaign_bp"] == 300 and l2_rule["campaign_bp"] == 100


def test_a_campaign_ended_between_order_and_payment_does_not_count(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, _, buyer = _chain(world)
    campaign = _create(world.table, _request(boost={"kind": "multiplier", "multiplier_percent": 120}))
    order_id = world.place(buyer)  # placed at T0 while the campaign is in force
    service.end(CampaignRepositories.on(world.table), campaign.campaign_id, 1,
                Actor("owner", None, T0 + timedelta(minutes=1)))
    world.pay(order_id, now=T0 + timedelta(minutes=2))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=3))
    records = _by_level(world, order_id)
    assert records[1][1] == 1200 and "campaign" not in records[1][2]


def test_a_campaign_starting_between_order_and_payment_counts(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    _create(world.table, _request(boost={"kind": "multiplier", "multiplier_percent": 120},
                                  starts=T0 + timedelta(minutes=1)))
    world.pay(order_id, now=T0 + timedelta(minutes=2))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=3))
    records = _by_level(world, order_id)
    assert (records[1][1], records[2][1]) == (1440, 720)  # 12% × 1.2, 6% × 1.2


def test_a_targeted_product_pays_the_chosen_promoter_only(new_table: Callable[[], Table], ddb_client: Any) -> None:
    world = World(new_table())
    a, b, buyer = _chain(world)
    c, code_c = world.promoter("c")
    other_buyer = world.customer("other")
    world.bind(other_buyer, code_c)
    _create(world.table, _request(name="龙井高佣", boost={"kind": "points", "l1_points_bp": 500, "l2_points_bp": 500},
                                  scope={"product_ids": ["p_tea"], "promoter_ids": [b]}))
    chosen, other = world.pay(world.place(buyer)), world.pay(world.place(other_buyer))
    for order_id in (chosen, other):
        world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    mine = _by_level(world, chosen)
    assert (mine[1][0], mine[1][1]) == (b, 1700)  # b chosen: 12% + 5%
    assert (mine[2][0], mine[2][1]) == (a, 600)  # a not chosen: 6%
    assert _by_level(world, other)[1][:2] == (c, 1200)
    promoters, products = PromoterRepository(world.table), ProductRepository(world.table)
    campaigns = CampaignRepository(world.table)

    def boosted(uid: str) -> service.BoostedProducts:
        return service.boosted_for(campaigns=campaigns, promoters=promoters, products=products, user_id=uid, now=T0)

    assert [(i.product_id, i.name, i.description) for i in boosted(b).items] == [
        ("p_tea", "龙井", "一级佣金比例+5%，二级佣金比例+5%")]
    assert boosted(c).items == [] and boosted(a).items == []
    _create(world.table, _request(name="唤醒", boost={"kind": "points", "l1_points_bp": 100},
                                  scope={"promoter_ids": [b, c]}))
    assert [g.scope.promoter_ids for g in boosted(b).general] == [[b]]  # c is not revealed to b
    assert boosted(a).general == []
    assert _trips(ddb_client, lambda: boosted(b)) <= 3


def test_a_stale_version_is_a_conflict_and_an_edit_is_checked_against_the_cap(new_table: Callable[[], Table],
                                                                              ddb_client: Any) -> None:
    world = World(new_table())
    repos = CampaignRepositories.on(world.table)
    created = _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 100}))
    actor = Actor("owner", None, T0)
    edited = service.update(repos, created.campaign_id, _request(boost={"kind": "points", "l1_points_bp": 200}), 1,
                            actor)
    assert edited.version == 2 and edited.boost.l1_points_bp == 200
    with pytest.raises(Conflict) as stale:
        service.end(repos, created.campaign_id, 1, actor)
    assert stale.value.code == "campaign_version_conflict" and stale.value.details == {"current_version": 2}
    with pytest.raises(InvalidInput):
        service.update(repos, created.campaign_id, _request(boost={"kind": "points", "l2_points_bp": 2000}), 2, actor)
    assert CampaignRepository(world.table).read(consistent=True).get(created.campaign_id) is not None
    assert CampaignRepository(world.table).read(consistent=True).campaigns[0].boost.l1_points_bp == 200
    RateIndex(world.table).mark_ready()  # the rate index's migration has run (else the check reads every source)
    assert _trips(ddb_client, lambda: _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 50}))) <= 5


def test_the_payment_path_with_campaigns_stays_within_five_round_trips(new_table: Callable[[], Table],
                                                                       ddb_client: Any) -> None:
    world = World(new_table())
    _chain(world)
    _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 100}))
    tx = world.notification(world.place(world.customer("buyer")))
    assert _trips(ddb_client, lambda: world.apply(tx)) <= 5


def test_lowering_the_cap_under_an_open_campaign_is_refused(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 500}))  # 12+3+5 + 6+1 = 27%
    settings = SettingsRepository(world.table)
    current = settings.current(consistent=True)
    document = current.settings.model_dump(mode="json")
    document["commission"]["cap_bp"] = 2500  # 22% without the campaign: fine alone

    def save(now: datetime) -> int:
        body = SaveSettingsRequest.model_validate({**document, "based_on_version": current.version})
        return settings_service.save(
            versions=settings, categories=CategoryRepository(world.table), products=ProductRepository(world.table),
            promoters=PromoterRepository(world.table), body=body, saved_by="owner", now=now, roles=[Role.OWNER],
            campaigns=CampaignRepository(world.table)).version

    with pytest.raises(InvalidInput) as refused:
        save(T0)
    assert [p.field for p in refused.value.fields] == ["commission.cap_bp"]
    assert settings.current(consistent=True).version == current.version
    assert save(T0 + timedelta(days=2)) == current.version + 1  # once the campaign is over


def test_an_override_that_an_open_campaign_would_take_over_the_cap_is_refused(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, b, _ = _chain(world)
    _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 500}))  # 12+3+5 + 6+1 = 27%

    def override(l1_bp: int, now: datetime) -> None:
        set_override(SetOverride(user_id=b, l1_bp=l1_bp, l2_bp=None, reason="vip", by="owner", now=now),
                     network=ReferralRepositories.on(world.table), categories=CategoryRepository(world.table),
                     products=ProductRepository(world.table), campaigns=CampaignRepository(world.table))

    with pytest.raises(InvalidInput) as refused:
        override(1800, T0)  # 18 + 3 + 6 + 1 = 28% alone; 33% with the campaign
    assert refused.value.code == "override_exceeds_cap"
    assert [p.field for p in refused.value.fields] == ["l1_override_bp"]
    promoter = PromoterRepository(world.table).get(b, consistent=True)
    assert promoter is not None and promoter.l1_override_bp is None
    override(1800, T0 + timedelta(days=2))  # once the campaign is over
