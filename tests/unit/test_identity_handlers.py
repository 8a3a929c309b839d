"""Login, admin login with lockout, and GET /me through the real handlers (moto)."""

from __future__ import annotations

import time

import pytest

from local.sandbox import sandbox_openid
from mall.api.auth import SESSION_CACHE_SECONDS
from mall.dal.identity import customer_id_for
from tests.unit.conftest import Invoke
from tools.admin_access import change_password, disable_admin
from tools.create_admin import ensure_admin

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def _sandbox(sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", f"{sandbox_url}/wechat")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_first_login_creates_the_customer_and_the_second_finds_it(invoke: Invoke) -> None:
    status, body, _ = invoke("auth_login", "POST", "/auth/login", body={"code": "alice"})
    assert status == 200, body
    assert body["is_new_user"] is True
    assert body["user_id"] == customer_id_for("wx_test_app", sandbox_openid("alice"))
    assert body["roles"] == ["customer"] and body["token_type"] == "Bearer"
    assert "session_key" not in str(body)
    status, again, _ = invoke("auth_login", "POST", "/auth/login", body={"code": "alice"})
    assert status == 200 and again["is_new_user"] is False and again["user_id"] == body["user_id"]


def test_me_returns_the_callers_own_profile(invoke: Invoke) -> None:
    _, login, _ = invoke("auth_login", "POST", "/auth/login", body={"code": "bob"})
    status, me, _ = invoke("me", "GET", "/me", headers=bearer(login["access_token"]))
    assert status == 200
    assert me["kind"] == "customer" and me["id"] == login["user_id"] and me["roles"] == ["customer"]
    assert me["created_at"].endswith("Z")


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_token"),
    ({"authorization": "Basic abc"}, "missing_token"),
    ({"authorization": "Bearer not.a.token"}, "invalid_token"),
])
def test_me_needs_a_valid_token(invoke: Invoke, headers: dict[str, str], code: str) -> None:
    status, body, _ = invoke("me", "GET", "/me", headers=headers)
    assert status == 401
    assert body["error"]["code"] == code


@pytest.mark.parametrize(("code", "status", "error_code"), [
    ("invalid", 422, "invalid_login_code"),
    ("ratelimited", 429, "login_rate_limited"),
    ("risky", 403, "high_risk_user"),
    ("busy", 503, "wechat_unavailable"),
])
def test_wechat_errcodes_map_to_clear_statuses(invoke: Invoke, code: str, status: int, error_code: str) -> None:
    got, body, _ = invoke("auth_login", "POST", "/auth/login", body={"code": code})
    assert got == status
    assert body["error"]["code"] == error_code


