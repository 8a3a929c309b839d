"""Use cases of the referral network: attribution, promoters, binding, levels, team views,
and the reaction to an order becoming paid (first_payment binding, sales counters, upgrades).

Rules live in ``mall.domain.referral``; persistence in ``mall.dal.referral``. Every multi-item
change is one transaction; when one is cancelled by a concurrent change the use case re-reads and
decides again (a bounded number of times), so the rules are always checked against what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import iso
from mall.config import function_environment, get_settings
from mall.dal.audit import AuditEntry
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.orders import OrderRepository
from mall.dal.referral import (
    AncestorCheck,
    BindingRepository,
    BindPlan,
    CounterRepository,
    PromoterRepository,
    RefundCount,
    RefundedPromoter,
    SaleCount,
    VisitRateLimiter,
    VisitRepository,
    batch_promoters,
    first_failure_index,
    in_team,
    promoter_history_partition,
    promoters_partition,
    team_index_key,
)
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, Key, Table, TransactionCancelled
from mall.domain import referral as rules
from mall.domain.commission_cap import Saving, cap_problems
from mall.domain.masking import mask_nickname
from mall.domain.referral import (
    MAX_ANCESTOR_DEPTH,
    ApplicantFacts,
    Attribution,
    Binding,
    BindRefused,
    BindRequest,
    BindSource,
    BindTrigger,
    Counters,
    Promoter,
    PromoterAction,
    ShareSource,
)
from mall.domain.settings import BindingMode, DistributionSettings
from mall.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, TooManyRequests
from mall.integrations import pii_crypto
from mall.schemas.referral import (
    ApplyRequest,
    BindingHistoryEntry,
    BindingView,
    BindResult,
    LevelView,
    PromoterAdminView,
    PromoterHistoryEntry,
    PromoterList,
    PromoterProfile,
    RequirementView,
    TeamMember,
    TeamPage,
    VisitResult,
)
from mall.services.payment_snapshot import earning_basis

logger = Logger(child=True)

_ATTEMPTS = 6


def share_page() -> str:
    """The mini-program page a share link opens (env ``SHARE_PAGE``, read and checked exactly as the
    QR and poster functions read it: ``mall.domain.referral.share_page_from``)."""
    return rules.share_page_from(function_environment().share_page)


# ---------------------------------------------------------------------------------------
# Attribution (placing an order calls this)
# ---------------------------------------------------------------------------------------


def attribute_order(*, table: Table, buyer_id: str, share: ShareSource | None, now: datetime) -> Attribution:
    """Read-only: who would earn at L1 / L2 for this buyer now (at most two levels, ever)."""
    current = SettingsRepository(table).current()
    settings = current.settings
    promoters = PromoterRepository(table)
    bindings = BindingRepository(table)
    buyer_parent = bindings.parent_of(buyer_id)
    parent_of: dict[str, str | None] = {}
    sharer: Promoter | None = None
    sharer_bindable = False
    if buyer_parent is not None:
        parent_of[buyer_parent] = bindings.parent_of(buyer_parent)
    elif settings.binding_mode == BindingMode.FIRST_PAYMENT and share is not None and rules.is_valid_code(
            share.promoter_code):
        sharer = promoters.get_by_code(share.promoter_code)
        if sharer is not None and sharer.user_id != buyer_id:
            ancestors = bindings.ancestors(sharer.user_id, max_depth=MAX_ANCESTOR_DEPTH)
            parent_of[sharer.user_id] = ancestors[0] if ancestors else None
            facts = promoters.customer(buyer_id)
            sharer_bindable = (buyer_id not in ancestors and len(ancestors) < MAX_ANCESTOR_DEPTH
                               and not (settings.only_new_customers and facts.paid_order_count > 0))
    involved = rules.unique([buyer_id, buyer_parent, *parent_of.values()])
    found = batch_promoters(promoters, involved)
    if sharer is not None:
        found[sharer.user_id] = sharer
    return rules.attribute(buyer_id=buyer_id, buyer_parent=buyer_parent, parent_of=parent_of, promoters=found,
                           sharer=sharer, sharer_bindable=sharer_bindable, settings=settings,
                           settings_version=current.version)


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------


def _admin_view(p: Promoter, page: str) -> PromoterAdminView:
    return PromoterAdminView(
        user_id=p.user_id, code=p.code, share_link=rules.share_link(page, p.code), status=p.status,
        level_id=p.level_id, l1_override_bp=p.l1_override_bp, l2_override_bp=p.l2_override_bp,
        nickname=p.nickname, applied_at=iso(p.applied_at) if p.applied_at else None,
        activated_at=iso(p.activated_at) if p.activated_at else None,
        accepted_rules_version=p.accepted_rules_version,
        accepted_rules_at=iso(p.accepted_rules_at) if p.accepted_rules_at else None,
        direct_members=p.direct_members, second_level_members=p.second_level_members,
        own_sales_fen=p.own_sales_fen, team_sales_fen=p.team_sales_fen,
        last_active_at=iso(p.last_active_at) if p.last_active_at else None, reason=p.reason, version=p.version,
    )


def _binding_view(b: Binding) -> BindingView:
    return BindingView(parent_id=b.parent_id, bound_at=iso(b.bound_at), source=b.source, trigger=b.trigger,
                       promoter_code=b.promoter_code)


# ---------------------------------------------------------------------------------------
# Becoming a promoter (成为推广员)
# ---------------------------------------------------------------------------------------


def apply(*, table: Table, user_id: str, body: ApplyRequest, now: datetime) -> PromoterAdminView:
    """Check the threshold and the accepted rules version, then create the promoter: active at once
    (``review: auto``, the ``promoter`` role granted) or waiting for review."""
    current = SettingsRepository(table).current(consistent=True)
    settings = current.settings
    repo = PromoterRepository(table)
    rules.refuse_banned_text("nickname", body.nickname, settings)
    rules.check_rules_accepted(body.accepted_version, current.version)
    for _ in range(_ATTEMPTS):
        existing = repo.get(user_id, consistent=True)
        rules.check_can_apply(existing)
        facts = repo.customer(user_id)
        if not facts.exists:
            raise NotFound("log in first", code="account_not_found")
        bought = frozenset(pid for pid in settings.promoter_threshold.product_ids
                           if settings.promoter_threshold.kind == "bought_product"
                           and repo.paid_quantity(user_id, pid) > 0)
        rules.check_threshold(settings.promoter_threshold, ApplicantFacts(facts.paid_total_fen, bought))
        status = rules.status_after_application(settings)
        code = existing.code if existing is not None else rules.new_promoter_code()
        promoter = Promoter(
            user_id=user_id, code=code, status=status, level_id=settings.levels[0].id, nickname=body.nickname,
            applied_at=now, activated_at=now if status == "active" else None,
            accepted_rules_version=current.version, accepted_rules_at=now,
            version=(existing.version + 1) if existing is not None else 1, level_source="auto",
        )
        grant = status == "active" and "promoter" not in facts.roles
        try:
            repo.create(promoter, grant_role=grant, replaces_rejected=existing is not None, now=now,
                        reserve_code=existing is None)
        except TransactionCancelled:
            continue  # a code collision, a concurrent application or a role change: decide again
        return _admin_view(promoter, share_page())
    raise Conflict("your application collided with another change; retry", code="retry_later")


def get_promoter(*, table: Table, user_id: str) -> PromoterAdminView:
    promoter = PromoterRepository(table).get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    return _admin_view(promoter, share_page())


def list_promoters(*, table: Table, status: str, limit: int, cursor: str | None) -> PromoterList:
    if status not in rules.PROMOTER_STATUSES:
        raise InvalidInput("unknown status", fields=[FieldProblem("query:status",
                                                                  f"one of {list(rules.PROMOTER_STATUSES)}")])
    start = cursors.decode(cursor, partition=promoters_partition(status))
    items, last = PromoterRepository(table).list_by_status(status, limit=limit, start_key=start)
    page = share_page()
    return PromoterList(items=[_admin_view(p, page) for p in items],
                        next_cursor=cursors.encode(last))


def promoter_history(*, table: Table, user_id: str, limit: int, cursor: str | None) -> list[PromoterHistoryEntry]:
    start = cursors.decode(cursor, partition=promoter_history_partition(user_id))
    items, _ = PromoterRepository(table).history(user_id, limit=limit, start_key=start)
    return [PromoterHistoryEntry(action=i["action"], from_status=i.get("from_status"), to_status=i.get("to_status"),
                                 by=i["by"], reason=i.get("reason"), at=i["at"], from_level=i.get("from_level"),
                                 to_level=i.get("to_level")) for i in items]


def _promoter_audit(action: str, promoter: Promoter, *, by: str, source_ip: str | None, before: dict[str, Any],
                    after: dict[str, Any], reason: str | None) -> AuditEntry:
    """An admin's change of a promoter, for the audit trail (written with the change)."""
    return AuditEntry(action=action, actor=by, entity_type="promoter", entity_id=promoter.user_id,
                      source_ip=source_ip, before=before, after=after,
                      details={"reason": reason} if reason else {}, subject_user=promoter.user_id)


