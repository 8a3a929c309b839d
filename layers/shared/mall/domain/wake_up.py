"""Wake-up boosts (沉睡分销员唤醒激励), pure: the rule the owner sets, who sleeps, and the campaign
the daily schedule makes of them (docs/incentives.md, "Wake-up boosts").

A wake-up boost is an ordinary commission campaign (``origin: "wake_up"``, a promoter scope, no
product scope): the commission, the cap check at save, the clamp at compute, the rule snapshot and
the promoter's boosted products treat it like any other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mall.clock import CHINA
from mall.domain.campaigns import Boost, Campaign, CampaignScope

if TYPE_CHECKING:
    from mall.domain.notification_events import Notification
    from mall.domain.notifications import NotificationSettings

#: At most this many promoters in one run's campaign (the scope limit of any campaign request);
#: the others wait for the next day's run.
WAKE_UP_MAX_PROMOTERS = 200
INACTIVE_DAYS_MAX = 90
BOOST_DAYS_MAX = 30
WAKE_UP_ID_PREFIX = "cp_wakeup_"


@dataclass(frozen=True, slots=True)
class WakeUpRule:
    enabled: bool = False
    inactive_days: int = 30
    boost_days: int = 7
    boost: Boost = field(default_factory=lambda: Boost("points", 100, 0))

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "inactive_days": self.inactive_days, "boost_days": self.boost_days,
                "boost": self.boost.as_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> WakeUpRule:
        if not raw:
            return cls()
        return cls(bool(raw.get("enabled")), int(raw.get("inactive_days", 30)), int(raw.get("boost_days", 7)),
                   Boost.from_dict(raw.get("boost") or {}))


@dataclass(frozen=True, slots=True)
class Sleeper:
    """What the selection reads of an active promoter."""

    user_id: str
    activated_at: datetime | None


def run_day(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def wake_up_campaign_id(day: date) -> str:
    """One campaign per China day: overlapping runs of the same day name the same campaign."""
    return f"{WAKE_UP_ID_PREFIX}{day:%Y%m%d}"


def activity_days(rule: WakeUpRule, now: datetime) -> list[str]:
    """The China days whose share visits or attributed paid orders count as activity (today included)."""
    today = run_day(now)
    return [(today - timedelta(days=n)).isoformat() for n in range(rule.inactive_days, -1, -1)]


def boosted_now(campaigns: Iterable[Campaign], now: datetime) -> set[str]:
    """Promoters in a wake-up campaign not yet closed: never woken twice at once."""
    return {pid for c in campaigns if c.origin == "wake_up" and c.closes_at > now for pid in c.scope.promoter_ids}


def boost_of(campaigns: Iterable[Campaign], promoter_id: str, now: datetime) -> Campaign | None:
    """The wake-up campaign in force for ``promoter_id`` now (the latest started), if any: what the
    promoter's own pages show whether or not a subscribe message reached them."""
    mine = [c for c in campaigns if c.origin == "wake_up" and c.in_force(now) and promoter_id in c.scope.promoter_ids]
    return max(mine, key=lambda c: c.starts_at, default=None)


def select_sleepers(candidates: Iterable[Sleeper], *, active_ids: set[str], boosted: set[str], rule: WakeUpRule,
                    now: datetime, limit: int = WAKE_UP_MAX_PROMOTERS) -> list[str]:
    """Active promoters approved at least ``inactive_days`` ago, with no share visit and no paid order
    attributed to them on any of the ``activity_days`` (``active_ids``), not already boosted; at most
    ``limit``, in the order given."""
    cutoff = now - timedelta(days=rule.inactive_days)
    chosen: list[str] = []
    for c in candidates:
        if len(chosen) >= limit:
            break
        if c.activated_at is None or c.activated_at > cutoff:
            continue
        if c.user_id in active_ids or c.user_id in boosted or c.user_id in chosen:
            continue
        chosen.append(c.user_id)
    return chosen


