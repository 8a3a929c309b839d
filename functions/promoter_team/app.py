"""GET /promoter/team — the promoter's own team, level 1 or level 2, masked nicknames, paginated.

Only ever the caller's team: the promoter is the token's subject, never a parameter."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, Query
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.referral import TeamPage
from mall.services.referral import ReferralRepositories
from mall.services.referral.team import my_team

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)

app = make_resolver()


@app.get("/promoter/team", summary="My team (level 1 or level 2), newest first", tags=["referral"],
         **secured(Role.PROMOTER))
def team(depth: Annotated[int, Query(ge=1, le=2, description="1: my direct members; 2: their members")] = 1,
         limit: Limit = 20,
         cursor: Cursor = None) -> TeamPage:
    level: Literal[1, 2] = 2 if depth == 2 else 1
    return my_team(network=network, user_id=current_principal(app).subject, depth=level, limit=limit, cursor=cursor)


handler = entrypoint(app)
