"""Risk cases (风控案件) and the promoter's risk hold (风控冻结), pure.

A case is opened by the fraud scan for one promoter, one rule and one window (``window_key``,
e.g. the day or the scan's watermark range); its id is derived from those three, so a rule that
fires again for the same window finds the same case (idempotent at-least-once scans).

Status machine (each step a conditional update from OPEN)::

    OPEN ──release──▶ RELEASED   commissions continue (held records settle at the next run)
    OPEN ──confirm──▶ CONFIRMED  unsettled commissions voided, the promoter frozen

A resolved case may still have follow-up work (lift the hold, void or release the records,
freeze the promoter) that a crash interrupted: ``finished_at`` is set when it is all done.
Repeating the action that resolved the case resumes that work; anything else is a 409.

The hold (one per promoter, ``USER#<uid>/RISK_HOLD``) lists every OPEN case of the promoter in
``open_cases`` (case id → opened at). ``case_id`` is the hold's primary case: the first one that
opened it, moved to the earliest remaining open case when that one is resolved, or to a case opened
while only a confirmed case kept the hold (new commission records are marked ``hold=<case_id>``).
A confirmed case leaves ``confirmed_case_id`` on the hold: the hold stays while the promoter is
frozen. The hold is lifted (deleted) only when no case of the
promoter is open and none confirmed it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from mall.errors import Conflict

#: Stored evidence is kept to this many characters of JSON (an item may not exceed 400 KB).
MAX_EVIDENCE_CHARS = 32_000
RULE_MAX_LENGTH = 64
WINDOW_KEY_MAX_LENGTH = 128

ResolveAction = Literal["release", "confirm"]


class RiskCaseStatus(StrEnum):
    OPEN = "OPEN"  # 待处理
    RELEASED = "RELEASED"  # 已解除
    CONFIRMED = "CONFIRMED"  # 已确认(违规)


RESOLUTION: dict[ResolveAction, RiskCaseStatus] = {
    "release": RiskCaseStatus.RELEASED,
    "confirm": RiskCaseStatus.CONFIRMED,
}


def risk_case_id(promoter_id: str, rule: str, window_key: str) -> str:
    """Deterministic: ``rc_`` + the first 24 hex digits of sha256(promoter, rule, window)."""
    if not promoter_id or not rule or not window_key:
        raise ValueError("promoter_id, rule and window_key are required")
    digest = hashlib.sha256("\x1f".join((promoter_id, rule, window_key)).encode()).hexdigest()
    return f"rc_{digest[:24]}"


def evidence_json(evidence: Mapping[str, Any]) -> str:
    """The evidence as stored: compact JSON (floats and dates allowed: it is never money), cut to
    ``MAX_EVIDENCE_CHARS`` (then ``{"truncated": true, "preview": …}``)."""
    text = json.dumps(dict(evidence), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text
    # Quoting the preview at most doubles it (every character escaped): half the room always fits.
    preview = text[:(MAX_EVIDENCE_CHARS - 100) // 2]
    return json.dumps({"truncated": True, "preview": preview}, ensure_ascii=False, separators=(",", ":"))


def evidence_from_json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True, slots=True)
class RiskCase:
    case_id: str
    promoter_id: str
    rule: str
    window_key: str
    evidence: dict[str, Any]
    status: RiskCaseStatus
    opened_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None
    finished_at: datetime | None = None  # the resolution's follow-up work is complete
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status == RiskCaseStatus.OPEN

    @property
    def resolution_pending(self) -> bool:
        """Resolved, but the follow-up (records, hold, promoter) is not known to be complete."""
        return not self.is_open and self.finished_at is None


def new_case(*, promoter_id: str, rule: str, window_key: str, evidence: Mapping[str, Any],
             now: datetime) -> RiskCase:
    if len(rule) > RULE_MAX_LENGTH or len(window_key) > WINDOW_KEY_MAX_LENGTH:
        raise ValueError("rule or window_key too long")
    return RiskCase(case_id=risk_case_id(promoter_id, rule, window_key), promoter_id=promoter_id, rule=rule,
                    window_key=window_key, evidence=dict(evidence), status=RiskCaseStatus.OPEN, opened_at=now)


Resolution = Literal["transition", "resume"]


def plan_resolution(case: RiskCase, action: ResolveAction) -> Resolution:
    """What ``action`` does to ``case``: ``transition`` (OPEN → its target), ``resume`` (the same
    action resolved it and its follow-up is unfinished: finish it), or 409 naming the state."""
    if case.is_open:
        return "transition"
    if case.status == RESOLUTION[action] and case.finished_at is None:
        return "resume"
    raise Conflict(f"the risk case is {case.status.value}, not OPEN", code="risk_case_not_open",
                   details={"status": case.status.value, "resolved_by": case.resolved_by,
                            "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None})


def resolved(case: RiskCase, action: ResolveAction, *, by: str, note: str, now: datetime) -> RiskCase:
    """The case after ``action`` (from OPEN only)."""
    if not case.is_open:
        raise ValueError(f"case {case.case_id} is {case.status}, not OPEN")
    return replace(case, status=RESOLUTION[action], resolved_at=now, resolved_by=by, note=note,
                   version=case.version + 1)


# ---- the hold -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """A promoter's risk hold as stored. ``version`` 0: not stored yet."""

    promoter_id: str
    case_id: str  # the primary case: what new commission records are marked with
    opened_at: datetime
    open_cases: dict[str, datetime] = field(default_factory=dict)
    confirmed_case_id: str | None = None
    version: int = 0

    @property
    def lifted(self) -> bool:
        """Nothing keeps it: no open case and no confirmed one (the item is deleted)."""
        return not self.open_cases and self.confirmed_case_id is None


def hold_with_case(hold: Hold | None, *, promoter_id: str, case_id: str, now: datetime) -> Hold:
    """The hold after ``case_id`` opened: created by it, or the case added to the open ones (the
    primary case id is kept)."""
    if hold is None:
        return Hold(promoter_id=promoter_id, case_id=case_id, opened_at=now, open_cases={case_id: now})
    # Kept only by a confirmed case: the new open case becomes the primary one.
    primary = hold.case_id if hold.open_cases else case_id
    return replace(hold, case_id=primary, open_cases={**hold.open_cases, case_id: now})


def hold_without_case(hold: Hold, *, case_id: str, action: ResolveAction) -> Hold:
    """The hold after ``case_id`` was resolved. Check ``lifted`` on the result: then delete it."""
    remaining = {cid: at for cid, at in hold.open_cases.items() if cid != case_id}
    confirmed = hold.confirmed_case_id
    if action == "confirm" and confirmed is None:
        confirmed = case_id
    primary = hold.case_id
    if primary == case_id and remaining:
        # The earliest remaining open case becomes the primary (ties: the smaller id).
        primary = min(remaining, key=lambda cid: (remaining[cid], cid))
    return replace(hold, case_id=primary, open_cases=remaining, confirmed_case_id=confirmed)
