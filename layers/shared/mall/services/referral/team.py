"""What a promoter sees of their team (masked nicknames), and the same team as an admin sees it (with
user ids). The promoter's own profile is ``mall.services.referral.profile``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mall.api.cursor import cursors
from mall.dal.keys import team_index_key
from mall.dal.referral import BindingRepository, in_team
from mall.domain.masking import mask_nickname
from mall.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from mall.schemas.referral import AdminTeamMember, AdminTeamPage, TeamMember, TeamPage
from mall.services.referral import ReferralRepositories


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
