"""What a promoter sees: their own profile and progress, and their team (masked nicknames); and
the same team as an admin sees it (with user ids)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.campaigns import CampaignRepository
from mall.dal.keys import team_index_key
from mall.dal.referral import BindingRepository, in_team
from mall.dal.settings import SettingsVersion
from mall.domain import referral as rules
from mall.domain.masking import mask_nickname
from mall.domain.referral import Promoter
from mall.domain.wake_up import boost_of
from mall.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mall.schemas.promoter_profile import LevelView, PromoterProfile, RequirementView
from mall.schemas.referral import AdminTeamMember, AdminTeamPage, TeamMember, TeamPage
from mall.schemas.wake_up import PromoterWakeUpBoost
from mall.services.referral import ReferralRepositories, share_page


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


def _member(item: Mapping[str, Any], depth: Literal[1, 2], via: Mapping[str, Any] | None = None) -> TeamMember:
    return TeamMember(nickname=mask_nickname(item.get("nickname")), joined_at=item["bound_at"],
                      sales_fen=int(item.get("sales_fen", 0)), depth=depth,
                      via=mask_nickname(via.get("nickname")) if via is not None else None)


def _admin_member(item: Mapping[str, Any], depth: Literal[1, 2],
                  via: Mapping[str, Any] | None = None) -> AdminTeamMember:
    """What an admin sees of a member: the promoter's view plus the user ids (nicknames stay masked:
    docs/personal-data.md)."""
    return AdminTeamMember(**_member(item, depth, via).model_dump(), user_id=str(item["user_id"]),
                           via_user_id=str(via["user_id"]) if via is not None else None)


L2_MAX_MEMBERS_SCANNED = 50

#: A member's binding and, at level 2, the level-1 member's binding they came through.
Row = tuple[Mapping[str, Any], Mapping[str, Any] | None]


def my_team(*, network: ReferralRepositories, user_id: str, depth: Literal[1, 2], limit: int,
            cursor: str | None) -> TeamPage:
    """The caller's own team only (the route passes the token's subject); see ``team_rows``."""
    if network.promoters.get(user_id) is None:
        raise Forbidden("only promoters have a team", code="not_a_promoter")
    rows, next_cursor = team_rows(network.bindings, user_id, depth=depth, limit=limit, cursor=cursor)
    return TeamPage(depth=depth, items=[_member(item, depth, via) for item, via in rows], next_cursor=next_cursor)


def promoter_team(*, network: ReferralRepositories, user_id: str, depth: Literal[1, 2], limit: int,
                  cursor: str | None) -> AdminTeamPage:
    """Any promoter's team, for admins: the same pages as ``my_team`` (404 for an unknown promoter),
    members with their user ids and masked nicknames."""
    if network.promoters.get(user_id) is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    rows, next_cursor = team_rows(network.bindings, user_id, depth=depth, limit=limit, cursor=cursor)
    return AdminTeamPage(depth=depth, items=[_admin_member(item, depth, via) for item, via in rows],
                         next_cursor=next_cursor)


def _bad_cursor() -> InvalidInput:
    return InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                        fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])


def team_rows(bindings: BindingRepository, promoter_id: str, *, depth: Literal[1, 2], limit: int,
              cursor: str | None) -> tuple[list[Row], str | None]:
    """One page of ``promoter_id``'s team and the next cursor.

    Level 1: the bindings whose parent is the promoter (gsi1 ``TEAM#<promoter>``), newest first.
    Level 2: derived at read time from the current level-1 bindings (each level-1 member's own
    ``TEAM#`` partition), so a member whose parent re-binds moves with their whole team at once and
    no second-level copy can go stale. The cursor remembers the level-1 position and the position
    inside that member's team; one page scans at most ``L2_MAX_MEMBERS_SCANNED`` level-1 members
    (a page may then be short: follow ``next_cursor``). A cursor of another promoter's team is refused."""
    state = cursors.decode(cursor)
    if depth == 1:
        start = state.get("k") if state else None
        if start is not None and not in_team(start, promoter_id):
            raise _bad_cursor()
        items, last = bindings.team(promoter_id, limit=limit, start_key=start)
        return [(i, None) for i in items], cursors.encode({"d": 1, "k": last} if last else None)
    l1_key: dict[str, Any] | None = state.get("l1") if state else None
    inner: dict[str, Any] | None = state.get("inner") if state else None
    if l1_key is not None and not in_team(l1_key, promoter_id):
        raise _bad_cursor()
    out: list[Row] = []
    scanned = 0
    while True:
        chunk, chunk_last = bindings.team(promoter_id, limit=25, start_key=l1_key)
        for member in chunk:
            before = l1_key
            start = inner if in_team(inner, member["user_id"]) else None
            inner = None
            found, last = bindings.team(member["user_id"], limit=limit - len(out), start_key=start)
            out += [(i, member) for i in found]
            scanned += 1
            if last is not None:
                return out, cursors.encode({"d": 2, "l1": before, "inner": last})
            l1_key = team_index_key(member)
            if len(out) >= limit or scanned >= L2_MAX_MEMBERS_SCANNED:
                return out, cursors.encode({"d": 2, "l1": l1_key, "inner": None})
        if chunk_last is None:
            return out, None
        l1_key = chunk_last
