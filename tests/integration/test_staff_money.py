"""What staff roles may do with money, on DynamoDB Local: a large withdrawal needs two different admins
each holding finance or owner; operations save the other settings but no money rule (owner only),
field by field; and the migration that makes every admin of before staff roles an owner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from mall.clock import utc_now
from mall.dal.identity import AdminRepository
from mall.dal.keys import admin_key
from mall.dal.table import Table
from mall.domain.tokens import Role
from tests.conftest import bearer, clear_caches
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_withdrawals_handlers import PROMOTER, fund, make_promoter, promoter_auth
from tools.migrations import run
from tools.migrations.admin_owner_roles import MIGRATION

FINANCE_A = bearer("admin:fa", Role.FINANCE)
FINANCE_B = bearer("admin:fb", Role.FINANCE)
OWNER = bearer("admin:boss", Role.OWNER)
OPERATIONS = bearer("admin:ops", Role.OPERATIONS)


class Api:
    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}

    def __call__(self, function: str, method: str, path: str, headers: dict[str, str],
                 body: Any = None) -> tuple[int, Any]:
        if function not in self.modules:
            self.modules[function] = load_function(function)
        result = self.modules[function].handler(http_event(method, path, body=body, headers=headers), FakeContext())
        return int(result["statusCode"]), json.loads(result.get("body") or "{}")


@pytest.fixture
def api(table: Table) -> Iterator[Api]:
    clear_caches()
    yield Api()


def large_withdrawal(api: Api) -> str:
    make_promoter(PROMOTER)
    fund(PROMOTER, 200_000)
    status, body = api("promoter_withdraw", "POST", "/promoter/withdrawals",
                       {**promoter_auth(), "idempotency-key": uuid.uuid4().hex},
                       body={"amount_fen": 150_000, "method": "wechat"})
    assert status == 201 and body["required_approvals"] == 2, body
    return str(body["withdrawal_id"])


def test_a_large_withdrawal_needs_two_different_admins_holding_finance_or_owner(api: Api) -> None:
    wid = large_withdrawal(api)
    approve = f"/admin/withdrawals/{wid}/approve"
    for refused in (bearer("admin:ops", Role.OPERATIONS), bearer("admin:help", Role.SUPPORT),
                    bearer("admin:audit", Role.AUDITOR)):
        status, body = api("admin_withdrawal_review", "POST", approve, refused)
        assert (status, body["error"]["code"]) == (403, "forbidden_role")
    status, first = api("admin_withdrawal_review", "POST", approve, FINANCE_A)
    assert status == 200 and first["status"] == "PENDING_REVIEW"
    status, same = api("admin_withdrawal_review", "POST", approve, FINANCE_A)
    assert (status, same["error"]["code"]) == (409, "already_approved_by_you")
    status, second = api("admin_withdrawal_review", "POST", approve, OWNER)
    assert status == 200 and second["status"] == "APPROVED"
    assert [a["admin_id"] for a in second["approvals"]] == ["admin:fa", "admin:boss"]


def test_two_finance_admins_approve_a_large_withdrawal(api: Api) -> None:
    wid = large_withdrawal(api)
    approve = f"/admin/withdrawals/{wid}/approve"
    assert api("admin_withdrawal_review", "POST", approve, FINANCE_A)[1]["status"] == "PENDING_REVIEW"
    assert api("admin_withdrawal_review", "POST", approve, FINANCE_B)[1]["status"] == "APPROVED"


def test_an_approval_also_checks_the_approvers_roles_in_the_use_case(table: Table) -> None:
    """Beside the route's check: the rule itself refuses an approver without finance or owner."""
    from mall.dal.withdrawals import WithdrawalRepository
    from mall.errors import Forbidden
    from mall.services.withdrawals.review import approve_withdrawal

    clear_caches()
    wid = large_withdrawal(Api())
    with pytest.raises(Forbidden):
        approve_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=wid, admin="admin:ops",
                           now=utc_now(), source_ip=None, queue=None,
                           roles={Role.OPERATIONS, Role.SUPPORT})


