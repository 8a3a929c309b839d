"""GET /promoter/leaderboard — this China week's or month's top 100 promoters by commission earned
or by sales (排行榜), nicknames masked, and the caller's own rank and score. GET /promoter/funnel — the
caller's own funnel (推广漏斗) by day, source or product, from the same statistics."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query, error_response
from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.funnel import PromoterFunnelResponse
from mall.schemas.stats import PromoterLeaderboardResponse
from mall.services.funnel import promoter_funnel
from mall.services.stats import promoter_leaderboard

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
stats = StatsRepository(table, sales_folded_from=function_environment().sales_board_folded_from)

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


@app.get("/promoter/funnel", summary="Your funnel: visits, bindings, orders, paid amount, commission",
         tags=["promoter stats"],
         description="China days `from`..`to` (at most 92), grouped by `day`, `source` (link, qr, poster, invite_code, "
                     "admin, direct: no share; unknown: recorded before sources were kept) or `product`. Orders and "
                     "commission are those where you were level 1, on the day they were paid.",
         responses={422: error_response("`invalid_date` / `invalid_date_range` / `date_range_too_long` naming "
                                        "`from` or `to`")},
         **secured(Role.PROMOTER))
def get_funnel(date_from: Annotated[str, Query(alias="from")], date_to: Annotated[str, Query(alias="to")],
               group: Annotated[Literal["day", "source", "product"], Query()] = "day") -> PromoterFunnelResponse:
    return promoter_funnel(stats=stats, promoter_id=current_principal(app).subject, date_from=date_from,
                           date_to=date_to, group=group, now=utc_now())


handler = entrypoint(app)
