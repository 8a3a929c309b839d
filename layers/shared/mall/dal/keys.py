"""Single-table keys that several repositories read or write (docs/data-model.md).

Each builder returns exactly the key stored today (tests/unit/test_keys.py pins them): changing one
is a change to stored data and needs a migration.
"""

from __future__ import annotations

from mall.dal.table import Key

#: Sort key of a customer's profile (``USER#<uid>`` / ``PROFILE``): identity, counters, PII.
PROFILE_SK = "PROFILE"


def user_partition(user_id: str) -> str:
    """``USER#<uid>``: the partition of everything kept per user (profile, promoter, wallet, ...)."""
    return f"USER#{user_id}"


def customer_profile_key(user_id: str) -> Key:
    """``USER#<uid>`` / ``PROFILE``: the customer created at the first login."""
    return {"pk": user_partition(user_id), "sk": PROFILE_SK}
