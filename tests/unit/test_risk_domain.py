"""Risk cases and holds, pure (``mall.domain.risk``): the deterministic case id, the evidence as
stored, the status machine (transition / resume / 409) and the one-hold-per-promoter rules."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mall.domain.risk import (
    MAX_EVIDENCE_CHARS,
    Hold,
    RiskCaseStatus,
    evidence_from_json,
    evidence_json,
    hold_with_case,
    hold_without_case,
    new_case,
    plan_resolution,
    resolved,
    risk_case_id,
)
from mall.errors import Conflict

NOW = datetime(2026, 11, 20, 2, tzinfo=UTC)


def test_case_id_is_deterministic_and_separates_its_parts() -> None:
    first = risk_case_id("u_1", "commission_spike", "2026-11-19")
    assert first == risk_case_id("u_1", "commission_spike", "2026-11-19")
    assert first.startswith("rc_") and len(first) == 27 and all(c in "0123456789abcdef" for c in first[3:])
    others = {risk_case_id("u_2", "commission_spike", "2026-11-19"), risk_case_id("u_1", "refund_ratio", "2026-11-19"),
              risk_case_id("u_1", "commission_spike", "2026-11-20"),
              risk_case_id("u_1c", "ommission_spike", "2026-11-19")}  # no ambiguity from where parts are cut
    assert first not in others and len(others) == 4
    with pytest.raises(ValueError, match="required"):
        risk_case_id("u_1", "", "w")


def test_evidence_is_stored_as_json_floats_and_dates_allowed_and_large_evidence_is_cut() -> None:
    evidence = {"ratio": 0.42, "orders": ["o_1", "o_2"], "at": NOW, "说明": "同一设备"}
    text = evidence_json(evidence)
    assert evidence_from_json(text) == {"ratio": 0.42, "orders": ["o_1", "o_2"], "at": str(NOW), "说明": "同一设备"}
    huge = evidence_json({"ids": ["x" * 100] * 1000})
    assert len(huge) <= MAX_EVIDENCE_CHARS
    assert json.loads(huge)["truncated"] is True
    assert evidence_from_json(None) == {} and evidence_from_json("[1]") == {"value": [1]}


def test_new_case_is_open_and_refuses_oversized_keys() -> None:
    case = new_case(promoter_id="u_1", rule="same_device", window_key="2026-11-19", evidence={"n": 5}, now=NOW)
    assert case.status == RiskCaseStatus.OPEN and case.is_open and not case.resolution_pending
    assert case.case_id == risk_case_id("u_1", "same_device", "2026-11-19")
    with pytest.raises(ValueError, match="too long"):
        new_case(promoter_id="u_1", rule="r" * 65, window_key="w", evidence={}, now=NOW)


def test_resolution_from_open_then_resume_only_the_same_unfinished_action() -> None:
    case = new_case(promoter_id="u_1", rule="same_device", window_key="w", evidence={}, now=NOW)
    assert plan_resolution(case, "release") == "transition" and plan_resolution(case, "confirm") == "transition"
    released = resolved(case, "release", by="admin:a", note="ok", now=NOW + timedelta(hours=1))
    assert (released.status, released.resolved_by, released.note, released.version) == (
        RiskCaseStatus.RELEASED, "admin:a", "ok", 2)
    assert released.resolution_pending
    assert plan_resolution(released, "release") == "resume"
    with pytest.raises(Conflict) as other:
        plan_resolution(released, "confirm")
    assert other.value.code == "risk_case_not_open" and other.value.details["status"] == "RELEASED"
    assert other.value.details["resolved_by"] == "admin:a"
    finished = replace(released, finished_at=NOW + timedelta(hours=1))
    with pytest.raises(Conflict):
        plan_resolution(finished, "release")
    with pytest.raises(ValueError, match="not OPEN"):
        resolved(released, "confirm", by="admin:b", note="x", now=NOW)
    confirmed = resolved(case, "confirm", by="admin:b", note="fraud", now=NOW)
    assert confirmed.status == RiskCaseStatus.CONFIRMED


def test_one_hold_per_promoter_keeps_its_first_case_and_lists_the_others() -> None:
    hold = hold_with_case(None, promoter_id="u_1", case_id="rc_a", now=NOW)
    assert (hold.case_id, list(hold.open_cases), hold.version, hold.lifted) == ("rc_a", ["rc_a"], 0, False)
    stored = replace(hold, version=1)
    both = hold_with_case(stored, promoter_id="u_1", case_id="rc_b", now=NOW + timedelta(hours=1))
    assert both.case_id == "rc_a" and set(both.open_cases) == {"rc_a", "rc_b"} and both.version == 1
    three = hold_with_case(both, promoter_id="u_1", case_id="rc_0", now=NOW + timedelta(hours=2))

    # Releasing the primary moves it to the earliest remaining open case, not the smallest id.
    after_a = hold_without_case(three, case_id="rc_a", action="release")
    assert after_a.case_id == "rc_b" and set(after_a.open_cases) == {"rc_b", "rc_0"} and not after_a.lifted
    after_b = hold_without_case(after_a, case_id="rc_b", action="release")
    assert after_b.case_id == "rc_0" and not after_b.lifted
    assert hold_without_case(after_b, case_id="rc_0", action="release").lifted  # no case left: lifted

    # A confirmed case keeps the hold (the promoter is frozen), whatever is released later.
    confirmed = hold_without_case(both, case_id="rc_b", action="confirm")
    assert confirmed.confirmed_case_id == "rc_b" and confirmed.case_id == "rc_a" and not confirmed.lifted
    later = hold_without_case(confirmed, case_id="rc_a", action="release")
    assert not later.open_cases and later.confirmed_case_id == "rc_b" and not later.lifted
    again = hold_without_case(later, case_id="rc_c", action="confirm")
    assert again.confirmed_case_id == "rc_b"  # the first confirmation is kept
    reopened = hold_with_case(later, promoter_id="u_1", case_id="rc_d", now=NOW)
    assert reopened.case_id == "rc_d" and reopened.confirmed_case_id == "rc_b"  # an open case is the primary


def test_resolving_a_case_the_hold_does_not_list_changes_nothing_else() -> None:
    hold = Hold(promoter_id="u_1", case_id="rc_a", opened_at=NOW, open_cases={"rc_a": NOW}, version=3)
    same = hold_without_case(hold, case_id="rc_zzz", action="release")
    assert same.open_cases == {"rc_a": NOW} and same.case_id == "rc_a" and not same.lifted
