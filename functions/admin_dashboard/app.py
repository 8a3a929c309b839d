"""GET /admin/dashboard — the merchant dashboard (数据看板) for a range of China days: GMV, orders,
average order value, repurchase rate, customers, promoters, commission by level and status,
withdrawals, share conversion, top promoters and products. Served from the aggregates the stats
worker keeps (docs/dashboard.md); no scan."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query, error_response
from mall.clock import utc_now
from mall.config import function_environment
from mall.dal.stats import StatsRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.stats import DashboardResponse
from mall.services.stats import MAX_RANGE_DAYS, dashboard, dashboard_default_range

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
stats = StatsRepository(table, stats_folded_from=function_environment().stats_folded_from)

app = make_resolver()

Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                  description="China day, YYYY-MM-DD, inclusive (default: the last 7 days)")]


@app.get("/admin/dashboard", summary="Dashboard figures for a range of China days", tags=["admin stats"],
         description=f"At most {MAX_RANGE_DAYS} days. Figures follow the table's changes a few seconds behind.",
         responses={422: error_response("`invalid_date`, `invalid_date_range`, `date_range_too_long` "
                                        "(the field is named)")},
         **staff(Capability.READ))
def get_dashboard(date_from: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                         description="first China day, YYYY-MM-DD")] = None,
                  date_to: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                       description="last China day, YYYY-MM-DD (inclusive)")] = None,
                  ) -> DashboardResponse:
    now = utc_now()
    default_from, default_to = dashboard_default_range(now)
    if date_from is None and date_to is not None:
        default_from = date_to  # one day when only the end is given
    return dashboard(stats=stats, date_from=date_from or default_from, date_to=date_to or default_to, now=now)


handler = entrypoint(app)