# ---- settings: money rules are the owner's --------------------------------------------------------


def _settings(api: Api) -> dict[str, Any]:
    status, body = api("admin_settings", "GET", "/admin/settings/distribution", OPERATIONS)
    assert status == 200
    return body  # type: ignore[no-any-return]


def _save(api: Api, who: dict[str, str], change: dict[str, Any]) -> tuple[int, Any]:
    current = _settings(api)
    document = {**current["settings"], **change, "based_on_version": current["version"]}
    return api("admin_settings", "PUT", "/admin/settings/distribution", who, body=document)


def test_operations_save_other_settings_but_no_money_rule(api: Api) -> None:
    status, saved = _save(api, OPERATIONS, {"promoter_title": "分享官", "only_new_customers": True})
    assert status == 200 and saved["settings"]["promoter_title"] == "分享官", saved
    version = saved["version"]
    commission = {**saved["settings"]["commission"], "l1_rate_bp": 1200}
    status, refused = _save(api, OPERATIONS, {"commission": commission, "promoter_title": "推广大使"})
    assert (status, refused["error"]["code"]) == (403, "money_rules_owner_only")
    assert [f["field"] for f in refused["error"]["fields"]] == ["commission.l1_rate_bp"]
    levels = [*saved["settings"]["levels"], {"id": "gold", "name": "金牌", "l1_points_bp": 100,
                                              "upgrade": {"own_sales_at_least_fen": 100000}}]
    withdrawal = {**saved["settings"]["withdrawal"], "daily_count": 5}
    status, refused = _save(api, OPERATIONS, {"levels": levels, "withdrawal": withdrawal})
    assert status == 403 and sorted(f["field"] for f in refused["error"]["fields"]) == [
        "levels.gold.l1_points_bp", "levels.gold.l2_points_bp", "withdrawal.daily_count"]
    assert _settings(api)["version"] == version  # nothing saved
    # A level that adds no rate points is not a money rule; the owner may change anything.
    plain = [*saved["settings"]["levels"], {"id": "fan", "name": "粉丝", "upgrade": {"own_sales_at_least_fen": 1}}]
    assert _save(api, OPERATIONS, {"levels": plain})[0] == 200
    status, by_owner = _save(api, OWNER, {"commission": commission, "levels": levels, "withdrawal": withdrawal})
    assert status == 200 and by_owner["settings"]["commission"]["l1_rate_bp"] == 1200


# ---- the migration: admins of before staff roles become owners ------------------------------------


def test_admins_of_before_staff_roles_become_owners_once(table: Table) -> None:
    clear_caches()
    old = {**admin_key("old.boss"), "entity": "admin", "username": "old.boss", "password_hash": "x",
           "display_name": "", "created_at": "2026-01-01T00:00:00Z", "disabled": False, "session_version": 3}
    table.put(old)
    table.put({**old, **admin_key("made.later"), "username": "made.later", "roles": ["support"],
               "gsi1pk": "STAFF", "gsi1sk": "ADMIN#made.later"})
    admins = AdminRepository(table)
    assert [a.username for a in admins.list_staff(limit=10, start_key=None)[0]] == ["made.later"]
    assert admins.get("old.boss").roles == {Role.OWNER}  # type: ignore[union-attr]  # read as one already

    assert run(table, MIGRATION, dry_run=True).changed == 1
    assert "roles" not in (table.get(admin_key("old.boss")) or {})
    assert run(table, MIGRATION).changed == 1
    stored = table.get(admin_key("old.boss"), consistent=True) or {}
    assert stored["roles"] == ["owner"] and stored["session_version"] == 3  # its tokens go on as an owner's
    assert (table.get(admin_key("made.later")) or {})["roles"] == ["support"]
    listed = admins.list_staff(limit=10, start_key=None)[0]
    assert [(a.username, sorted(a.roles)) for a in listed] == [("made.later", [Role.SUPPORT]),
                                                               ("old.boss", [Role.OWNER])]
    assert run(table, MIGRATION, restart=True).changed == 0
