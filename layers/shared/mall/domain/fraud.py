"""The fraud scan's rules (风控规则), pure: each rule is a function over small input records and
returns its hits. No I/O, no keys: device ids, IPs, phones and addresses arrive as fingerprints
(``mall.integrations.pii_crypto.fingerprint``) made by the caller, and only those (shortened) reach a hit.

A hit names the rule, the promoter and a **deterministic** ``window_key`` built from the data
that caused it (a fingerprint, a China day), never from the time of the scan: a scan that reads
the same activity again (an overlapping or repeated run) produces the same keys, so the hit
record (put if absent) and the risk case (``open_case`` is idempotent per promoter, rule and
window key) are made once. Thresholds: ``mall.domain.risk_rules``; design: docs/risk.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mall.clock import china_day, iso
from mall.domain.risk_rules import (
    COMMISSION_SPIKE,
    REFUND_RATIO,
    SELF_DEALING,
    SHARED_DEVICE,
    WITHDRAWAL_BURST,
    CommissionSpikeRule,
    RefundRatioRule,
    SelfDealingRule,
    SharedDeviceRule,
    WithdrawalBurstRule,
)

BASIS_POINTS = 10_000
#: Lists in a hit's evidence are cut to this many entries (an item may not exceed 400 KB).
EVIDENCE_LIST_LIMIT = 50
#: Characters of a fingerprint kept in window keys and evidence: enough to tell values apart.
SHORT_PRINT = 16


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing for one promoter in one window."""

    rule: str
    promoter_id: str
    window_key: str
    evidence: dict[str, Any] = field(default_factory=dict)


def short(print_: str) -> str:
    return print_[:SHORT_PRINT]


# ---- (a) many new accounts on one device / IP bound to one promoter ---------------------------


@dataclass(frozen=True, slots=True)
class BindingFact:
    """A binding as the rules see it: who, under whom, when, from which device / IP (fingerprints)."""

    user_id: str
    parent_id: str
    bound_at: datetime
    device_print: str | None = None
    ip_print: str | None = None


def shared_device_hits(team: Sequence[BindingFact], triggers: Sequence[BindingFact],
                       rule: SharedDeviceRule) -> list[Hit]:
    """For every new binding (``triggers``), the distinct accounts bound to the same promoter from
    the same device (or IP) in the ``window_hours`` up to it; at least the threshold → a hit.

    ``team`` holds the promoter's bindings around the triggers (triggers may be among them).
    Window key ``device:<print>:<China day of the binding>`` (or ``ip:``): one hit per promoter,
    device and day however many more accounts join it."""
    window = timedelta(hours=rule.window_hours)
    every = {(b.user_id, b.parent_id): b for b in [*team, *triggers]}
    by_parent: dict[str, list[BindingFact]] = defaultdict(list)
    for b in every.values():
        by_parent[b.parent_id].append(b)
    found: dict[tuple[str, str], Hit] = {}
    for trigger in sorted(triggers, key=lambda b: (b.bound_at, b.user_id)):
        for kind, threshold in (("device", rule.device_accounts), ("ip", rule.ip_accounts)):
            print_ = trigger.device_print if kind == "device" else trigger.ip_print
            if not print_:
                continue
            members = sorted(
                (b for b in by_parent[trigger.parent_id]
                 if (b.device_print if kind == "device" else b.ip_print) == print_
                 and trigger.bound_at - window <= b.bound_at <= trigger.bound_at),
                key=lambda b: (b.bound_at, b.user_id))
            accounts = list(dict.fromkeys(b.user_id for b in members))
            if len(accounts) < threshold:
                continue
            key = f"{kind}:{short(print_)}:{china_day(trigger.bound_at)}"
            previous = found.get((trigger.parent_id, key))
            if previous is not None and previous.evidence["accounts_count"] >= len(accounts):
                continue
            found[(trigger.parent_id, key)] = Hit(SHARED_DEVICE, trigger.parent_id, key, {
                "kind": kind, "fingerprint": short(print_), "accounts_count": len(accounts),
                "accounts": accounts[:EVIDENCE_LIST_LIMIT], "threshold": threshold,
                "window_hours": rule.window_hours, "first_bound_at": iso(members[0].bound_at),
                "last_bound_at": iso(trigger.bound_at)})
    return list(found.values())


