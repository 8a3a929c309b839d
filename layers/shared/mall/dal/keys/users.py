"""Keys of the people: the customer's partition and profile, the admin accounts and their login
throttle (docs/data-model.md, "identity")."""

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


#: Sort key of a customer's address book (``USER#<uid>`` / ``ADDRESS_BOOK``): every saved address in one item.
ADDRESS_BOOK_SK = "ADDRESS_BOOK"


def address_book_key(user_id: str) -> Key:
    """``USER#<uid>`` / ``ADDRESS_BOOK``: the customer's saved delivery addresses (收货地址)."""
    return {"pk": user_partition(user_id), "sk": ADDRESS_BOOK_SK}


#: Sort-key prefix of a user's subscribe-message grants (``USER#<uid>`` / ``SUBSCRIBE_GRANT#<template_id>``).
SUBSCRIBE_GRANT_PREFIX = "SUBSCRIBE_GRANT#"


def subscribe_grant_key(user_id: str, template_id: str) -> Key:
    """``USER#<uid>`` / ``SUBSCRIBE_GRANT#<template_id>``: the user's unused grants (订阅授权) of one template."""
    return {"pk": user_partition(user_id), "sk": f"{SUBSCRIBE_GRANT_PREFIX}{template_id}"}


def unionid_partition(unionid: str) -> str:
    """gsi1 ``UNIONID#<unionid>`` of a customer's profile (one person across the merchant's apps)."""
    return f"UNIONID#{unionid}"


def admin_key(username: str) -> dict[str, str]:
    return {"pk": f"ADMIN#{username}", "sk": "PROFILE"}


#: gsi1 partition of every admin account: the staff list (a merchant has tens of admins, one partition).
STAFF_PARTITION = "STAFF"


def staff_index_key(username: str) -> Key:
    """gsi1 ``STAFF`` / ``ADMIN#<username>`` of an admin account: lists the staff by username."""
    return {"gsi1pk": STAFF_PARTITION, "gsi1sk": f"ADMIN#{username}"}


def staff_partition() -> tuple[str, str]:
    """The index partition the staff list is read from (its cursor is bound to it)."""
    return "gsi1pk", STAFF_PARTITION


def login_throttle_key(username: str, scope: str) -> dict[str, str]:
    """``LOGIN#<username>`` / ``<scope>``: one admin login counter (per account, per source IP)."""
    return {"pk": f"LOGIN#{username}", "sk": scope}


def password_check_key(username: str, source_ip: str) -> dict[str, str]:
    """Attempts at a signed-in admin's current password from one source IP (apart from the login's)."""
    return login_throttle_key(username, f"PASSWORD#{source_ip}")


def login_source_key(username: str, source_ip: str) -> dict[str, str]:
    """Failed logins of one account from one source IP."""
    return login_throttle_key(username, f"IP#{source_ip}")


def known_login_source_key(username: str, source_ip: str) -> dict[str, str]:
    """A source IP the account has logged in from successfully."""
    return login_throttle_key(username, f"KNOWN#{source_ip}")


def wechat_refresh_key(app_id: str) -> Key:
    """The forced access-token refreshes of one WeChat app (a daily cap)."""
    return {"pk": f"WECHAT#{app_id}", "sk": "FORCE_REFRESH"}
