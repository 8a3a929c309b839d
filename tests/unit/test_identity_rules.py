from datetime import UTC, datetime

import pytest

from mall.domain.identity import login_throttled, validate_new_password
from mall.domain.passwords import dummy_hash, hash_password, verify_password
from mall.errors import InvalidInput, TooManyRequests

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


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


def test_a_throttled_login_says_when_to_retry() -> None:
    refused = login_throttled(int(NOW.timestamp()) + 30, NOW)
    assert isinstance(refused, TooManyRequests) and refused.retry_after_seconds == 30
    assert login_throttled(int(NOW.timestamp()) - 5, NOW).retry_after_seconds == 1


def test_password_policy_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_new_password("short", min_length=12)
    assert err.value.fields[0].field == "password"
