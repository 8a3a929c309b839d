"""The scheduled fraud scan (风控扫描): incremental, idempotent, never a table scan.

One run reads what happened since the watermark (``RISK_SCAN/WATERMARK``), evaluates the five
rules of ``settings.risk`` (``mall.domain.fraud``) with targeted reads of the promoters concerned,
records every hit (``RISK_HIT#…``, put if absent) and, for a rule in ``enforce`` mode, opens a
risk case (``mall.services.risk.open_case``, idempotent per promoter, rule and window key); then it
moves the watermark by a conditional update from the value it read.

Windows (docs/risk.md, "Fraud scan"):
- bindings, refunds and withdrawals: ``[watermark − OVERLAP, end]`` with ``end = min(now,
  watermark + MAX_WINDOW)``. The overlap re-reads the last minutes: a transaction that committed a
  little after the time it stamped, or an index entry that arrived late (GSIs are eventually
  consistent), is still seen. Re-reading is harmless: window keys come from the data.
- orders: the same window shifted back by the unpaid-order expiry + ``ORDER_SETTLE_MARGIN``, so
  an order is looked at once it is paid (and its commission computed) or expired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from mall.clock import china_day, iso, parse_instant
from mall.dal.fraud import FraudRepository
from mall.domain import fraud as rules
from mall.domain.fraud import BindingFact, Hit, OrderFact, OwnPrints, WithdrawalFact
from mall.domain.normalise import normalise_device
from mall.domain.risk_rules import (
    COMMISSION_SPIKE,
    REFUND_RATIO,
    RULE_NAMES,
    SELF_DEALING,
    SHARED_DEVICE,
    WITHDRAWAL_BURST,
    RiskRules,
)
from mall.integrations import pii_crypto
from mall.services import risk as risk_cases

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings

logger = Logger(child=True)

#: An item as the fraud repository reads it (orders, bindings, profiles, commission records).
Item = dict[str, Any]

OVERLAP = timedelta(minutes=5)
MAX_WINDOW = timedelta(hours=6)
FIRST_RUN_LOOKBACK = timedelta(hours=1)
ORDER_SETTLE_MARGIN = timedelta(minutes=15)
#: Statuses of an order that was paid and can earn (a paid-after-expiry order is refunded in full).
_EARNING_STATUSES = frozenset({"PAID", "SHIPPED", "COMPLETED", "CLOSED"})


class CaseOpener(Protocol):
    """How a case is opened for a hit in ``enforce`` mode: None when that case already exists."""

    def __call__(self, *, repos: risk_cases.RiskRepositories, promoter_id: str, rule: str, window_key: str,
                 evidence: dict[str, Any], now: datetime) -> object | None: ...


@dataclass
class RuleReport:
    mode: str
    evaluated: int = 0  # promoters (or bindings) the rule looked at
    hits: int = 0  # hits found this run (a repeat of an earlier run's included)
    new_hits: int = 0  # hits recorded for the first time
    cases_opened: int = 0
    failures: int = 0  # cases that could not be opened (the watermark then stays)
    undecided: int = 0  # promoters with more records than one evaluation reads (see docs/risk.md)


@dataclass
class ScanReport:
    watermark_before: str | None
    window_start: str
    window_end: str
    order_window_start: str
    order_window_end: str
    rules: dict[str, RuleReport]
    feed_entries: int = 0
    complete: bool = True
    advanced: bool = False
    watermark_after: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def hits(self) -> int:
        return sum(r.hits for r in self.rules.values())

    @property
    def cases_opened(self) -> int:
        return sum(r.cases_opened for r in self.rules.values())


@dataclass
class _Context:
    """What one run has read so far, so no item is read twice."""

    repo: FraudRepository
    risk: RiskRules
    start: datetime  # the window of bindings, refunds and withdrawals
    end: datetime
    now: datetime
    orders: dict[str, Item] = field(default_factory=dict)

    def get_orders(self, order_ids: Iterable[str]) -> dict[str, Item]:
        ids = list(dict.fromkeys(order_ids))
        wanted = [o for o in ids if o not in self.orders]
        if wanted:
            self.orders.update(self.repo.orders(wanted))
        return {o: self.orders[o] for o in ids if o in self.orders}


def _dt(value: Any) -> datetime:
    return parse_instant(str(value))


def _print(value: Any, kind: str) -> str | None:
    """The fingerprint of a stored device id or IP (None when absent)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return pii_crypto.fingerprint(normalise_device(value) if kind == "device" else value.strip(), kind=kind)


