"""Identity under real concurrency on DynamoDB Local: requests really run in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

from mall.dal.identity import AdminRepository, CustomerRepository
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


def test_parallel_wrong_passwords_all_count_and_lock_the_account(table: Table) -> None:
    admins = AdminRepository(table)
    admins.create(AdminAccount("alice", hash_password("the-right-password"), NOW))
    policy = LockoutPolicy(max_failed_attempts=5, lockout_seconds=900)
    workers = 12
    barrier = Barrier(workers)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            login_admin(username="alice", password="wrong", admins=admins, policy=policy, signing_key=b"k" * 32,
                        ttl_seconds=60, now=NOW)
        except Unauthenticated:
            return "refused"
        except TooManyRequests:
            return "locked"
        return "logged in"

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(attempt, range(workers)))
    assert "logged in" not in outcomes
    account = admins.get("alice")
    assert account is not None and account.locked_until is not None and account.locked_until > NOW
    try:
        login_admin(username="alice", password="the-right-password", admins=admins, policy=policy,
                    signing_key=b"k" * 32, ttl_seconds=60, now=NOW)
    except TooManyRequests:
        pass
    else:
        raise AssertionError("a locked account accepted the right password")
