"""GET /promoter/leaderboard — this China week's or month's top 100 promoters by commission earned
or by sales (排行榜), nicknames masked, and the caller's own rank and score."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query
from mall.clock import utc_now
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.stats import PromoterLeaderboardResponse
from mall.services.stats import promoter_leaderboard

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
stats = StatsRepository(table)

app = make_resolver()


@app.get("/promoter/leaderboard", summary="Top 100 promoters of the week or month, and your rank",
         tags=["promoter stats"],
         description="`commission`: commission earned on orders paid in the period (net of refunds); `sales`: paid "
                     "amounts, net of refunds, of orders where you were level 1. China time; weeks start on Monday.",
         **secured(Role.PROMOTER))
def get_leaderboard(board: Annotated[Literal["commission", "sales"], Query()] = "commission",
                    period: Annotated[Literal["week", "month"], Query()] = "week") -> PromoterLeaderboardResponse:
    return promoter_leaderboard(stats=stats, board=board, period=period, caller_id=current_principal(app).subject,
                                now=utc_now())


handler = entrypoint(app)
