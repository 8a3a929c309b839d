"""Request and response models of commission campaigns (佣金活动) and the promoter's boosted products."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from mall.clock import CHINA
from mall.domain.campaigns import MULTIPLIER_MAX_PERCENT, Boost, Campaign, CampaignScope
from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP

_EARLIEST, _LATEST = datetime(2000, 1, 1), datetime(2200, 1, 1)
Ids = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=200)]

_SCOPE: JsonDict = {"product_ids": ["p_01m4cmckqvx119jymzac3w"], "category_ids": [],
                    "promoter_ids": [], "level_ids": ["senior"], "new_promoter_days": None}
_BOOST: JsonDict = {"kind": "points", "l1_points_bp": 300, "l2_points_bp": 0, "multiplier_percent": 100}
_REQUEST: JsonDict = {"name": "周末双倍", "starts_at": "2026-12-12T00:00:00", "ends_at": "2027-01-01T00:00:00",
                      "weekdays": [6, 7], "scope": _SCOPE, "boost": _BOOST}
_VIEW: JsonDict = {"campaign_id": "cp_01m6a0weekend", "name": "周末双倍", "starts_at": "2026-12-11T16:00:00Z",
                   "ends_at": "2026-12-31T16:00:00Z", "weekdays": [6, 7], "scope": _SCOPE, "boost": _BOOST,
                   "ended_at": None, "origin": "merchant", "version": 1, "status": "upcoming",
                   "created_at": "2026-12-06T09:00:00Z", "created_by": "u_owner", "description": "一级佣金比例+3%"}


class ScopeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_ids: Ids = Field(default_factory=list, description="empty: every product")
    category_ids: Ids = Field(default_factory=list, description="empty: every category")
    promoter_ids: Ids = Field(default_factory=list, description="empty: every promoter")
    level_ids: Ids = Field(default_factory=list, description="empty: every level")
    new_promoter_days: int | None = Field(default=None, ge=1, le=365,
                                          description="only promoters approved less than this many days before payment")

    def scope(self) -> CampaignScope:
        return CampaignScope(tuple(dict.fromkeys(self.product_ids)), tuple(dict.fromkeys(self.category_ids)),
                             tuple(dict.fromkeys(self.promoter_ids)), tuple(dict.fromkeys(self.level_ids)),
                             self.new_promoter_days)


class BoostRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["points", "multiplier"]
    l1_points_bp: int = Field(default=0, ge=0, le=COMMISSION_CAP_LIMIT_BP, description="points: bp added to L1")
    l2_points_bp: int = Field(default=0, ge=0, le=COMMISSION_CAP_LIMIT_BP, description="points: bp added to L2")
    multiplier_percent: int = Field(default=100, ge=100, le=MULTIPLIER_MAX_PERCENT,
                                    description="multiplier: percent of the resolved rate, applied once (200 = ×2)")

    def boost(self) -> Boost:
        return Boost(self.kind, self.l1_points_bp, self.l2_points_bp, self.multiplier_percent)


class CampaignRequest(BaseModel):
    """A campaign. Times without an offset are China time (UTC+8)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [_REQUEST]})

    name: str = Field(min_length=1, max_length=40)
    starts_at: datetime
    ends_at: datetime
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=list, max_length=7, description="China weekdays (1 = Monday … 7 = Sunday); empty: every day")
    scope: ScopeRequest = Field(default_factory=ScopeRequest)
    boost: BoostRequest

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        # Far-off years would overflow when moved between time zones; no campaign needs them.
        if not _EARLIEST.year <= value.year <= _LATEST.year:
            raise ValueError(f"must be between {_EARLIEST.year} and {_LATEST.year}")
        return value

    def window(self) -> tuple[datetime, datetime]:
        return tuple(t if t.tzinfo is not None else t.replace(tzinfo=CHINA)  # type: ignore[return-value]
                     for t in (self.starts_at, self.ends_at))


class UpdateCampaignRequest(CampaignRequest):
    model_config = ConfigDict(defer_build=True, extra="forbid", str_strip_whitespace=True,
                              json_schema_extra={"examples": [{**_REQUEST, "version": 1}]})

    version: int = Field(ge=1, description="the version edited (409 when someone saved since)")


class EndCampaignRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", json_schema_extra={"examples": [{"version": 2}]})

    version: int = Field(ge=1, description="the version ended (409 when someone saved since)")


class ScopeView(BaseModel):
    product_ids: list[str]
    category_ids: list[str]
    promoter_ids: list[str]
    level_ids: list[str]
    new_promoter_days: int | None


class BoostView(BaseModel):
    kind: Literal["points", "multiplier"]
    l1_points_bp: int
    l2_points_bp: int
    multiplier_percent: int


class CampaignView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_VIEW]})

    campaign_id: str
    name: str
    starts_at: str
    ends_at: str
    weekdays: list[int]
    scope: ScopeView
    boost: BoostView
    ended_at: str | None
    origin: Literal["merchant", "wake_up"]
    version: int
    status: Literal["upcoming", "active", "ended"]
    created_at: str | None
    created_by: str | None
    description: str = Field(description="the boost in words (as GET /rules shows it)")

    @classmethod
    def of(cls, campaign: Campaign, now: datetime) -> CampaignView:
        raw = campaign.as_dict()
        status = "ended" if campaign.closes_at <= now else "active" if campaign.starts_at <= now else "upcoming"
        return cls.model_validate({**raw, "status": status, "description": campaign.boost.text()})


class CampaignList(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"items": [_VIEW], "version": 3}]})

    items: list[CampaignView]
    version: int = Field(description="the book of campaigns' version")


class BoostedProduct(BaseModel):
    product_id: str
    name: str
    campaign_id: str
    campaign_name: str
    description: str
    ends_at: str


class BoostedProducts(BaseModel):
    """The products some campaign in force (or starting later) boosts for the caller only or for a
    scope they are in; campaigns without a product scope apply to every product and are listed in
    ``general``."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{
        "items": [{"product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g", "campaign_id": "cp_01m6a0tea",
                   "campaign_name": "龙井高佣", "description": "一级佣金比例+3%", "ends_at": "2026-12-31T16:00:00Z"}],
        "general": [_VIEW]}]})

    items: list[BoostedProduct]
    general: list[CampaignView]
