"""Models of the merchant's distribution settings routes (分销设置)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from mall.domain.settings import DistributionSettings, refuse_headcount_only_levels


class SaveSettingsRequest(DistributionSettings):
    """The whole new document plus the version it was edited from (optimistic concurrency).

    It extends the document model itself (unknown fields refused, like ``ApiModel``), so a
    validation error names the field inside the document: ``commission.l1_rate_bp``."""

    based_on_version: Annotated[int, Field(ge=0, description="the `version` this edit started from")]
    note: Annotated[str | None, Field(max_length=200, description="why it changed (kept with the version)")] = None

    @model_validator(mode="after")
    def _levels_earned_by_sales(self) -> Self:
        refuse_headcount_only_levels(self.levels)
        return self

    def document(self) -> DistributionSettings:
        return DistributionSettings.model_validate(self.model_dump(exclude={"based_on_version", "note"}))


class SettingsVersionView(BaseModel):
    version: int = Field(description="0 is the built-in defaults, never saved")
    saved_by: str | None = None
    saved_at: str | None = None
    note: str | None = None
    settings: DistributionSettings


class SettingsHistory(BaseModel):
    items: list[SettingsVersionView]
    next_cursor: str | None = None
