"""Binding (上下级绑定): whether a customer binds under a promoter, and how member counts move when
a binding changes. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from mall.domain.referral.model import MAX_ANCESTOR_DEPTH, Binding, BindSource, BindTrigger, Promoter
from mall.domain.settings_terms import BindingMode
from mall.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings


@dataclass(frozen=True)
class BindRequest:
    """One attempt to bind ``customer_id`` under ``promoter``."""

    customer_id: str
    trigger: BindTrigger
    source: BindSource
    #: paid orders before this attempt (for first_payment: not counting the order that binds)
    paid_orders_before: int


@dataclass(frozen=True)
class BindDecision:
    """``bind`` (new), ``rebind`` (replace ``current``), or ``unchanged`` (already bound there)."""

    outcome: Literal["bind", "rebind", "unchanged"]


class BindRefused(Exception):
    """A bind that must not happen. ``hard`` refusals (self, cycle, inactive) are 4xx on an explicit
    bind; soft ones (already bound, protection, not new) only mean "no bind" for a share visit."""

    def __init__(self, error: Conflict | Forbidden | InvalidInput | NotFound, *, hard: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.hard = hard


def binding_view(binding: Binding | None) -> dict[str, object] | None:
    if binding is None:
        return None
    return {"parent_id": binding.parent_id, "bound_at": binding.bound_at.isoformat(), "source": binding.source,
            "trigger": binding.trigger, "promoter_code": binding.promoter_code}


def trigger_allowed(mode: BindingMode, trigger: BindTrigger) -> bool:
    """Which triggers bind in each mode. An entered invite code also binds in first_click and
    first_payment modes (an explicit, stronger signal than a click); visits bind only in first_click,
    and a paid order's share source only in first_payment. Admins may always bind."""
    if trigger == "admin":
        return True
    if trigger == "invite_code":
        return True
    if trigger == "visit":
        return mode == BindingMode.FIRST_CLICK
    return mode == BindingMode.FIRST_PAYMENT


def protection_over(settings: DistributionSettings, binding: Binding, now: datetime) -> bool:
    validity = settings.binding_validity
    if validity.kind == "permanent" or validity.protection_days is None:
        return False
    return now >= binding.bound_at + timedelta(days=validity.protection_days)


def decide_bind(*, request: BindRequest, promoter: Promoter | None, current: Binding | None,
                target_ancestors: Sequence[str], settings: DistributionSettings, now: datetime) -> BindDecision:
    """Whether ``request`` binds. ``target_ancestors``: the promoter's parent, grandparent, ... up to
    the root (walked from the current bindings). Raises ``BindRefused``."""
    if promoter is None:
        raise BindRefused(NotFound("no promoter with this code", code="promoter_not_found"), hard=True)
    if promoter.user_id == request.customer_id:
        raise BindRefused(InvalidInput("you cannot bind to yourself", code="self_binding",
                                       fields=[FieldProblem("code", "your own code")]), hard=True)
    if request.customer_id in target_ancestors:
        raise BindRefused(Conflict("this promoter is in your own team; binding would make a cycle",
                                   code="binding_cycle"), hard=True)
    if len(target_ancestors) >= MAX_ANCESTOR_DEPTH:
        raise BindRefused(Conflict("the promoter's upline is too deep to verify", code="binding_chain_too_deep"),
                          hard=True)
    if not promoter.is_active:
        raise BindRefused(Conflict("this promoter is not active", code="promoter_not_active",
                                   details={"status": promoter.status}), hard=True)
    if request.trigger != "admin":
        if not trigger_allowed(settings.binding_mode, request.trigger):
            raise BindRefused(Conflict(f"binding by {request.trigger} is not used in "
                                       f"{settings.binding_mode.value} mode", code="binding_mode_mismatch",
                                       details={"binding_mode": settings.binding_mode.value}), hard=False)
        if current is not None and current.parent_id == promoter.user_id:
            return BindDecision("unchanged")
        if current is not None and not protection_over(settings, current, now):
            raise BindRefused(Conflict("you are already bound to a promoter", code="already_bound",
                                       details={"binding": binding_view(current)}), hard=False)
        if settings.only_new_customers and request.paid_orders_before > 0:
            raise BindRefused(Conflict("only new customers can be bound", code="not_a_new_customer"), hard=False)
    elif current is not None and current.parent_id == promoter.user_id:
        return BindDecision("unchanged")
    return BindDecision("rebind" if current is not None else "bind")


# ---------------------------------------------------------------------------------------
# Member counts when a binding changes
# ---------------------------------------------------------------------------------------


def member_count_deltas(*, customer_direct_members: int, old_parent: str | None, old_grandparent: str | None,
                        new_parent: str | None, new_grandparent: str | None, old_paid: bool = False,
                        new_paid: bool = False) -> dict[str, dict[str, int]]:
    """Per promoter: the change of ``direct_members`` and ``second_level_members`` when the
    customer's parent goes from ``old_parent`` to ``new_parent``. The customer's own direct members
    become the new parent's second level (and leave the old parent's). A customer counted as the
    old parent's 有效下线 (``old_paid``: their binding was flagged paid) leaves that count; one who has
    paid an order (``new_paid``) joins the new parent's. Zero deltas are dropped;
    one entry per promoter, so a transaction never touches one item twice."""
    deltas: dict[str, dict[str, int]] = {}

    def add(uid: str | None, name: str, amount: int) -> None:
        if uid is None or amount == 0:
            return
        entry = deltas.setdefault(uid, {"direct_members": 0, "second_level_members": 0, "effective_members": 0})
        entry[name] += amount

    add(old_parent, "direct_members", -1)
    add(old_parent, "second_level_members", -customer_direct_members)
    add(old_grandparent, "second_level_members", -1)
    add(new_parent, "direct_members", 1)
    add(new_parent, "second_level_members", customer_direct_members)
    add(new_grandparent, "second_level_members", 1)
    if old_paid:
        add(old_parent, "effective_members", -1)
    if new_paid:
        add(new_parent, "effective_members", 1)
    return {uid: {k: v for k, v in d.items() if v} for uid, d in deltas.items() if any(d.values())}
