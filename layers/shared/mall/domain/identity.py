"""Customers (用户) and merchant admins (商家管理员): who they are and the login rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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


@dataclass(frozen=True)
class AdminAccount:
    username: str
    password_hash: str
    created_at: datetime
    display_name: str = ""
    failed_attempts: int = 0
    locked_until: datetime | None = None
    disabled: bool = False


@dataclass(frozen=True)
class LockoutPolicy:
    max_failed_attempts: int
    lockout_seconds: int


def ensure_can_attempt_login(account: AdminAccount | None, now: datetime) -> None:
    """A locked account refuses every attempt, even with the right password, until the lock ends."""
    if account is None:
        return
    if account.locked_until is not None and account.locked_until > now:
        wait = int((account.locked_until - now).total_seconds()) + 1
        raise TooManyRequests(
            "too many failed logins; this account is locked for a while",
            retry_after_seconds=wait,
            code="account_locked",
        )


def lock_after_failure(failed_attempts: int, now: datetime, policy: LockoutPolicy) -> datetime | None:
    """Given the failure count after this attempt, when the lock should end (None: no lock yet)."""
    if failed_attempts >= policy.max_failed_attempts:
        return now + timedelta(seconds=policy.lockout_seconds)
    return None


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
