"""GET /admin/bonuses?month=YYYY-MM — every promoter's team bonus (团队分红) of one month, with its tier,
amount, settlement state and whether the promoter is under an open risk case. GET /admin/prizes?month=
— the month's leaderboard prizes (排行榜奖励): the ranking once decided and each rank's award."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Query, error_response
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.leaderboard_prizes import AdminPrizeList
from mall.schemas.team_bonus import AdminBonusPage
from mall.services import leaderboard_prizes, team_bonus

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = team_bonus.TeamBonusRepositories.on(table)
prize_repos = leaderboard_prizes.PrizeRepositories.on(table)

app = make_resolver()

_422: OpenAPIResponse = error_response("`validation_error` (month), `invalid_cursor`")


@app.get("/admin/bonuses", summary="One month's team bonuses, by promoter", tags=["team bonus"],
         responses={422: _422}, **staff(Capability.READ))
def month_bonuses(month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                              description="China calendar month, YYYY-MM")],
                  limit: Limit = 50,
                  cursor: Cursor = None) -> AdminBonusPage:
    return team_bonus.admin_bonuses(repos, month=month, limit=limit, cursor=cursor)


@app.get("/admin/prizes", summary="One month's leaderboard prizes, by rank", tags=["team bonus"],
         responses={422: error_response("`validation_error` (month)")}, **staff(Capability.READ))
def month_prizes(month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                             description="China calendar month, YYYY-MM")]) -> AdminPrizeList:
    return leaderboard_prizes.admin_prizes(prize_repos, month=month)


handler = entrypoint(app)
