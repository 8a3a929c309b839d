"""Becoming a promoter (成为推广员) and an admin's decisions about one: review, freeze, disable,
the promoter's own rates and level; every change audited in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mall.api.cursor import cursors
from mall.clock import utc_now
from mall.dal.audit import AuditEntry
from mall.dal.keys import promoter_history_partition, promoters_partition
from mall.dal.referral import PromoterRepository, TransactionCancelled
from mall.dal.request_markers import MarkedRequest
from mall.domain import referral as rules
from mall.domain.referral import ApplicantFacts, Promoter, PromoterAction
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.referral import ApplyRequest, PromoterAdminView, PromoterHistoryEntry, PromoterList
from mall.services.referral import ATTEMPTS, ReferralRepositories, share_page
from mall.services.referral.views import admin_view
from mall.services.request_replay import replay, replay_refused

if TYPE_CHECKING:
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.commission_rates import RateIndex
    from mall.dal.coupons import CouponRepository
    from mall.dal.table import Write
    from mall.domain.commission_cap import OverrideHolder
    from mall.domain.settings import DistributionSettings


def _issue_promoter_gift(coupons_of: Callable[[], CouponRepository], user_id: str, now: datetime) -> None:
    # Imported by a first activation only: the coupon use cases bring the order rules and the claim machinery;
    # ``coupons_of`` (the callers' composition roots) builds the coupons' repository on first use for the same reason.
    from mall.domain.coupons import AutoIssue
    from mall.services.coupons import auto_issue_quietly

    auto_issue_quietly(coupons=coupons_of(), user_id=user_id, trigger=AutoIssue.BECOMES_PROMOTER, now=now)


def apply(*, network: ReferralRepositories, user_id: str, body: ApplyRequest, now: datetime,
          marked: MarkedRequest | None = None,
          coupons_of: Callable[[], CouponRepository] | None = None) -> PromoterAdminView:
    """Check the threshold and the accepted rules version, then create the promoter: active at once
    (``review: auto``, the ``promoter`` role granted) or waiting for review.

    One BatchGetItem (settings, promoter record, profile and the Idempotency-Key's marker; the
    purchases of a bought-product threshold in a second) and one transaction, which carries the
    marker: a retry with the same key gets the first answer back."""
    repo = network.promoters
    for _ in range(ATTEMPTS):
        facts = network.reads.for_application(user_id, marked)
        if marked is not None and (earlier := replay(facts.marker, marked, PromoterAdminView)) is not None:
            return earlier
        current, settings, existing = facts.settings, facts.settings.settings, facts.existing
        rules.refuse_banned_text("nickname", body.nickname, settings)
        rules.check_rules_accepted(body.accepted_version, current.version)
        rules.check_can_apply(existing)
        if not facts.customer.exists:
            raise NotFound("log in first", code="account_not_found")
        threshold = settings.promoter_threshold
        bought: frozenset[str] = frozenset()
        if threshold.kind == "bought_product" and threshold.product_ids:
            quantities = network.reads.paid_quantities(user_id, threshold.product_ids)
            bought = frozenset(pid for pid, quantity in quantities.items() if quantity > 0)
        rules.check_threshold(threshold, ApplicantFacts(facts.customer.paid_total_fen, bought,
                                                        has_phone=facts.customer.has_phone))
        status = rules.status_after_application(settings)
        code = existing.code if existing is not None else rules.new_promoter_code()
        promoter = Promoter(
            user_id=user_id, code=code, status=status, level_id=settings.levels[0].id, nickname=body.nickname,
            applied_at=now, activated_at=now if status == "active" else None,
            accepted_rules_version=current.version, accepted_rules_at=now,
            version=(existing.version + 1) if existing is not None else 1, level_source="auto",
        )
        grant = status == "active" and "promoter" not in facts.customer.roles
        view = admin_view(promoter, share_page())
        try:
            repo.create(promoter, grant_role=grant, replaces_rejected=existing is not None, now=now,
                        reserve_code=existing is None, marked=marked, response=view.model_dump_json())
        except TransactionCancelled as exc:
            if marked is not None and (earlier := replay_refused(exc, 0, marked, PromoterAdminView)) is not None:
                return earlier  # a request with the same key committed first
            continue  # a code collision, a concurrent application or a role change: decide again
        if status == "active" and coupons_of is not None:
            _issue_promoter_gift(coupons_of, user_id, now)
        return view
    raise Conflict("your application collided with another change; retry", code="retry_later")


def get_promoter(*, promoters: PromoterRepository, user_id: str) -> PromoterAdminView:
    promoter = promoters.get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    return admin_view(promoter, share_page())


def get_promoter_and_phone(*, promoters: PromoterRepository, user_id: str) -> tuple[PromoterAdminView, str | None]:
    """The promoter and their bound phone, masked (the admin's detail: 推广员管理 shows the phone), read
    together in one BatchGetItem."""
    promoter, customer = promoters.with_customer(user_id)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    return admin_view(promoter, share_page()), customer.phone_masked


def list_promoters(*, promoters: PromoterRepository, status: str, limit: int, cursor: str | None) -> PromoterList:
    if status not in rules.PROMOTER_STATUSES:
        raise InvalidInput("unknown status", fields=[FieldProblem("query:status",
                                                                  f"one of {list(rules.PROMOTER_STATUSES)}")])
    start = cursors.decode(cursor, partition=promoters_partition(status))
    items, last = promoters.list_by_status(status, limit=limit, start_key=start)
    page = share_page()
    return PromoterList(items=[admin_view(p, page) for p in items],
                        next_cursor=cursors.encode(last))


def promoter_history(*, promoters: PromoterRepository, user_id: str, limit: int,
                     cursor: str | None) -> list[PromoterHistoryEntry]:
    start = cursors.decode(cursor, partition=promoter_history_partition(user_id))
    items, _ = promoters.history(user_id, limit=limit, start_key=start)
    return [PromoterHistoryEntry(action=i["action"], from_status=i.get("from_status"), to_status=i.get("to_status"),
                                 by=i["by"], reason=i.get("reason"), at=i["at"], from_level=i.get("from_level"),
                                 to_level=i.get("to_level")) for i in items]


def _promoter_audit(action: str, promoter: Promoter, *, by: str, source_ip: str | None, before: dict[str, Any],
                    after: dict[str, Any], reason: str | None) -> AuditEntry:
    """An admin's change of a promoter, for the audit trail (written with the change)."""
    return AuditEntry(action=action, actor=by, entity_type="promoter", entity_id=promoter.user_id,
                      source_ip=source_ip, before=before, after=after,
                      details={"reason": reason} if reason else {}, subject_user=promoter.user_id)


def change_status(*, promoters: PromoterRepository, user_id: str, action: PromoterAction, reason: str | None,
                  by: str, now: datetime, source_ip: str | None = None,
                  coupons_of: Callable[[], CouponRepository] | None = None) -> PromoterAdminView:
    """approve / reject / freeze / unfreeze / disable: a conditional update from the status seen
    (audited in the same transaction). Two round trips: the promoter and their profile read
    together, then the transaction; the answer is the promoter as that transaction left them."""
    repo = promoters
    for _ in range(ATTEMPTS):
        promoter, facts = repo.with_customer(user_id)
        if promoter is None:
            raise NotFound("no such promoter", code="promoter_not_found")
        target = rules.transition(promoter, action, reason)
        grant = target == "active" and "promoter" not in facts.roles
        try:
            repo.change_status(promoter, to_status=target, action=action, by=by, reason=reason, now=now,
                               grant_role=grant,
                               audit=_promoter_audit(f"promoter.{action}", promoter, by=by, source_ip=source_ip,
                                                     before={"status": promoter.status},
                                                     after={"status": target}, reason=reason))
        except TransactionCancelled:
            continue  # changed meanwhile: re-read; the transition rule answers 409 if no longer allowed
        changed = replace(promoter, status=target, version=promoter.version + 1,
                          reason=promoter.reason if reason is None else reason,
                          activated_at=now if target == "active" and promoter.activated_at is None
                          else promoter.activated_at)
        if target == "active" and promoter.activated_at is None and coupons_of is not None:  # first activation
            _issue_promoter_gift(coupons_of, user_id, now)
        return admin_view(changed, share_page())
    raise Conflict("the promoter changed concurrently; retry", code="retry_later")


def freeze_writes(*, promoters: PromoterRepository, promoter: Promoter | None, reason: str, by: str, now: datetime,
                  source_ip: str | None = None) -> list[Write]:
    """The admin freeze of ``promoter`` as seen (conditional on its status and version), audited,
    as writes for a caller's transaction; none when there is nothing to freeze (not a promoter,
    already frozen or disabled)."""
    if promoter is None:
        return []
    try:
        target = rules.transition(promoter, "freeze", reason)
    except Conflict:
        return []
    return promoters.status_writes(promoter, to_status=target, action="freeze", by=by, reason=reason, now=now,
                                   grant_role=False,
                                   audit=_promoter_audit("promoter.freeze", promoter, by=by, source_ip=source_ip,
                                                         before={"status": promoter.status}, after={"status": target},
                                                         reason=reason))


def _check_override_cap(settings: DistributionSettings, promoter: Promoter, *, promoters: PromoterRepository,
                        categories: CategoryRepository, products: ProductRepository, rates: RateIndex | None,
                        campaigns: CampaignRepository | None = None, now: datetime | None = None) -> None:
    """The override with any level's points (the promoter's level can change), and the other level's
    rate from anything a line can resolve (global, a category, a product, another promoter's
    override), stays within the cap: 422 naming the combination."""
    if promoter.l1_override_bp is None and promoter.l2_override_bp is None:
        return
    # Imported by the override's route only: the rate and cap rules are not used by the other promoter actions.
    from mall.domain.campaigns import CatalogRates, refuse_open_campaigns_over_cap
    from mall.domain.commission_cap import Saving, cap_problems
    from mall.services.settings import rate_sources

    found = rate_sources(categories=categories, products=products, promoters=promoters, rates=rates)
    holders: list[OverrideHolder] = [p for p in found.promoters if p.user_id != promoter.user_id]
    problems = cap_problems(settings=settings, categories=found.categories, products=found.products,
                            promoters=[*holders, promoter], saving=Saving("override", promoter.user_id))
    if problems:
        raise InvalidInput("this override could pay more than the commission cap on some line",
                           code="override_exceeds_cap", fields=problems)
    if campaigns is not None:
        weighed = campaigns.read(consistent=True).weighed_at_save(now or utc_now())
        refuse_open_campaigns_over_cap(weighed, settings=settings,
                                       rates=CatalogRates(found.categories, found.products, [*holders, promoter]),
                                       now=now, fields=[f for f, v in (("l1_override_bp", promoter.l1_override_bp),
                                                                       ("l2_override_bp", promoter.l2_override_bp))
                                                        if v is not None], code="override_exceeds_cap")


@dataclass(frozen=True)
class SetOverride:
    """An admin sets (or clears, with None) a promoter's own L1 / L2 rates."""

    user_id: str
    l1_bp: int | None
    l2_bp: int | None
    reason: str | None
    by: str
    now: datetime
    source_ip: str | None = None


def set_override(command: SetOverride, *, network: ReferralRepositories, categories: CategoryRepository,
                 products: ProductRepository, rates: RateIndex | None = None,
                 campaigns: CampaignRepository | None = None) -> PromoterAdminView:
    """Check the cap with every other rate (from ``rates``, the rate index, when given: one Query)
    and, with ``campaigns``, with every campaign not over yet,
    and write the override with its history, audit entry and rate-index copy in one transaction;
    the answer is the promoter as that transaction left them."""
    c = command
    settings = network.settings.current().settings
    repo = network.promoters
    promoter = repo.get(c.user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    changed = replace(promoter, l1_override_bp=c.l1_bp, l2_override_bp=c.l2_bp)
    _check_override_cap(settings, changed, promoters=repo, categories=categories, products=products, rates=rates,
                        campaigns=campaigns, now=c.now)
    try:
        repo.set_override(promoter, l1_bp=c.l1_bp, l2_bp=c.l2_bp, by=c.by, reason=c.reason, now=c.now,
                          audit=_promoter_audit(
                              "promoter.set_override", promoter, by=c.by, source_ip=c.source_ip,
                              before={"l1_override_bp": promoter.l1_override_bp,
                                      "l2_override_bp": promoter.l2_override_bp},
                              after={"l1_override_bp": c.l1_bp, "l2_override_bp": c.l2_bp}, reason=c.reason))
    except TransactionCancelled as exc:
        raise Conflict("the promoter changed meanwhile; reload and retry", code="promoter_changed") from exc
    return admin_view(replace(changed, version=promoter.version + 1), share_page())


def set_level(*, network: ReferralRepositories, user_id: str, level_id: str, reason: str, by: str, now: datetime,
              source_ip: str | None = None) -> PromoterAdminView:
    settings = network.settings.current().settings
    level = rules.check_level_exists(level_id, settings)
    repo = network.promoters
    promoter = repo.get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    if promoter.l1_override_bp is not None or promoter.l2_override_bp is not None:
        rules.check_override(promoter.l1_override_bp, promoter.l2_override_bp, level, settings)
    if promoter.level_id == level_id:
        return admin_view(promoter, share_page())
    try:
        repo.set_level(promoter, level_id=level_id, action="set_level", by=by, reason=reason, now=now,
                       level_source="admin", reset_activity=True,
                       audit=_promoter_audit("promoter.set_level", promoter, by=by, source_ip=source_ip,
                                             before={"level_id": promoter.level_id}, after={"level_id": level_id},
                                             reason=reason))
    except TransactionCancelled as exc:
        raise Conflict("the promoter's level changed meanwhile; reload and retry", code="promoter_changed") from exc
    return get_promoter(promoters=repo, user_id=user_id)
