from datetime import UTC, datetime, timedelta

import pytest

from mall.domain.identity import (
    AdminAccount,
    LockoutPolicy,
    ensure_can_attempt_login,
    lock_after_failure,
    validate_new_password,
)
from mall.domain.passwords import dummy_hash, hash_password, verify_password
from mall.errors import InvalidInput, TooManyRequests

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failed_attempts=3, lockout_seconds=600)


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first != second
    assert first.startswith("scrypt$")
    assert verify_password("correct horse battery", first)
    assert not verify_password("correct horse batterY", first)


@pytest.mark.parametrize("encoded", ["", "plain", "md5$x$y", "scrypt$1$2$3$!!$!!"])
def test_garbage_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_dummy_hash_is_a_real_hash_that_matches_nothing_useful() -> None:
    assert not verify_password("admin", dummy_hash())


def test_lock_starts_at_the_configured_failure_count() -> None:
    assert lock_after_failure(2, NOW, POLICY) is None
    assert lock_after_failure(3, NOW, POLICY) == NOW + timedelta(seconds=600)


def test_locked_account_refuses_until_the_lock_ends() -> None:
    account = AdminAccount("alice", "h", NOW, locked_until=NOW + timedelta(seconds=30))
    with pytest.raises(TooManyRequests) as err:
        ensure_can_attempt_login(account, NOW)
    assert 30 <= err.value.retry_after_seconds <= 31
    ensure_can_attempt_login(account, NOW + timedelta(seconds=30))
    ensure_can_attempt_login(None, NOW)


def test_password_policy_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_new_password("short", min_length=12)
    assert err.value.fields[0].field == "password"
