"""Customers and admins in the single table (keys: docs/data-model.md)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mall.clock import iso, parse_instant
from mall.dal.customers import CustomerDirectory, registration_index
from mall.dal.keys import (
    admin_key,
    customer_profile_key,
    key_id,
    known_login_source_key,
    login_source_key,
    login_throttle_key,
    password_check_key,
    staff_index_key,
    staff_partition,
    unionid_partition,
    user_partition,
)
from mall.dal.table import ConditionFailed, Item, Key, Table, TransactionCancelled, Write
from mall.domain.identity import KNOWN_SOURCE_DAYS, AdminAccount, Customer, LockoutPolicy, login_throttled
from mall.domain.staff import sorted_roles
from mall.domain.tokens import Role
from mall.errors import Conflict, NotFound, TooManyRequests


def customer_id_for(app_id: str, openid: str) -> str:
    """Deterministic, so first login is one conditional put and a repeat login one read.
    Hashed so the id reveals nothing about the openid."""
    digest = hashlib.sha256(f"{app_id}:{openid}".encode()).digest()
    return "u_" + base64.b32encode(digest[:15]).decode("ascii").lower()


def _customer_from_item(item: Item) -> Customer:
    return Customer(
        user_id=item["user_id"],
        openid=item["openid"],
        unionid=item.get("unionid"),
        nickname=item.get("nickname"),
        created_at=parse_instant(item["created_at"]),
        roles=frozenset(Role(r) for r in item.get("roles", [Role.CUSTOMER.value])),
        phone_masked=item.get("phone_masked") if item.get("phone_enc") else None,
    )


def phone_context(user_id: str) -> str:
    """The associated data the profile's sealed phone is bound to: the customer's own partition."""
    return user_partition(user_id)


class CustomerRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str) -> Customer | None:
        item = self._table.get(customer_profile_key(user_id))
        return _customer_from_item(item) if item else None

    def bind_phone(self, user_id: str, *, phone_enc: str, phone_masked: str, phone_fp: str, country_code: str,
                   now: datetime) -> None:
        """Store the customer's phone (sealed, its mask and keyed hash) on the profile, replacing any
        earlier one (the last binding wins), and the keyed hash in the customer's search entry, in one
        transaction: the merchant's phone search never finds a number the profile no longer holds.
        ``NotFound`` when the profile is gone."""
        try:
            self._table.transact([
                Write.update(self._table.name, customer_profile_key(user_id),
                             "SET phone_enc = :enc, phone_masked = :masked, phone_fp = :fp, phone_country_code = :cc, "
                             "phone_bound_at = :at", condition="attribute_exists(pk)",
                             values={":enc": phone_enc, ":masked": phone_masked, ":fp": phone_fp, ":cc": country_code,
                                     ":at": iso(now)}),
                CustomerDirectory(self._table).phone_write(user_id, phone_fp),
            ])
        except TransactionCancelled as exc:
            raise NotFound("account no longer exists", code="account_not_found") from exc

    def get_or_create(self, *, app_id: str, openid: str, unionid: str | None, now: datetime,
                      device_id: str | None = None, source_ip: str | None = None) -> tuple[Customer, bool]:
        """The customer for this openid, created on first login. Returns (customer, created).
        Two first logins at once: one put wins, the other reads the winner's item.

        ``device_id`` / ``source_ip`` (the fraud scan's capture; stored, never logged) go into the
        creating put; on a later login they cost one update, and only when they changed."""
        user_id = customer_id_for(app_id, openid)
        existing = self._table.get(customer_profile_key(user_id))
        if existing:
            self._note_client(existing, device_id=device_id, source_ip=source_ip, now=now)
            return _customer_from_item(existing), False
        item: dict[str, Any] = {
            **customer_profile_key(user_id),
            "entity": "customer",
            "user_id": user_id,
            "openid": openid,
            "unionid": unionid,
            "roles": [Role.CUSTOMER.value],
            "created_at": iso(now),
            **_client_fields(device_id, source_ip, now),
            **registration_index(user_id, iso(now)),
        }
        if unionid:
            item["gsi1pk"] = unionid_partition(unionid)
            item["gsi1sk"] = user_partition(user_id)
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed as lost_race:
            if lost_race.item is None:
                raise
            return _customer_from_item(lost_race.item), False
        return _customer_from_item(item), True

    def _note_client(self, item: Item, *, device_id: str | None, source_ip: str | None, now: datetime) -> None:
        """Record the login's device and IP on the profile when they differ from the last ones."""
        device = device_id if device_id and device_id != item.get("last_device_id") else None
        ip = source_ip if source_ip and source_ip != item.get("last_source_ip") else None
        if device is None and ip is None:
            return
        sets = ["last_client_at = :now"]
        values: dict[str, Any] = {":now": iso(now)}
        if device is not None:
            sets.append("last_device_id = :d")
            values[":d"] = device
        if ip is not None:
            sets.append("last_source_ip = :ip")
            values[":ip"] = ip
        update = "SET " + ", ".join(sets)
        known = item.get("known_devices") or set()
        if device is not None and device not in known and len(known) < KNOWN_DEVICES_LIMIT:
            update += " ADD known_devices :ds"
            values[":ds"] = {device}
        try:
            self._table.update(customer_profile_key(str(item["user_id"])), update, condition="attribute_exists(pk)",
                               values=values)
        except ConditionFailed:
            return  # the profile went away meanwhile: a capture never fails a login


#: A customer's ``known_devices`` keeps at most this many device ids (the item stays small).
KNOWN_DEVICES_LIMIT = 20


def _client_fields(device_id: str | None, source_ip: str | None, now: datetime) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if device_id:
        fields |= {"last_device_id": device_id, "known_devices": {device_id}}
    if source_ip:
        fields["last_source_ip"] = source_ip
    if fields:
        fields["last_client_at"] = iso(now)
    return fields


def _admin_from_item(item: Item) -> AdminAccount:
    stored_roles = item.get("roles")
    return AdminAccount(
        username=item["username"],
        password_hash=item["password_hash"],
        display_name=item.get("display_name", ""),
        created_at=parse_instant(item["created_at"]),
        disabled=bool(item.get("disabled", False)),
        session_version=int(item.get("session_version", 0)),
        # Stored before staff roles (the admin_owner_roles migration fills them): an owner.
        roles=frozenset(Role(r) for r in stored_roles) if stored_roles else frozenset({Role.OWNER}),
        last_login_at=parse_instant(item["last_login_at"]) if item.get("last_login_at") else None,
    )


def _at_version(version: int) -> tuple[str, dict[str, Any]]:
    """The condition that an admin item still has session version ``version`` (absent means 0)."""
    if version == 0:
        return "attribute_exists(pk) AND (attribute_not_exists(session_version) OR session_version = :v0)", {":v0": 0}
    return "attribute_exists(pk) AND session_version = :v0", {":v0": version}


def staff_changed(username: str) -> Conflict:
    return Conflict(f"admin {username!r} was changed by someone else meanwhile; read it again and retry",
                    code="staff_account_changed")


@dataclass(frozen=True)
class StaffChange:
    """A change to an admin account decided from ``account`` as read: what to set (None: unchanged).
    ``keep_owner``: an enabled owner that must still be one, unchanged, when this commits (the change
    takes an owner away, and this one stays: two owners demoting each other at once cannot both win)."""

    account: AdminAccount
    roles: frozenset[Role] | None = None
    disabled: bool | None = None
    password_hash: str | None = None
    keep_owner: AdminAccount | None = None


class AdminRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, username: str) -> AdminAccount | None:
        item = self._table.get(admin_key(username), consistent=True)
        return _admin_from_item(item) if item else None

    def create(self, account: AdminAccount, *, also: Sequence[Write] = ()) -> None:
        """A new account (409 ``admin_exists`` when the username is taken), with ``also`` (its audit
        entry) in the same transaction."""
        item = {**admin_key(account.username), **staff_index_key(account.username), "entity": "admin",
                "username": account.username, "password_hash": account.password_hash,
                "display_name": account.display_name, "created_at": iso(account.created_at),
                "disabled": account.disabled, "session_version": account.session_version,
                "roles": sorted_roles(account.roles)}
        try:
            if also:
                self._table.transact([Write.put(self._table.name, item, condition="attribute_not_exists(pk)"), *also])
            else:
                self._table.put(item, condition="attribute_not_exists(pk)")
        except (ConditionFailed, TransactionCancelled) as exc:
            if isinstance(exc, TransactionCancelled) and 0 not in exc.conditional_failures:
                raise
            raise Conflict(f"admin {account.username!r} already exists", code="admin_exists") from exc

    def list_staff(self, *, limit: int, start_key: Key | None) -> tuple[list[AdminAccount], Key | None]:
        """Admin accounts by username, one page (the ``STAFF`` index partition)."""
        page = self._table.query(partition=staff_partition(), index="gsi1", limit=limit, start_key=start_key)
        return [_admin_from_item(item) for item in page.items], page.last_key

    def change(self, change: StaffChange, *, also: Sequence[Write] = ()) -> AdminAccount:
        """Apply ``change`` only if the account is still as read (its session version), moving the
        version on: every token issued before stops working. 409 ``staff_account_changed`` when the
        account (or the owner kept) changed meanwhile. Returns the account as written."""
        account = change.account
        sets: list[str] = []
        values: dict[str, Any] = {}
        if change.roles is not None:
            sets.append("#roles = :roles")
            values[":roles"] = sorted_roles(change.roles)
        if change.disabled is not None:
            sets.append("disabled = :d")
            values[":d"] = change.disabled
        if change.password_hash is not None:
            sets.append("password_hash = :h")
            values[":h"] = change.password_hash
        condition, version = _at_version(account.session_version)
        update = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD session_version :one"
        writes = [Write.update(self._table.name, admin_key(account.username), update, condition=condition,
                               names={"#roles": "roles"} if change.roles is not None else None,
                               values={**values, **version, ":one": 1})]
        if change.keep_owner is not None:
            kept_condition, kept_version = _at_version(change.keep_owner.session_version)
            writes.append(Write.check(self._table.name, admin_key(change.keep_owner.username),
                                      f"{kept_condition} AND disabled = :false",
                                      values={**kept_version, ":false": False}))
        try:
            self._table.transact([*writes, *also])
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            # A conflict: another change to the same account (or to the owner kept) at the same moment.
            if 0 in failed or (1 in failed and change.keep_owner is not None) or "TransactionConflict" in exc.reasons:
                raise staff_changed(account.username) from exc
            raise
        return replace(account, session_version=account.session_version + 1,
                       roles=change.roles if change.roles is not None else account.roles,
                       disabled=change.disabled if change.disabled is not None else account.disabled,
                       password_hash=change.password_hash or account.password_hash)

    def set_password(self, username: str, password_hash: str) -> int:
        """New password; every token issued before stops working (the session version moves on).
        Returns the new session version. ``NotFound`` for an unknown admin."""
        return self._bump(username, "SET password_hash = :h", {":h": password_hash})

    def set_disabled(self, username: str, disabled: bool) -> int:
        """Disable (or enable again) the account; either way every token issued before stops working."""
        return self._bump(username, "SET disabled = :d", {":d": disabled})

    def _bump(self, username: str, update: str, values: dict[str, Any]) -> int:
        try:
            item = self._table.update(admin_key(username), f"{update} ADD session_version :one",
                                      condition="attribute_exists(pk)", values={**values, ":one": 1})
        except ConditionFailed as exc:
            raise NotFound(f"no admin {username!r}", code="account_not_found") from exc
        return int(item["session_version"])

    def session_state(self, username: str) -> tuple[int, bool] | None:
        """(session version, disabled) of the account, None when it does not exist (the token check)."""
        item = self._table.get(admin_key(username), consistent=True)
        if not item:
            return None
        return int(item.get("session_version", 0)), bool(item.get("disabled", False))

    def record_success(self, username: str, now: datetime, *, also: Sequence[Write] = ()) -> None:
        """The account's ``last_login_at``, with ``also`` (the rest of a completed login) in one
        transaction."""
        success = Write.update(self._table.name, admin_key(username), "SET last_login_at = :t",
                               condition="attribute_exists(pk)", values={":t": iso(now)})
        if also:
            self._table.transact([success, *also])
        else:
            self._table.write_one(success)