def _address_prints(order: Item) -> tuple[str | None, str | None]:
    address = order.get("address")
    if not isinstance(address, Mapping):
        return None, None
    phone, place = address.get("phone_fp"), address.get("address_fp")
    return (phone if isinstance(phone, str) else None), (place if isinstance(place, str) else None)


def _attributed(order: Item) -> tuple[str | None, str | None]:
    attribution = order.get("attribution")
    if not isinstance(attribution, Mapping):
        return None, None
    return attribution.get("l1_promoter_id") or None, attribution.get("l2_promoter_id") or None


def _binding_fact(item: Item) -> BindingFact:
    return BindingFact(user_id=str(item["user_id"]), parent_id=str(item["parent_id"]),
                       bound_at=_dt(item["bound_at"]), device_print=_print(item.get("device_id"), "device"),
                       ip_print=_print(item.get("source_ip"), "ip"))


def _withdrawal_fact(item: Item) -> WithdrawalFact:
    return WithdrawalFact(withdrawal_id=str(item["withdrawal_id"]), promoter_id=str(item["promoter_id"]),
                          created_at=_dt(item["created_at"]), amount_fen=int(item.get("amount_fen", 0)))


def _paid(order: Item) -> bool:
    return bool(order.get("paid_at")) and order.get("status") in _EARNING_STATUSES


# ---- the rules, each: read what it needs, evaluate, return its hits ------------------------------------


def _shared_device(ctx: _Context, binds: list[Item], report: RuleReport) -> list[Hit]:
    rule = ctx.risk.shared_device
    window = timedelta(hours=rule.window_hours)
    hits: list[Hit] = []
    per_parent: dict[str, list[datetime]] = defaultdict(list)
    for entry in binds:
        per_parent[str(entry["parent_id"])].append(_dt(entry["at"]))
    for parent, times in per_parent.items():
        team = [_binding_fact(i) for i in ctx.repo.team_bindings(parent, min(times) - window, max(times))]
        # The triggers are the team's bindings stamped in the window (the member's current binding).
        triggers = [b for b in team if min(times) <= b.bound_at <= max(times)]
        report.evaluated += 1
        hits += rules.shared_device_hits(team, triggers, rule)
    return hits


def _own_prints(ctx: _Context, promoter_ids: list[str]) -> dict[str, OwnPrints]:
    profiles = ctx.repo.profiles(promoter_ids)
    found: dict[str, OwnPrints] = {}
    for uid in promoter_ids:
        profile = profiles.get(uid, {})
        devices = {*(profile.get("known_devices") or set()), profile.get("last_device_id")}
        phones: set[str] = set()
        places: set[str] = set()
        for order in ctx.repo.own_orders(uid):
            devices.add(order.get("device_id"))
            phone, place = _address_prints(order)
            phones |= {phone} if phone else set()
            places |= {place} if place else set()
        prints = {p for p in (_print(d, "device") for d in devices) if p}
        found[uid] = OwnPrints(uid, frozenset(prints), frozenset(phones), frozenset(places))
    return found


def _order_fact(order: Item) -> OrderFact:
    l1, l2 = _attributed(order)
    phone, place = _address_prints(order)
    return OrderFact(order_id=str(order["order_id"]), buyer_id=str(order["buyer_id"]),
                     placed_at=_dt(order["created_at"]), l1_promoter_id=l1, l2_promoter_id=l2,
                     device_print=_print(order.get("device_id"), "device"), phone_print=phone, address_print=place)


