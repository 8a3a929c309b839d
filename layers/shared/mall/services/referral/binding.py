"""Binding (上下级绑定): a customer's parent promoter, set by an invite code, a share visit, a first
payment or an admin; removed by an admin. One transaction per change, decided again on a lost race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mall.dal.audit import AuditEntry
from mall.dal.referral import (
    AncestorCheck,
    BindFacts,
    BindingRepository,
    BindPlan,
    TransactionCancelled,
    first_failure_index,
)
from mall.domain import referral as rules
from mall.domain.referral import MAX_ANCESTOR_DEPTH, Binding, BindRefused, BindRequest, BindSource, BindTrigger
from mall.errors import Conflict, NotFound
from mall.schemas.binding import BindingHistoryEntry, BindingView, BindResult
from mall.services.referral import ATTEMPTS, ReferralRepositories
from mall.services.referral.levels import evaluate_levels
from mall.services.referral.views import bind_result, binding_view


@dataclass(frozen=True)
class BindOutcome:
    outcome: Literal["bound", "rebound", "unchanged", "unbound"]
    binding: Binding | None


@dataclass(frozen=True)
class Bind:
    """Bind ``customer_id`` under ``promoter_id``. ``device_id`` / ``client_ip``: the member's own
    device and IP, stored on the binding for the fraud scan (never logged; ``source_ip`` is the
    admin's, for the audit entry). ``paid_orders_before`` None: read from the customer's profile."""

    customer_id: str
    promoter_id: str
    trigger: BindTrigger
    source: BindSource
    now: datetime
    by: str
    reason: str | None = None
    paid_orders_before: int | None = None
    promoter_code: str | None = None
    source_ip: str | None = None
    device_id: str | None = None
    client_ip: str | None = None


def bind(command: Bind, *, network: ReferralRepositories, first_read: BindFacts | None = None) -> BindOutcome:
    """Bind the customer if the rules allow (raises ``BindRefused``). An admin's bind
    (``trigger="admin"``) is audited in the same transaction. ``first_read``: the facts the caller
    already read for this customer and promoter (the first attempt decides on them).

    One transaction writes the binding (conditional on the version read: two simultaneous binds of
    one customer cannot both win), checks the promoter's upline is unchanged (so two concurrent binds
    cannot close a cycle), updates member counts, and records the history."""
    c = command
    for attempt in range(ATTEMPTS):
        facts = first_read if attempt == 0 and first_read is not None else \
            network.reads.for_bind(c.customer_id, promoter_id=c.promoter_id)
        planned = plan_bind(c, facts, network.bindings)
        if planned.plan is None:
            return planned.outcome
        if not _applied(network.bindings, c.customer_id, planned.plan):
            continue
        upgrade_after_bind(network, planned.plan, c.promoter_id, c.now)
        return planned.outcome
    raise Conflict("the team changed concurrently; retry", code="retry_later")


@dataclass(frozen=True)
class PlannedBind:
    """What a bind decided: its transaction (None: nothing to write) and its outcome."""

    plan: BindPlan | None
    outcome: BindOutcome


def plan_bind(c: Bind, facts: BindFacts, bindings: BindingRepository) -> PlannedBind:
    """Decide the bind on ``facts`` (raises ``BindRefused``). The promoter's upline beyond its parent
    is walked only when someone is bound to the customer: otherwise the customer cannot be in it."""
    current, promoter, own = facts.current, facts.promoter, facts.own
    if promoter is not None and facts.customer_has_team:
        ancestors = bindings.ancestors(c.promoter_id, max_depth=MAX_ANCESTOR_DEPTH)
        chain = [c.promoter_id, *ancestors]
        checks = [AncestorCheck(uid, chain[i + 1] if i + 1 < len(chain) else None) for i, uid in enumerate(chain)]
    else:
        ancestors = [facts.promoter_parent] if facts.promoter_parent else []
        checks = [AncestorCheck(c.promoter_id, facts.promoter_parent)]
    request = BindRequest(customer_id=c.customer_id, trigger=c.trigger, source=c.source,
                          paid_orders_before=facts.customer.paid_order_count if c.paid_orders_before is None
                          else c.paid_orders_before)
    decision = rules.decide_bind(request=request, promoter=promoter, current=current, target_ancestors=ancestors,
                                 settings=facts.settings.settings, now=c.now)
    if decision.outcome == "unchanged":
        return PlannedBind(None, BindOutcome("unchanged", current))
    if promoter is None:  # decide_bind refuses a missing promoter; this keeps the type checker informed
        raise NotFound("no such promoter", code="promoter_not_found")
    old_parent = current.parent_id if current else None
    old_grandparent = facts.old_grandparent if old_parent else None
    new_grandparent = ancestors[0] if ancestors else None
    # A customer who has paid an order is a 有效下线 of whoever they are bound to.
    paid = facts.customer.paid_order_count > 0 or (current is not None and current.paid)
    deltas = rules.member_count_deltas(
        customer_direct_members=own.direct_members if own else 0, old_parent=old_parent,
        old_grandparent=old_grandparent, new_parent=c.promoter_id, new_grandparent=new_grandparent,
        old_paid=current is not None and current.paid, new_paid=paid)
    if old_parent is not None:
        checks.append(AncestorCheck(old_parent, old_grandparent))
    binding = Binding(user_id=c.customer_id, parent_id=c.promoter_id, bound_at=c.now, source=c.source,
                      trigger=c.trigger, promoter_code=c.promoter_code or promoter.code,
                      version=(current.version + 1) if current else 1, paid=paid)
    plan = BindPlan(
        customer_id=c.customer_id, new_binding=binding, expected_version=current.version if current else None,
        checks=checks, deltas=deltas, must_be_active=c.promoter_id,
        customer_direct_members=own.direct_members if own else None, nickname=facts.customer.nickname,
        history={"action": decision.outcome, "from_parent": old_parent, "to_parent": c.promoter_id,
                 "source": c.source, "trigger": c.trigger, "promoter_code": binding.promoter_code,
                 "reason": c.reason, "by": c.by},
        now=c.now, active_now=[c.promoter_id],
        audit=_binding_audit("binding.admin_set", c.customer_id, by=c.by, source_ip=c.source_ip,
                             old_parent=old_parent, new_parent=c.promoter_id, reason=c.reason,
                             details={"promoter_code": binding.promoter_code, "outcome": decision.outcome})
        if c.trigger == "admin" else None,
        device_id=c.device_id, source_ip=c.client_ip, expect_unpaid_customer=not paid,
        customer_not_a_promoter=own is None, customer_lacks_promoter_role="promoter" not in facts.customer.roles,
        customer_exists=facts.customer.exists,
    )
    return PlannedBind(plan, BindOutcome("bound" if decision.outcome == "bind" else "rebound", binding))


def upgrade_after_bind(network: ReferralRepositories, plan: BindPlan, promoter_id: str, now: datetime) -> None:
    """Levels compare 有效下线 and sales, never sign-ups: only a bind that adds a paying member to the
    promoter can lift its level, and only then is it evaluated again (on a fresh read)."""
    if plan.deltas.get(promoter_id, {}).get("effective_members", 0) > 0:
        evaluate_levels(network, [promoter_id], now)


def _applied(bindings: BindingRepository, customer_id: str, plan: BindPlan) -> bool:
    """Apply a bind plan. False: the team changed meanwhile (decide again); 409 when another binding
    of this customer won."""
    try:
        bindings.apply(plan)
    except TransactionCancelled as exc:
        if first_failure_index(exc) == 0:
            _raise_lost_race(bindings, customer_id, exc)
        return False
    return True


def _raise_lost_race(bindings: BindingRepository, customer_id: str, exc: TransactionCancelled) -> None:
    winner = bindings.get(customer_id)
    raise Conflict("another binding of this customer happened first", code="binding_conflict",
                   details={"binding": rules.binding_view(winner)}) from exc


def _binding_audit(action: str, customer_id: str, *, by: str, source_ip: str | None, old_parent: str | None,
                   new_parent: str | None, reason: str | None, details: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(action=action, actor=by, entity_type="binding", entity_id=customer_id, source_ip=source_ip,
                      before={"parent_id": old_parent}, after={"parent_id": new_parent},
                      details={**(details or {}), **({"reason": reason} if reason else {})}, subject_user=customer_id)


def unbind(*, network: ReferralRepositories, customer_id: str, reason: str, by: str, now: datetime,
           source_ip: str | None = None) -> BindOutcome:
    """Admin: remove a customer's binding (reason required), with the member counts, history and
    audit entry."""
    promoters, bindings = network.promoters, network.bindings
    for _ in range(ATTEMPTS):
        current = bindings.get(customer_id)
        if current is None:
            raise NotFound("this customer is not bound", code="not_bound")
        old_grandparent = bindings.parent_of(current.parent_id)
        own, customer = promoters.with_customer(customer_id)
        deltas = rules.member_count_deltas(customer_direct_members=own.direct_members if own else 0,
                                           old_parent=current.parent_id, old_grandparent=old_grandparent,
                                           new_parent=None, new_grandparent=None, old_paid=current.paid)
        plan = BindPlan(customer_id=customer_id, new_binding=None, expected_version=current.version,
                        checks=[AncestorCheck(current.parent_id, old_grandparent)], deltas=deltas,
                        must_be_active=None, customer_direct_members=own.direct_members if own else None,
                        nickname=None,
                        history={"action": "unbind", "from_parent": current.parent_id, "to_parent": None,
                                 "source": "admin", "trigger": "admin", "reason": reason, "by": by}, now=now,
                        audit=_binding_audit("binding.admin_remove", customer_id, by=by, source_ip=source_ip,
                                             old_parent=current.parent_id, new_parent=None, reason=reason),
                        customer_exists=customer.exists)
        if not _applied(bindings, customer_id, plan):
            continue
        return BindOutcome("unbound", None)
    raise Conflict("the team changed concurrently; retry", code="retry_later")


@dataclass(frozen=True)
class BindWithCode:
    """A customer enters a promoter's invite code (邀请码); ``device_id`` / ``client_ip`` are theirs."""

    customer_id: str
    code: str
    now: datetime
    device_id: str | None = None
    client_ip: str | None = None