class LoginThrottle:
    """Admin login attempts counted before the password is checked (``LockoutPolicy``): one item per
    (username, source IP) ``LOGIN#<username>`` / ``IP#<ip>``, one per username ``ALL``, and one per
    source a login succeeded from, ``KNOWN#<ip>``. Every count is a conditional update, so any number
    of parallel attempts takes at most the allowed number of slots; all items expire (TTL)."""

    def __init__(self, table: Table, policy: LockoutPolicy) -> None:
        self._table = table
        self._policy = policy

    def reserve(self, username: str, source_ip: str, now: datetime) -> tuple[bool, AdminAccount | None]:
        """Take one attempt for (username, IP) and, from a source the username has never logged in
        from, one of the username's (returns whether it did, and the account, read in the same
        ``BatchGetItem`` as the known source); ``TooManyRequests`` (with when to retry) when none is
        left."""
        pair = login_source_key(username, source_ip)
        self._take(pair, self._policy.max_failed_attempts, now)
        known, account = known_login_source_key(username, source_ip), admin_key(username)
        found = {key_id(item): item for item in self._table.batch_get([known, account], consistent=True)}
        stored = found.get(key_id(account))
        admin = _admin_from_item(stored) if stored else None
        if key_id(known) in found:
            return False, admin
        try:
            self._take(login_throttle_key(username, "ALL"), self._policy.max_attempts_per_username, now)
        except TooManyRequests:
            self._give_back(pair)
            raise
        return True, admin

    def reserve_password_check(self, username: str, source_ip: str, now: datetime) -> list[Write]:
        """Take one attempt at the current password of a signed-in admin changing it, per (username,
        source IP), apart from the login's counts (a mistyped current password never locks the
        login); ``TooManyRequests`` past the limit. Returns the write that starts the source afresh,
        for the change's transaction."""
        key = password_check_key(username, source_ip)
        self._take(key, self._policy.max_failed_attempts, now)
        return [Write.delete(self._table.name, key)]

    def succeeded(self, username: str, source_ip: str, now: datetime, *, counted_for_username: bool) -> list[Write]:
        """The password was right: the attempt is given back to the username (at once), and the
        writes that complete the login, for one transaction: this source starts afresh (its count
        is deleted: the next attempt opens a new window) and is known to the username from now on."""
        if counted_for_username:
            self._give_back(login_throttle_key(username, "ALL"))
        expires = int(now.timestamp()) + KNOWN_SOURCE_DAYS * 86400
        return [Write.delete(self._table.name, login_source_key(username, source_ip)),
                Write.put(self._table.name, {**known_login_source_key(username, source_ip),
                                             "entity": "login_known_source", "expires_at": expires})]

    def _take(self, key: dict[str, str], limit: int, now: datetime) -> None:
        now_s = int(now.timestamp())
        window_ends = now_s + self._policy.lockout_seconds
        for _ in range(3):
            try:  # a fresh window: no item yet, or the last window is over
                self._table.update(key, "SET attempts = :one, window_ends = :ends, expires_at = :exp, entity = :e",
                                   condition="attribute_not_exists(pk) OR window_ends <= :now",
                                   values={":one": 1, ":ends": window_ends, ":exp": window_ends + 86400,
                                           ":now": now_s, ":e": "login_attempts"})
                return
            except ConditionFailed:
                pass
            try:  # the window is open: one more attempt while under the limit
                self._table.update(key, "ADD attempts :one", condition="window_ends > :now AND attempts < :limit",
                                   values={":one": 1, ":now": now_s, ":limit": limit})
                return
            except ConditionFailed as refused:
                current = refused.item or self._table.get(key, consistent=True) or {}
                ends = int(current.get("window_ends", 0))
                if ends > now_s:
                    raise login_throttled(ends, now) from refused
                # the window closed between the two updates: start again
        raise login_throttled(window_ends, now)

    def _give_back(self, key: dict[str, str]) -> None:
        try:
            self._table.update(key, "ADD attempts :minus", condition="attempts > :zero",
                               values={":minus": -1, ":zero": 0})
        except ConditionFailed:
            return  # nothing to give back (the window was reset meanwhile)
