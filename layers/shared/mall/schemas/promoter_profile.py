"""What a promoter sees about themself (GET /promoter/profile) and what accepting the agreement takes (POST
/promoter/agreement): a module of its own, so that the other promoter and team models (``mall.schemas.referral``)
do not bring the wake-up boost's and the campaigns' models with them, nor the profile's function those models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.schemas.common import ApiModel
from mall.schemas.wake_up import PromoterWakeUpBoost

__all__ = ["AgreementAcceptRequest", "LevelView", "PromoterProfile", "RequirementView"]


class LevelView(BaseModel):
    id: str
    name: str
    l1_points_bp: int
    l2_points_bp: int


class RequirementView(BaseModel):
    name: Literal["direct_members", "own_sales_fen", "team_sales_fen"]
    required: int
    current: int
    met: bool


class PromoterProfile(BaseModel):
    """What a promoter sees about themself."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "JXZtwULX", "share_link": "pages/index/index?scene=JXZtwULX", "status": "active", "title": "推广员",
        "nickname": "茶香小筑", "level": {"id": "silver", "name": "银牌", "l1_points_bp": 100, "l2_points_bp": 50},
        "next_level": {"id": "gold", "name": "金牌", "l1_points_bp": 200, "l2_points_bp": 100},
        "progress": [{"name": "own_sales_fen", "required": 300000, "current": 128600, "met": False},
                     {"name": "team_sales_fen", "required": 1000000, "current": 356400, "met": False}],
        "direct_members": 7, "second_level_members": 12, "own_sales_fen": 128600, "team_sales_fen": 356400,
        "joined_at": "2026-10-12T03:20:11Z", "agreement_pending": False, "rules_version_to_accept": None,
        "wake_up_boost": {"campaign_id": "cp_wakeup_20261206", "boost": {
            "kind": "points", "l1_points_bp": 200, "l2_points_bp": 0, "multiplier_percent": 100},
            "description": "一级佣金比例+2%", "starts_at": "2026-12-06T01:00:00Z", "ends_at": "2026-12-13T01:00:00Z",
            "ends_at_china": "2026-12-13 09:00"}}]})

    code: str = Field(description="empty while `agreement_pending`")
    share_link: str = Field(description="empty while `agreement_pending`")
    status: str
    title: str = Field(description="the merchant's name for promoters (推广员, 推客, ...)")
    nickname: str | None = None
    level: LevelView
    next_level: LevelView | None = None
    progress: list[RequirementView] = Field(description="the next level's conditions and where they stand")
    direct_members: int
    second_level_members: int
    own_sales_fen: int
    team_sales_fen: int
    joined_at: str | None = None
    agreement_pending: bool = Field(default=False, description="the merchant made you a promoter: accept the "
                                                               "promoter agreement (GET /rules, then POST "
                                                               "/promoter/agreement) before any promoter page")
    rules_version_to_accept: int | None = Field(default=None, description="while `agreement_pending`: the rules "
                                                                          "version in force, to show and accept")
    wake_up_boost: PromoterWakeUpBoost | None = Field(
        default=None, description="the wake-up boost (沉睡唤醒加成) in force for you, if any: show it in the promoter "
                                  "pages whether or not a subscribe message told you")


class AgreementAcceptRequest(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"rules_version": 5}]})

    rules_version: Annotated[int, Field(ge=0, description="the version of GET /rules you showed and accepted")]
