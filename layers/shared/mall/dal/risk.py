"""Risk holds (风控冻结) in the single table (docs/data-model.md, "commission").

``USER#<uid>/RISK_HOLD`` (``case_id``, ``opened_at``) exists while a risk case on that promoter
is open (issue 7 opens and closes cases). While it exists, new commission records of that
promoter carry ``hold=<case_id>`` (kept out of the settlement due index) and withdrawals are
refused. This module only reads; the risk cases write it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mall.dal.table import Key, Table


def risk_hold_key(uid: str) -> Key:
    return {"pk": f"USER#{uid}", "sk": "RISK_HOLD"}


class RiskHoldRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, uid: str) -> dict[str, Any] | None:
        """The open hold on ``uid`` (``case_id``, ``opened_at`` …), or None."""
        return self._table.get(risk_hold_key(uid), consistent=True)

    def get_many(self, uids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The open holds among ``uids``, by user id (users without a hold are absent)."""
        wanted = list(dict.fromkeys(uids))
        if not wanted:
            return {}
        found = self._table.batch_get([risk_hold_key(uid) for uid in wanted], consistent=True)
        return {str(item["pk"]).removeprefix("USER#"): item for item in found}