def change_status(*, table: Table, user_id: str, action: PromoterAction, reason: str | None, by: str,
                  now: datetime, source_ip: str | None = None) -> PromoterAdminView:
    """approve / reject / freeze / unfreeze / disable: a conditional update from the status seen
    (audited in the same transaction)."""
    repo = PromoterRepository(table)
    for _ in range(_ATTEMPTS):
        promoter = repo.get(user_id, consistent=True)
        if promoter is None:
            raise NotFound("no such promoter", code="promoter_not_found")
        target = rules.transition(promoter, action, reason)
        facts = repo.customer(user_id)
        grant = target == "active" and "promoter" not in facts.roles
        try:
            repo.change_status(promoter, to_status=target, action=action, by=by, reason=reason, now=now,
                               grant_role=grant,
                               audit=_promoter_audit(f"promoter.{action}", promoter, by=by, source_ip=source_ip,
                                                     before={"status": promoter.status},
                                                     after={"status": target}, reason=reason))
        except TransactionCancelled:
            continue  # changed meanwhile: re-read; the transition rule answers 409 if no longer allowed
        return get_promoter(table=table, user_id=user_id)
    raise Conflict("the promoter changed concurrently; retry", code="retry_later")


def _check_override_cap(table: Table, settings: DistributionSettings, promoter: Promoter) -> None:
    """The override with any level's points (the promoter's level can change), and the other level's
    rate from anything a line can resolve (global, a category, a product, another promoter's
    override), stays within the cap: 422 naming the combination."""
    if promoter.l1_override_bp is None and promoter.l2_override_bp is None:
        return
    others = [p for p in PromoterRepository(table).with_overrides() if p.user_id != promoter.user_id]
    problems = cap_problems(settings=settings, categories=CategoryRepository(table).list_all(),
                            products=ProductRepository(table).with_own_commission(),
                            promoters=[*others, promoter], saving=Saving("override", promoter.user_id))
    if problems:
        raise InvalidInput("this override could pay more than the commission cap on some line",
                           code="override_exceeds_cap", fields=problems)