# ---- (b) a promoter earning on orders from their own device, phone or address -------------------


@dataclass(frozen=True, slots=True)
class OrderFact:
    """A paid order and who earns on it (the attribution), with the buyer's fingerprints."""

    order_id: str
    buyer_id: str
    placed_at: datetime
    l1_promoter_id: str | None = None
    l2_promoter_id: str | None = None
    device_print: str | None = None
    phone_print: str | None = None
    address_print: str | None = None


@dataclass(frozen=True, slots=True)
class OwnPrints:
    """A promoter's own devices (logins, their own orders), phones and addresses (their own orders)."""

    promoter_id: str
    devices: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()


def self_dealing_matches(order: OrderFact, own: OwnPrints, rule: SelfDealingRule) -> list[str]:
    """What of the order is the promoter's own: ``device``, ``phone``, ``address`` (checked ones only)."""
    matched: list[str] = []
    if rule.match_device and order.device_print and order.device_print in own.devices:
        matched.append("device")
    if rule.match_phone and order.phone_print and order.phone_print in own.phones:
        matched.append("phone")
    if rule.match_address and order.address_print and order.address_print in own.addresses:
        matched.append("address")
    return matched


def self_dealing_hits(orders: Iterable[OrderFact], own: Mapping[str, OwnPrints], rule: SelfDealingRule) -> list[Hit]:
    """An order another account placed from the earning promoter's own device, phone or address.
    The promoter buying for themself is not this rule (self-purchase has its own setting).
    Window key: the China day the order was placed (``min_orders`` such orders that day → a hit)."""
    per_day: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for order in orders:
        for level, promoter in ((1, order.l1_promoter_id), (2, order.l2_promoter_id)):
            if not promoter or promoter == order.buyer_id or promoter not in own:
                continue
            matched = self_dealing_matches(order, own[promoter], rule)
            if matched:
                per_day[(promoter, china_day(order.placed_at))][order.order_id] = {
                    "order_id": order.order_id, "buyer_id": order.buyer_id, "level": level, "matched": matched}
    hits: list[Hit] = []
    for (promoter, day), found in sorted(per_day.items()):
        if len(found) < rule.min_orders:
            continue
        listed = [found[k] for k in sorted(found)]
        hits.append(Hit(SELF_DEALING, promoter, day, {
            "day": day, "orders_count": len(listed), "orders": listed[:EVIDENCE_LIST_LIMIT],
            "min_orders": rule.min_orders}))
    return hits


# ---- (c) refund ratio of a promoter's orders --------------------------------------------------


def refund_ratio_hit(promoter_id: str, orders: Mapping[str, bool], *, trigger_at: datetime,
                     rule: RefundRatioRule) -> Hit | None:
    """``orders``: the promoter's level-1 orders of the lookback period → refunded or not. Above
    ``ratio_bp`` (strictly) once there are ``min_orders``: a hit keyed by the China day of the
    refund that prompted the check."""
    total = len(orders)
    refunded = sorted(order_id for order_id, was in orders.items() if was)
    if total < rule.min_orders or len(refunded) * BASIS_POINTS <= rule.ratio_bp * total:
        return None
    day = china_day(trigger_at)
    return Hit(REFUND_RATIO, promoter_id, day, {
        "day": day, "orders": total, "refunded": len(refunded), "ratio_bp": len(refunded) * BASIS_POINTS // total,
        "threshold_bp": rule.ratio_bp, "min_orders": rule.min_orders, "lookback_days": rule.lookback_days,
        "refunded_orders": refunded[:EVIDENCE_LIST_LIMIT]})


# ---- (d) commission in a day above k × the trailing average -------------------------------------


