"""Wake-up notices and the boost a promoter's pages show, pure: one notice per promoter of a wake-up
campaign keyed by (campaign, promoter), none until the template is set, the values within WeChat's
limits; the boost in force is the latest started wake-up campaign that takes the promoter in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mall.domain.campaigns import Boost
from mall.domain.notifications import NotificationKind, NotificationSettings
from mall.domain.rules_disclosure_optional import notifications_section
from mall.domain.settings import DistributionSettings
from mall.domain.wake_up import WakeUpRule, boost_of, wake_up_campaign, wake_up_notices, wake_up_rule_text

NOW = datetime(2026, 12, 6, 1, tzinfo=UTC)  # 09:00 China time
RULE = WakeUpRule(enabled=True, inactive_days=30, boost_days=7, boost=Boost("multiplier", 0, 0, 150))
ENABLED = NotificationSettings.model_validate({"wake_up_boost": {"enabled": True, "template_id": "tpl_w"}})


def test_each_promoter_gets_one_notice_keyed_by_the_campaign_and_them() -> None:
    campaign = wake_up_campaign(RULE, ["u_a", "u_b"], NOW)
    notices = wake_up_notices(campaign, ENABLED, NOW)
    assert [(n.recipient_id, n.notification_id) for n in notices] == [
        ("u_a", "cp_wakeup_20261206.u_a#wake_up_boost"), ("u_b", "cp_wakeup_20261206.u_b#wake_up_boost")]
    assert all(n.kind == NotificationKind.WAKE_UP_BOOST and n.template_id == "tpl_w" for n in notices)
    assert notices[0].data == {"thing1": "沉睡唤醒佣金加成", "thing2": "佣金比例×1.5", "time3": "2026-12-13 09:00"}
    assert notices[0].page == "pages/promoter/index"


def test_nothing_until_the_template_is_set_and_nothing_for_a_merchant_campaign() -> None:
    campaign = wake_up_campaign(RULE, ["u_a"], NOW)
    assert wake_up_notices(campaign, NotificationSettings(), NOW) == []
    assert wake_up_notices(replace(campaign, origin="merchant"), ENABLED, NOW) == []


def test_the_boost_in_force_is_the_latest_started_that_takes_the_promoter_in() -> None:
    first = wake_up_campaign(RULE, ["u_a"], NOW)
    second = replace(wake_up_campaign(RULE, ["u_a", "u_b"], NOW + timedelta(days=2)), campaign_id="cp_wakeup_later")
    ended = replace(wake_up_campaign(RULE, ["u_c"], NOW), ended_at=NOW + timedelta(hours=1))
    merchant = replace(wake_up_campaign(RULE, ["u_d"], NOW), origin="merchant")
    campaigns = [first, second, ended, merchant]
    at = NOW + timedelta(days=3)
    assert boost_of(campaigns, "u_a", at) is second
    assert boost_of(campaigns, "u_b", NOW + timedelta(days=1)) is None  # not started yet
    assert boost_of(campaigns, "u_c", at) is None and boost_of(campaigns, "u_d", at) is None
    assert boost_of(campaigns, "u_a", NOW + timedelta(days=10)) is None  # both over


def test_get_rules_tells_promoters_the_notice_exists_once_enabled_and_where_the_boost_shows() -> None:
    section = notifications_section(DistributionSettings(notifications=ENABLED))
    assert section is not None and [i.key for i in section.items] == ["event.wake_up_boost"]
    assert notifications_section(DistributionSettings()) is None
    assert "推广员中心显示加成内容和截止时间" in wake_up_rule_text(RULE)
