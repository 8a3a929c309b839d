"""What a promoter sees of themself (GET /promoter/profile: code, share link, level, progress, the wake-up
boost in force) and their acceptance of the agreement (POST /promoter/agreement), which answers with the same
profile. Apart from the team pages (``mall.services.referral.team``) and the merchant's appointment
(``mall.services.referral.appoint``), whose models (``mall.schemas.referral``, with the bindings') the
profile's function does not answer with."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mall.clock import iso
from mall.dal.campaigns import CampaignRepository
from mall.dal.referral import TransactionCancelled
from mall.dal.settings import SettingsVersion
from mall.domain import referral as rules
from mall.domain.referral import Promoter
from mall.domain.wake_up import boost_of
from mall.errors import Conflict, NotFound
from mall.schemas.promoter_profile import LevelView, PromoterProfile, RequirementView
from mall.schemas.wake_up import PromoterWakeUpBoost
from mall.services.referral import ATTEMPTS, ReferralRepositories, share_page


def my_profile(*, network: ReferralRepositories, campaigns: CampaignRepository, user_id: str,
               now: datetime) -> PromoterProfile:
    """The promoter's own profile; while the agreement is pending (made a promoter by the merchant)
    it says so, with the rules version to show and accept. It carries the wake-up boost in force for
    them (the promoter pages show it: the subscribe message reaches only those holding a grant)."""
    current = network.settings.current()
    promoter = network.promoters.get(user_id, consistent=True)
    if promoter is None:
        raise NotFound("you are not a promoter; apply first", code="promoter_not_found")
    view = profile_view(promoter, current)
    boost = boost_of(campaigns.read().campaigns, user_id, now)
    if boost is None:
        return view
    return view.model_copy(update={"wake_up_boost": PromoterWakeUpBoost.of(boost)})


def profile_view(promoter: Promoter, current: SettingsVersion) -> PromoterProfile:
    """What the promoter sees of themself, from their record and the settings version in force."""
    settings = current.settings
    level = settings.level(promoter.level_id)
    counters = promoter.counters
    progress = rules.progress_to_next(settings, promoter.level_id, counters)
    # Until the agreement is accepted there is nothing to share: the code shows once accepted.
    pending = promoter.agreement_pending
    return PromoterProfile(
        code="" if pending else promoter.code,
        share_link="" if pending else rules.share_link(share_page(), promoter.code), status=promoter.status,
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
        agreement_pending=promoter.agreement_pending,
        rules_version_to_accept=current.version if promoter.agreement_pending else None,
    )


def accept_agreement(*, network: ReferralRepositories, user_id: str, rules_version: int,
                     now: datetime) -> PromoterProfile:
    """The promoter accepts the rules version in force (409 ``rules_changed`` for another one); the
    ``promoter`` role is granted with it (the next login's token carries it). Accepting again, once
    accepted, changes nothing. Two round trips: one BatchGetItem, one transaction."""
    for _ in range(ATTEMPTS):
        facts = network.reads.for_application(user_id, None)
        promoter = facts.existing
        if promoter is None or promoter.status == "rejected":
            raise NotFound("you are not a promoter", code="promoter_not_found")
        if not promoter.agreement_pending:
            return profile_view(promoter, facts.settings)
        rules.check_rules_accepted(rules_version, facts.settings.version)
        try:
            network.promoters.accept_agreement(promoter, rules_version=rules_version, now=now,
                                               grant_role="promoter" not in facts.customer.roles)
        except TransactionCancelled:
            continue
        # The answer is the promoter as that transaction left them (no read after the write).
        return profile_view(replace(promoter, agreement_pending=False, accepted_rules_version=rules_version,
                                    accepted_rules_at=now, version=promoter.version + 1), facts.settings)
    raise Conflict("your acceptance collided with another change; retry", code="retry_later")