def set_override(*, table: Table, user_id: str, l1_bp: int | None, l2_bp: int | None, reason: str | None, by: str,
                 now: datetime, source_ip: str | None = None) -> PromoterAdminView:
    settings = SettingsRepository(table).current().settings
    repo = PromoterRepository(table)
    promoter = repo.get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    _check_override_cap(table, settings, replace(promoter, l1_override_bp=l1_bp, l2_override_bp=l2_bp))
    try:
        repo.set_override(promoter, l1_bp=l1_bp, l2_bp=l2_bp, by=by, reason=reason, now=now,
                          audit=_promoter_audit(
                              "promoter.set_override", promoter, by=by, source_ip=source_ip,
                              before={"l1_override_bp": promoter.l1_override_bp,
                                      "l2_override_bp": promoter.l2_override_bp},
                              after={"l1_override_bp": l1_bp, "l2_override_bp": l2_bp}, reason=reason))
    except TransactionCancelled as exc:
        raise Conflict("the promoter changed meanwhile; reload and retry", code="promoter_changed") from exc
    return get_promoter(table=table, user_id=user_id)


def set_level(*, table: Table, user_id: str, level_id: str, reason: str, by: str, now: datetime,
              source_ip: str | None = None) -> PromoterAdminView:
    settings = SettingsRepository(table).current().settings
    level = rules.check_level_exists(level_id, settings)
    repo = PromoterRepository(table)
    promoter = repo.get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    if promoter.l1_override_bp is not None or promoter.l2_override_bp is not None:
        rules.check_override(promoter.l1_override_bp, promoter.l2_override_bp, level, settings)
    if promoter.level_id == level_id:
        return _admin_view(promoter, share_page())
    try:
        repo.set_level(promoter, level_id=level_id, action="set_level", by=by, reason=reason, now=now,
                       level_source="admin", reset_activity=True,
                       audit=_promoter_audit("promoter.set_level", promoter, by=by, source_ip=source_ip,
                                             before={"level_id": promoter.level_id}, after={"level_id": level_id},
                                             reason=reason))
    except TransactionCancelled as exc:
        raise Conflict("the promoter's level changed meanwhile; reload and retry", code="promoter_changed") from exc
    return get_promoter(table=table, user_id=user_id)


# ---------------------------------------------------------------------------------------
# Binding (上下级绑定)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindOutcome:
    outcome: Literal["bound", "rebound", "unchanged", "unbound"]
    binding: Binding | None


