"""Promoters, promoter codes, bindings, share visits and referral counters in the single table.

Keys (docs/data-model.md, "referral"):
- promoter ``USER#<uid>/PROMOTER`` (gsi1 ``PROMOTERS#<status>`` / ``<applied_at>#<uid>``)
- promoter history ``USER#<uid>/PROMOTER_HISTORY#<at>#<id>``
- code → uid ``PCODE#<code>/PCODE``
- binding ``USER#<uid>/BINDING`` (gsi1 ``TEAM#<parent>`` / ``<bound_at>#<uid>``)
- binding history ``USER#<uid>/BINDING_HISTORY#<at>#<id>``
- share visit ``PVISITS#<promoter uid>/VISIT#<at>#<id>``
- activity marker ``USER#<uid>/PROMOTER_ACTIVITY`` (gsi1 ``PROMOTER_ACTIVE_ON#<yyyy-mm-dd>`` / ``<uid>``,
  sparse: removed once the promoter is at the entry level)
- order counted marker ``REFERRAL_ORDER#<order_id>/COUNTED`` (``amount_fen``: the distribution base
  added; ``refunded_base_fen``: how much of it succeeded refunds took back)
- refund counted marker ``REFERRAL_ORDER#<order_id>/REFUND#<refund_id>``
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from mall.clock import china_day, epoch, iso, parse_instant
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import customer_profile_key
from mall.dal.risk_feed import feed_write
from mall.dal.table import ConditionFailed, Item, Key, Table, TransactionCancelled, Write
from mall.domain.referral import (
    PROMOTER_STATUSES,
    Binding,
    BindSource,
    BindTrigger,
    Counters,
    LevelSource,
    Promoter,
    PromoterStatus,
)
from mall.ids import new_id


def _dt(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def promoter_key(user_id: str) -> Key:
    return {"pk": f"USER#{user_id}", "sk": "PROMOTER"}


def binding_key(user_id: str) -> Key:
    return {"pk": f"USER#{user_id}", "sk": "BINDING"}


def code_key(code: str) -> Key:
    return {"pk": f"PCODE#{code}", "sk": "PCODE"}


def activity_key(user_id: str) -> Key:
    return {"pk": f"USER#{user_id}", "sk": "PROMOTER_ACTIVITY"}


def activity_partition(day: str) -> str:
    return f"PROMOTER_ACTIVE_ON#{day}"


def promoter_from_item(item: Item) -> Promoter:
    return Promoter(
        user_id=item["user_id"], code=item["code"], status=cast(PromoterStatus, item["status"]),
        level_id=item["level_id"], l1_override_bp=item.get("l1_override_bp"),
        l2_override_bp=item.get("l2_override_bp"), nickname=item.get("nickname"),
        applied_at=_dt(item.get("applied_at")), activated_at=_dt(item.get("activated_at")),
        accepted_rules_version=int(item.get("accepted_rules_version", 0)),
        accepted_rules_at=_dt(item.get("accepted_rules_at")),
        direct_members=int(item.get("direct_members", 0)),
        second_level_members=int(item.get("second_level_members", 0)),
        own_sales_fen=int(item.get("own_sales_fen", 0)), team_sales_fen=int(item.get("team_sales_fen", 0)),
        last_active_at=_dt(item.get("last_active_at")), reason=item.get("reason"),
        version=int(item.get("version", 1)), effective_members=int(item.get("effective_members", 0)),
        level_source=cast(LevelSource, item["level_source"]) if item.get("level_source") in ("auto", "admin")
        else None,
    )


def binding_from_item(item: Item) -> Binding:
    return Binding(
        user_id=item["user_id"], parent_id=item["parent_id"], bound_at=parse_instant(item["bound_at"]),
        source=cast(BindSource, item["source"]), trigger=cast(BindTrigger, item["trigger"]),
        promoter_code=item.get("promoter_code"), sales_fen=int(item.get("sales_fen", 0)),
        version=int(item.get("version", 1)), paid=bool(item.get("paid", False)),
    )


def _history_sk(prefix: str, now: datetime) -> str:
    return f"{prefix}#{iso(now)}#{new_id('h')}"


def _counters_condition(counters: Counters, values: dict[str, Any]) -> str:
    """The promoter's stored counters are exactly ``counters`` (absent counts as 0)."""
    values |= {":c_members": counters.effective_members, ":c_own": counters.own_sales_fen,
               ":c_team": counters.team_sales_fen}
    parts = []
    for name, placeholder in (("effective_members", ":c_members"), ("own_sales_fen", ":c_own"),
                              ("team_sales_fen", ":c_team")):
        part = f"{name} = {placeholder}"
        if values[placeholder] == 0:
            part = f"({part} OR attribute_not_exists({name}))"
        parts.append(part)
    return " AND ".join(parts)


