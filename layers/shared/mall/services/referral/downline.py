"""A promoter's downline as a two-level tree (分销层级图谱), for the merchant: the promoter's level-1
members, paged, and, for one of them, that member's own members (the promoter's level 2). Two levels by
rule: a level-2 member is a leaf and asking for the members of anyone who is not the promoter's own
member is refused, so the tree never goes deeper than what can earn.

Each level is one page of the bindings' ``TEAM#<parent>`` index, so the level-2 list is derived from
the current level-1 bindings (a member who re-binds moves with their team at once). Round trips:
the promoter (404), the team Query and the members' promoter items, plus the member's binding at level 2:
3, or 4."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mall.api.cursor import cursors
from mall.dal.downline import DownlineReads
from mall.dal.referral import in_team
from mall.domain.masking import mask_nickname
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.schemas.downline import DownlineMember, DownlinePage
from mall.services.referral import ReferralRepositories


def _node(binding: Mapping[str, Any], level: Literal[1, 2], promoter: Mapping[str, Any] | None) -> DownlineMember:
    members = int(promoter.get("direct_members", 0)) if promoter is not None and level == 1 else 0
    return DownlineMember(user_id=str(binding["user_id"]), nickname=mask_nickname(binding.get("nickname")),
                          level=level, bound_at=str(binding["bound_at"]), source=binding.get("source"),
                          sales_fen=int(binding.get("sales_fen", 0)), is_promoter=promoter is not None,
                          members=members, leaf=members == 0)


def downline(*, network: ReferralRepositories, reads: DownlineReads, promoter_id: str, member: str | None,
             limit: int, cursor: str | None) -> DownlinePage:
    """Level 1 (``member`` None) or the level-2 members under ``member``, newest first."""
    if network.promoters.get(promoter_id) is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    parent = member or promoter_id
    level: Literal[1, 2] = 1 if member is None else 2
    if member is not None and network.bindings.parent_of(member) != promoter_id:
        raise InvalidInput("only the promoter's own members have members shown: two levels by rule",
                           code="not_a_direct_member",
                           fields=[FieldProblem("query:member", "not a level-1 member of this promoter")])
    start = cursors.decode(cursor)
    if start is not None and not in_team(start, parent):
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])
    items, last = network.bindings.team(parent, limit=limit, start_key=start)
    promoters = reads.promoters(str(i["user_id"]) for i in items)
    return DownlinePage(promoter_id=promoter_id, parent_id=parent, level=level,
                        items=[_node(i, level, promoters.get(str(i["user_id"]))) for i in items],
                        next_cursor=cursors.encode(last))