def wake_up_campaign(rule: WakeUpRule, promoter_ids: Iterable[str], now: datetime) -> Campaign:
    day = run_day(now)
    return Campaign(campaign_id=wake_up_campaign_id(day), name=f"沉睡唤醒 {day.isoformat()}", starts_at=now,
                    ends_at=now + timedelta(days=rule.boost_days),
                    scope=CampaignScope(promoter_ids=tuple(promoter_ids)),
                    boost=rule.boost, origin="wake_up", created_at=now, created_by="system")


def probe_campaign(rule: WakeUpRule, now: datetime) -> Campaign:
    """What the cap check at save weighs: a wake-up campaign of several promoters (so both levels of
    a line may be boosted) starting now, over the longest window a campaign of a later run could
    share with the campaigns already saved."""
    return Campaign(campaign_id=f"{WAKE_UP_ID_PREFIX}probe", name="沉睡唤醒", starts_at=now,
                    ends_at=now + timedelta(days=3650), scope=CampaignScope(promoter_ids=("a", "b")),
                    boost=rule.boost, origin="wake_up")


def weighed_at_save(campaigns: Iterable[Campaign], rule: WakeUpRule, now: datetime) -> list[Campaign]:
    """Every campaign a save of rates or campaigns is checked against: those not closed at ``now``
    (current and upcoming) and, while the rule is enabled, the campaigns its later runs will make
    (``probe_campaign``): a rate raised today must leave room for tomorrow's wake-up boost."""
    weighed = [c for c in campaigns if c.closes_at > now]
    return [*weighed, probe_campaign(rule, now)] if rule.enabled else weighed


def wake_up_rule_text(rule: WakeUpRule) -> str:
    """The rule as GET /rules shows it, from the same settings the schedule applies."""
    return (f"连续 {rule.inactive_days} 天没有分享访问、也没有归属于本人的已支付订单的推广员，"
            f"每天上午由系统自动发放唤醒加成：{rule.boost.text()}，有效 {rule.boost_days} 天；"
            "加成期间不重复发放，与其他活动不叠加（按金额最高的一个计算），一级与二级佣金合计不超过佣金上限。"
            "唤醒加成奖励的是销售，与邀请人数无关。"
            "获得加成后，推广员中心显示加成内容和截止时间（北京时间）；已同意订阅的，另收到一条微信订阅消息。")


#: What a wake-up notice names the boost (thing: ≤ 20 characters).
WAKE_UP_NOTICE_TITLE = "沉睡唤醒佣金加成"


def wake_up_notice_event(campaign_id: str, promoter_id: str) -> str:
    """One notice per (campaign, promoter) whatever the number of runs or retries: its dedupe key."""
    return f"{campaign_id}.{promoter_id}"


def wake_up_notices(campaign: Campaign, settings: NotificationSettings, now: datetime) -> list[Notification]:
    """The subscribe message (唤醒加成) each promoter of a wake-up campaign is sent: none until the
    merchant enables the event with a template id. ``time`` is when the boost ends (有效期至)."""
    # Imported here: the campaign book (mall.dal.campaigns) holds the wake-up rule, so every function
    # that reads campaigns imports this module; only the wake-up job sends its notices.
    from mall.domain.notification_events import Notification
    from mall.domain.notifications import NotificationKind
    from mall.domain.subscribe_values import Facts, render

    config = settings.template(NotificationKind.WAKE_UP_BOOST)
    if campaign.origin != "wake_up" or not config.enabled or not config.template_id:
        return []
    facts = Facts(texts={"campaign": WAKE_UP_NOTICE_TITLE, "boost": campaign.boost.text(), "status": "已生效"},
                  moment=campaign.closes_at)
    subject = {"campaign_id": campaign.campaign_id}
    page = config.page.replace("{campaign_id}", campaign.campaign_id) if config.page else None
    data = render(config.fields, facts, now)
    return [Notification(kind=NotificationKind.WAKE_UP_BOOST, event_id=wake_up_notice_event(campaign.campaign_id, pid),
                         recipient_id=pid, template_id=config.template_id, page=page,
                         miniprogram_state=config.miniprogram_state, data=data, subject=subject,
                         long_term=config.long_term)
            for pid in campaign.scope.promoter_ids]