@dataclass(frozen=True)
class CustomerFacts:
    """What referral reads from the customer profile (written by login and by placing orders)."""

    user_id: str
    exists: bool
    roles: tuple[str, ...] = ()
    nickname: str | None = None
    paid_order_count: int = 0
    paid_total_fen: int = 0
    first_paid_order_id: str | None = None


class PromoterRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    def get(self, user_id: str, *, consistent: bool = False) -> Promoter | None:
        item = self._table.get(promoter_key(user_id), consistent=consistent)
        return promoter_from_item(item) if item else None

    def get_by_code(self, code: str) -> Promoter | None:
        link = self._table.get(code_key(code))
        if not link:
            return None
        return self.get(str(link["user_id"]))

    def customer(self, user_id: str) -> CustomerFacts:
        item = self._table.get(customer_profile_key(user_id), consistent=True)
        if not item:
            return CustomerFacts(user_id=user_id, exists=False)
        return CustomerFacts(user_id=user_id, exists=True, roles=tuple(item.get("roles", [])),
                             nickname=item.get("nickname"), paid_order_count=int(item.get("paid_order_count", 0)),
                             paid_total_fen=int(item.get("paid_total_fen", 0)),
                             first_paid_order_id=item.get("first_paid_order_id"))

    def paid_quantity(self, user_id: str, product_id: str) -> int:
        item = self._table.get({"pk": f"USER#{user_id}", "sk": f"PURCHASE#{product_id}"})
        return int(item.get("paid_quantity", 0)) if item else 0

    # -- writes --------------------------------------------------------------------------

    def create(self, promoter: Promoter, *, grant_role: bool, replaces_rejected: bool, now: datetime,
               reserve_code: bool) -> None:
        """Put the promoter (only if absent, or replacing a rejected application), reserve its code,
        grant the ``promoter`` role when active, and record the history: one transaction."""
        item = self._item(promoter)
        writes: list[Write] = []
        if replaces_rejected:
            writes.append(Write.put(self._table.name, item, condition="#s = :rejected", names={"#s": "status"},
                                    values={":rejected": "rejected"}))
        else:
            writes.append(Write.put(self._table.name, item, condition="attribute_not_exists(pk)"))
        if reserve_code:
            writes.append(Write.put(self._table.name, {**code_key(promoter.code), "entity": "promoter_code",
                                                       "user_id": promoter.user_id, "created_at": iso(now)},
                                    condition="attribute_not_exists(pk)"))
        if grant_role:
            writes.append(self._grant_role(promoter.user_id))
        writes.append(self._history(promoter.user_id, now, action="apply", from_status=None,
                                    to_status=promoter.status, by=promoter.user_id, reason=None,
                                    extra={"accepted_rules_version": promoter.accepted_rules_version}))
        self._table.transact(writes)

    def _grant_role(self, user_id: str) -> Write:
        return Write.update(self._table.name, customer_profile_key(user_id),
                            "SET #roles = list_append(if_not_exists(#roles, :none), :promoter)",
                            condition="attribute_exists(pk) AND NOT contains(#roles, :role)",
                            names={"#roles": "roles"},
                            values={":none": [], ":promoter": ["promoter"], ":role": "promoter"})

    def _item(self, p: Promoter) -> Item:
        applied = iso(p.applied_at) if p.applied_at else ""
        return {
            **promoter_key(p.user_id), "entity": "promoter", "user_id": p.user_id, "code": p.code,
            "status": p.status, "level_id": p.level_id, "l1_override_bp": p.l1_override_bp,
            "l2_override_bp": p.l2_override_bp, "nickname": p.nickname, "applied_at": applied or None,
            "activated_at": iso(p.activated_at) if p.activated_at else None,
            "accepted_rules_version": p.accepted_rules_version,
            "accepted_rules_at": iso(p.accepted_rules_at) if p.accepted_rules_at else None,
            "direct_members": p.direct_members, "second_level_members": p.second_level_members,
            "own_sales_fen": p.own_sales_fen, "team_sales_fen": p.team_sales_fen,
            "last_active_at": iso(p.last_active_at) if p.last_active_at else None, "reason": p.reason,
            "version": p.version, "effective_members": p.effective_members, "level_source": p.level_source,
            "gsi1pk": f"PROMOTERS#{p.status}", "gsi1sk": f"{applied}#{p.user_id}",
        }

    def _history(self, user_id: str, now: datetime, *, action: str, from_status: str | None, to_status: str | None,
                 by: str, reason: str | None, extra: Mapping[str, Any] | None = None) -> Write:
        item = {"pk": f"USER#{user_id}", "sk": _history_sk("PROMOTER_HISTORY", now), "entity": "promoter_history",
                "user_id": user_id, "action": action, "from_status": from_status, "to_status": to_status,
                "by": by, "reason": reason, "at": iso(now), **(extra or {})}
        return Write.put(self._table.name, item)

    def change_status(self, promoter: Promoter, *, to_status: PromoterStatus, action: str, by: str,
                      reason: str | None, now: datetime, grant_role: bool, audit: AuditEntry | None = None) -> None:
        """A conditional update from the status the caller saw (and its version), plus history."""
        sets = ["#s = :to", "gsi1pk = :g", "#v = #v + :one", "reason = :reason"]
        values: dict[str, Any] = {":to": to_status, ":g": f"PROMOTERS#{to_status}", ":from": promoter.status,
                                  ":one": 1, ":ver": promoter.version, ":reason": reason}
        if to_status == "active" and promoter.activated_at is None:
            sets.append("activated_at = :now")
            values[":now"] = iso(now)
        if reason is None:
            sets.remove("reason = :reason")
            values.pop(":reason")
        writes = [Write.update(self._table.name, promoter_key(promoter.user_id), "SET " + ", ".join(sets),
                               condition="#s = :from AND #v = :ver", names={"#s": "status", "#v": "version"},
                               values=values)]
        if grant_role:
            writes.append(self._grant_role(promoter.user_id))
        writes.append(self._history(promoter.user_id, now, action=action, from_status=promoter.status,
                                    to_status=to_status, by=by, reason=reason))
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        self._table.transact(writes)

    def set_override(self, promoter: Promoter, *, l1_bp: int | None, l2_bp: int | None, by: str,
                     reason: str | None, now: datetime, audit: AuditEntry | None = None) -> None:
        sets = ["#v = #v + :one"]
        removes: list[str] = []
        values: dict[str, Any] = {":one": 1, ":ver": promoter.version}
        for name, value in (("l1_override_bp", l1_bp), ("l2_override_bp", l2_bp)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        writes = [
            Write.update(self._table.name, promoter_key(promoter.user_id), update,
                         condition="#v = :ver", names={"#v": "version"}, values=values),
            self._history(promoter.user_id, now, action="set_override", from_status=promoter.status,
                          to_status=promoter.status, by=by, reason=reason,
                          extra={"l1_override_bp": l1_bp, "l2_override_bp": l2_bp,
                                 "previous": {"l1_override_bp": promoter.l1_override_bp,
                                              "l2_override_bp": promoter.l2_override_bp}}),
        ]
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        self._table.transact(writes)

    def set_level(self, promoter: Promoter, *, level_id: str, action: str, by: str, reason: str | None,
                  now: datetime, level_source: LevelSource, reset_activity: bool = False,
                  decided_on: Counters | None = None, audit: AuditEntry | None = None) -> None:
        """Change the level from the one the caller saw (conditional), with a history entry.
        ``decided_on``: the counters the decision was made on, which must still be the stored ones
        (a refund or a sale counted meanwhile makes the caller decide again)."""
        condition = "level_id = :from"
        values: dict[str, Any] = {":to": level_id, ":from": promoter.level_id, ":one": 1, ":src": level_source}
        if decided_on is not None:
            condition += " AND " + _counters_condition(decided_on, values)
        writes = [
            Write.update(self._table.name, promoter_key(promoter.user_id),
                         "SET level_id = :to, level_source = :src, #v = #v + :one", condition=condition,
                         names={"#v": "version"}, values=values),
            self._history(promoter.user_id, now, action=action, from_status=promoter.status,
                          to_status=promoter.status, by=by, reason=reason,
                          extra={"from_level": promoter.level_id, "to_level": level_id,
                                 "level_source": level_source}),
        ]
        if reset_activity:
            writes.append(self.activity_write(promoter.user_id, now))
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        self._table.transact(writes)

    def activity_write(self, user_id: str, now: datetime) -> Write:
        """Move the activity marker to today's day partition (the downgrade job's index)."""
        day = now.date().isoformat()
        return Write.put(self._table.name, {**activity_key(user_id), "entity": "promoter_activity",
                                            "user_id": user_id, "last_active_at": iso(now),
                                            "gsi1pk": activity_partition(day), "gsi1sk": user_id})

    def drop_activity_index(self, user_id: str, day: str) -> None:
        """Leave the downgrade index (nothing left to downgrade) unless activity moved it meanwhile."""
        try:
            self._table.update(activity_key(user_id), "REMOVE gsi1pk, gsi1sk", condition="gsi1pk = :g",
                               values={":g": activity_partition(day)})
        except ConditionFailed:
            return

    def inactive_on(self, day: str, *, limit: int,
                    start_key: Key | None) -> tuple[list[tuple[str, datetime]], Key | None]:
        page = self._table.query(partition=("gsi1pk", activity_partition(day)), index="gsi1", limit=limit,
                                 start_key=start_key)
        found = [(str(i["user_id"]), parse_instant(i["last_active_at"])) for i in page.items]
        return found, page.last_key

    # -- reads ---------------------------------------------------------------------------

    def list_by_status(self, status: str, *, limit: int, start_key: Key | None) -> tuple[list[Promoter], Key | None]:
        page = self._table.query(partition=("gsi1pk", f"PROMOTERS#{status}"), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)
        return [promoter_from_item(i) for i in page.items], page.last_key

    def with_overrides(self) -> list[Promoter]:
        """Every promoter with an L1 or L2 override, whatever their status (a frozen or disabled
        one may be reinstated with it), every page: the commission cap check of a save. The
        filter runs on the server; the read still covers every promoter (docs/commission-cap.md)."""
        found: list[Promoter] = []
        for status in PROMOTER_STATUSES:
            start: Key | None = None
            while True:
                page = self._table.query_where(
                    "#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": f"PROMOTERS#{status}"}, index="gsi1",
                    limit=None, start_key=start,
                    filter_expression="attribute_exists(l1_override_bp) OR attribute_exists(l2_override_bp)")
                found += [promoter_from_item(i) for i in page.items]
                start = page.last_key
                if start is None:
                    break
        return found

    def history(self, user_id: str, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        page = self._table.query(partition=("pk", f"USER#{user_id}"), sort_prefix=("sk", "PROMOTER_HISTORY#"),
                                 limit=limit, start_key=start_key, newest_first=True)
        return page.items, page.last_key


# ---------------------------------------------------------------------------------------
# Bindings
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AncestorCheck:
    """The binding of ``user_id`` must still point at ``parent_id`` (None: still unbound)."""

    user_id: str
    parent_id: str | None


@dataclass
class BindPlan:
    """Everything one bind / re-bind / unbind writes, as one transaction."""

    customer_id: str
    new_binding: Binding | None  # None: remove the binding
    expected_version: int | None  # the customer's current binding version (None: unbound)
    checks: list[AncestorCheck]
    deltas: dict[str, dict[str, int]]
    must_be_active: str | None  # the new parent: its promoter item must be active
    customer_direct_members: int | None  # the customer's own promoter counter the deltas assumed
    nickname: str | None
    history: dict[str, Any]
    now: datetime
    active_now: list[str] = field(default_factory=list)
    audit: AuditEntry | None = None  # an admin's change: its audit entry, in the same transaction
    # The member's device and IP at binding (fraud scan; stored on the binding, never logged).
    device_id: str | None = None
    source_ip: str | None = None
    # The binding is written unpaid on a profile without a paid order: that must still be so (a payment
    # whose worker ran before this binding existed would otherwise never count the 有效下线).
    expect_unpaid_customer: bool = False


def promoters_partition(status: str) -> tuple[str, str]:
    """The index partition promoters of one status are listed from (a cursor of that list is bound to it)."""
    return "gsi1pk", f"PROMOTERS#{status}"


def promoter_history_partition(user_id: str) -> tuple[str, str]:
    return "pk", f"USER#{user_id}"


def in_team(key: Key | None, parent_id: str) -> bool:
    """Whether ``key`` (a binding's index key, as a team page's cursor holds it) is in ``parent_id``'s
    level-1 team (gsi1 ``TEAM#<parent>``)."""
    return key is not None and key.get("gsi1pk") == f"TEAM#{parent_id}"


def team_index_key(binding: Item) -> Key:
    """A binding's key in the team index (to resume a team page after it)."""
    return {k: binding[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}


def team_bindings_partition(promoter_id: str) -> str:
    return f"TEAM_BINDINGS#{promoter_id}"


def team_history_index(history: Mapping[str, Any], history_sk: str) -> dict[str, str]:
    """A binding history entry is also found from the promoters it concerns: gsi1 under the new
    parent (a member joined), gsi2 under the old one (a member left) — ``GET /promoter/history``."""
    index: dict[str, str] = {}
    if history.get("to_parent"):
        index |= {"gsi1pk": team_bindings_partition(str(history["to_parent"])), "gsi1sk": history_sk}
    if history.get("from_parent"):
        index |= {"gsi2pk": team_bindings_partition(str(history["from_parent"])), "gsi2sk": history_sk}
    return index


class BindingRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str, *, consistent: bool = True) -> Binding | None:
        item = self._table.get(binding_key(user_id), consistent=consistent)
        return binding_from_item(item) if item else None

    def parent_of(self, user_id: str) -> str | None:
        binding = self.get(user_id)
        return binding.parent_id if binding else None

    def ancestors(self, user_id: str, *, max_depth: int) -> list[str]:
        """``user_id``'s parent, grandparent, ... (consistent reads), stopping at the root, a repeat,
        or ``max_depth`` entries."""
        chain: list[str] = []
        current = user_id
        while len(chain) < max_depth:
            parent = self.parent_of(current)
            if parent is None or parent in chain or parent == user_id:
                break
            chain.append(parent)
            current = parent
        return chain

    def apply(self, plan: BindPlan) -> None:
        """One transaction; raises ``TransactionCancelled`` (index 0 is the customer's binding)."""
        t = self._table.name
        writes = [self._binding_write(plan), *self._ancestor_checks(plan), *self._counter_writes(plan)]
        if plan.customer_direct_members is not None:
            writes.append(Write.check(t, promoter_key(plan.customer_id), "direct_members = :n",
                                      values={":n": plan.customer_direct_members}))
        if plan.expect_unpaid_customer:
            writes.append(Write.check(t, customer_profile_key(plan.customer_id),
                                      "attribute_not_exists(paid_order_count) OR paid_order_count = :zero",
                                      values={":zero": 0}))
        for uid in plan.active_now:
            writes.append(PromoterRepository(self._table).activity_write(uid, plan.now))
        history_sk = _history_sk("BINDING_HISTORY", plan.now)
        writes.append(Write.put(t, {"pk": f"USER#{plan.customer_id}", "sk": history_sk,
                                    "entity": "binding_history", "user_id": plan.customer_id, "at": iso(plan.now),
                                    **plan.history, **team_history_index(plan.history, history_sk)}))
        if plan.audit is not None:
            writes.append(AuditLog(self._table).write(plan.audit, plan.now))
        if plan.new_binding is not None:  # the fraud scan's feed entry, in the same transaction
            writes.append(feed_write(t, kind="bind", ref=plan.customer_id, at=plan.now,
                                     attrs={"user_id": plan.customer_id, "parent_id": plan.new_binding.parent_id}))
        self._table.transact(writes)

    def _binding_write(self, plan: BindPlan) -> Write:
        t = self._table.name
        if plan.expected_version is None:
            condition, names, values = "attribute_not_exists(pk)", None, None
        else:
            condition, names, values = "#v = :ver", {"#v": "version"}, {":ver": plan.expected_version}
        if plan.new_binding is None:
            return Write.delete(t, binding_key(plan.customer_id), condition=condition, names=names, values=values)
        b = plan.new_binding
        item = {**binding_key(b.user_id), "entity": "binding", "user_id": b.user_id, "parent_id": b.parent_id,
                "bound_at": iso(b.bound_at), "source": b.source, "trigger": b.trigger,
                "promoter_code": b.promoter_code, "sales_fen": 0, "version": b.version, "paid": b.paid,
                "nickname": plan.nickname, "gsi1pk": f"TEAM#{b.parent_id}",
                "gsi1sk": f"{iso(b.bound_at)}#{b.user_id}", "device_id": plan.device_id, "source_ip": plan.source_ip}
        return Write.put(t, item, condition=condition, names=names, values=values)

    def _ancestor_checks(self, plan: BindPlan) -> list[Write]:
        t = self._table.name
        writes: list[Write] = []
        seen = {plan.customer_id}
        for check in plan.checks:
            if check.user_id in seen:
                continue
            seen.add(check.user_id)
            if check.parent_id is None:
                writes.append(Write.check(t, binding_key(check.user_id), "attribute_not_exists(pk)"))
            else:
                writes.append(Write.check(t, binding_key(check.user_id), "parent_id = :p",
                                          values={":p": check.parent_id}))
        return writes

    def _counter_writes(self, plan: BindPlan) -> list[Write]:
        """One update per promoter (a transaction may not touch an item twice); the new parent's
        update carries the "still active" condition."""
        t = self._table.name
        writes: list[Write] = []
        for uid, delta in plan.deltas.items():
            values: dict[str, Any] = {f":{name}": amount for name, amount in delta.items()}
            update = "ADD " + ", ".join(f"{name} :{name}" for name in delta)
            if uid in plan.active_now:
                update += " SET last_active_at = :now"
                values[":now"] = iso(plan.now)
            if uid == plan.must_be_active:
                values[":active"] = "active"
                writes.append(Write.update(t, promoter_key(uid), update, condition="#s = :active",
                                           names={"#s": "status"}, values=values))
            else:
                writes.append(Write.update(t, promoter_key(uid), update, condition="attribute_exists(pk)",
                                           values=values))
        if plan.must_be_active is not None and plan.must_be_active not in plan.deltas:
            writes.append(Write.check(t, promoter_key(plan.must_be_active), "#s = :active", names={"#s": "status"},
                                      values={":active": "active"}))
        return writes

    def team(self, parent_id: str, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        """Direct members (level 1), newest first."""
        page = self._table.query(partition=("gsi1pk", f"TEAM#{parent_id}"), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)
        return page.items, page.last_key

    def history(self, user_id: str, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        page = self._table.query(partition=("pk", f"USER#{user_id}"), sort_prefix=("sk", "BINDING_HISTORY#"),
                                 limit=limit, start_key=start_key, newest_first=True)
        return page.items, page.last_key


# ---------------------------------------------------------------------------------------
# Share visits and order counters
# ---------------------------------------------------------------------------------------


#: How long a source stays "seen" for a promoter's day (the day plus slack for China's offset).
VISIT_SEEN_TTL = timedelta(days=2)


def visit_seen_partition(promoter_id: str, day: str) -> str:
    return f"VISIT_SEEN#{promoter_id}#{day}"


class VisitRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, *, promoter_id: str, promoter_code: str, source: str, product_id: str | None,
               visitor_id: str | None, device_id: str | None, source_ip: str | None, now: datetime,
               sources: Sequence[str] = ()) -> tuple[str, bool]:
        """Store the visit; it is ``counted`` (in the statistics) when it is the first of each of its
        ``sources`` (keyed hashes of its IP, device, account) for this promoter today. The visit and
        the "seen" markers are one transaction, so of two visits from one source exactly one counts.
        Returns the visit id and whether it counted."""
        visit_id = new_id("v")
        item: Item = {"pk": f"PVISITS#{promoter_id}", "sk": f"VISIT#{iso(now)}#{visit_id}", "entity": "share_visit",
                      "visit_id": visit_id, "promoter_id": promoter_id, "promoter_code": promoter_code,
                      "source": source, "product_id": product_id, "visitor_id": visitor_id,
                      "device_id": device_id, "source_ip": source_ip, "at": iso(now), "counted": True,
                      **visitor_index(visitor_id, now, visit_id)}
        partition = visit_seen_partition(promoter_id, china_day(now))
        markers = [{"pk": partition, "sk": fp, "entity": "visit_seen", "at": iso(now),
                    "expires_at": epoch(now + VISIT_SEEN_TTL)} for fp in dict.fromkeys(sources)]
        try:
            self._table.transact([Write.put(self._table.name, item),
                                  *(Write.put(self._table.name, m, condition="attribute_not_exists(pk)")
                                    for m in markers)])
            return visit_id, True
        except TransactionCancelled as exc:
            # Seen already, or being marked by a visit from the same source at this very moment.
            if not set(exc.reasons) & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise
        # A source was seen already: the visit is kept (fraud scans read it) but not counted, and
        # its other sources become seen too (a new device on a seen IP does not count tomorrow's
        # visit from another IP either, today).
        for marker in markers:
            with contextlib.suppress(ConditionFailed):
                self._table.put(marker, condition="attribute_not_exists(pk)")
        self._table.put({**item, "counted": False})
        return visit_id, False


class VisitRateLimiter:
    """A counter per source per fixed window (``VISIT_RATE#<keyed hash of the IP>`` / window start),
    incremented only while under the limit: one conditional update, so parallel requests never
    pass more than the limit."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def allow(self, *, source: str, window_start: int, window_seconds: int, limit: int) -> bool:
        key = {"pk": f"VISIT_RATE#{source}", "sk": str(window_start)}
        try:
            self._table.update(key, "SET entity = :e, expires_at = :exp ADD hits :one",
                               condition="attribute_not_exists(hits) OR hits < :limit",
                               values={":e": "visit_rate", ":exp": window_start + window_seconds + 3600, ":one": 1,
                                       ":limit": limit})
        except ConditionFailed:
            return False
        return True


def visitor_partition(visitor_id: str) -> str:
    return f"VISITOR#{visitor_id}"


def visitor_index(visitor_id: str | None, now: datetime, visit_id: str) -> dict[str, str]:
    """gsi2 ``VISITOR#<uid>`` / ``<at>#<visit_id>`` on a logged-in visitor's visits: the erasure request
    (``mall.services.erasure``) finds a customer's visits, and their device and IP, without a scan."""
    if not visitor_id:
        return {}
    return {"gsi2pk": visitor_partition(visitor_id), "gsi2sk": f"{iso(now)}#{visit_id}"}


@dataclass(frozen=True)
class SaleCount:
    """What one paid order adds (``REFERRAL_ORDER#<id>`` marks it counted, once)."""

    order_id: str
    amount_fen: int
    l1: str | None
    l2: str | None
    buyer_binding_parent: str | None  # add to the buyer's binding ``sales_fen`` when it is still this
    buyer_id: str


class CounterRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def is_counted(self, order_id: str) -> bool:
        return self._table.get({"pk": f"REFERRAL_ORDER#{order_id}", "sk": "COUNTED"}, consistent=True) is not None

    def count_sale(self, sale: SaleCount, now: datetime) -> bool:
        """Add the order to the promoters' sales, once. False when it was already counted."""
        t = self._table.name
        writes = [Write.put(t, {"pk": f"REFERRAL_ORDER#{sale.order_id}", "sk": "COUNTED", "entity": "referral_counted",
                                "order_id": sale.order_id, "l1_promoter_id": sale.l1, "l2_promoter_id": sale.l2,
                                "amount_fen": sale.amount_fen, "at": iso(now)},
                            condition="attribute_not_exists(pk)")]
        stamp = iso(now)
        for uid, own in ((sale.l1, True), (sale.l2, False)):
            if uid is None:
                continue
            update = ("ADD own_sales_fen :a, team_sales_fen :a SET last_active_at = :now" if own
                      else "ADD team_sales_fen :a SET last_active_at = :now")
            writes.append(Write.update(t, promoter_key(uid), update, condition="attribute_exists(pk)",
                                       values={":a": sale.amount_fen, ":now": stamp}))
            writes.append(Write.put(t, {**activity_key(uid), "entity": "promoter_activity", "user_id": uid,
                                        "last_active_at": stamp,
                                        "gsi1pk": activity_partition(now.date().isoformat()), "gsi1sk": uid}))
        if sale.buyer_binding_parent is not None:
            writes.append(Write.update(t, binding_key(sale.buyer_id), "ADD sales_fen :a", condition="parent_id = :p",
                                       values={":a": sale.amount_fen, ":p": sale.buyer_binding_parent}))
        return _commit_unless_counted(self._table, writes)


    def counted(self, order_id: str) -> Item | None:
        """The order's counted marker: what its paid order added (and refunds took back)."""
        return self._table.get({"pk": f"REFERRAL_ORDER#{order_id}", "sk": "COUNTED"}, consistent=True)

    def count_paid_invitee(self, buyer_id: str, parent_id: str) -> bool:
        """Flip the buyer's binding to ``paid`` (once, from unpaid) and count them as one 有效下线 of
        ``parent_id``, in one transaction. False when the binding was already paid; raises
        ``TransactionCancelled`` when the binding no longer points at ``parent_id`` (decide again)."""
        t = self._table.name
        writes = [
            # The version moves too: a re-bind decided on the unpaid binding must decide again.
            Write.update(t, binding_key(buyer_id), "SET paid = :t, #v = #v + :one",
                         condition="parent_id = :p AND (attribute_not_exists(paid) OR paid = :f)",
                         names={"#v": "version"}, values={":t": True, ":f": False, ":p": parent_id, ":one": 1}),
            Write.update(t, promoter_key(parent_id), "ADD effective_members :one", condition="attribute_exists(pk)",
                         values={":one": 1}),
        ]
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                binding = self._table.get(binding_key(buyer_id), consistent=True)
                if binding is not None and binding.get("parent_id") == parent_id and binding.get("paid"):
                    return False
            raise
        return True

    def count_refund(self, refund: RefundCount, now: datetime) -> bool:
        """Take a succeeded refund's distribution base off the promoters' sales counters, once
        (``REFERRAL_ORDER#<order>/REFUND#<refund>``), and move each level the refund no longer
        supports down, with its history entry, in the same transaction. Each promoter update is
        conditional on the counters the decision was made on. False when already counted; raises
        ``TransactionCancelled`` when something moved meanwhile (decide again)."""
        t = self._table.name
        at = iso(now)
        marker_values: dict[str, Any] = {":new": refund.refunded_before_fen + refund.base_fen,
                                         ":seen": refund.refunded_before_fen}
        marker_condition = "refunded_base_fen = :seen"
        if refund.refunded_before_fen == 0:
            marker_condition = ("attribute_exists(pk) AND "
                                f"(attribute_not_exists(refunded_base_fen) OR {marker_condition})")
        writes = [
            Write.put(t, {"pk": f"REFERRAL_ORDER#{refund.order_id}", "sk": f"REFUND#{refund.refund_id}",
                          "entity": "referral_refund_counted", "order_id": refund.order_id,
                          "refund_id": refund.refund_id, "base_fen": refund.base_fen, "at": at,
                          "l1_promoter_id": refund.l1, "l2_promoter_id": refund.l2},
                      condition="attribute_not_exists(pk)"),
            Write.update(t, {"pk": f"REFERRAL_ORDER#{refund.order_id}", "sk": "COUNTED"},
                         "SET refunded_base_fen = :new", condition=marker_condition, values=marker_values),
        ]
        for change in refund.promoters:
            values: dict[str, Any] = {":a": -refund.base_fen}
            update = "ADD own_sales_fen :a, team_sales_fen :a" if change.own else "ADD team_sales_fen :a"
            if change.decided_on is None:
                condition = "attribute_exists(pk)"
            else:
                condition = _counters_condition(change.decided_on, values)
            if change.to_level is not None:
                update += ", #v :one SET level_id = :to, level_source = :auto"
                condition += " AND level_id = :from AND level_source = :auto"
                values |= {":one": 1, ":to": change.to_level, ":from": change.from_level, ":auto": "auto"}
            writes.append(Write.update(t, promoter_key(change.user_id), update, condition=condition,
                                       names={"#v": "version"} if change.to_level is not None else None,
                                       values=values))
            if change.to_level is not None:
                writes.append(PromoterRepository(self._table)._history(
                    change.user_id, now, action="downgrade", from_status=change.status, to_status=change.status,
                    by="system", reason="a refund took the sales below the level's conditions",
                    extra={"from_level": change.from_level, "to_level": change.to_level, "level_source": "auto",
                           "order_id": refund.order_id, "refund_id": refund.refund_id}))
        return _commit_unless_counted(self._table, writes)


@dataclass(frozen=True)
class RefundedPromoter:
    """One promoter a refund's base is taken from: ``own`` (L1: own and team sales) or team only
    (L2); ``decided_on`` the counters read (None: the level is not re-evaluated, so no condition);
    ``to_level`` the level it moves down to, if any."""

    user_id: str
    own: bool
    status: str
    from_level: str
    decided_on: Counters | None = None
    to_level: str | None = None


@dataclass(frozen=True)
class RefundCount:
    order_id: str
    refund_id: str
    base_fen: int
    refunded_before_fen: int  # the counted marker's ``refunded_base_fen`` as read
    l1: str | None
    l2: str | None
    promoters: tuple[RefundedPromoter, ...] = ()


def first_failure_index(exc: TransactionCancelled) -> int | None:
    failures = exc.conditional_failures
    return failures[0] if failures else None


def batch_promoters(repo: PromoterRepository, ids: Sequence[str]) -> dict[str, Promoter]:
    found: dict[str, Promoter] = {}
    for uid in ids:
        promoter = repo.get(uid)
        if promoter is not None:
            found[uid] = promoter
    return found


def _commit_unless_counted(table: Table, writes: list[Write]) -> bool:
    """Commit ``writes``, whose first is the marker that the change was counted: False (nothing
    written) when that marker exists already, i.e. a redelivery."""
    try:
        table.transact(writes)
    except TransactionCancelled as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            return False
        raise
    return True
