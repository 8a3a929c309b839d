"""Request and response models of wake-up boosts (沉睡分销员唤醒激励)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.clock import iso
from mall.domain.campaigns import Campaign
from mall.domain.subscribe_values import format_time
from mall.domain.wake_up import BOOST_DAYS_MAX, INACTIVE_DAYS_MAX, WAKE_UP_MAX_PROMOTERS, WakeUpRule
from mall.schemas.campaigns import BoostRequest, BoostView

_BOOST: JsonDict = {"kind": "points", "l1_points_bp": 200, "l2_points_bp": 0, "multiplier_percent": 100}


class WakeUpRuleRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", json_schema_extra={"examples": [
        {"enabled": True, "inactive_days": 30, "boost_days": 7, "boost": _BOOST}]})

    enabled: bool
    inactive_days: int = Field(ge=1, le=INACTIVE_DAYS_MAX,
                               description="no share visit and no attributed paid order for this many China days")
    boost_days: int = Field(ge=1, le=BOOST_DAYS_MAX, description="how long each wake-up campaign runs")
    boost: BoostRequest

    def rule(self) -> WakeUpRule:
        return WakeUpRule(self.enabled, self.inactive_days, self.boost_days, self.boost.boost())


class WakeUpRuleView(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"enabled": True, "inactive_days": 30, "boost_days": 7, "boost": _BOOST, "max_promoters_per_run": 200,
         "version": 4}]})

    enabled: bool
    inactive_days: int
    boost_days: int
    boost: BoostView
    max_promoters_per_run: int = Field(description="promoters one day's wake-up campaign takes at most")
    version: int = Field(description="the book of campaigns' version")

    @classmethod
    def of(cls, rule: WakeUpRule, version: int) -> WakeUpRuleView:
        return cls.model_validate({**rule.as_dict(), "max_promoters_per_run": WAKE_UP_MAX_PROMOTERS,
                                   "version": version})


class WokeCount(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"campaign_id": "cp_wakeup_20261206", "starts_at": "2026-12-06T01:00:00Z", "ends_at": "2026-12-13T01:00:00Z",
         "targeted": 40, "woke": 9, "with_share_visit": 8, "with_paid_order": 3, "as_of": "2026-12-08T02:00:00Z"}]})

    campaign_id: str
    starts_at: str
    ends_at: str
    targeted: int = Field(description="promoters in the campaign's scope")
    woke: int = Field(description="of them, those with a share visit or a paid order since the China day it started")
    with_share_visit: int
    with_paid_order: int
    as_of: str


class PromoterWakeUpBoost(BaseModel):
    """The wake-up boost (沉睡唤醒加成) in force for the caller, as the promoter pages show it."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"campaign_id": "cp_wakeup_20261206", "boost": _BOOST, "description": "一级佣金比例+2%",
         "starts_at": "2026-12-06T01:00:00Z", "ends_at": "2026-12-13T01:00:00Z", "ends_at_china": "2026-12-13 09:00"}]})

    campaign_id: str
    boost: BoostView
    description: str = Field(description="the boost in words (as GET /rules shows it)")
    starts_at: str = Field(description="ISO-8601 UTC")
    ends_at: str = Field(description="ISO-8601 UTC")
    ends_at_china: str = Field(description="when it ends, China time (YYYY-MM-DD HH:MM), to show as it is")

    @classmethod
    def of(cls, campaign: Campaign) -> PromoterWakeUpBoost:
        return cls(campaign_id=campaign.campaign_id, boost=BoostView.model_validate(campaign.boost.as_dict()),
                   description=campaign.boost.text(), starts_at=iso(campaign.starts_at),
                   ends_at=iso(campaign.closes_at), ends_at_china=format_time(campaign.closes_at))
