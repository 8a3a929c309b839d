"""Customers and admins in the single table (keys: docs/data-model.md)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.identity import AdminAccount, Customer
from mall.domain.tokens import Role
from mall.errors import Conflict


def customer_id_for(app_id: str, openid: str) -> str:
    """Deterministic, so first login is one conditional put and a repeat login one read.
    Hashed so the id reveals nothing about the openid."""
    digest = hashlib.sha256(f"{app_id}:{openid}".encode()).digest()
    return "u_" + base64.b32encode(digest[:15]).decode("ascii").lower()


def _customer_key(user_id: str) -> dict[str, str]:
    return {"pk": f"USER#{user_id}", "sk": "PROFILE"}


def _customer_from_item(item: Item) -> Customer:
    return Customer(
        user_id=item["user_id"],
        openid=item["openid"],
        unionid=item.get("unionid"),
        nickname=item.get("nickname"),
        created_at=datetime.fromisoformat(item["created_at"]),
        roles=frozenset(Role(r) for r in item.get("roles", [Role.CUSTOMER.value])),
    )


class CustomerRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str) -> Customer | None:
        item = self._table.get(_customer_key(user_id))
        return _customer_from_item(item) if item else None

    def get_or_create(self, *, app_id: str, openid: str, unionid: str | None, now: datetime,
                      device_id: str | None = None, source_ip: str | None = None) -> tuple[Customer, bool]:
        """The customer for this openid, created on first login. Returns (customer, created).
        Two first logins at once: one put wins, the other reads the winner's item.

        ``device_id`` / ``source_ip`` (the fraud scan's capture; stored, never logged) go into the
        creating put; on a later login they cost one update, and only when they changed."""
        user_id = customer_id_for(app_id, openid)
        existing = self._table.get(_customer_key(user_id))
        if existing:
            self._note_client(existing, device_id=device_id, source_ip=source_ip, now=now)
            return _customer_from_item(existing), False
        item: dict[str, Any] = {
            **_customer_key(user_id),
            "entity": "customer",
            "user_id": user_id,
            "openid": openid,
            "unionid": unionid,
            "roles": [Role.CUSTOMER.value],
            "created_at": iso(now),
            **_client_fields(device_id, source_ip, now),
        }
        if unionid:
            item["gsi1pk"] = f"UNIONID#{unionid}"
            item["gsi1sk"] = f"USER#{user_id}"
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
            self._table.update(_customer_key(str(item["user_id"])), update, condition="attribute_exists(pk)",
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


def _admin_key(username: str) -> dict[str, str]:
    return {"pk": f"ADMIN#{username}", "sk": "PROFILE"}


def _admin_from_item(item: Item) -> AdminAccount:
    locked = item.get("locked_until")
    return AdminAccount(
        username=item["username"],
        password_hash=item["password_hash"],
        display_name=item.get("display_name", ""),
        created_at=datetime.fromisoformat(item["created_at"]),
        failed_attempts=int(item.get("failed_attempts", 0)),
        locked_until=datetime.fromisoformat(locked) if locked else None,
        disabled=bool(item.get("disabled", False)),
    )


class AdminRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, username: str) -> AdminAccount | None:
        item = self._table.get(_admin_key(username), consistent=True)
        return _admin_from_item(item) if item else None

    def create(self, account: AdminAccount) -> None:
        item = {**_admin_key(account.username), "entity": "admin", "username": account.username,
                "password_hash": account.password_hash, "display_name": account.display_name,
                "created_at": iso(account.created_at), "failed_attempts": 0, "disabled": account.disabled}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            raise Conflict(f"admin {account.username!r} already exists", code="admin_exists") from exc

    def set_password(self, username: str, password_hash: str) -> None:
        self._table.update(_admin_key(username), "SET password_hash = :h, failed_attempts = :z REMOVE locked_until",
                           condition="attribute_exists(pk)", values={":h": password_hash, ":z": 0})

    def record_failure(self, username: str) -> int:
        """Count one more failed attempt atomically; concurrent failures all count."""
        item = self._table.update(_admin_key(username), "ADD failed_attempts :one",
                                  condition="attribute_exists(pk)", values={":one": 1})
        return int(item["failed_attempts"])

    def lock(self, username: str, until: datetime) -> None:
        self._table.update(_admin_key(username), "SET locked_until = :u, failed_attempts = :z",
                           condition="attribute_exists(pk)", values={":u": iso(until), ":z": 0})

    def record_success(self, username: str, now: datetime) -> None:
        self._table.update(_admin_key(username), "SET failed_attempts = :z, last_login_at = :t REMOVE locked_until",
                           condition="attribute_exists(pk)", values={":z": 0, ":t": iso(now)})
