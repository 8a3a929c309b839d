"""Admin distribution settings through the real handler (moto): field errors and roles. The versions
and the 409 of a stale save are tested on the use cases (tests/unit/test_settings_service.py)."""

from __future__ import annotations

from typing import Any

import pytest

from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.conftest import Invoke

pytestmark = pytest.mark.usefixtures("moto_table")
PATH = "/admin/settings/distribution"


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *roles)


ADMIN = ("admin:alice", Role.ADMIN)


def save(invoke: Invoke, body: dict[str, Any], who: tuple[str, Role] = ADMIN) -> tuple[int, dict[str, Any]]:
    status, payload, _ = invoke("admin_settings", "PUT", PATH, body=body, headers=auth(*who))
    return status, payload


def fields(payload: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in payload["error"]["fields"]}


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"commission": {"l1_rate_bp": 3001}}, "commission.l1_rate_bp", "3000"),
    ({"commission": {"l1_rate_bp": 2000, "l2_rate_bp": 1500}}, "commission.l1_rate_bp", "cap_bp"),
    ({"commission": {"l3_rate_bp": 100}}, "commission.l3_rate_bp", "Extra inputs"),
    ({"l3_rate_bp": 100}, "l3_rate_bp", "Extra inputs"),
    ({"promoter_title": "躺赚达人"}, "promoter_title", "躺赚"),
    ({"levels": [{"id": "basic", "name": "无限代"}]}, "levels.0.name", "无限代"),
    ({"binding_validity": {"kind": "protection"}}, "binding_validity.protection_days", "required"),
    ({"binding_mode": "third_level"}, "binding_mode", "first_click"),
])
def test_invalid_documents_are_422_naming_the_field(invoke: Invoke, body: dict[str, Any], field: str,
                                                     words: str) -> None:
    status, payload = save(invoke, {"based_on_version": 0, **body})
    assert status == 422, payload
    found = fields(payload)
    assert field in found and words in found[field], found
    status, current, _ = invoke("admin_settings", "GET", PATH, headers=auth(*ADMIN))
    assert current["version"] == 0  # bad input changed nothing


def test_only_admins_may_read_or_change_settings(invoke: Invoke) -> None:
    status, _, _ = invoke("admin_settings", "GET", PATH, headers=auth("u_someone", Role.CUSTOMER, Role.PROMOTER))
    assert status == 403
    assert save(invoke, {"based_on_version": 0}, who=("u_someone", Role.CUSTOMER))[0] == 403


def test_a_level_earned_by_headcount_alone_is_refused_naming_the_level(invoke: Invoke) -> None:
    levels = [{"id": "basic", "name": "普通"},
              {"id": "silver", "name": "白银", "upgrade": {"own_sales_at_least_fen": 100_000}},
              {"id": "gold", "name": "黄金", "l1_points_bp": 200, "upgrade": {"direct_members_at_least": 10}}]
    status, payload = save(invoke, {"based_on_version": 0, "levels": levels})
    assert status == 422, payload
    found = fields(payload)
    assert list(found) == ["levels.2.upgrade"] and "'gold'" in found["levels.2.upgrade"], found
    assert invoke("admin_settings", "GET", PATH, headers=auth(*ADMIN))[1]["version"] == 0

    # Headcount together with a sales condition is allowed: the rate is still earned by sales.
    levels[2]["upgrade"] = {"direct_members_at_least": 10, "team_sales_at_least_fen": 500_000}
    status, payload = save(invoke, {"based_on_version": 0, "levels": levels})
    assert status == 200, payload