def _days_before(day: str, count: int) -> list[str]:
    first = date.fromisoformat(day)
    return [(first - timedelta(days=n)).isoformat() for n in range(1, count + 1)]


def commission_spike_hit(promoter_id: str, earnings: Iterable[tuple[datetime, int]], *, day: str,
                         rule: CommissionSpikeRule) -> Hit | None:
    """``earnings``: (created_at, amount_fen) of the promoter's commission records of ``day`` and
    the ``trailing_days`` China days before it. A hit when the day reaches ``min_day_fen`` and is
    above ``multiple_bp`` × the trailing daily average (days without earnings count as 0, so a
    first big day is compared with 0 and only the floor guards it). Integer arithmetic only."""
    per_day: dict[str, int] = defaultdict(int)
    for at, amount in earnings:
        per_day[china_day(at)] += amount
    today = per_day.get(day, 0)
    trailing = sum(per_day.get(d, 0) for d in _days_before(day, rule.trailing_days))
    if today < rule.min_day_fen or today * BASIS_POINTS * rule.trailing_days <= rule.multiple_bp * trailing:
        return None
    return Hit(COMMISSION_SPIKE, promoter_id, day, {
        "day": day, "day_fen": today, "trailing_days": rule.trailing_days, "trailing_fen": trailing,
        "average_fen": trailing // rule.trailing_days, "multiple_bp": rule.multiple_bp,
        "min_day_fen": rule.min_day_fen})


# ---- (e) a burst of withdrawals right after a burst of bindings --------------------------------


@dataclass(frozen=True, slots=True)
class WithdrawalFact:
    withdrawal_id: str
    promoter_id: str
    created_at: datetime
    amount_fen: int = 0


def withdrawal_burst_hits(promoter_id: str, *, withdrawals: Sequence[WithdrawalFact], bound_at: Sequence[datetime],
                          triggers: Sequence[WithdrawalFact], rule: WithdrawalBurstRule) -> list[Hit]:
    """For every new withdrawal (``triggers``): the promoter's requests in the
    ``withdrawal_window_hours`` up to it; if there are ``withdrawals`` of them and at least
    ``bindings`` members joined in the ``binding_window_hours`` before the first of them → a hit,
    keyed by the China day of that first withdrawal (one burst, one key)."""
    burst_window = timedelta(hours=rule.withdrawal_window_hours)
    binding_window = timedelta(hours=rule.binding_window_hours)
    every = {w.withdrawal_id: w for w in [*withdrawals, *triggers] if w.promoter_id == promoter_id}
    found: dict[str, Hit] = {}
    for trigger in sorted(triggers, key=lambda w: (w.created_at, w.withdrawal_id)):
        if trigger.promoter_id != promoter_id:
            continue
        burst = sorted((w for w in every.values() if trigger.created_at - burst_window < w.created_at
                        <= trigger.created_at), key=lambda w: (w.created_at, w.withdrawal_id))
        if len(burst) < rule.withdrawals:
            continue
        first = burst[0].created_at
        joined = [t for t in bound_at if first - binding_window <= t <= first]
        if len(joined) < rule.bindings:
            continue
        key = china_day(first)
        if key in found and found[key].evidence["withdrawals_count"] >= len(burst):
            continue
        found[key] = Hit(WITHDRAWAL_BURST, promoter_id, key, {
            "withdrawals_count": len(burst), "withdrawals": [w.withdrawal_id for w in burst][:EVIDENCE_LIST_LIMIT],
            "withdrawn_fen": sum(w.amount_fen for w in burst), "first_withdrawal_at": iso(first),
            "bindings": len(joined), "bindings_from": iso(min(joined)), "bindings_to": iso(max(joined)),
            "thresholds": {"bindings": rule.bindings, "binding_window_hours": rule.binding_window_hours,
                           "withdrawals": rule.withdrawals, "withdrawal_window_hours": rule.withdrawal_window_hours}})
    return list(found.values())
