"""Rules disclosure (规则公示) and the customer's erasure request (个人信息删除)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mall.schemas.common import ApiModel


class RuleItemView(ApiModel):
    key: str = Field(description="stable English name, e.g. `l1_rate`, `min_fen`, `level.basic`")
    label: str = Field(description="Chinese label (标题)")
    text: str = Field(description="Chinese sentence to show as it is")
    value: int | str | bool | None = Field(default=None, description="the setting itself: integer fen when `unit` "
                                           "is `fen`, integer basis points (1000 = 10%) when `bp`")
    unit: Literal["fen", "bp", "days", "count", "hours"] | None = None


class RuleSectionView(ApiModel):
    key: str = Field(description="overview, commission, levels, binding, settlement, withdrawal, refund, promoter; "
                                 "team_bonus, risk, notifications only when configured")
    title: str
    items: list[RuleItemView]


class EarningLevelView(ApiModel):
    level: Literal[1, 2]
    name: Literal["一级", "二级"]
    rate_bp: int
    rate_text: str = Field(description="e.g. `10%`")


class LevelRuleView(ApiModel):
    """A promoter level (等级): its rate points and the rates they give. A rank, not an earning depth."""

    id: str
    name: str
    l1_points_bp: int
    l2_points_bp: int
    l1_rate_bp: int
    l2_rate_bp: int
    text: str


class RulesDisclosure(ApiModel):
    """The rules in force (规则公示), generated from the distribution settings of ``version``. The
    mini-program shows it before `POST /promoter/apply` and sends `version` back as `rules_version`."""

    version: int = Field(description="the settings version these rules are; 0 = the built-in defaults")
    effective_at: str | None = Field(description="when this version was saved (ISO-8601 UTC)")
    title: str
    promoter_title: str
    earning_levels: Annotated[list[EarningLevelView], Field(min_length=2, max_length=2,
                                                            description="always exactly two: 一级 and 二级")]
    levels: list[LevelRuleView]
    sections: list[RuleSectionView]


class ErasureRequest(ApiModel):
    """个人信息删除申请. ``confirm`` must be true: the erasure cannot be undone."""

    confirm: Literal[True] = Field(description="must be `true`")


class ErasureResult(ApiModel):
    user_id: str
    status: Literal["erased"]
    erased_at: str = Field(description="when the account was first erased (ISO-8601 UTC)")
    already_erased: bool = Field(description="true when an earlier request had erased everything already")
    orders_erased: int = Field(description="orders whose shipping name, phone and address this request erased")
    withdrawals_erased: int = Field(description="bank withdrawals whose account details this request erased")
    records_cleaned: int = Field(description="other records of the account (profile, share visits, devices) "
                                             "this request removed personal data from")