def bind_with_code(command: BindWithCode, *, network: ReferralRepositories) -> BindResult:
    """POST bind with an invite code (邀请码). Every refusal is a 4xx; nothing is written then."""
    c = command
    facts = network.reads.for_bind(c.customer_id, code=c.code) if rules.is_valid_code(c.code) else None
    if facts is None or facts.promoter_id is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    try:
        outcome = bind(Bind(customer_id=c.customer_id, promoter_id=facts.promoter_id, trigger="invite_code",
                            source="invite_code", now=c.now, by=c.customer_id, promoter_code=c.code,
                            device_id=c.device_id, client_ip=c.client_ip), network=network, first_read=facts)
    except BindRefused as refused:
        raise refused.error from refused
    return bind_result(outcome.outcome, outcome.binding)


def admin_set_binding(*, network: ReferralRepositories, customer_id: str, promoter_code: str, reason: str, by: str,
                      now: datetime, source_ip: str | None = None) -> BindResult:
    """Admin: bind the customer under the promoter of ``promoter_code`` (reason required, audited).
    The code, the customer and the team are read as an invite-code bind reads them (two
    ``BatchGetItem``s), and the first attempt decides on that read."""
    facts = network.reads.for_bind(customer_id, code=promoter_code) if rules.is_valid_code(promoter_code) else None
    if facts is None or facts.promoter_id is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    if not facts.customer.exists:
        raise NotFound("no such customer", code="customer_not_found")
    try:
        outcome = bind(Bind(customer_id=customer_id, promoter_id=facts.promoter_id, trigger="admin",
                            source="admin", now=now, by=by, reason=reason, promoter_code=promoter_code,
                            source_ip=source_ip), network=network, first_read=facts)
    except BindRefused as refused:
        raise refused.error from refused
    return bind_result(outcome.outcome, outcome.binding)


def admin_remove_binding(*, network: ReferralRepositories, customer_id: str, reason: str, by: str, now: datetime,
                         source_ip: str | None = None) -> BindResult:
    outcome = unbind(network=network, customer_id=customer_id, reason=reason, by=by, now=now, source_ip=source_ip)
    return bind_result(outcome.outcome, outcome.binding)


def get_binding(*, bindings: BindingRepository, customer_id: str,
                limit: int) -> tuple[BindingView | None, list[BindingHistoryEntry]]:
    current = bindings.get(customer_id)
    items, _ = bindings.history(customer_id, limit=limit, start_key=None)
    history = [BindingHistoryEntry(action=i["action"], from_parent=i.get("from_parent"), to_parent=i.get("to_parent"),
                                   source=i["source"], trigger=i["trigger"], promoter_code=i.get("promoter_code"),
                                   reason=i.get("reason"), by=i["by"], at=i["at"]) for i in items]
    return (binding_view(current) if current else None), history