def bind(*, table: Table, customer_id: str, promoter_id: str, trigger: BindTrigger, source: BindSource,
         now: datetime, by: str, reason: str | None = None, paid_orders_before: int | None = None,
         promoter_code: str | None = None, source_ip: str | None = None, device_id: str | None = None,
         client_ip: str | None = None) -> BindOutcome:
    """Bind ``customer_id`` under ``promoter_id`` if the rules allow (raises ``BindRefused``).
    ``device_id`` / ``client_ip``: the member's own device and IP, stored on the binding for the
    fraud scan (never logged; ``source_ip`` is the admin's, for the audit entry).
    An admin's bind (``trigger="admin"``) is audited in the same transaction.

    One transaction writes the binding (conditional on the version read: two simultaneous binds of
    one customer cannot both win), checks every ancestor's binding of the promoter is unchanged (so
    two concurrent binds cannot close a cycle), updates member counts, and records the history."""
    settings = SettingsRepository(table).current().settings
    promoters = PromoterRepository(table)
    bindings = BindingRepository(table)
    for _ in range(_ATTEMPTS):
        current = bindings.get(customer_id)
        promoter = promoters.get(promoter_id, consistent=True)
        ancestors = bindings.ancestors(promoter_id, max_depth=MAX_ANCESTOR_DEPTH) if promoter else []
        facts = promoters.customer(customer_id)
        request = BindRequest(customer_id=customer_id, trigger=trigger, source=source,
                              paid_orders_before=facts.paid_order_count if paid_orders_before is None
                              else paid_orders_before)
        decision = rules.decide_bind(request=request, promoter=promoter, current=current, target_ancestors=ancestors,
                                     settings=settings, now=now)
        if decision.outcome == "unchanged":
            return BindOutcome("unchanged", current)
        if promoter is None:  # decide_bind refuses a missing promoter; this keeps the type checker informed
            raise NotFound("no such promoter", code="promoter_not_found")
        old_parent = current.parent_id if current else None
        old_grandparent = bindings.parent_of(old_parent) if old_parent else None
        new_grandparent = ancestors[0] if ancestors else None
        own = promoters.get(customer_id, consistent=True)
        # A customer who has paid an order is a 有效下线 of whoever they are bound to.
        paid = facts.paid_order_count > 0 or (current is not None and current.paid)
        deltas = rules.member_count_deltas(
            customer_direct_members=own.direct_members if own else 0, old_parent=old_parent,
            old_grandparent=old_grandparent, new_parent=promoter_id, new_grandparent=new_grandparent,
            old_paid=current is not None and current.paid, new_paid=paid)
        chain = [promoter_id, *ancestors]
        checks = [AncestorCheck(uid, chain[i + 1] if i + 1 < len(chain) else None) for i, uid in enumerate(chain)]
        if old_parent is not None:
            checks.append(AncestorCheck(old_parent, old_grandparent))
        binding = Binding(user_id=customer_id, parent_id=promoter_id, bound_at=now, source=source, trigger=trigger,
                          promoter_code=promoter_code or promoter.code,
                          version=(current.version + 1) if current else 1, paid=paid)
        plan = BindPlan(
            customer_id=customer_id, new_binding=binding, expected_version=current.version if current else None,
            checks=checks, deltas=deltas, must_be_active=promoter_id,
            customer_direct_members=own.direct_members if own else None, nickname=facts.nickname,
            history={"action": decision.outcome, "from_parent": old_parent, "to_parent": promoter_id,
                     "source": source, "trigger": trigger, "promoter_code": binding.promoter_code,
                     "reason": reason, "by": by},
            now=now, active_now=[promoter_id],
            audit=_binding_audit("binding.admin_set", customer_id, by=by, source_ip=source_ip, old_parent=old_parent,
                                 new_parent=promoter_id, reason=reason,
                                 details={"promoter_code": binding.promoter_code, "outcome": decision.outcome})
            if trigger == "admin" else None,
            device_id=device_id, source_ip=client_ip, expect_unpaid_customer=not paid,
        )
        if not _applied(bindings, customer_id, plan):
            continue
        _evaluate_levels(table, [promoter_id], now)
        return BindOutcome("bound" if decision.outcome == "bind" else "rebound", binding)
    raise Conflict("the team changed concurrently; retry", code="retry_later")


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


def unbind(*, table: Table, customer_id: str, reason: str, by: str, now: datetime,
           source_ip: str | None = None) -> BindOutcome:
    """Admin: remove a customer's binding (reason required), with the member counts, history and
    audit entry."""
    promoters = PromoterRepository(table)
    bindings = BindingRepository(table)
    for _ in range(_ATTEMPTS):
        current = bindings.get(customer_id)
        if current is None:
            raise NotFound("this customer is not bound", code="not_bound")
        old_grandparent = bindings.parent_of(current.parent_id)
        own = promoters.get(customer_id, consistent=True)
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
                                             old_parent=current.parent_id, new_parent=None, reason=reason))
        if not _applied(bindings, customer_id, plan):
            continue
        return BindOutcome("unbound", None)
    raise Conflict("the team changed concurrently; retry", code="retry_later")


def _bind_result(outcome: BindOutcome) -> BindResult:
    return BindResult(outcome=outcome.outcome,
                      binding=_binding_view(outcome.binding) if outcome.binding else None)


def bind_with_code(*, table: Table, customer_id: str, code: str, now: datetime, device_id: str | None = None,
                   client_ip: str | None = None) -> BindResult:
    """POST bind with an invite code (邀请码). Every refusal is a 4xx; nothing is written then."""
    promoter = PromoterRepository(table).get_by_code(code) if rules.is_valid_code(code) else None
    if promoter is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    try:
        outcome = bind(table=table, customer_id=customer_id, promoter_id=promoter.user_id, trigger="invite_code",
                       source="invite_code", now=now, by=customer_id, promoter_code=code, device_id=device_id,
                       client_ip=client_ip)
    except BindRefused as refused:
        raise refused.error from refused
    return _bind_result(outcome)


def admin_set_binding(*, table: Table, customer_id: str, promoter_code: str, reason: str, by: str,
                      now: datetime, source_ip: str | None = None) -> BindResult:
    promoter = PromoterRepository(table).get_by_code(promoter_code) if rules.is_valid_code(promoter_code) else None
    if promoter is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    if not PromoterRepository(table).customer(customer_id).exists:
        raise NotFound("no such customer", code="customer_not_found")
    try:
        outcome = bind(table=table, customer_id=customer_id, promoter_id=promoter.user_id, trigger="admin",
                       source="admin", now=now, by=by, reason=reason, promoter_code=promoter_code,
                       source_ip=source_ip)
    except BindRefused as refused:
        raise refused.error from refused
    return _bind_result(outcome)


