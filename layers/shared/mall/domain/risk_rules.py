"""Fraud-scan rules (风控规则): thresholds of the scheduled fraud scan, part of the settings document
(``settings.risk``). Owned by the risk work (issue 7); every rule can run ``observe`` first
(hits are recorded, no case is opened, nothing is held)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RiskRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
