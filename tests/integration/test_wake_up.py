"""Wake-up boosts (沉睡唤醒) on DynamoDB Local: who is found asleep, one campaign per China day
whatever the overlapping runs, the boosted commission and the count of who woke."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mall.clock import china_day
from mall.dal.campaigns import CampaignRepository
from mall.dal.catalog import ProductRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain.campaigns import Campaign
from mall.domain.stats import CounterDelta, Target
from mall.errors import InvalidInput
from mall.schemas.wake_up import WakeUpRuleRequest
from mall.services import wake_up as service
from mall.services.campaigns import Actor, CampaignRepositories, boosted_for
from mall.services.rules import rules_with_campaigns
from tests.integration.test_campaigns import _by_level, _trips
from tests.integration.test_payment_snapshot import PRICE, T0, World, _chain

pytestmark = pytest.mark.integration

RUN = T0 + timedelta(days=40)  # everyone was approved at T0




def _rule(table: Table, **boost: Any) -> service.WakeUpRuleView:
    body = WakeUpRuleRequest.model_validate({"enabled": True, "inactive_days": 30, "boost_days": 7,
                                             "boost": {"kind": "points", **boost}})
    return service.save_rule(CampaignRepositories.on(table), body, Actor("owner", None, RUN - timedelta(days=1)))


def _activity(table: Table, uid: str, at: datetime, **fields: int) -> None:
    delta = CounterDelta(Target("promoter", china_day(at), uid), tuple(fields.items()))
    StatsRepository(table).apply(f"seed-{uid}-{at.isoformat()}", [delta], now=at)


def _parallel_runs(table: Table, now: datetime) -> list[Campaign | None]:
    found: list[Campaign | None] = [None, None]
    barrier = threading.Barrier(2)

    def one(slot: int) -> None:
        barrier.wait()
        found[slot] = service.run(service.WakeUpRepositories.on(table), now)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return found


def test_a_boost_that_could_pass_the_cap_is_refused_at_save(new_table: Callable[[], Table]) -> None:
    world = World(new_table())  # category 12% / 6%, senior +3% / +1%
    with pytest.raises(InvalidInput) as refused:
        _rule(world.table, l1_points_bp=1200)
    assert refused.value.code == "commission_over_cap"
    assert [p.field for p in refused.value.fields] == ["boost.l1_points_bp"]
    assert CampaignRepository(world.table).read(consistent=True).wake_up.enabled is False


def test_sleepers_get_one_campaign_per_day_the_active_are_left_out_and_the_woke_are_counted(
        new_table: Callable[[], Table], ddb_client: Any) -> None:
    world = World(new_table())
    a, b, buyer = _chain(world)
    c, _ = world.promoter("c")
    d, _ = world.promoter("d")
    _rule(world.table, l1_points_bp=200, l2_points_bp=100)
    _activity(world.table, c, RUN - timedelta(days=5), share_visits=1)  # c shared lately: awake
    _activity(world.table, d, RUN - timedelta(days=31), share_visits=4)  # d's last share is too old

    first, second = _parallel_runs(world.table, RUN)
    assert first is not None and second is not None and first.campaign_id == second.campaign_id
    book = CampaignRepository(world.table).read(consistent=True)
    wake = [x for x in book.campaigns if x.origin == "wake_up"]
    assert len(wake) == 1 and sorted(wake[0].scope.promoter_ids) == sorted([a, b, d])
    assert wake[0].starts_at == RUN and wake[0].ends_at == RUN + timedelta(days=7)
    # The next morning: all of them are still boosted, nobody new sleeps.
    assert service.run(service.WakeUpRepositories.on(world.table), RUN + timedelta(days=1)) is None
    assert len([x for x in CampaignRepository(world.table).read(consistent=True).campaigns
                if x.origin == "wake_up"]) == 1

    # What tells them: their boosted products list the wake-up campaign, naming only the caller.
    mine = boosted_for(campaigns=CampaignRepository(world.table), promoters=PromoterRepository(world.table),
                       products=ProductRepository(world.table), user_id=d, now=RUN)
    assert [(g.campaign_id, g.origin, g.scope.promoter_ids) for g in mine.general] == [
        (wake[0].campaign_id, "wake_up", [d])]

    paid_at = RUN + timedelta(hours=2)
    order_id = world.pay(world.place(buyer), now=paid_at)
    world.commission_worker(order_id, now=paid_at + timedelta(minutes=1))
    records = _by_level(world, order_id)
    (l1_who, l1_fen, l1_rule), (l2_who, l2_fen, _) = records[1], records[2]
    assert (l1_who, l1_fen, l2_who, l2_fen) == (b, 1400, a, 700)  # 12% + 2%, 6% + 1%
    assert l1_rule["campaign"]["campaign_id"] == wake[0].campaign_id and l1_rule["campaign"]["origin"] == "wake_up"
    cap = SettingsRepository(world.table).current().settings.commission.cap_bp
    assert l1_fen + l2_fen <= PRICE * cap // 10_000

    _activity(world.table, b, paid_at, sales_orders=1)  # what the stats worker counts of that order
    _activity(world.table, d, RUN + timedelta(days=2), share_visits=1)
    repo = CampaignRepository(world.table)
    stats = StatsRepository(world.table)
    count = service.woke(campaigns=repo, stats=stats, campaign_id=wake[0].campaign_id, now=RUN + timedelta(days=3))
    assert (count.targeted, count.woke, count.with_share_visit, count.with_paid_order) == (3, 2, 1, 1)
    assert _trips(ddb_client, lambda: service.woke(campaigns=repo, stats=stats, campaign_id=wake[0].campaign_id,
                                                   now=RUN + timedelta(days=3))) <= 5

    rules, _ = rules_with_campaigns(settings=SettingsRepository(world.table), campaigns=repo, now=RUN)
    texts = {i.key: i.text for s in rules.sections for i in s.items}
    assert "连续 30 天" in texts["wake_up_rule"] and "有效 7 天" in texts["wake_up_rule"]