def admin_remove_binding(*, table: Table, customer_id: str, reason: str, by: str, now: datetime,
                         source_ip: str | None = None) -> BindResult:
    return _bind_result(unbind(table=table, customer_id=customer_id, reason=reason, by=by, now=now,
                               source_ip=source_ip))


def get_binding(*, table: Table, customer_id: str, limit: int) -> tuple[BindingView | None, list[BindingHistoryEntry]]:
    bindings = BindingRepository(table)
    current = bindings.get(customer_id)
    items, _ = bindings.history(customer_id, limit=limit, start_key=None)
    history = [BindingHistoryEntry(action=i["action"], from_parent=i.get("from_parent"), to_parent=i.get("to_parent"),
                                   source=i["source"], trigger=i["trigger"], promoter_code=i.get("promoter_code"),
                                   reason=i.get("reason"), by=i["by"], at=i["at"]) for i in items]
    return (_binding_view(current) if current else None), history


def record_visit(*, table: Table, code: str, source: Literal["link", "qr", "poster"], product_id: str | None,
                 visitor_id: str | None, device_id: str | None, source_ip: str | None, now: datetime,
                 rate: rules.VisitRate | None = None) -> VisitResult:
    """A share visit (分享访问). Recorded (device id and IP are stored, never logged) unless its source
    IP is past ``rate`` (default: the configured ``SHARE_VISIT_RATE_LIMIT`` per
    ``SHARE_VISIT_RATE_WINDOW_SECONDS``): then 429 ``too_many_visits`` with Retry-After, nothing
    stored. It counts in the statistics once per source per promoter per day
    (``rules.visit_sources``). In first_click mode a logged-in visitor is bound when the rules allow,
    otherwise ``binding_refused`` says why (the visit itself is not an error)."""
    if rate is None:
        config = get_settings()
        rate = rules.VisitRate(limit=config.share_visit_rate_limit,
                               window_seconds=config.share_visit_rate_window_seconds)
    sources = rules.visit_sources(source_ip=source_ip, device_id=device_id, visitor_id=visitor_id)
    fingerprints = [pii_crypto.fingerprint(value, kind=f"visit_{kind}") for kind, value in sources]
    if sources:  # the first source is the IP when there is one (API Gateway always gives it)
        window_start, retry_after = rules.rate_window(now, rate.window_seconds)
        if not VisitRateLimiter(table).allow(source=fingerprints[0], window_start=window_start,
                                             window_seconds=rate.window_seconds, limit=rate.limit):
            raise TooManyRequests(f"more than {rate.limit} share visits in {rate.window_seconds} s from one source",
                                  retry_after_seconds=retry_after, code="too_many_visits")
    promoter = PromoterRepository(table).get_by_code(code) if rules.is_valid_code(code) else None
    if promoter is None:
        raise NotFound("no promoter with this code", code="promoter_not_found")
    visit_id, _ = VisitRepository(table).record(promoter_id=promoter.user_id, promoter_code=code, source=source,
                                                product_id=product_id, visitor_id=visitor_id, device_id=device_id,
                                                source_ip=source_ip, now=now, sources=fingerprints)
    if visitor_id is None:
        return VisitResult(visit_id=visit_id, outcome="not_logged_in")
    settings = SettingsRepository(table).current().settings
    if settings.binding_mode != BindingMode.FIRST_CLICK:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused="binding_mode_mismatch")
    try:
        outcome = bind(table=table, customer_id=visitor_id, promoter_id=promoter.user_id, trigger="visit",
                       source=source, now=now, by=visitor_id, promoter_code=code, device_id=device_id,
                       client_ip=source_ip)
    except BindRefused as refused:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused=refused.error.code)
    except Conflict as lost:
        return VisitResult(visit_id=visit_id, outcome="not_bound", binding_refused=lost.code)
    if outcome.outcome == "unbound":  # a visit never unbinds; kept for the type checker
        return VisitResult(visit_id=visit_id, outcome="not_bound")
    return VisitResult(visit_id=visit_id, outcome=outcome.outcome,
                       binding=_binding_view(outcome.binding) if outcome.binding else None)


# ---------------------------------------------------------------------------------------
# Levels (等级)
# ---------------------------------------------------------------------------------------


def _evaluate_levels(table: Table, user_ids: list[str], now: datetime) -> None:
    for uid in user_ids:
        evaluate_upgrade(table=table, user_id=uid, now=now)


def evaluate_upgrade(*, table: Table, user_id: str, now: datetime) -> str | None:
    """After counters change: move up to the highest level whose conditions hold (never down)."""
    settings = SettingsRepository(table).current().settings
    repo = PromoterRepository(table)
    for _ in range(3):
        promoter = repo.get(user_id, consistent=True)
        if promoter is None:
            return None
        counters = promoter.counters
        target = rules.upgrade_target(settings, promoter.level_id, counters)
        if target is None:
            return None
        try:
            repo.set_level(promoter, level_id=target, action="upgrade", by="system", reason="upgrade conditions met",
                           now=now, level_source="auto", reset_activity=True, decided_on=counters)
        except TransactionCancelled:
            continue
        logger.info("promoter upgraded", extra={"to_level": target})
        return target
    return None


