"""GET /admin/leaderboard — the same leaderboards as promoters see, with each promoter's user id."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query
from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.stats import AdminLeaderboardResponse
from mall.services.stats import admin_leaderboard

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
stats = StatsRepository(table, sales_folded_from=function_environment().sales_board_folded_from)

app = make_resolver()


@app.get("/admin/leaderboard", summary="Top 100 promoters of the week or month, with their ids",
         tags=["admin stats"], **staff(Capability.READ))
def get_leaderboard(board: Annotated[Literal["commission", "sales"], Query()] = "commission",
                    period: Annotated[Literal["week", "month"], Query()] = "week") -> AdminLeaderboardResponse:
    return admin_leaderboard(stats=stats, board=board, period=period, now=utc_now())


handler = entrypoint(app)