def _self_dealing(ctx: _Context, paid: list[Item], report: RuleReport) -> list[Hit]:
    facts = [_order_fact(o) for o in paid]
    earners = sorted({p for f in facts for p in (f.l1_promoter_id, f.l2_promoter_id) if p and p != f.buyer_id})
    report.evaluated += len(earners)
    return rules.self_dealing_hits(facts, _own_prints(ctx, earners), ctx.risk.self_dealing) if earners else []


def _commission_spike(ctx: _Context, paid: list[Item], report: RuleReport) -> list[Hit]:
    rule = ctx.risk.commission_spike
    days: dict[str, set[str]] = defaultdict(set)
    for order in paid:
        for promoter in _attributed(order):
            if promoter:
                days[promoter].add(china_day(_dt(order["paid_at"])))
    hits: list[Hit] = []
    for promoter, wanted in sorted(days.items()):
        since = parse_instant(f"{min(wanted)}T00:00:00+08:00") - timedelta(days=rule.trailing_days)
        records, complete = ctx.repo.commissions(promoter, since)
        report.evaluated += 1
        if not complete:  # a partial trailing week would understate the average: no decision
            report.undecided += 1
            continue
        earnings = [(_dt(r["created_at"]), int(r.get("amount_fen", 0))) for r in records]
        for day in sorted(wanted):
            hit = rules.commission_spike_hit(promoter, earnings, day=day, rule=rule)
            if hit is not None:
                hits.append(hit)
    return hits


def _refund_ratio(ctx: _Context, report: RuleReport) -> list[Hit]:
    rule = ctx.risk.refund_ratio
    refunds = ctx.repo.refunds_created(ctx.start, ctx.end)
    if not refunds:
        return []
    orders = ctx.get_orders(str(r["order_id"]) for r in refunds)
    requested: dict[str, set[str]] = defaultdict(set)  # promoter → orders refunded in this window
    latest: dict[str, datetime] = {}
    for refund in refunds:
        order = orders.get(str(refund["order_id"]))
        l1 = _attributed(order)[0] if order else None
        if not l1:
            continue
        requested[l1].add(str(refund["order_id"]))
        latest[l1] = max(latest.get(l1, _dt(refund["created_at"])), _dt(refund["created_at"]))
    hits: list[Hit] = []
    for promoter in sorted(requested):
        refunded: dict[str, bool] = {}
        records, _ = ctx.repo.commissions(promoter, ctx.now - timedelta(days=rule.lookback_days))
        for record in records:  # at most the newest COMMISSIONS_READ: a sample of the latest orders
            if int(record.get("level", 0)) != 1:
                continue
            order_id = str(record["order_id"])
            was = int(record.get("refunded_base_fen", 0)) > 0 or order_id in requested[promoter]
            refunded[order_id] = refunded.get(order_id, False) or was
        report.evaluated += 1
        hit = rules.refund_ratio_hit(promoter, refunded, trigger_at=latest[promoter], rule=rule)
        if hit is not None:
            hits.append(hit)
    return hits


def _withdrawal_burst(ctx: _Context, report: RuleReport) -> list[Hit]:
    rule = ctx.risk.withdrawal_burst
    triggers: dict[str, list[WithdrawalFact]] = defaultdict(list)
    for item in ctx.repo.withdrawals_created(ctx.start, ctx.end):
        fact = _withdrawal_fact(item)
        triggers[fact.promoter_id].append(fact)
    burst = timedelta(hours=rule.withdrawal_window_hours)
    joined = timedelta(hours=rule.binding_window_hours)
    hits: list[Hit] = []
    for promoter, new in sorted(triggers.items()):
        first, last = min(w.created_at for w in new), max(w.created_at for w in new)
        history = [_withdrawal_fact(i) for i in ctx.repo.promoter_withdrawals(promoter, first - burst, last)]
        bound = [_dt(i["bound_at"]) for i in ctx.repo.team_bindings(promoter, first - burst - joined, last)]
        report.evaluated += 1
        hits += rules.withdrawal_burst_hits(promoter, withdrawals=history, bound_at=bound, triggers=new, rule=rule)
    return hits


