"""Telling the promoters a wake-up boost chose (唤醒加成), on DynamoDB Local: a subscribe message where
they hold a grant of the template (recorded SENT), SKIPPED (no_grant) otherwise, once per (campaign,
promoter) however often the run repeats, a failed send sent again by the retried run, nothing until
the merchant sets the template; and the promoter's own profile shows the boost in force, China time,
in at most three round trips."""

from __future__ import annotations

import pytest

from mall.clock import utc_now
from mall.dal.notifications import NotificationRepository
from mall.dal.settings import SettingsRepository
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.dal.table import Table
from mall.domain.campaigns import Campaign
from mall.domain.notifications import NotificationSettings
from mall.domain.subscribe_values import format_time
from mall.domain.subscriptions import GrantChange, GrantResult, GrantScene
from mall.domain.tokens import Role, issue_token
from mall.domain.wake_up import wake_up_notice_event
from mall.integrations.wechat import WeChatApiError
from mall.schemas.wake_up import WakeUpRuleRequest
from mall.secrets import get_secret
from mall.services import wake_up as service
from mall.services.campaigns import Actor, CampaignRepositories
from mall.services.notifications import Delivery, DeliveryFailed, MessageSender
from mall.services.wake_up_notices import notify
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.integration.test_payment_snapshot import World
from tests.integration.test_subscription_grants import WeChat
from tests.unit.test_orders_handlers import Mall, make_mall

pytestmark = pytest.mark.integration

NOW = utc_now()  # records expire 90 days after it: DynamoDB Local applies the TTL
TEMPLATE = "tpl_wake_up"


def _boosted(table: Table, *, notice: bool = True) -> tuple[World, str, str, Campaign]:
    """Two promoters approved weeks ago, quiet since: the day's run makes them a wake-up campaign."""
    world = World(table)
    a, _ = world.promoter("a")
    b, _ = world.promoter("b")
    body = WakeUpRuleRequest.model_validate({"enabled": True, "inactive_days": 7, "boost_days": 5,
                                             "boost": {"kind": "points", "l1_points_bp": 200}})
    service.save_rule(CampaignRepositories.on(table), body, Actor("owner", None, NOW))
    if notice:
        repo = SettingsRepository(table)
        current = repo.current(consistent=True)
        notifications = NotificationSettings.model_validate({"wake_up_boost": {"enabled": True,
                                                                               "template_id": TEMPLATE}})
        repo.save(current.settings.model_copy(update={"notifications": notifications}), based_on=current.version,
                  saved_by="test", now=NOW)
    campaign = service.run(service.WakeUpRepositories.on(table), NOW)
    assert campaign is not None and sorted(campaign.scope.promoter_ids) == sorted([a, b])
    return world, a, b, campaign


def _notify(table: Table, wx: WeChat, campaign: Campaign) -> dict[str, str]:
    def sender() -> MessageSender:
        return wx

    deliveries: list[Delivery] = notify(
        campaign, notices=NotificationRepository(table), settings=SettingsRepository(table),
        openid_of=lambda uid: f"openid-{uid}", sender=sender, now=NOW)
    return {d.notification_id.split(".", 1)[1].split("#")[0]: d.outcome for d in deliveries}


def _record(table: Table, campaign: Campaign, uid: str) -> dict[str, object]:
    return NotificationRepository(table).get(f"{wake_up_notice_event(campaign.campaign_id, uid)}#wake_up_boost") or {}


def _grant(table: Table, uid: str) -> None:
    SubscriptionGrantRepository(table).record(uid, [GrantChange(TEMPLATE, 1, None, GrantResult.ACCEPT)],
                                              GrantScene.PROMOTER_CENTER, NOW)


def test_the_granted_promoter_is_told_once_the_other_recorded_skipped(table: Table) -> None:
    _, a, b, campaign = _boosted(table)
    _grant(table, a)
    wx = WeChat()
    assert _notify(table, wx, campaign) == {a: "sent", b: "skipped"}
    sent, skipped = _record(table, campaign, a), _record(table, campaign, b)
    assert sent["status"] == "SENT" and sent["recipient_id"] == a
    assert sent["data"] == {"thing1": "沉睡唤醒佣金加成", "thing2": "一级佣金比例+2%",
                            "time3": format_time(campaign.closes_at)}
    assert (skipped["status"], skipped["reason"]) == ("SKIPPED", "no_grant")

    # The schedule's retry (or an overlapping run) the same day: the same campaign, nothing sent twice.
    again = service.run(service.WakeUpRepositories.on(table), NOW)
    assert again is not None and again.campaign_id == campaign.campaign_id
    assert _notify(table, wx, again) == {a: "duplicate", b: "duplicate"}
    assert wx.sent == [TEMPLATE]
    grant = SubscriptionGrantRepository(table).get(a, TEMPLATE) or {}
    assert (grant["remaining"], grant["used_total"]) == (0, 1)


def test_a_failed_notice_fails_the_run_and_its_retry_sends_it_on_the_same_grant(table: Table) -> None:
    _, a, b, campaign = _boosted(table)
    _grant(table, a)
    wx = WeChat()
    wx.error = WeChatApiError("busy", errcode=-1)
    with pytest.raises(DeliveryFailed):
        _notify(table, wx, campaign)
    assert _record(table, campaign, a)["status"] == "FAILED"
    wx.error = None
    assert _notify(table, wx, campaign) == {a: "sent", b: "duplicate"}
    assert wx.sent == [TEMPLATE] and (SubscriptionGrantRepository(table).get(a, TEMPLATE) or {})["used_total"] == 1


def test_until_the_merchant_sets_the_template_nothing_is_sent_or_recorded(table: Table) -> None:
    _, a, b, campaign = _boosted(table, notice=False)
    _grant(table, a)
    wx = WeChat()
    assert _notify(table, wx, campaign) == {}
    assert wx.sent == [] and _record(table, campaign, a) == {} and _record(table, campaign, b) == {}


@pytest.fixture
def mall(table: Table, monkeypatch: pytest.MonkeyPatch) -> Mall:
    return make_mall(monkeypatch)


def _token(uid: str) -> str:
    return issue_token(uid, frozenset({Role.CUSTOMER, Role.PROMOTER}), key=get_secret("token_signing_key").encode(),
                       now=utc_now(), ttl_seconds=3600)


def test_the_promoter_profile_shows_the_boost_in_force_in_three_round_trips(table: Table, mall: Mall) -> None:
    world, a, _, campaign = _boosted(table, notice=False)  # no subscribe message: the pages still show it
    other, _ = world.promoter("late")  # joined after the run: not in the campaign
    trips = Trips()
    status, profile = trips.of(lambda: call(mall, "promoter_profile", "GET /promoter/profile", token=_token(a)))
    assert status == 200, profile
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    boost = profile["wake_up_boost"]
    assert boost["campaign_id"] == campaign.campaign_id and boost["description"] == "一级佣金比例+2%"
    assert (boost["boost"]["kind"], boost["boost"]["l1_points_bp"]) == ("points", 200)
    assert boost["ends_at_china"] == format_time(campaign.closes_at)
    assert boost["ends_at"].endswith("Z") and boost["ends_at_china"] != boost["ends_at"][:16].replace("T", " ")
    status, theirs = call(mall, "promoter_profile", "GET /promoter/profile", token=_token(other))
    assert status == 200 and theirs["wake_up_boost"] is None, theirs
