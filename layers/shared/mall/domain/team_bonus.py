"""Monthly team bonus (团队分红) rules and arithmetic: tiers of team *sales*, never headcount.
Part of the settings document (``settings.team_bonus``). Owned by the incentives work (issue 8)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TeamBonusRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
