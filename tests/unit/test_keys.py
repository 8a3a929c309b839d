"""The single-table keys built in one place are exactly the keys stored (mall.dal.keys)."""

from __future__ import annotations

from mall.dal.keys import PROFILE_SK, customer_profile_key, user_partition
from tests.unit.test_single_definitions import _only_in


def test_the_customer_profile_key_is_the_stored_one() -> None:
    assert customer_profile_key("u_abc123") == {"pk": "USER#u_abc123", "sk": "PROFILE"}
    assert user_partition("u_abc123") == "USER#u_abc123" and PROFILE_SK == "PROFILE"


def test_the_customer_profile_key_is_built_only_there() -> None:
    assert _only_in(r"USER#.*\"PROFILE\"|def (_customer_key|profile_key)\b", "layers/shared/mall/dal/keys.py") == []
