"""Customers (用户) and merchant admins (商家管理员): who they are and the login rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mall.domain.tokens import Role
from mall.errors import FieldProblem, InvalidInput, TooManyRequests, Unauthenticated

USERNAME_PATTERN = r"^[a-z][a-z0-9_.-]{2,31}$"


@dataclass(frozen=True)
class Customer:
    """A mini-program user, created on first login. ``openid`` is per mini-program."""

    user_id: str
    openid: str
    created_at: datetime
    unionid: str | None = None
    nickname: str | None = None
    roles: frozenset[Role] = field(default_factory=lambda: frozenset({Role.CUSTOMER}))
    #: The bound phone (WeChat's getPhoneNumber), masked (138****1234); the number is stored sealed.
    phone_masked: str | None = None


@dataclass(frozen=True)
class AdminAccount:
    """``session_version`` is carried in every token issued to the account; disabling the account,
    changing its password or its roles bumps it, so tokens issued before stop working
    (``mall.api.auth``). ``roles`` are staff roles (``mall.domain.staff``); an account stored before
    staff roles has none stored and is an owner."""

    username: str
    password_hash: str
    created_at: datetime
    display_name: str = ""
    disabled: bool = False
    session_version: int = 0
    roles: frozenset[Role] = frozenset({Role.OWNER})
    last_login_at: datetime | None = None


@dataclass(frozen=True)
class LockoutPolicy:
    """Login throttling (docs/security.md). Each attempt is counted *before* the password is checked,
    by a conditional update, so parallel attempts can never check more passwords than allowed:
    at most ``max_failed_attempts`` per (username, source IP) and ``max_attempts_per_username`` per
    username from sources it has never logged in from, in a window of ``lockout_seconds`` that starts
    with the first attempt. A successful login resets its (username, IP) count and marks the IP as
    known for ``KNOWN_SOURCE_DAYS``: guesses from elsewhere can exhaust the per-username ceiling for
    unknown sources, never lock the admin out of a place they have logged in from."""

    max_failed_attempts: int
    lockout_seconds: int
    max_attempts_per_username: int = 50


#: How long a source IP stays known to a username after a successful login from it.
KNOWN_SOURCE_DAYS = 30


def login_throttled(window_ends: int, now: datetime) -> TooManyRequests:
    """The refusal of an attempt past the limit: says when the window ends (429 + Retry-After)."""
    wait = max(window_ends - int(now.timestamp()), 1)
    return TooManyRequests("too many login attempts; try again later", retry_after_seconds=wait,
                           code="account_locked")


def reject_login() -> Unauthenticated:
    """One message for unknown user, wrong password and disabled account: no user enumeration."""
    return Unauthenticated("username or password is incorrect", code="invalid_credentials")


def validate_new_password(password: str, *, min_length: int) -> None:
    problems = []
    if len(password) < min_length:
        problems.append(FieldProblem("password", f"must be at least {min_length} characters"))
    if password.strip() != password:
        problems.append(FieldProblem("password", "must not start or end with white space"))
    if problems:
        raise InvalidInput("password does not meet the policy", fields=problems)
