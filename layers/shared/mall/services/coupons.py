"""Use cases of coupons (优惠券): the merchant's templates, claiming, automatic issue, a customer's
own coupons, and what claiming a promoter-bound coupon through a share does (docs/coupons.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.coupons import ClaimOutcome, CouponRepository
from mall.dal.referral import BindFacts, BindPlan, TransactionCancelled, VisitRateLimiter, VisitRepository
from mall.domain.audit import changed_fields
from mall.domain.coupons import (
    SHARE_ACTION_BY_MODE,
    AutoIssue,
    Coupon,
    CouponKind,
    CouponStatus,
    RefundPolicy,
    ScopeKind,
    ShareAction,
    Template,
    Terms,
    Validity,
    check_template,
)
from mall.domain.referral import BindRefused, is_valid_code
from mall.domain.settings_terms import BindingMode
from mall.errors import Conflict, DomainError, NotFound
from mall.ids import new_id
from mall.schemas.coupons import (
    AvailableList,
    AvailableTemplate,
    ClaimResponse,
    CouponList,
    CouponTemplateIn,
    CouponTemplateList,
    CouponTemplateUpdate,
    CouponTemplateView,
    CouponView,
    ShareEffect,
)
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import Bind, BindWithCode, bind_with_code, plan_bind, upgrade_after_bind
from mall.services.referral.visits import RecordVisit, VisitRider, record_visit

if TYPE_CHECKING:
    from mall.dal.table import Table

logger = Logger(child=True)


@dataclass(frozen=True)
class CouponRepositories:
    """What claiming reads and writes: the coupons, and for a promoter-bound coupon the network (its
    binding rules) and the share visits."""

    coupons: CouponRepository
    network: ReferralRepositories
    visits: VisitRepository
    visit_rate: VisitRateLimiter

    @classmethod
    def on(cls, table: Table) -> CouponRepositories:
        return cls(coupons=CouponRepository(table), network=ReferralRepositories.on(table),
                   visits=VisitRepository(table), visit_rate=VisitRateLimiter(table))


# ---- templates (admin) -----------------------------------------------------------------------


def _template_of(body: CouponTemplateIn, *, template_id: str, now: datetime, base: Template | None) -> Template:
    terms = Terms(kind=CouponKind(body.kind), amount_off_fen=body.amount_off_fen, percent_off_bp=body.percent_off_bp,
                  max_off_fen=body.max_off_fen, min_spend_fen=body.min_spend_fen, scope=ScopeKind(body.scope),
                  scope_ids=tuple(dict.fromkeys(body.scope_ids)), on_refund=RefundPolicy(body.on_refund))
    validity = Validity(starts_at=iso(body.starts_at) if body.starts_at else None,
                        ends_at=iso(body.ends_at) if body.ends_at else None, days=body.valid_days)
    check_template(terms, validity, total_quantity=body.total_quantity, per_user_limit=body.per_user_limit)
    return Template(template_id=template_id, name=body.name, terms=terms, validity=validity,
                    total_quantity=body.total_quantity, per_user_limit=body.per_user_limit, enabled=body.enabled,
                    auto_issue=AutoIssue(body.auto_issue), promoter_bound=body.promoter_bound,
                    issued=base.issued if base else 0, version=base.version if base else 1,
                    created_at=base.created_at if base else iso(now), updated_at=iso(now))


def template_view(t: Template) -> CouponTemplateView:
    return CouponTemplateView(
        template_id=t.template_id, name=t.name, kind=t.terms.kind.value, amount_off_fen=t.terms.amount_off_fen,
        percent_off_bp=t.terms.percent_off_bp, max_off_fen=t.terms.max_off_fen, min_spend_fen=t.terms.min_spend_fen,
        scope=t.terms.scope.value, scope_ids=list(t.terms.scope_ids), starts_at=t.validity.starts_at,
        ends_at=t.validity.ends_at, valid_days=t.validity.days, total_quantity=t.total_quantity,
        per_user_limit=t.per_user_limit, enabled=t.enabled, auto_issue=t.auto_issue.value,
        promoter_bound=t.promoter_bound, on_refund=t.terms.on_refund.value, issued=t.issued, version=t.version,
        created_at=t.created_at, updated_at=t.updated_at)


def _audit(action: str, t: Template, *, by: str, source_ip: str | None, before: Template | None) -> AuditEntry:
    was, will = changed_fields(template_view(before).model_dump() if before else None, template_view(t).model_dump())
    return AuditEntry(action=action, actor=by, entity_type="coupon_template", entity_id=t.template_id,
                      source_ip=source_ip, before=was, after=will, details={})


def create_template(*, coupons: CouponRepository, body: CouponTemplateIn, by: str, source_ip: str | None,
                    now: datetime) -> CouponTemplateView:
    template = _template_of(body, template_id=new_id("ct"), now=now, base=None)
    coupons.create_template(template, audit=_audit("coupon_template.create", template, by=by, source_ip=source_ip,
                                                   before=None), now=now)
    return template_view(template)


def update_template(*, coupons: CouponRepository, template_id: str, body: CouponTemplateUpdate, by: str,
                    source_ip: str | None, now: datetime) -> CouponTemplateView:
    """Change (or disable: ``enabled: false``) a template. Coupons already claimed keep their terms."""
    current = coupons.get_template(template_id, consistent=True)
    if current is None:
        raise NotFound("no such coupon template", code="coupon_template_not_found")
    template = _template_of(body, template_id=template_id, now=now, base=current)
    action = "coupon_template.disable" if current.enabled and not template.enabled else "coupon_template.update"
    return template_view(coupons.update_template(
        template, expected_version=body.version, now=now,
        audit=_audit(action, template, by=by, source_ip=source_ip, before=current)))


def list_templates(*, coupons: CouponRepository) -> CouponTemplateList:
    return CouponTemplateList(items=[template_view(t) for t in sorted(coupons.templates(),
                                                                      key=lambda t: t.created_at, reverse=True)])


def get_template(*, coupons: CouponRepository, template_id: str) -> CouponTemplateView:
    found = coupons.get_template(template_id)
    if found is None:
        raise NotFound("no such coupon template", code="coupon_template_not_found")
    return template_view(found)


# ---- a customer's coupons --------------------------------------------------------------------


def coupon_view(c: Coupon, now: datetime, *, promoter_bound: bool = False) -> CouponView:
    return CouponView(coupon_id=c.coupon_id, template_id=c.template_id, name=c.name, kind=c.terms.kind.value,
                      amount_off_fen=c.terms.amount_off_fen, percent_off_bp=c.terms.percent_off_bp,
                      max_off_fen=c.terms.max_off_fen, min_spend_fen=c.terms.min_spend_fen,
                      scope=c.terms.scope.value, scope_ids=list(c.terms.scope_ids), valid_from=c.valid_from,
                      valid_until=c.valid_until, status=c.status_at(now).value, claimed_at=c.claimed_at,
                      order_id=c.order_id, used_at=c.used_at,
                      promoter_bound=promoter_bound or c.sharer_code is not None)


def my_coupons(*, coupons: CouponRepository, user_id: str, now: datetime) -> CouponList:
    mine = sorted(coupons.coupons_of(user_id), key=lambda c: c.claimed_at, reverse=True)
    return CouponList(items=[coupon_view(c, now) for c in mine])


def available(*, coupons: CouponRepository, user_id: str, now: datetime) -> AvailableList:
    """Templates open for claiming now (not the automatically issued ones), with what is left for
    the caller under the per-user limit."""
    held: dict[str, int] = {}
    for c in coupons.coupons_of(user_id):
        held[c.template_id] = held.get(c.template_id, 0) + 1
    items = [AvailableTemplate(**{k: v for k, v in template_view(t).model_dump().items()
                                  if k in AvailableTemplate.model_fields},
                               left_for_you=t.per_user_limit - held.get(t.template_id, 0))
             for t in coupons.templates()
             if t.claimable(now) and t.auto_issue == AutoIssue.NONE and held.get(t.template_id, 0) < t.per_user_limit]
    return AvailableList(items=items)


def _new_coupon(t: Template, *, user_id: str, coupon_id: str, now: datetime, sharer_code: str | None) -> Coupon:
    valid_from, valid_until = t.validity.window_on_claim(now)
    return Coupon(coupon_id=coupon_id, user_id=user_id, template_id=t.template_id, name=t.name, terms=t.terms,
                  valid_from=valid_from, valid_until=valid_until, status=CouponStatus.UNUSED, claimed_at=iso(now),
                  sharer_code=sharer_code)


_REFUSED = {
    ClaimOutcome.SOLD_OUT: ("none of this coupon is left to claim", "coupon_sold_out"),
    ClaimOutcome.LIMIT: ("you hold as many of this coupon as one customer may", "coupon_limit_reached"),
    ClaimOutcome.CONTENTION: ("too many claims of this coupon at this instant; retry", "claim_contention"),
}


@dataclass(frozen=True, slots=True)
class ClaimCoupon:
    """领券: ``share_code`` is the promoter code of the share a promoter-bound coupon came through."""

    template_id: str
    user_id: str
    now: datetime
    share_code: str | None = None
    device_id: str | None = None
    client_ip: str | None = None


def claim(command: ClaimCoupon, *, repos: CouponRepositories) -> ClaimResponse:
    """Claim one coupon of a template (409 when none is left, or the caller's limit is reached). Through
    a promoter's share, a promoter-bound coupon then does what the binding mode says a share does."""
    c = command
    if c.share_code and is_valid_code(c.share_code):
        if _MODE_SEEN["mode"] == BindingMode.FIRST_CLICK and (visited := _claim_with_visit(c, repos, c.share_code)):
            return visited
        return _claim_through_share(c, repos=repos, code=c.share_code)
    template = _claimable(repos.coupons.get_template(c.template_id, consistent=True), c.now)
    share = c.share_code if template.promoter_bound else None
    mode = repos.network.settings.current().settings.binding_mode if share else None
    coupon = _new_coupon(template, user_id=c.user_id, coupon_id=new_id("cp"), now=c.now,
                         sharer_code=share if mode is not None
                         and SHARE_ACTION_BY_MODE.get(mode) == ShareAction.SHARE_SOURCE else None)
    result = repos.coupons.claim(template, coupon, source="claim")
    if result.outcome != ClaimOutcome.CLAIMED:
        message, code = _REFUSED.get(result.outcome, _REFUSED[ClaimOutcome.CONTENTION])
        raise Conflict(message, code=code)
    effect, refused = _share_effect(c, repos=repos, mode=mode) if share else ("none", None)
    return ClaimResponse(coupon=coupon_view(coupon, c.now, promoter_bound=template.promoter_bound),
                         share_effect=effect, share_refused=refused)


def _claimable(template: Template | None, now: datetime) -> Template:
    if template is None or template.auto_issue != AutoIssue.NONE:
        raise NotFound("no such coupon to claim", code="coupon_template_not_found")
    if not template.claimable(now):
        raise Conflict(*_REFUSED[ClaimOutcome.SOLD_OUT][:1], code=_REFUSED[ClaimOutcome.SOLD_OUT][1])
    return template


def _claimed(repos: CouponRepositories, template: Template, coupon: Coupon, bind: BindPlan | None = None) -> None:
    """The claim's one transaction, carrying ``bind``'s writes when given (after the claim's own:
    a cancellation in them raises ``TransactionCancelled``)."""
    extra = repos.network.bindings.writes(bind) if bind is not None else ()
    result = repos.coupons.claim(template, coupon, source="claim", extra=extra)
    if result.outcome != ClaimOutcome.CLAIMED:
        message, code = _REFUSED.get(result.outcome, _REFUSED[ClaimOutcome.CONTENTION])
        raise Conflict(message, code=code)


#: The binding mode this container last read: only which path a claim through a share tries first
#: (each path decides on the mode it reads itself); a stale one costs the other path's round trips.
_MODE_SEEN: dict[str, BindingMode] = {"mode": BindingMode.FIRST_CLICK}


class _NotAVisit(Exception):
    """The template is not promoter-bound, or the mode is not first_click: nothing was stored."""


def _claim_with_visit(c: ClaimCoupon, repos: CouponRepositories, code: str) -> ClaimResponse | None:
    """``first_click``: the claim rides in the share visit — the template in its first BatchGetItem,
    the claim's writes in its transaction — three round trips; None: take the other path."""
    made: dict[str, Any] = {}

    def writes(found: Sequence[Any], mode: BindingMode) -> Sequence[Any]:
        _MODE_SEEN["mode"] = mode
        try:
            template = _claimable(repos.coupons.template_among(found, c.template_id), c.now)
        except DomainError as exc:
            made["refusal"] = exc
            raise
        if not template.promoter_bound or SHARE_ACTION_BY_MODE.get(mode) != ShareAction.SHARE_VISIT:
            raise _NotAVisit
        made["template"] = template
        made["coupon"] = _new_coupon(template, user_id=c.user_id, coupon_id=new_id("cp"), now=c.now, sharer_code=None)
        return repos.coupons.claim_writes(template, made["coupon"], source="claim")

    def refused(failed: frozenset[int]) -> Exception:
        message, error_code = _REFUSED.get(repos.coupons.claim_refusal(failed), _REFUSED[ClaimOutcome.CONTENTION])
        made["refusal"] = error = Conflict(message, code=error_code)
        return error

    rider = VisitRider(reads=[repos.coupons.template_read_key(c.template_id)], writes=writes, refused=refused)
    try:
        visit = record_visit(RecordVisit(code=code, source="link", product_id=None, visitor_id=c.user_id,
                                         device_id=c.device_id, source_ip=c.client_ip, now=c.now),
                             network=repos.network, visits=repos.visits, visit_rate=repos.visit_rate, rider=rider)
    except _NotAVisit:
        return None
    except DomainError as exc:
        if made.get("refusal") is exc:
            raise
        coupon = made.get("coupon")
        if coupon is None or repos.coupons.get_coupon(c.user_id, coupon.coupon_id, consistent=True) is None:
            return None  # the visit refused before the claim was stored: the other path claims alone
        return _response(c, made["template"], coupon, "not_bound", exc.code)
    return _response(c, made["template"], made["coupon"], visit.outcome, visit.binding_refused)


def _claim_through_share(c: ClaimCoupon, *, repos: CouponRepositories, code: str) -> ClaimResponse:
    """A claim through a promoter's share in at most three round trips where the share needs no
    visit: the template and the settings ride in the bind's two BatchGetItems, and in ``invite_code``
    mode the binding's writes ride in the claim's transaction, so the coupon and the binding happen
    together or not at all. A binding the rules refuse, or nothing to bind, leaves a claim alone (the
    customer keeps the coupon, unbound); a binding that lost a race is decided again the usual way.
    In ``first_click`` mode the share visit is recorded after the claim, with its own reads."""
    network = repos.network
    facts, found = network.reads.for_bind_with(c.user_id, code=code,
                                               also=[repos.coupons.template_read_key(c.template_id)])
    _MODE_SEEN["mode"] = facts.settings.settings.binding_mode
    template = _claimable(repos.coupons.template_among(found, c.template_id), c.now)
    action = SHARE_ACTION_BY_MODE.get(facts.settings.settings.binding_mode) if template.promoter_bound else None
    coupon = _new_coupon(template, user_id=c.user_id, coupon_id=new_id("cp"), now=c.now,
                         sharer_code=code if action == ShareAction.SHARE_SOURCE else None)
    if action == ShareAction.ENTER_CODE:
        return _claim_and_bind(c, repos=repos, facts=facts, template=template, coupon=coupon, code=code)
    _claimed(repos, template, coupon)
    if action == ShareAction.SHARE_VISIT:  # the visit's own reads and transaction follow the claim
        effect, refused = _share_effect(c, repos=repos, mode=facts.settings.settings.binding_mode)
        return _response(c, template, coupon, effect, refused)
    return _response(c, template, coupon, "share_source" if action == ShareAction.SHARE_SOURCE else "none")


def _claim_and_bind(c: ClaimCoupon, *, repos: CouponRepositories, facts: BindFacts, template: Template,
                    coupon: Coupon, code: str) -> ClaimResponse:
    """``invite_code`` mode: the claim counts as entering the promoter's code, decided on ``facts``
    by the bind's own rules."""
    network = repos.network
    effect: ShareEffect
    refused: str | None = None
    plan: BindPlan | None = None
    if facts.promoter_id is None:
        effect, refused = "not_bound", "promoter_not_found"
    else:
        try:
            planned = plan_bind(Bind(customer_id=c.user_id, promoter_id=facts.promoter_id, trigger="invite_code",
                                     source="invite_code", now=c.now, by=c.user_id, promoter_code=code,
                                     device_id=c.device_id, client_ip=c.client_ip), facts, network.bindings)
            plan, outcome = planned.plan, planned.outcome.outcome
            effect = "not_bound" if outcome == "unbound" else outcome
        except BindRefused as exc:
            effect, refused = "not_bound", exc.error.code
    try:
        _claimed(repos, template, coupon, bind=plan)
    except TransactionCancelled:  # the binding's part: the team or the customer changed since the read
        _claimed(repos, template, coupon)
        effect, refused = _share_effect(c, repos=repos, mode=facts.settings.settings.binding_mode)
        return _response(c, template, coupon, effect, refused)
    if plan is not None and facts.promoter_id is not None:
        upgrade_after_bind(network, plan, facts.promoter_id, c.now)
    return _response(c, template, coupon, effect, refused)


def _response(c: ClaimCoupon, template: Template, coupon: Coupon, effect: ShareEffect,
              refused: str | None = None) -> ClaimResponse:
    return ClaimResponse(coupon=coupon_view(coupon, c.now, promoter_bound=template.promoter_bound),
                         share_effect=effect, share_refused=refused)


def _share_effect(c: ClaimCoupon, *, repos: CouponRepositories,
                  mode: BindingMode | None) -> tuple[ShareEffect, str | None]:
    """What the share a promoter-bound coupon was claimed through does, through the network's own
    services (their rules — protection period, only new customers, no cycles — apply unchanged).
    A refusal does not undo the claim: the customer keeps the coupon, unbound."""
    code = c.share_code or ""
    action = SHARE_ACTION_BY_MODE.get(mode) if mode is not None else None
    try:
        if action == ShareAction.ENTER_CODE:
            bound = bind_with_code(BindWithCode(customer_id=c.user_id, code=code, now=c.now,
                                                device_id=c.device_id, client_ip=c.client_ip), network=repos.network)
            return bound.outcome, None
        if action == ShareAction.SHARE_VISIT:
            visit = record_visit(RecordVisit(code=code, source="link", product_id=None, visitor_id=c.user_id,
                                             device_id=c.device_id, source_ip=c.client_ip, now=c.now),
                                 network=repos.network, visits=repos.visits, visit_rate=repos.visit_rate)
            return visit.outcome, visit.binding_refused
        return "share_source", None  # the order that uses the coupon carries the share
    except DomainError as exc:
        return "not_bound", exc.code


# ---- automatic issue -------------------------------------------------------------------------


def auto_issue(*, coupons: CouponRepository, user_id: str, trigger: AutoIssue, now: datetime) -> list[str]:
    """Issue every enabled template of ``trigger`` to ``user_id``, at most once per (user, template):
    the coupon id is the template's, so a repeated trigger finds it already there. Returns the
    templates issued now."""
    issued: list[str] = []
    for template in coupons.templates():
        if template.auto_issue != trigger or not template.claimable(now):
            continue
        coupon = _new_coupon(template, user_id=user_id, coupon_id=f"auto_{template.template_id}", now=now,
                             sharer_code=None)
        result = coupons.claim(template, coupon, source=trigger.value)
        if result.outcome == ClaimOutcome.CLAIMED:
            issued.append(template.template_id)
    return issued


def auto_issue_quietly(*, coupons: CouponRepository, user_id: str, trigger: AutoIssue, now: datetime) -> None:
    """``auto_issue`` where a gift must never fail what triggered it (a login, an approval): a failure is
    logged; the next trigger of the same kind issues what is missing (idempotent per template)."""
    try:
        auto_issue(coupons=coupons, user_id=user_id, trigger=trigger, now=now)
    except Exception:
        logger.exception("automatic coupon issue failed", extra={"trigger": trigger.value})


__all__ = ["ClaimCoupon", "CouponRepositories", "auto_issue", "auto_issue_quietly", "available", "claim",
           "create_template", "get_template", "list_templates", "my_coupons", "update_template"]
