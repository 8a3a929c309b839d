"""Models of the merchant's distribution settings routes (分销设置)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from mall.domain.settings import DistributionSettings, refuse_headcount_only_levels

# Examples (json_schema_extra): built when the schema is generated, not at import, because validating a
# whole document costs a function's cold start some 25 ms.


def _document() -> dict[str, Any]:
    """The document of the examples as the API returns it (every setting, defaults included): a tea
    shop with silver and gold levels earned by sales, 30 days of customer protection, bank
    withdrawals and a team bonus."""
    return DistributionSettings.model_validate({
        "binding_validity": {"kind": "protection", "protection_days": 30},
        "promoter_threshold": {"kind": "spent_at_least", "spent_at_least_fen": 9900},
        "levels": [
            {"id": "basic", "name": "普通"},
            {"id": "silver", "name": "银牌", "l1_points_bp": 100, "l2_points_bp": 50,
             "upgrade": {"direct_members_at_least": 3, "own_sales_at_least_fen": 100000}},
            {"id": "gold", "name": "金牌", "l1_points_bp": 200, "l2_points_bp": 100,
             "upgrade": {"own_sales_at_least_fen": 300000, "team_sales_at_least_fen": 1000000}}],
        "withdrawal": {"methods": ["wechat", "bank"]},
        "team_bonus": {"enabled": True, "tiers": [{"min_team_sales_fen": 1000000, "bonus_bp": 100},
                                                  {"min_team_sales_fen": 3000000, "bonus_bp": 200}]},
    }).model_dump(mode="json", by_alias=True)


def _version() -> JsonDict:
    return {"version": 5, "saved_by": "admin:li.na", "saved_at": "2026-10-06T08:00:00Z",
            "note": "开通银行卡提现, 新增银牌、金牌等级", "settings": _document()}


def _save_example(schema: JsonDict) -> None:
    document = _document()
    schema["examples"] = [{**document, "commission": {**document["commission"], "settlement_days": 10},
                           "based_on_version": 5, "note": "结算周期延长到 10 天, 覆盖 7 天无理由退货"}]


def _version_example(schema: JsonDict) -> None:
    schema["examples"] = [_version()]


def _history_example(schema: JsonDict) -> None:
    schema["examples"] = [{"items": [_version()], "next_cursor": None}]

class SaveSettingsRequest(DistributionSettings):
    """The whole new document plus the version it was edited from (optimistic concurrency).

    It extends the document model itself (unknown fields refused, like ``ApiModel``), so a
    validation error names the field inside the document: ``commission.l1_rate_bp``."""

    model_config = ConfigDict(json_schema_extra=_save_example)

    based_on_version: Annotated[int, Field(ge=0, description="the `version` this edit started from")]
    note: Annotated[str | None, Field(max_length=200, description="why it changed (kept with the version)")] = None

    @model_validator(mode="after")
    def _levels_earned_by_sales(self) -> Self:
        refuse_headcount_only_levels(self.levels)
        return self

    def document(self) -> DistributionSettings:
        return DistributionSettings.model_validate(self.model_dump(exclude={"based_on_version", "note"}))


class SettingsVersionView(BaseModel):
    model_config = ConfigDict(json_schema_extra=_version_example)

    version: int = Field(description="0 is the built-in defaults, never saved")
    saved_by: str | None = None
    saved_at: str | None = None
    note: str | None = None
    settings: DistributionSettings


class SettingsHistory(BaseModel):
    model_config = ConfigDict(json_schema_extra=_history_example)

    items: list[SettingsVersionView]
    next_cursor: str | None = None
