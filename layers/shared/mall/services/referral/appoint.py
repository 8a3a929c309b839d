"""The merchant makes a customer a promoter directly (直接设为推广员), and the promoter accepts the
agreement (推广协议) the next time they open the promoter pages.

No application and no threshold: the admin's decision is the review, audited in its own
transaction. The promoter is created ``active`` with ``agreement_pending``; the ``promoter`` role
(what every promoter route demands) is granted only by the acceptance, which records the rules
version accepted exactly as an application does (``accepted_rules_version``, ``accepted_rules_at``).
Until then ``GET /promoter/profile`` answers the pending state and the version to accept, and
every other promoter route refuses the caller's customer token (403). The acceptance is
``mall.services.referral.profile.accept_agreement``, with the profile it answers with."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mall.dal.audit import AuditEntry
from mall.dal.referral import TransactionCancelled
from mall.dal.request_markers import MarkedRequest
from mall.domain import referral as rules
from mall.domain.referral import Promoter
from mall.errors import Conflict, NotFound
from mall.schemas.referral import PromoterAdminView
from mall.services.referral import ATTEMPTS, ReferralRepositories, share_page
from mall.services.referral.views import admin_view
from mall.services.request_replay import replay, replay_refused

if TYPE_CHECKING:
    from mall.dal.coupons import CouponRepository


def make_promoter(*, network: ReferralRepositories, user_id: str, by: str, now: datetime, note: str | None = None,
                  source_ip: str | None = None, marked: MarkedRequest | None = None,
                  coupons: CouponRepository | None = None) -> PromoterAdminView:
    """Create the customer's promoter record, active with the agreement pending (409
    ``promoter_exists`` when they are a promoter or applicant already; a rejected applicant may be
    appointed). Two round trips: one BatchGetItem, one transaction carrying the request's marker, so
    a retry with the same Idempotency-Key gets the first answer."""
    for _ in range(ATTEMPTS):
        facts = network.reads.for_application(user_id, marked)
        if marked is not None and (earlier := replay(facts.marker, marked, PromoterAdminView)) is not None:
            return earlier
        if not facts.customer.exists:
            raise NotFound("no such customer", code="customer_not_found")
        existing = facts.existing
        rules.check_can_apply(existing)
        settings = facts.settings.settings
        promoter = Promoter(
            user_id=user_id, code=existing.code if existing is not None else rules.new_promoter_code(),
            status="active", level_id=settings.levels[0].id, nickname=facts.customer.nickname, applied_at=now,
            activated_at=now, accepted_rules_version=0, accepted_rules_at=None,
            version=(existing.version + 1) if existing is not None else 1, level_source="auto",
            agreement_pending=True)
        view = admin_view(promoter, share_page())
        audit = AuditEntry(action="promoter.appoint", actor=by, entity_type="promoter", entity_id=user_id,
                           source_ip=source_ip, before={"status": existing.status} if existing else None,
                           after={"status": "active", "agreement_pending": True},
                           details={"note": note} if note else {}, subject_user=user_id)
        try:
            network.promoters.appoint(promoter, by=by, now=now, audit=audit, replaces=existing, marked=marked,
                                      response=view.model_dump_json())
        except TransactionCancelled as exc:
            if marked is not None and (earlier := replay_refused(exc, 0, marked, PromoterAdminView)) is not None:
                return earlier
            if len(exc.reasons) > 3 and exc.reasons[-3] == "ConditionalCheckFailed":
                raise NotFound("no such customer", code="customer_not_found") from exc
            continue  # a code collision or a concurrent application: decide again
        if coupons is not None:
            # Imported when a promoter is appointed: the coupon rules and use cases are not part of the
            # promoter's own routes served from this module (accepting the agreement).
            from mall.domain.coupons import AutoIssue
            from mall.services.coupons import auto_issue_quietly

            auto_issue_quietly(coupons=coupons, user_id=user_id, trigger=AutoIssue.BECOMES_PROMOTER, now=now)
        return view
    raise Conflict("making this promoter collided with another change; retry", code="retry_later")
