"""Request and response models of the referral routes (promoters, binding, team)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from mall.schemas.common import ApiModel

PromoterCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$",
                                    description="a promoter's code (also the QR `scene`)")]
Reason = Annotated[str, Field(min_length=1, max_length=200)]


class ApplyRequest(ApiModel):
    """申请成为推广员."""

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


class PromoterList(BaseModel):
    items: list[PromoterAdminView]
    next_cursor: str | None = None


class StatusChangeRequest(ApiModel):
    reason: Reason | None = Field(default=None, description="required to reject, freeze and disable")


class OverrideRequest(ApiModel):
    """Per-promoter rates (专属佣金比例); both null clears the override."""

    l1_override_bp: Annotated[int | None, Field(ge=0, le=3000)] = None
    l2_override_bp: Annotated[int | None, Field(ge=0, le=3000)] = None
    reason: Reason | None = None


class LevelChangeRequest(ApiModel):
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
    promoter: PromoterAdminView
    history: list[PromoterHistoryEntry]


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

    code: str
    share_link: str
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


class TeamMember(BaseModel):
    nickname: str = Field(description="masked (微**友)")
    joined_at: str = Field(description="when they were bound (ISO-8601 UTC)")
    sales_fen: int = Field(description="paid amount of their orders while bound to their current parent")
    depth: Literal[1, 2]
    via: str | None = Field(default=None, description="level 2: the masked nickname of their parent")


class TeamPage(BaseModel):
    depth: Literal[1, 2]
    items: list[TeamMember]
    next_cursor: str | None = None


class AdminTeamMember(TeamMember):
    """A team member as an admin sees them: user ids for looking them up; nicknames stay masked."""

    user_id: str
    via_user_id: str | None = Field(default=None, description="level 2: the user id of their parent")


class AdminTeamPage(BaseModel):
    depth: Literal[1, 2]
    items: list[AdminTeamMember]
    next_cursor: str | None = None


class BindingView(BaseModel):
    parent_id: str
    bound_at: str
    source: str
    trigger: str
    promoter_code: str | None = None


class BindRequestBody(ApiModel):
    code: PromoterCode
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None


class BindResult(BaseModel):
    outcome: Literal["bound", "rebound", "unchanged", "unbound"]
    binding: BindingView | None = None


class VisitRequest(ApiModel):
    """分享访问: the mini-program reports a visit through a share link, QR scene or poster."""

    code: PromoterCode
    source: Literal["link", "qr", "poster"]
    product_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None


class VisitResult(BaseModel):
    visit_id: str
    outcome: Literal["bound", "rebound", "unchanged", "not_bound", "not_logged_in"]
    binding: BindingView | None = None
    binding_refused: str | None = Field(default=None, description="why the visit did not bind (error code)")


class AdminBindingRequest(ApiModel):
    promoter_code: PromoterCode
    reason: Reason


class AdminUnbindRequest(ApiModel):
    reason: Reason


class BindingHistoryEntry(BaseModel):
    action: str
    from_parent: str | None = None
    to_parent: str | None = None
    source: str
    trigger: str
    promoter_code: str | None = None
    reason: str | None = None
    by: str
    at: str


class CustomerBinding(BaseModel):
    customer_id: str
    binding: BindingView | None = None
    history: list[BindingHistoryEntry]