DOWNGRADE_LOOKBACK_DAYS = 30


def run_downgrades(*, table: Table, now: datetime, page_size: int = 100) -> int:
    """Scheduled: one level down for promoters idle ``level_downgrade_inactive_days``.

    Candidates come from the activity markers' day partitions (no scan): the days from the cutoff
    back ``DOWNGRADE_LOOKBACK_DAYS`` (so a missed run is caught up). A downgrade restarts the idle
    clock, so the next step down needs another full idle period; at the entry level the marker
    leaves the index."""
    settings = SettingsRepository(table).current().settings
    repo = PromoterRepository(table)
    cutoff = (now - timedelta(days=settings.level_downgrade_inactive_days)).date()
    changed = 0
    for back in range(DOWNGRADE_LOOKBACK_DAYS, -1, -1):
        day = (cutoff - timedelta(days=back)).isoformat()
        start: Key | None = None
        while True:
            found, start = repo.inactive_on(day, limit=page_size, start_key=start)
            for user_id, idle_since in found:
                promoter = repo.get(user_id, consistent=True)
                if promoter is None or promoter.level_id == settings.levels[0].id:
                    repo.drop_activity_index(user_id, day)
                    continue
                target = rules.downgrade_target(settings, promoter.level_id, idle_since, now)
                if target is None:
                    continue
                try:
                    repo.set_level(promoter, level_id=target, action="downgrade", by="system",
                                   reason=f"no activity for {settings.level_downgrade_inactive_days} days", now=now,
                                   level_source="auto", reset_activity=True)
                    changed += 1
                except TransactionCancelled:
                    continue  # changed meanwhile (activity or an admin): the next run decides again
            if start is None:
                break
    return changed


# ---------------------------------------------------------------------------------------
# What a promoter sees
# ---------------------------------------------------------------------------------------


def my_profile(*, table: Table, user_id: str) -> PromoterProfile:
    settings = SettingsRepository(table).current().settings
    promoter = PromoterRepository(table).get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("you are not a promoter; apply first", code="promoter_not_found")
    level = settings.level(promoter.level_id)
    counters = promoter.counters
    progress = rules.progress_to_next(settings, promoter.level_id, counters)
    return PromoterProfile(
        code=promoter.code, share_link=rules.share_link(share_page(), promoter.code), status=promoter.status,
        title=settings.promoter_title, nickname=promoter.nickname,
        level=LevelView(id=level.id, name=level.name, l1_points_bp=level.l1_points_bp,
                        l2_points_bp=level.l2_points_bp),
        next_level=(LevelView(id=progress.next_level_id, name=progress.next_level_name or "",
                              l1_points_bp=settings.level(progress.next_level_id).l1_points_bp,
                              l2_points_bp=settings.level(progress.next_level_id).l2_points_bp)
                    if progress.next_level_id else None),
        progress=[RequirementView(name=r.name, required=r.required, current=r.current, met=r.met)
                  for r in progress.requirements],
        direct_members=promoter.direct_members, second_level_members=promoter.second_level_members,
        own_sales_fen=promoter.own_sales_fen, team_sales_fen=promoter.team_sales_fen,
        joined_at=iso(promoter.applied_at) if promoter.applied_at else None,
    )


def _member(item: Item, depth: Literal[1, 2], via: Item | None = None) -> TeamMember:
    return TeamMember(nickname=mask_nickname(item.get("nickname")), joined_at=item["bound_at"],
                      sales_fen=int(item.get("sales_fen", 0)), depth=depth,
                      via=mask_nickname(via.get("nickname")) if via is not None else None)


L2_MAX_MEMBERS_SCANNED = 50


def my_team(*, table: Table, user_id: str, depth: Literal[1, 2], limit: int, cursor: str | None) -> TeamPage:
    """The caller's own team only (the route passes the token's subject).

    Level 1: the bindings whose parent is the caller (gsi1 ``TEAM#<me>``), newest first.
    Level 2: derived at read time from the current level-1 bindings (each level-1 member's own
    ``TEAM#`` partition), so a member whose parent re-binds moves with their whole team at once and
    no second-level copy can go stale. The cursor remembers the level-1 position and the position
    inside that member's team; one page scans at most ``L2_MAX_MEMBERS_SCANNED`` level-1 members
    (a page may then be short: follow ``next_cursor``)."""
    if PromoterRepository(table).get(user_id) is None:
        raise Forbidden("only promoters have a team", code="not_a_promoter")
    bindings = BindingRepository(table)
    state = cursors.decode(cursor)
    if depth == 1:
        start = state.get("k") if state else None
        if start is not None and not in_team(start, user_id):
            raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                               fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
        items, last = bindings.team(user_id, limit=limit, start_key=start)
        return TeamPage(depth=1, items=[_member(i, 1) for i in items],
                        next_cursor=cursors.encode({"d": 1, "k": last} if last else None))
    l1_key: Key | None = state.get("l1") if state else None
    inner: Key | None = state.get("inner") if state else None
    if l1_key is not None and not in_team(l1_key, user_id):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
    out: list[TeamMember] = []
    scanned = 0
    while True:
        chunk, chunk_last = bindings.team(user_id, limit=25, start_key=l1_key)
        for member in chunk:
            before = l1_key
            start = inner if in_team(inner, member["user_id"]) else None
            inner = None
            found, last = bindings.team(member["user_id"], limit=limit - len(out), start_key=start)
            out += [_member(i, 2, via=member) for i in found]
            scanned += 1
            if last is not None:
                return TeamPage(depth=2, items=out,
                                next_cursor=cursors.encode({"d": 2, "l1": before, "inner": last}))
            l1_key = team_index_key(member)
            if len(out) >= limit or scanned >= L2_MAX_MEMBERS_SCANNED:
                return TeamPage(depth=2, items=out,
                                next_cursor=cursors.encode({"d": 2, "l1": l1_key, "inner": None}))
        if chunk_last is None:
            return TeamPage(depth=2, items=out, next_cursor=None)
        l1_key = chunk_last


