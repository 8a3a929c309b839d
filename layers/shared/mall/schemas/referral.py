"""Request and response models of the referral routes (promoters, binding, team)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from mall.schemas.binding import (
    BINDING_EXAMPLE,
    BindingHistoryEntry,
    BindingView,
    BindRequestBody,
    BindResult,
    PromoterCode,
    VisitRequest,
    VisitResult,
)
from mall.schemas.common import ApiModel

Reason = Annotated[str, Field(min_length=1, max_length=200)]

# The binding and visit models live in mall.schemas.binding (light, for the customer routes) and are
# importable from here too.
__all__ = ["AdminBindingRequest", "AdminTeamMember", "AdminTeamPage", "AdminUnbindRequest",
           "ApplyRequest", "BindRequestBody", "BindResult", "BindingHistoryEntry", "BindingView", "CustomerBinding",
           "LevelChangeRequest", "OverrideRequest", "PromoterAdminView", "PromoterCode", "PromoterDetail",
           "PromoterHistoryEntry", "PromoterList", "PromoterListItem", "PromoterListPage", "Reason",
           "StatusChangeRequest", "TeamMember", "TeamPage", "VisitRequest", "VisitResult"]

# Examples (json_schema_extra): a silver promoter, their customer and an applicant, as the API answers.
_PROMOTER: JsonDict = {
    "user_id": "u_36botxbbbigbhenhtgo542dk", "code": "JXZtwULX", "share_link": "pages/index/index?scene=JXZtwULX",
    "status": "active", "level_id": "silver", "l1_override_bp": None, "l2_override_bp": None, "nickname": "茶香小筑",
    "applied_at": "2026-10-12T03:20:11Z", "activated_at": "2026-10-12T05:02:47Z", "accepted_rules_version": 5,
    "accepted_rules_at": "2026-10-12T03:20:11Z", "direct_members": 7, "second_level_members": 12,
    "own_sales_fen": 128600, "team_sales_fen": 356400, "last_active_at": "2026-11-19T13:05:40Z", "reason": None,
    "version": 6, "agreement_pending": False}
_APPLICANT: JsonDict = {
    "user_id": "u_yddqmfnx75j6mtsccnsr4l4d", "code": "Rk4TnW7e", "share_link": "pages/index/index?scene=Rk4TnW7e",
    "status": "applied", "level_id": "basic", "l1_override_bp": None, "l2_override_bp": None, "nickname": "阿青的茶",
    "applied_at": "2026-11-19T02:11:05Z", "activated_at": None, "accepted_rules_version": 5,
    "accepted_rules_at": "2026-11-19T02:11:05Z", "direct_members": 0, "second_level_members": 0, "own_sales_fen": 0,
    "team_sales_fen": 0, "last_active_at": None, "reason": None, "version": 1,
    "agreement_pending": False}



class ApplyRequest(ApiModel):
    """申请成为推广员."""

    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"rules_version": 5, "nickname": "茶香小筑"}]})

    rules_version: Annotated[int | None, Field(
        ge=0, description="the `version` of `GET /rules` the applicant was shown and accepted; the mini-program "
                          "must show GET /rules first. A version that is no longer current → 409 `rules_changed` "
                          "(show the rules again). Omitted: the current version is recorded as accepted")] = None
    accepted_rules_version: Annotated[int | None, Field(ge=0, description="the former name of `rules_version` "
                                                                          "(still accepted)")] = None
    nickname: Annotated[str | None, Field(min_length=1, max_length=20,
                                          description="the name shown to their team (banned phrases refused)")] = None

    @model_validator(mode="after")
    def _one_version(self) -> ApplyRequest:
        if (self.rules_version is not None and self.accepted_rules_version is not None
                and self.rules_version != self.accepted_rules_version):
            raise ValueError("rules_version and accepted_rules_version differ; send rules_version only")
        return self

    @property
    def accepted_version(self) -> int | None:
        return self.rules_version if self.rules_version is not None else self.accepted_rules_version


class PromoterAdminView(BaseModel):
    """A promoter as the admin (and the promoter themself, after applying) sees them."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROMOTER]})

    user_id: str
    code: str
    share_link: str = Field(description="the mini-program page with `scene=<code>`")
    status: Literal["applied", "active", "frozen", "disabled", "rejected"]
    level_id: str
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    nickname: str | None = None
    applied_at: str | None = None
    activated_at: str | None = None
    accepted_rules_version: int
    accepted_rules_at: str | None = None
    direct_members: int
    second_level_members: int
    own_sales_fen: int
    team_sales_fen: int
    last_active_at: str | None = None
    reason: str | None = Field(default=None, description="the reason of the last reject / freeze / disable")
    version: int
    agreement_pending: bool = Field(default=False, description="made a promoter by the merchant and the promoter "
                                                               "agreement not accepted yet: no promoter route "
                                                               "until they accept it")


class PromoterList(BaseModel):
    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"items": [_APPLICANT], "next_cursor": None}]})

    items: list[PromoterAdminView]
    next_cursor: str | None = None


class StatusChangeRequest(ApiModel):
    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"reason": "朋友圈海报夸大收益, 核实前暂停"}]})

    reason: Reason | None = Field(default=None, description="required to reject, freeze and disable")


