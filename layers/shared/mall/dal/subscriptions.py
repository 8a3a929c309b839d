"""Subscribe-message grants per user and template (订阅授权; keys: docs/data-model.md, "notifications").

``USER#<uid>`` / ``SUBSCRIBE_GRANT#<template_id>``: ``remaining`` (unused one-time grants),
``long_term`` (a long-term template the user keeps on), ``granted_total`` / ``used_total``, the last
answer and scene. A report adds to ``remaining`` in one transaction for all its templates; a send
takes one away in the transaction that reserves the send on its notification record
(``mall.dal.notifications.NotificationRepository.reserve_grant``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.keys import SUBSCRIBE_GRANT_PREFIX, subscribe_grant_key, user_partition
from mall.dal.table import Item, Table, Write
from mall.domain.subscriptions import GrantChange, GrantScene


class SubscriptionGrantRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, user_id: str, changes: Sequence[GrantChange], scene: GrantScene, now: datetime) -> None:
        """Add the reported grants, all templates in one write (nothing when ``changes`` is empty)."""
        writes: list[Write] = []
        for change in changes:
            names = {"#result": "last_result"}
            values: dict[str, Any] = {":entity": "subscribe_grant", ":user": user_id, ":template": change.template_id,
                                      ":result": change.result.value, ":scene": scene.value, ":at": iso(now),
                                      ":added": change.added, ":zero": 0}
            sets = ["entity = :entity", "user_id = :user", "template_id = :template", "#result = :result",
                    "last_scene = :scene", "updated_at = :at", "remaining = if_not_exists(remaining, :zero)",
                    "used_total = if_not_exists(used_total, :zero)"]
            if change.long_term is not None:
                sets.append("long_term = :long_term")
                values[":long_term"] = change.long_term
            adds = " ADD granted_total :added, remaining :added" if change.added else ""
            if adds:
                # ADD and if_not_exists may not name the same attribute in one expression.
                sets.remove("remaining = if_not_exists(remaining, :zero)")
            else:
                values.pop(":added")
            writes.append(Write.update(self._table.name, subscribe_grant_key(user_id, change.template_id),
                                       "SET " + ", ".join(sets) + adds, names=names, values=values))
        if len(writes) == 1:
            self._table.write_one(writes[0])
        elif writes:
            self._table.transact(writes)

    def for_user(self, user_id: str) -> list[Item]:
        """Every template's grant record of the user (a handful: only configured templates are kept)."""
        page = self._table.query(partition=("pk", user_partition(user_id)),
                                 sort_prefix=("sk", SUBSCRIBE_GRANT_PREFIX), limit=100)
        return list(page.items)

    def get(self, user_id: str, template_id: str) -> Item | None:
        return self._table.get(subscribe_grant_key(user_id, template_id), consistent=True)
