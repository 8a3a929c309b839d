"""The wake-up selection rule (沉睡唤醒), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mall.domain.campaigns import Boost, Campaign, CampaignScope
from mall.domain.wake_up import (
    Sleeper,
    WakeUpRule,
    activity_days,
    boosted_now,
    run_day,
    select_sleepers,
    wake_up_campaign,
    wake_up_campaign_id,
)

NOW = datetime(2026, 12, 6, 1, tzinfo=UTC)  # 09:00 in China
RULE = WakeUpRule(enabled=True, inactive_days=30, boost_days=7, boost=Boost("points", 200, 0))
OLD = NOW - timedelta(days=100)


def _wake(ids: tuple[str, ...], *, starts: datetime, days: int = 7, origin: str = "wake_up") -> Campaign:
    return Campaign(campaign_id=f"cp_{starts:%m%d}", name="x", starts_at=starts, ends_at=starts + timedelta(days=days),
                    scope=CampaignScope(promoter_ids=ids), boost=Boost("points", 100), origin=origin)  # type: ignore[arg-type]


def test_only_long_standing_promoters_without_activity_or_a_running_boost_are_chosen() -> None:
    candidates = [Sleeper("new", NOW - timedelta(days=29)), Sleeper("never", None), Sleeper("busy", OLD),
                  Sleeper("boosted", OLD), Sleeper("asleep", OLD), Sleeper("edge", NOW - timedelta(days=30))]
    chosen = select_sleepers(candidates, active_ids={"busy"}, boosted={"boosted"}, rule=RULE, now=NOW)
    assert chosen == ["asleep", "edge"]


def test_the_scope_is_bounded() -> None:
    candidates = [Sleeper(f"p{n:03d}", OLD) for n in range(250)]
    chosen = select_sleepers(candidates, active_ids=set(), boosted=set(), rule=RULE, now=NOW)
    assert len(chosen) == 200 and chosen[0] == "p000"
    assert len(select_sleepers(candidates, active_ids=set(), boosted=set(), rule=RULE, now=NOW, limit=3)) == 3


def test_running_or_upcoming_wake_up_campaigns_exclude_their_promoters_merchant_ones_do_not() -> None:
    campaigns = [_wake(("a",), starts=NOW - timedelta(days=3)), _wake(("b",), starts=NOW - timedelta(days=8)),
                 _wake(("c",), starts=NOW - timedelta(days=1), origin="merchant")]
    assert boosted_now(campaigns, NOW) == {"a"}


def test_one_campaign_id_per_china_day_and_the_activity_window() -> None:
    late_utc = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)  # already 12-06 in China
    assert wake_up_campaign_id(run_day(late_utc)) == wake_up_campaign_id(run_day(NOW)) == "cp_wakeup_20261206"
    assert wake_up_campaign_id(run_day(NOW + timedelta(days=1))) != "cp_wakeup_20261206"
    days = activity_days(RULE, NOW)
    assert len(days) == 31 and days[0] == "2026-11-06" and days[-1] == "2026-12-06"
    campaign = wake_up_campaign(RULE, ["x", "y"], NOW)
    assert (campaign.origin, campaign.scope.promoter_ids, campaign.scope.product_ids) == ("wake_up", ("x", "y"), ())
    assert campaign.ends_at - campaign.starts_at == timedelta(days=7)