# ---------------------------------------------------------------------------------------
# An order became PAID (the stream consumer)
# ---------------------------------------------------------------------------------------


def _share_from(raw: Any) -> ShareSource | None:
    if not isinstance(raw, Mapping):
        return None
    code, source = raw.get("promoter_code"), raw.get("source")
    if not isinstance(code, str) or source not in ("link", "qr", "poster"):
        return None
    product = raw.get("product_id")
    return ShareSource(promoter_code=code, source=source, product_id=product if isinstance(product, str) else None)


def _text(value: Any) -> str | None:
    """A stored device id / IP as text (the order's, when a first payment binds its buyer)."""
    return value if isinstance(value, str) and value else None


def on_order_paid(*, table: Table, order: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """React once to an order that became PAID (at-least-once delivery: a redelivery changes nothing).

    1. first_payment mode: the order's share source binds the buyer if this is their first paid order
       (profile ``first_paid_order_id``) and the rules allow (a binding is itself idempotent). An order
       with a commission basis (taken at payment) makes the binding it claims and records its outcome
       once (``mall.services.payment_snapshot``); the commission sync follows the same outcome.
    2. Sales counters of the L1 (own + team sales) and L2 (team sales) that earn on the order (from
       its basis), and the buyer's binding sales, with a ``REFERRAL_ORDER#<id>`` marker in the same
       transaction.
    3. Level upgrades of those promoters: the order's own commission was fixed at payment, so an
       upgrade it triggers applies from the next order."""
    order_id = str(order["order_id"])
    buyer_id = str(order["buyer_id"])
    raw_lines = order.get("lines")
    amount = rules.distribution_base(line for line in raw_lines if isinstance(line, Mapping)) \
        if isinstance(raw_lines, list) else 0
    settings = SettingsRepository(table).current().settings
    result: dict[str, Any] = {"order_id": order_id, "bound": None, "counted": False}
    share = _share_from(order.get("share_source"))
    basis = earning_basis(table, order_id, now=now)
    if basis is not None:
        result["bound"] = basis.binding_outcome
    elif settings.binding_mode == BindingMode.FIRST_PAYMENT and share is not None and rules.is_valid_code(
            share.promoter_code):
        facts = PromoterRepository(table).customer(buyer_id)
        sharer = PromoterRepository(table).get_by_code(share.promoter_code)
        if facts.first_paid_order_id == order_id and sharer is not None:
            try:
                outcome = bind(table=table, customer_id=buyer_id, promoter_id=sharer.user_id, trigger="first_payment",
                               source=share.source, now=now, by="system", paid_orders_before=0,
                               promoter_code=share.promoter_code, device_id=_text(order.get("device_id")),
                               client_ip=_text(order.get("source_ip")))
                result["bound"] = outcome.outcome
            except (BindRefused, Conflict) as refused:
                code = refused.error.code if isinstance(refused, BindRefused) else refused.code
                result["bound"] = f"refused:{code}"
    result["effective_member_of"] = _count_paid_invitee(table, buyer_id, now)
    raw_attribution = order.get("attribution")
    attribution: Mapping[str, Any] = raw_attribution if isinstance(raw_attribution, Mapping) else {}
    l1 = attribution.get("l1_promoter_id") or None
    l2 = attribution.get("l2_promoter_id") or None
    if basis is not None:
        l1, l2 = basis.earning()
    if (l1 is None and l2 is None) or amount <= 0:
        return result
    counters = CounterRepository(table)
    binding = BindingRepository(table).get(buyer_id)
    parent = binding.parent_id if binding is not None and binding.parent_id == l1 else None
    for _ in range(_ATTEMPTS):
        sale = SaleCount(order_id=order_id, amount_fen=amount, l1=l1, l2=l2, buyer_binding_parent=parent,
                         buyer_id=buyer_id)
        try:
            result["counted"] = counters.count_sale(sale, now)
            break
        except TransactionCancelled as exc:
            failed = first_failure_index(exc)
            if failed is not None and failed > 0 and parent is not None:
                parent = None  # the buyer re-bound meanwhile: count the promoters, not the old binding
            continue
    else:
        raise RuntimeError(f"could not count order {order_id} after {_ATTEMPTS} attempts")
    if result["counted"]:
        _evaluate_levels(table, rules.unique([l1, l2]), now)
    return result


def _count_paid_invitee(table: Table, buyer_id: str, now: datetime) -> str | None:
    """The buyer's first paid order makes them a 有效下线 of their parent, once (the binding's
    ``paid`` flag is flipped conditionally with the parent's count); the parent's level is then
    evaluated. Returns the parent counted now, or None (unbound, or counted before)."""
    bindings = BindingRepository(table)
    counters = CounterRepository(table)
    for _ in range(_ATTEMPTS):
        binding = bindings.get(buyer_id)
        if binding is None or binding.paid:
            return None
        try:
            counted = counters.count_paid_invitee(buyer_id, binding.parent_id)
        except TransactionCancelled:
            continue  # re-bound or unbound meanwhile (the bind itself counts a paying customer)
        if not counted:
            return None
        evaluate_upgrade(table=table, user_id=binding.parent_id, now=now)
        return binding.parent_id
    raise RuntimeError(f"could not count the paid invitee {buyer_id} after {_ATTEMPTS} attempts")


# ---------------------------------------------------------------------------------------
# A refund SUCCEEDED (the stream consumer): take back what it bought
# ---------------------------------------------------------------------------------------


class NotCountedYet(RuntimeError):
    """The refund's order is attributed but its paid order is not counted yet: retry later, so the
    refund is taken off what the payment added, whichever worker runs first."""


def on_refund_succeeded(*, table: Table, refund: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """React once to a refund that SUCCEEDED (at-least-once delivery: ``REFERRAL_ORDER#<order>/
    REFUND#<refund>`` marks it counted, in the same transaction as the counters).

    The refunded distribution base (its amounts on lines that take part; never shipping) comes off
    the L1's own and team sales and the L2's team sales — the promoters the paid order was counted
    for, capped at what was counted. A level earned automatically whose conditions no longer hold
    moves down to the highest one that still holds, with a ``downgrade`` history entry, in the same
    transaction; a level an admin set stays."""
    order_id = str(refund["order_id"])
    refund_id = str(refund["refund_id"])
    result: dict[str, Any] = {"order_id": order_id, "refund_id": refund_id, "counted": False, "downgraded": []}
    raw_lines = refund.get("lines")
    refund_lines = [line for line in raw_lines if isinstance(line, Mapping)] if isinstance(raw_lines, list) else []
    order = OrderRepository(table).get_item(order_id, consistent=True) or {}
    raw_order_lines = order.get("lines")
    order_lines = ([line for line in raw_order_lines if isinstance(line, Mapping)]
                   if isinstance(raw_order_lines, list) else [])
    base = rules.refunded_base(order_lines, refund_lines)
    if base <= 0:
        return result
    settings = SettingsRepository(table).current().settings
    counters = CounterRepository(table)
    promoters = PromoterRepository(table)
    for _ in range(_ATTEMPTS):
        marker = counters.counted(order_id)
        if marker is None:
            raw_attribution = order.get("attribution")
            attribution = raw_attribution if isinstance(raw_attribution, Mapping) else {}
            if refund.get("kind") == "paid_after_expiry" or not (
                    attribution.get("l1_promoter_id") or attribution.get("l2_promoter_id")):
                return result  # the payment counted nothing, so the refund takes nothing back
            raise NotCountedYet(f"order {order_id} is not counted yet")
        counted_fen = int(marker.get("amount_fen", 0))
        refunded_before = int(marker.get("refunded_base_fen", 0))
        take = min(base, counted_fen - refunded_before)
        if take <= 0:
            return result
        l1 = marker.get("l1_promoter_id") or None
        l2 = marker.get("l2_promoter_id") or None
        changes: list[RefundedPromoter] = []
        for uid, own in ((l1, True), (l2, False)):
            if uid is None or (uid == l1 and not own):
                continue
            promoter = promoters.get(str(uid), consistent=True)
            if promoter is None:
                continue
            if not promoter.level_follows_counters:
                changes.append(RefundedPromoter(promoter.user_id, own, promoter.status, promoter.level_id))
                continue
            before = promoter.counters
            after = Counters(before.effective_members, before.own_sales_fen - (take if own else 0),
                                   before.team_sales_fen - take)
            changes.append(RefundedPromoter(promoter.user_id, own, promoter.status, promoter.level_id,
                                            decided_on=before,
                                            to_level=rules.level_after_refund(settings, promoter.level_id, after)))
        count = RefundCount(order_id=order_id, refund_id=refund_id, base_fen=take, refunded_before_fen=refunded_before,
                            l1=l1, l2=l2, promoters=tuple(changes))
        try:
            result["counted"] = counters.count_refund(count, now)
        except TransactionCancelled:
            continue  # a sale, another refund or a level change moved a counter: decide again
        if result["counted"]:
            result["downgraded"] = [c.user_id for c in changes if c.to_level is not None]
            if result["downgraded"]:
                logger.info("promoter level re-evaluated after a refund",
                            extra={"refund_id": refund_id, "downgraded": len(result["downgraded"])})
        return result
    raise RuntimeError(f"could not count refund {refund_id} after {_ATTEMPTS} attempts")
