"""Identity under real concurrency on DynamoDB Local: requests really run in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

import pytest

from mall.dal.identity import AdminRepository, CustomerRepository, LoginThrottle
from mall.dal.table import Table
from mall.domain.identity import AdminAccount, LockoutPolicy
from mall.domain.passwords import hash_password
from mall.errors import TooManyRequests, Unauthenticated
from mall.services.identity import login_admin

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_parallel_first_logins_create_exactly_one_customer(table: Table) -> None:
    repo = CustomerRepository(table)
    workers = 16
    barrier = Barrier(workers)

    def login(_: int) -> tuple[str, bool]:
        barrier.wait()
        customer, created = repo.get_or_create(app_id="wx", openid="o-same", unionid="un-1", now=NOW)
        return customer.user_id, created

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(login, range(workers)))
    assert len({user_id for user_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    page = table.query(partition=("gsi1pk", "UNIONID#un-1"), index="gsi1")
    assert [item["user_id"] for item in page.items] == [results[0][0]]


def _attempts(admins: AdminRepository, throttle: LoginThrottle, sources: list[str],
              password: str = "wrong") -> list[tuple[str, int]]:  # noqa: S107
    """One login attempt per source, all released at once; (outcome, Retry-After) each."""
    barrier = Barrier(len(sources))

    def attempt(source: str) -> tuple[str, int]:
        barrier.wait()
        try:
            login_admin(username="alice", password=password, admins=admins, throttle=throttle,
                        signing_key=b"k" * 32, ttl_seconds=60, now=NOW, source_ip=source)
        except Unauthenticated:
            return "checked and refused", 0
        except TooManyRequests as refused:
            return "throttled", refused.retry_after_seconds
        return "logged in", 0

    with ThreadPoolExecutor(len(sources)) as pool:
        return list(pool.map(attempt, sources))


def test_parallel_wrong_passwords_check_at_most_the_allowed_number(table: Table) -> None:
    admins = AdminRepository(table)
    admins.create(AdminAccount("alice", hash_password("the-right-password"), NOW))
    throttle = LoginThrottle(table, LockoutPolicy(max_failed_attempts=5, lockout_seconds=900,
                                                  max_attempts_per_username=50))
    outcomes = _attempts(admins, throttle, ["203.0.113.9"] * 100)
    assert sum(1 for outcome, _ in outcomes if outcome == "checked and refused") == 5
    throttled = [wait for outcome, wait in outcomes if outcome == "throttled"]
    assert len(throttled) == 95 and all(0 < wait <= 900 for wait in throttled)
    # The right password from the attacker's address waits too; from the admin's own place it works.
    assert _attempts(admins, throttle, ["203.0.113.9"], "the-right-password")[0][0] == "throttled"
    assert _attempts(admins, throttle, ["198.51.100.7"], "the-right-password")[0][0] == "logged in"


def test_guesses_from_many_addresses_stop_at_the_username_ceiling_but_not_the_admins_own_place(table: Table) -> None:
    admins = AdminRepository(table)
    admins.create(AdminAccount("alice", hash_password("the-right-password"), NOW))
    throttle = LoginThrottle(table, LockoutPolicy(max_failed_attempts=5, lockout_seconds=900,
                                                  max_attempts_per_username=20))
    assert _attempts(admins, throttle, ["198.51.100.7"], "the-right-password")[0][0] == "logged in"
    outcomes = _attempts(admins, throttle, [f"203.0.113.{n}" for n in range(100)])
    assert sum(1 for outcome, _ in outcomes if outcome == "checked and refused") <= 20
    assert sum(1 for outcome, _ in outcomes if outcome == "throttled") >= 80
    # A new address is refused now, even with the right password; the admin's known one is not.
    assert _attempts(admins, throttle, ["192.0.2.55"], "the-right-password")[0][0] == "throttled"
    assert _attempts(admins, throttle, ["198.51.100.7"], "the-right-password")[0][0] == "logged in"


def test_the_window_ends_and_a_success_starts_the_source_afresh(table: Table) -> None:
    admins = AdminRepository(table)
    admins.create(AdminAccount("alice", hash_password("the-right-password"), NOW))
    throttle = LoginThrottle(table, LockoutPolicy(max_failed_attempts=2, lockout_seconds=60))
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            login_admin(username="alice", password="wrong", admins=admins, throttle=throttle, signing_key=b"k" * 32,
                        ttl_seconds=60, now=NOW, source_ip="203.0.113.1")
    with pytest.raises(TooManyRequests) as refused:
        login_admin(username="alice", password="the-right-password", admins=admins, throttle=throttle,
                    signing_key=b"k" * 32, ttl_seconds=60, now=NOW + timedelta(seconds=10), source_ip="203.0.113.1")
    assert refused.value.retry_after_seconds == 50
    later = NOW + timedelta(seconds=61)
    login_admin(username="alice", password="the-right-password", admins=admins, throttle=throttle,
                signing_key=b"k" * 32, ttl_seconds=60, now=later, source_ip="203.0.113.1")
    with pytest.raises(Unauthenticated):  # the success reset the count: two more tries
        login_admin(username="alice", password="wrong", admins=admins, throttle=throttle, signing_key=b"k" * 32,
                    ttl_seconds=60, now=later, source_ip="203.0.113.1")


def test_the_migration_removes_the_old_login_counters_once(table: Table) -> None:
    from tools.migrations import run
    from tools.migrations.admin_login_counters import MIGRATION

    table.put({"pk": "ADMIN#bob", "sk": "PROFILE", "entity": "admin", "username": "bob", "password_hash": "h",
               "created_at": NOW.isoformat(), "failed_attempts": 3, "locked_until": NOW.isoformat()})
    table.put({"pk": "ADMIN#carol", "sk": "PROFILE", "entity": "admin", "username": "carol", "password_hash": "h",
               "created_at": NOW.isoformat(), "session_version": 2})
    assert run(table, MIGRATION, dry_run=True).changed == 1
    assert run(table, MIGRATION).changed == 1
    bob = table.get({"pk": "ADMIN#bob", "sk": "PROFILE"}) or {}
    assert "failed_attempts" not in bob and "locked_until" not in bob and bob["password_hash"] == "h"
    assert run(table, MIGRATION, restart=True).changed == 0
    account = AdminRepository(table).get("bob")
    assert account is not None and account.session_version == 0
