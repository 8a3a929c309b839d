"""Rules disclosure (规则公示) and the customer's erasure request (个人信息删除)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

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

    # Every level and the first items of three of the sections, as generated from the example settings.
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": 5, "effective_at": "2026-10-06T08:00:00Z", "title": "分销规则公示", "promoter_title": "推广员",
        "earning_levels": [{"level": 1, "name": "一级", "rate_bp": 1000, "rate_text": "10%"},
                           {"level": 2, "name": "二级", "rate_bp": 500, "rate_text": "5%"}],
        "levels": [
            {"id": "basic", "name": "普通", "l1_points_bp": 0, "l2_points_bp": 0, "l1_rate_bp": 1000,
             "l2_rate_bp": 500, "text": "一级佣金 10%、二级佣金 5%。"},
            {"id": "silver", "name": "银牌", "l1_points_bp": 100, "l2_points_bp": 50, "l1_rate_bp": 1100,
             "l2_rate_bp": 550,
             "text": "一级佣金 11%、二级佣金 5.5%（通用比例另加 1% / 0.5%）；"
                     "升级条件：有效下线达到 3 位且个人推广销售额达到 ¥1,000。"},
            {"id": "gold", "name": "金牌", "l1_points_bp": 200, "l2_points_bp": 100, "l1_rate_bp": 1200,
             "l2_rate_bp": 600,
             "text": "一级佣金 12%、二级佣金 6%（通用比例另加 2% / 1%）；"
                     "升级条件：个人推广销售额达到 ¥3,000且团队销售额达到 ¥10,000。"}],
        "sections": [
            {"key": "overview", "title": "总则", "items": [
                {"key": "earning_levels", "label": "分佣层级", "value": 2, "unit": "count",
                 "text": "佣金只分两级：一级为直接推广的客户下单，二级为您邀请的推广员推广的客户下单；"
                         "不存在第三级及以上的佣金。"},
                {"key": "pay_basis", "label": "计酬依据", "value": None, "unit": None,
                 "text": "佣金和奖励只按真实成交的订单金额计算，邀请人数本身不产生任何收益；"
                         "无需缴纳任何费用即可参与。"}]},
            {"key": "commission", "title": "佣金规则", "items": [
                {"key": "l1_rate", "label": "一级佣金比例", "value": 1000, "unit": "bp",
                 "text": "直接推广的客户下单，按商品实付金额的 10% 计佣金。"},
                {"key": "cap", "label": "佣金上限", "value": 3000, "unit": "bp",
                 "text": "每件商品的一级与二级佣金合计不超过其实付金额的 30%。"}]},
            {"key": "withdrawal", "title": "提现规则", "items": [
                {"key": "min_fen", "label": "最低提现金额", "value": 5000, "unit": "fen", "text": "单笔不低于 ¥50。"},
                {"key": "daily_count", "label": "每日次数", "value": 3, "unit": "count",
                 "text": "每天最多提现 3 次（按北京时间计）。"}]}]}]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [{"confirm": True}]})

    confirm: Literal[True] = Field(description="must be `true`")


class ErasureResult(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_id": "u_xpdiqcabym5dbw2glo3wnz2l", "status": "erased", "erased_at": "2026-11-25T14:03:27Z",
        "already_erased": False, "orders_erased": 3, "withdrawals_erased": 0, "records_cleaned": 5}]})

    user_id: str
    status: Literal["erased"]
    erased_at: str = Field(description="when the account was first erased (ISO-8601 UTC)")
    already_erased: bool = Field(description="true when an earlier request had erased everything already")
    orders_erased: int = Field(description="orders whose shipping name, phone and address this request erased")
    withdrawals_erased: int = Field(description="bank withdrawals whose account details this request erased")
    records_cleaned: int = Field(description="other records of the account (profile, share visits, devices) "
                                             "this request removed personal data from")