# ---- the scan -----------------------------------------------------------------------------------------------


def scan(*, repo: FraudRepository, cases: risk_cases.RiskRepositories, settings: DistributionSettings, now: datetime,
         open_case: CaseOpener = risk_cases.open_case, time_left: Callable[[], bool] | None = None) -> ScanReport:
    """One incremental run. Safe to repeat and to overlap with another run (see the module doc)."""
    risk = settings.risk
    old = repo.watermark()
    base = old if old is not None else now - FIRST_RUN_LOOKBACK
    end = max(min(now, base + MAX_WINDOW), base)
    start = base - OVERLAP
    lag = timedelta(minutes=settings.orders.unpaid_expiry_minutes) + ORDER_SETTLE_MARGIN
    report = ScanReport(watermark_before=iso(old) if old else None, window_start=iso(start), window_end=iso(end),
                        order_window_start=iso(start - lag), order_window_end=iso(end - lag),
                        rules={name: RuleReport(mode=risk.mode(name)) for name in RULE_NAMES})
    ctx = _Context(repo, risk, start, end, now)
    enabled = {name for name in RULE_NAMES if risk.mode(name) != "off"}
    still = time_left or (lambda: True)

    binds = [e.item for e in repo.feed(start, end, kind="bind")] if SHARED_DEVICE in enabled else []
    placed = ([e.item for e in repo.feed(start - lag, end - lag, kind="order")]
              if enabled & {SELF_DEALING, COMMISSION_SPIKE} else [])
    report.feed_entries = len(binds) + len(placed)
    attributed = [str(e["ref"]) for e in placed if e.get("l1_promoter_id") or e.get("l2_promoter_id")]
    paid = [o for o in ctx.get_orders(attributed).values() if _paid(o)]

    steps: list[tuple[str, Callable[[RuleReport], list[Hit]]]] = [
        (SHARED_DEVICE, lambda r: _shared_device(ctx, binds, r)),
        (SELF_DEALING, lambda r: _self_dealing(ctx, paid, r)),
        (REFUND_RATIO, lambda r: _refund_ratio(ctx, r)),
        (COMMISSION_SPIKE, lambda r: _commission_spike(ctx, paid, r)),
        (WITHDRAWAL_BURST, lambda r: _withdrawal_burst(ctx, r)),
    ]
    for name, evaluate in steps:
        if name not in enabled:
            continue
        if not still():
            report.complete = False
            break
        rule_report = report.rules[name]
        for hit in evaluate(rule_report):
            rule_report.hits += 1
            if repo.record_hit(hit, mode=rule_report.mode, now=now):
                rule_report.new_hits += 1
            if rule_report.mode != "enforce":
                continue
            try:
                opened = open_case(repos=cases, promoter_id=hit.promoter_id, rule=hit.rule, window_key=hit.window_key,
                                   evidence=hit.evidence, now=now)
            except Exception:
                # The hit is recorded; the watermark stays so the next run opens the case.
                logger.exception("could not open a risk case", extra={"rule": hit.rule, "promoter_id": hit.promoter_id})
                rule_report.failures += 1
                continue
            if opened is not None:
                rule_report.cases_opened += 1

    failures = sum(r.failures for r in report.rules.values())
    if report.complete and failures == 0:
        report.advanced = repo.advance_watermark(old=old, new=end, now=now)
    report.watermark_after = iso(end) if report.advanced else report.watermark_before
    logger.info("fraud scan", extra={"window_start": report.window_start, "window_end": report.window_end,
                                     "advanced": report.advanced, "complete": report.complete,
                                     "hits": {n: r.hits for n, r in report.rules.items()},
                                     "cases_opened": {n: r.cases_opened for n, r in report.rules.items()}})
    return report
