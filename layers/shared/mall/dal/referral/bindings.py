"""Bindings (上下级关系): one transaction per bind, re-bind or unbind, and the team index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    BINDING_HISTORY_PREFIX,
    binding_key,
    customer_profile_key,
    promoter_key,
    team_partition,
    user_partition,
)
from mall.dal.referral.records import activity_write, binding_from_item, new_history_sk, team_history_index
from mall.dal.risk_feed import feed_write
from mall.dal.table import Item, Key, Table, Write
from mall.domain.referral.model import Binding

#: The buyer's profile attribute mirroring their binding's ``parent_id`` (absent while unbound).
BOUND_PARENT = "bound_parent"


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
    # The checks cover only the promoter's parent, not its whole upline, because nobody is bound to
    # the customer (no promoter record, or one whose ``customer_direct_members`` is 0): that must
    # still be so, or a concurrent bind under the customer could close a cycle.
    customer_not_a_promoter: bool = False
    # The customer's profile had no ``promoter`` role when read: becoming an active promoter adds it
    # in the same transaction, so "still no role" is the cheaper proof that nobody can be bound to
    # them yet (folded into the profile's check instead of a check of the absent promoter record).
    customer_lacks_promoter_role: bool = False
    # The customer's profile existed when read: the transaction mirrors the new parent onto it
    # (``bound_parent``); otherwise it checks the profile is still absent.
    customer_exists: bool = True


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
        self._table.transact(self.writes(plan))

    def writes(self, plan: BindPlan) -> list[Write]:
        """The writes of ``plan`` (the customer's binding first), for a transaction that may carry
        other writes after them (a share visit's)."""
        t = self._table.name
        writes = [self._binding_write(plan), *self._ancestor_checks(plan), *self._counter_writes(plan)]
        profile: list[str] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if plan.customer_direct_members is not None:
            writes.append(Write.check(t, promoter_key(plan.customer_id), "direct_members = :n",
                                      values={":n": plan.customer_direct_members}))
        elif plan.customer_not_a_promoter and plan.customer_lacks_promoter_role:
            profile.append("NOT contains(#roles, :promoter)")
            names["#roles"], values[":promoter"] = "roles", "promoter"
        elif plan.customer_not_a_promoter:
            writes.append(Write.check(t, promoter_key(plan.customer_id), "attribute_not_exists(pk)"))
        if plan.expect_unpaid_customer:
            profile.append("(attribute_not_exists(paid_order_count) OR paid_order_count = :zero)")
            values[":zero"] = 0
        writes.append(self._profile_write(plan, profile, names, values))
        for uid in plan.active_now:
            writes.append(activity_write(t, uid, plan.now))
        history_sk = new_history_sk("BINDING_HISTORY", plan.now)
        writes.append(Write.put(t, {"pk": user_partition(plan.customer_id), "sk": history_sk,
                                    "entity": "binding_history", "user_id": plan.customer_id, "at": iso(plan.now),
                                    **plan.history, **team_history_index(plan.history, history_sk)}))
        if plan.audit is not None:
            writes.append(AuditLog(self._table).write(plan.audit, plan.now))
        if plan.new_binding is not None:  # the fraud scan's feed entry, in the same transaction
            writes.append(feed_write(t, kind="bind", ref=plan.customer_id, at=plan.now,
                                     attrs={"user_id": plan.customer_id, "parent_id": plan.new_binding.parent_id}))
        return writes

    def _profile_write(self, plan: BindPlan, conditions: list[str], names: dict[str, str],
                       values: dict[str, Any]) -> Write:
        """The profile's mirror of the binding's parent (``bound_parent``, absent while unbound), so a
        payment can guard its commission basis on the profile it updates anyway. Every change of a
        binding's parent goes through here; a profile that does not exist yet must still not exist
        (then the customer's first login creates it without a mirror, and payments check the binding)."""
        t, key = self._table.name, customer_profile_key(plan.customer_id)
        if not plan.customer_exists:
            # Every condition on the profile holds on an absent item.
            return Write.check(t, key, "attribute_not_exists(pk)")
        condition = " AND ".join(["attribute_exists(pk)", *conditions])
        names = {**names, "#bp": BOUND_PARENT}
        if plan.new_binding is None:
            return Write.update(t, key, "REMOVE #bp", condition=condition, names=names, values=values or None)
        return Write.update(t, key, "SET #bp = :bp", condition=condition, names=names,
                            values={**values, ":bp": plan.new_binding.parent_id})

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
                "nickname": plan.nickname, "gsi1pk": team_partition(b.parent_id),
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
        page = self._table.query(partition=("gsi1pk", team_partition(parent_id)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)
        return page.items, page.last_key

    def history(self, user_id: str, *, limit: int, start_key: Key | None) -> tuple[list[Item], Key | None]:
        page = self._table.query(partition=("pk", user_partition(user_id)), sort_prefix=("sk", BINDING_HISTORY_PREFIX),
                                 limit=limit, start_key=start_key, newest_first=True)
        return page.items, page.last_key