class OverrideRequest(ApiModel):
    """Per-promoter rates (专属佣金比例); both null clears the override."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"l1_override_bp": 1500, "l2_override_bp": 500, "reason": "合作茶馆店长, 线下渠道专属比例"}]})

    l1_override_bp: Annotated[int | None, Field(ge=0, le=3000)] = None
    l2_override_bp: Annotated[int | None, Field(ge=0, le=3000)] = None
    reason: Reason | None = None


class LevelChangeRequest(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"level_id": "gold", "reason": "双十一团购活动业绩突出"}]})

    level_id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    reason: Reason


class PromoterHistoryEntry(BaseModel):
    action: str
    from_status: str | None = None
    to_status: str | None = None
    from_level: str | None = None
    to_level: str | None = None
    by: str
    reason: str | None = None
    at: str


class PromoterDetail(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"promoter": _PROMOTER, "history": [
        {"action": "upgrade", "from_status": "active", "to_status": "active", "from_level": "basic",
         "to_level": "silver", "by": "system", "reason": "upgrade conditions met", "at": "2026-11-07T09:12:31Z"},
        {"action": "approve", "from_status": "applied", "to_status": "active", "from_level": None, "to_level": None,
         "by": "admin:li.na", "reason": None, "at": "2026-10-12T05:02:47Z"},
        {"action": "apply", "from_status": None, "to_status": "applied", "from_level": None, "to_level": None,
         "by": "u_36botxbbbigbhenhtgo542dk", "reason": None, "at": "2026-10-12T03:20:11Z"}],
        "phone": "138****1234"}]})

    promoter: PromoterAdminView
    history: list[PromoterHistoryEntry]
    phone: str | None = Field(default=None, description="the promoter's bound phone, masked (138****1234); "
                                                        "null when none is bound")


class TeamMember(BaseModel):
    nickname: str = Field(description="masked (微**友)")
    joined_at: str = Field(description="when they were bound (ISO-8601 UTC)")
    sales_fen: int = Field(description="paid amount of their orders while bound to their current parent")
    depth: Literal[1, 2]
    via: str | None = Field(default=None, description="level 2: the masked nickname of their parent")


class TeamPage(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"depth": 1, "items": [
        {"nickname": "王**芳", "joined_at": "2026-10-20T11:42:05Z", "sales_fen": 41400, "depth": 1, "via": None},
        {"nickname": "微信用户", "joined_at": "2026-11-02T10:05:44Z", "sales_fen": 0, "depth": 1, "via": None}],
        "next_cursor": None}]})

    depth: Literal[1, 2]
    items: list[TeamMember]
    next_cursor: str | None = None


class AdminTeamMember(TeamMember):
    """A team member as an admin sees them: user ids for looking them up; nicknames stay masked."""

    user_id: str
    via_user_id: str | None = Field(default=None, description="level 2: the user id of their parent")


class AdminTeamPage(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{"depth": 2, "items": [
        {"user_id": "u_yddqmfnx75j6mtsccnsr4l4d", "nickname": "李**", "joined_at": "2026-11-03T08:15:27Z",
         "sales_fen": 25800, "depth": 2, "via": "王**芳", "via_user_id": "u_xpdiqcabym5dbw2glo3wnz2l"}],
        "next_cursor": None}]})

    depth: Literal[1, 2]
    items: list[AdminTeamMember]
    next_cursor: str | None = None


class AdminBindingRequest(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"promoter_code": "JXZtwULX", "reason": "客户来电说明由该推广员线下介绍, 补绑"}]})

    promoter_code: PromoterCode
    reason: Reason


class AdminUnbindRequest(ApiModel):
    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"reason": "客户投诉被误绑, 核实后解绑"}]})

    reason: Reason


class CustomerBinding(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{
        "customer_id": "u_xpdiqcabym5dbw2glo3wnz2l", "binding": BINDING_EXAMPLE, "history": [
            {"action": "bind", "from_parent": None, "to_parent": "u_36botxbbbigbhenhtgo542dk", "source": "link",
             "trigger": "visit", "promoter_code": "JXZtwULX", "reason": None, "by": "u_xpdiqcabym5dbw2glo3wnz2l",
             "at": "2026-10-20T11:42:05Z"}]}]})

    customer_id: str
    binding: BindingView | None = None
    history: list[BindingHistoryEntry]


class PromoterListItem(PromoterAdminView):
    """A row of the merchant's promoter list: the promoter with their figures."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_PROMOTER, "phone_masked": "138****1234", "commission_total_fen": 268400, "commission_month_fen": 41200,
        "team_size": 23}]})

    phone_masked: str | None = Field(default=None, description="the customer's bound phone, masked")
    commission_total_fen: int = Field(description="累计佣金: frozen + available + withdrawing + withdrawn − owed")
    commission_month_fen: int = Field(description="本月佣金: commission created this China month, current value")
    team_size: int = Field(description="level-1 + level-2 members")


class PromoterListPage(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{
        "items": [{**_PROMOTER, "phone_masked": "138****1234", "commission_total_fen": 268400,
                   "commission_month_fen": 41200, "team_size": 23}], "next_cursor": None, "truncated": False}]})

    items: list[PromoterListItem]
    next_cursor: str | None = None
    truncated: bool = Field(default=False, description="a sorted list read its ceiling (2,000) of promoters")
