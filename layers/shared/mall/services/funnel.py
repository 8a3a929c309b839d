"""The promoter's own funnel (推广漏斗, ``GET /promoter/funnel``): read from the counters the stats
worker keeps (``mall.domain.stats_funnel``), never from raw visits or orders."""

from __future__ import annotations

from datetime import datetime, timedelta

from mall.clock import iso
from mall.dal.stats import StatsRepository
from mall.domain.stats_funnel import FUNNEL_MAX_DAYS, FunnelGroup, FunnelRow, group_funnel
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.funnel import FunnelRowView, FunnelTotalsView, PromoterFunnelResponse
from mall.services.stats import query_day


def promoter_funnel(*, stats: StatsRepository, promoter_id: str, date_from: str, date_to: str, group: FunnelGroup,
                    now: datetime) -> PromoterFunnelResponse:
    """The caller's funnel over China days ``date_from``..``date_to`` (at most ``FUNNEL_MAX_DAYS``):
    one Query of their funnel partition. Grouped by day, every day of the range is listed."""
    start, end = query_day(date_from, "from"), query_day(date_to, "to")
    if start > end:
        raise InvalidInput("from is after to", code="invalid_date_range",
                           fields=[FieldProblem("query:from", f"after to ({end.isoformat()})")])
    if (end - start).days + 1 > FUNNEL_MAX_DAYS:
        raise InvalidInput(f"at most {FUNNEL_MAX_DAYS} days at a time", code="date_range_too_long",
                           fields=[FieldProblem("query:to", f"more than {FUNNEL_MAX_DAYS} days after from")])
    items = stats.funnel(promoter_id, first=start.isoformat(), last=end.isoformat())
    rows, totals = group_funnel(items, group)
    if group == "day":
        found = {row.key: row for row in rows}
        days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
        rows = [found.get(day) or FunnelRow(day, 0, 0, 0, 0, 0) for day in days]
    return PromoterFunnelResponse(
        date_from=start.isoformat(), date_to=end.isoformat(), group=group,
        rows=[FunnelRowView(key=r.key, name=r.name, visits=r.visits, bindings=r.bindings, orders=r.orders,
                            paid_fen=r.paid_fen, commission_fen=r.commission_fen) for r in rows],
        totals=FunnelTotalsView(**totals), as_of=iso(now))
