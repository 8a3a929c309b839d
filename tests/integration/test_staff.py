"""Staff accounts and roles through the real handlers on DynamoDB Local: an owner creates admins with
roles, changes their roles, disables, enables and resets passwords; each change ends the admin's
sessions within a minute; the last enabled owner cannot be removed, not even by two owners
demoting each other at once; every admin changes their own password; a token of before staff
roles (``admin``) is an owner's until its account changes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from mall.api.auth import SESSION_CACHE_SECONDS
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.identity import AdminRepository
from mall.dal.table import Table
from mall.domain.tokens import Role
from mall.errors import Conflict
from mall.services import staff as service
from tests.conftest import bearer, clear_caches
from tests.unit.conftest import FakeContext, http_event, load_function
from tools.create_admin import ensure_admin

BOSS_PASSWORD = "the boss's long password"
Call = Callable[..., tuple[int, Any]]


@pytest.fixture
def call(table: Table) -> Iterator[Call]:
    clear_caches()
    loaded: dict[str, ModuleType] = {}

    def invoke(function: str, method: str, path: str, *, token: str | None = None,
               headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
        if function not in loaded:
            loaded[function] = load_function(function)
        sent = {**(headers or {}), **({"authorization": f"Bearer {token}"} if token else {})}
        result = loaded[function].handler(http_event(method, path, body=body, headers=sent), FakeContext())
        return int(result["statusCode"]), json.loads(result.get("body") or "{}")

    ensure_admin("boss", BOSS_PASSWORD)
    yield invoke


def login(call: Call, username: str, password: str) -> dict[str, Any]:
    status, body = call("admin_login", "POST", "/admin/auth/login", body={"username": username, "password": password})
    assert status == 200, body
    return body


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each container trusts what it read of an admin's session for a minute: move its clock on."""
    from mall.api import auth

    real = time.monotonic
    monkeypatch.setattr(auth.time, "monotonic", lambda: real() + SESSION_CACHE_SECONDS + 1)


def create(call: Call, owner: str, username: str, roles: list[str], password: str = "an initial password") -> Any:  # noqa: S107
    status, body = call("admin_staff", "POST", "/admin/staff", token=owner,
                        body={"username": username, "display_name": username.title(), "password": password,
                              "roles": roles})
    assert status == 201, body
    return body


def test_the_first_owner_comes_from_the_tool_and_logs_in_with_the_owner_role(call: Call) -> None:
    answer = login(call, "boss", BOSS_PASSWORD)
    assert answer["roles"] == ["owner"]
    status, me = call("me", "GET", "/me", token=answer["access_token"])
    assert status == 200 and me["roles"] == ["owner"] and me["kind"] == "admin"


def test_an_owner_creates_a_support_admin_who_reads_but_cannot_act_on_money(call: Call, table: Table) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    created = create(call, owner, "wang.fang", ["support"])
    assert created["roles"] == ["support"] and created["disabled"] is False and created["last_login_at"] is None
    status, again = call("admin_staff", "POST", "/admin/staff", token=owner,
                         body={"username": "wang.fang", "password": "an initial password", "roles": ["owner"]})
    assert (status, again["error"]["code"]) == (409, "admin_exists")
    status, listed = call("admin_staff", "GET", "/admin/staff", token=owner)
    assert status == 200 and [(a["username"], a["roles"]) for a in listed["items"]] == [
        ("boss", ["owner"]), ("wang.fang", ["support"])]

    support = login(call, "wang.fang", "an initial password")
    assert support["roles"] == ["support"]
    token = support["access_token"]
    assert call("admin_withdrawals", "GET", "/admin/withdrawals", token=token)[0] == 200
    for function, method, path in (("admin_withdrawal_review", "POST", "/admin/withdrawals/w_x/approve"),
                                   ("admin_staff", "GET", "/admin/staff"),
                                   ("admin_withdrawals", "GET", "/admin/withdrawals/w_x/bank-account")):
        status, body = call(function, method, path, token=token)
        assert (status, body["error"]["code"]) == (403, "forbidden_role"), path
    status, body = call("admin_staff", "POST", "/admin/staff", token=token,
                        body={"username": "sneaky", "password": "an initial password", "roles": ["owner"]})
    assert (status, body["error"]["code"]) == (403, "forbidden_role")
    assert AdminRepository(table).get("sneaky") is None
    audit = [a for a in AuditLog(table).on(utc_now()) if a.get("entity_type") == "admin"]
    assert [(a["action"], a["actor"], a["entity_id"]) for a in audit if a["action"].startswith("staff.")] == [
        ("staff.create", "admin:boss", "wang.fang")]


