"""GET /promoter/bonuses — the promoter's own monthly team bonuses (团队分红), newest month first.

Only ever the caller's bonuses (the promoter is the token's subject, never a parameter); each one
with its team sales, the tier reached, the rate, the amount in words, and whether it settled."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.team_bonus import BonusPage
from mall.services import team_bonus

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = team_bonus.TeamBonusRepositories.on(table)

app = make_resolver()


@app.get("/promoter/bonuses", summary="My monthly team bonuses, newest first", tags=["team bonus"],
         **secured(Role.PROMOTER))
def my_bonuses(limit: Limit = 20,
               cursor: Cursor = None) -> BonusPage:
    return team_bonus.my_bonuses(repos, user_id=current_principal(app).subject, limit=limit, cursor=cursor)


handler = entrypoint(app)