def test_unreachable_wechat_is_a_503_not_a_crash(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9/nothing")
    status, body, _ = invoke("auth_login", "POST", "/auth/login", body={"code": "alice"})
    assert status == 503 and body["error"]["code"] == "wechat_unavailable"


@pytest.mark.parametrize(("kwargs", "status", "field"), [
    ({"body": {}}, 422, "code"),
    ({"body": {"code": ""}}, 422, "code"),
    ({"body": {"code": "x", "surprise": 1}}, 422, "surprise"),
    ({"body": {"code": 12}}, 422, "code"),
    ({"raw_body": "{not json"}, 400, "body"),
])
def test_bad_input_names_the_field(invoke: Invoke, kwargs: dict[str, object], status: int, field: str) -> None:
    got, body, _ = invoke("auth_login", "POST", "/auth/login", **kwargs)
    assert got == status, body
    assert field in [f["field"] for f in body["error"]["fields"]]


def test_admin_login_and_profile(invoke: Invoke) -> None:
    ensure_admin("alice", "a-long-enough-password", display_name="Alice")
    status, token, _ = invoke("admin_login", "POST", "/admin/auth/login",
                              body={"username": "Alice", "password": "a-long-enough-password"})
    assert status == 200 and token["roles"] == ["owner"]
    status, me, _ = invoke("me", "GET", "/me", headers=bearer(token["access_token"]))
    assert status == 200 and me == {**me, "kind": "admin", "id": "alice", "display_name": "Alice"}


def test_unknown_admin_and_wrong_password_look_the_same(invoke: Invoke) -> None:
    ensure_admin("alice", "a-long-enough-password")
    unknown = invoke("admin_login", "POST", "/admin/auth/login", body={"username": "mallory", "password": "x"})
    wrong = invoke("admin_login", "POST", "/admin/auth/login", body={"username": "alice", "password": "x"})
    assert unknown[0] == wrong[0] == 401
    assert unknown[1] == wrong[1]


def test_lockout_after_repeated_failures_refuses_even_the_right_password(
        invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_MAX_FAILED_LOGINS", "3")
    ensure_admin("alice", "a-long-enough-password")
    for _ in range(3):
        assert invoke("admin_login", "POST", "/admin/auth/login",
                      body={"username": "alice", "password": "wrong"})[0] == 401
    status, body, headers = invoke("admin_login", "POST", "/admin/auth/login",
                                   body={"username": "alice", "password": "a-long-enough-password"})
    assert status == 429 and body["error"]["code"] == "account_locked"
    assert int(headers["Retry-After"]) > 0


def test_customer_token_cannot_pass_as_admin(invoke: Invoke) -> None:
    _, login, _ = invoke("auth_login", "POST", "/auth/login", body={"code": "carol"})
    status, me, _ = invoke("me", "GET", "/me", headers=bearer(login["access_token"]))
    assert status == 200 and me["kind"] == "customer"


def _minutes_later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Each container trusts what it read of an admin's session for a minute: move its clock on."""
    from mall.api import auth

    real = time.monotonic
    monkeypatch.setattr(auth.time, "monotonic", lambda: real() + seconds)


def _admin_token(invoke: Invoke, password: str = "a-long-enough-password") -> str:  # noqa: S107
    status, body, _ = invoke("admin_login", "POST", "/admin/auth/login",
                             body={"username": "alice", "password": password})
    assert status == 200, body
    return str(body["access_token"])


def test_a_disabled_admins_token_stops_working_within_a_minute(invoke: Invoke,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_admin("alice", "a-long-enough-password")
    token = _admin_token(invoke)
    assert invoke("admin_settings", "GET", "/admin/settings/distribution", headers=bearer(token))[0] == 200
    disable_admin("alice")
    _minutes_later(monkeypatch, SESSION_CACHE_SECONDS + 1)
    for function, path in (("admin_settings", "/admin/settings/distribution"), ("me", "/me")):
        status, body, _ = invoke(function, "GET", path, headers=bearer(token))
        assert (status, body["error"]["code"]) == (401, "session_revoked"), (path, body)
    disable_admin("alice", disabled=False)  # enabled again: the old token stays dead, a new login works
    assert invoke("me", "GET", "/me", headers=bearer(token))[0] == 401
    assert invoke("me", "GET", "/me", headers=bearer(_admin_token(invoke)))[0] == 200


def test_a_password_change_ends_the_old_sessions_and_the_new_login_works_at_once(
        invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_admin("alice", "a-long-enough-password")
    old = _admin_token(invoke)
    assert invoke("admin_settings", "GET", "/admin/settings/distribution", headers=bearer(old))[0] == 200
    change_password("alice", "another-long-password")
    new = _admin_token(invoke, "another-long-password")
    # the container still holds the old version for up to a minute, yet the newer token is read through
    assert invoke("admin_settings", "GET", "/admin/settings/distribution", headers=bearer(new))[0] == 200
    _minutes_later(monkeypatch, SESSION_CACHE_SECONDS + 1)
    status, body, _ = invoke("admin_settings", "GET", "/admin/settings/distribution", headers=bearer(old))
    assert (status, body["error"]["code"]) == (401, "session_revoked")
    assert invoke("admin_settings", "GET", "/admin/settings/distribution", headers=bearer(new))[0] == 200


def test_the_operator_commands_name_an_unknown_admin(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.admin_access import main

    assert main(["disable", "--username", "nobody"]) == 1
    assert "no admin 'nobody'" in capsys.readouterr().err