@pytest.mark.parametrize("body", [{"roles": []}, {"roles": ["admin"]}, {"roles": ["customer"]}, {"roles": "owner"}])
def test_roles_are_staff_roles(call: Call, body: dict[str, Any]) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    create(call, owner, "li.na", ["finance"])
    status, answer = call("admin_staff", "PUT", "/admin/staff/li.na/roles", token=owner, body=body)
    assert status == 422 and answer["error"]["fields"][0]["field"].startswith("roles"), answer


def test_a_role_change_takes_effect_within_a_minute(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    create(call, owner, "li.na", ["support"])
    old = login(call, "li.na", "an initial password")["access_token"]
    assert call("admin_withdrawals", "GET", "/admin/withdrawals", token=old)[0] == 200
    status, changed = call("admin_staff", "PUT", "/admin/staff/li.na/roles", token=owner,
                           body={"roles": ["finance", "auditor"]})
    assert status == 200 and changed["roles"] == ["finance", "auditor"]
    a_minute_later(monkeypatch)
    status, body = call("admin_withdrawals", "GET", "/admin/withdrawals", token=old)
    assert (status, body["error"]["code"]) == (401, "session_revoked")
    new = login(call, "li.na", "an initial password")
    assert new["roles"] == ["finance", "auditor"]
    status, body = call("admin_withdrawal_review", "POST", "/admin/withdrawals/w_missing/approve",
                        token=new["access_token"])
    assert (status, body["error"]["code"]) == (404, "withdrawal_not_found")  # past the role check now


def test_a_disabled_admin_cannot_log_in_and_their_tokens_end(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    create(call, owner, "zhao.lei", ["operations"])
    token = login(call, "zhao.lei", "an initial password")["access_token"]
    status, body = call("admin_staff", "PUT", "/admin/staff/zhao.lei/status", token=owner, body={"disabled": True})
    assert status == 200 and body["disabled"] is True
    status, body = call("admin_login", "POST", "/admin/auth/login",
                        body={"username": "zhao.lei", "password": "an initial password"})
    assert (status, body["error"]["code"]) == (401, "invalid_credentials")
    a_minute_later(monkeypatch)
    assert call("admin_orders", "GET", "/admin/orders", token=token)[0] == 401
    assert call("admin_staff", "PUT", "/admin/staff/zhao.lei/status", token=owner, body={"disabled": False})[0] == 200
    assert call("admin_orders", "GET", "/admin/orders", token=token)[0] == 401  # old tokens stay dead
    fresh = login(call, "zhao.lei", "an initial password")["access_token"]
    assert call("admin_orders", "GET", "/admin/orders", token=fresh)[0] == 200


def test_the_last_enabled_owner_cannot_be_removed(call: Call, table: Table) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    for path, body in (("/admin/staff/boss/roles", {"roles": ["finance"]}), ("/admin/staff/boss/status",
                                                                              {"disabled": True})):
        status, answer = call("admin_staff", "PUT", path, token=owner, body=body)
        assert (status, answer["error"]["code"]) == (409, "last_owner"), path
    create(call, owner, "second", ["owner"])
    create(call, owner, "third", ["owner"])
    assert call("admin_staff", "PUT", "/admin/staff/third/status", token=owner, body={"disabled": True})[0] == 200
    # A disabled owner does not count: boss may step down only in favour of "second".
    status, answer = call("admin_staff", "PUT", "/admin/staff/boss/roles", token=owner, body={"roles": ["finance"]})
    assert status == 200 and answer["roles"] == ["finance"]
    second = login(call, "second", "an initial password")["access_token"]
    status, answer = call("admin_staff", "PUT", "/admin/staff/second/roles", token=second, body={"roles": ["auditor"]})
    assert (status, answer["error"]["code"]) == (409, "last_owner")
    assert AdminRepository(table).get("second").roles == {Role.OWNER}  # type: ignore[union-attr]


@pytest.mark.parametrize("attempt", range(3))
def test_two_owners_demoting_each_other_at_once_leave_an_owner(call: Call, table: Table, attempt: int) -> None:
    admins, log = AdminRepository(table), AuditLog(table)
    create(call, login(call, "boss", BOSS_PASSWORD)["access_token"], "second", ["owner"])
    start = threading.Barrier(2)
    results: list[str] = []

    def demote(who: str, by: str) -> None:
        start.wait()
        try:
            service.set_roles(admins=admins, log=log, username=who, roles=["finance"],
                              actor=service.Actor(f"admin:{by}", None, utc_now()))
            results.append("done")
        except Conflict as refused:
            results.append(refused.code)

    threads = [threading.Thread(target=demote, args=("boss", "second")),
               threading.Thread(target=demote, args=("second", "boss"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owners = [a.username for a in admins.list_staff(limit=10, start_key=None)[0]
              if Role.OWNER in a.roles and not a.disabled]
    assert len(owners) == 1, (attempt, results, owners)
    assert sorted(results)[0] == "done" and results.count("done") == 1, results


def test_an_owner_resets_a_password_and_every_admin_changes_their_own(call: Call,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    create(call, owner, "chen.jing", ["finance"])
    old = login(call, "chen.jing", "an initial password")["access_token"]
    status, _ = call("admin_staff", "POST", "/admin/staff/chen.jing/password", token=owner,
                     body={"password": "reset by the owner 1"})
    assert status == 200
    mine = login(call, "chen.jing", "reset by the owner 1")["access_token"]

    status, body = call("admin_staff", "POST", "/admin/me/password", token=mine,
                        body={"current_password": "not it at all", "new_password": "my own secret 2026"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "current_password"
    status, body = call("admin_staff", "POST", "/admin/me/password", token=mine,
                        body={"current_password": "reset by the owner 1", "new_password": "short"})
    assert status == 422 and body["error"]["fields"][0]["field"] == "new_password"
    status, fresh = call("admin_staff", "POST", "/admin/me/password", token=mine,
                         body={"current_password": "reset by the owner 1", "new_password": "my own secret 2026"})
    assert status == 200 and fresh["roles"] == ["finance"], fresh
    assert call("admin_withdrawals", "GET", "/admin/withdrawals", token=fresh["access_token"])[0] == 200
    a_minute_later(monkeypatch)
    for token in (old, mine):
        status, body = call("admin_withdrawals", "GET", "/admin/withdrawals", token=token)
        assert (status, body["error"]["code"]) == (401, "session_revoked")
    assert call("admin_withdrawals", "GET", "/admin/withdrawals", token=fresh["access_token"])[0] == 200
    login(call, "chen.jing", "my own secret 2026")


def test_a_token_of_before_staff_roles_is_an_owners_until_its_account_changes(
        call: Call, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = bearer("admin:boss", Role.ADMIN)
    status, listed = call("admin_staff", "GET", "/admin/staff", headers=legacy)
    assert status == 200 and [a["username"] for a in listed["items"]] == ["boss"]
    owner = login(call, "boss", BOSS_PASSWORD)["access_token"]
    create(call, owner, "second", ["owner"])
    second = login(call, "second", "an initial password")["access_token"]
    assert call("admin_staff", "PUT", "/admin/staff/boss/roles", token=second, body={"roles": ["auditor"]})[0] == 200
    a_minute_later(monkeypatch)
    status, body = call("admin_staff", "GET", "/admin/staff", headers=legacy)
    assert (status, body["error"]["code"]) == (401, "session_revoked")


def test_guessing_the_current_password_is_throttled_without_locking_the_login(call: Call) -> None:
    token = login(call, "boss", BOSS_PASSWORD)["access_token"]
    guesses = [call("admin_staff", "POST", "/admin/me/password", token=token,
                    body={"current_password": f"guess number {n}", "new_password": "a brand new password"})
               for n in range(6)]
    assert [status for status, _ in guesses] == [422] * 5 + [429]
    assert guesses[-1][1]["error"]["code"] == "account_locked"
    login(call, "boss", BOSS_PASSWORD)  # the login's own counts are untouched
