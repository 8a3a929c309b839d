"""Stats use cases: apply one table change to the aggregates (the stats worker), the merchant
dashboard (数据看板) and the leaderboards (排行榜). Definitions: docs/dashboard.md."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from mall.clock import china_day, iso
from mall.dal.changes import Change, marker_group, record_change
from mall.dal.stats import RANK_COUNT_CAP, ApplyResult, StatsRepository
from mall.domain.masking import mask_nickname
from mall.domain.stats import AGG_FIELDS, PROMOTER_FIELDS, TOTAL_FIELDS, Board, contributions
from mall.domain.stats_figures import floor_div, ranked, rate_bp, sum_fields
from mall.domain.stats_periods import Period, period_bounds, period_key, split_range
from mall.domain.stats_series import Granularity, days_between, series_granularity, series_periods, series_sums
from mall.domain.team_bonus import china_month
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.leaderboard_prizes import PrizeTableView
from mall.schemas.stats import (
    AdminLeaderboardEntry,
    AdminLeaderboardResponse,
    CommissionLevelView,
    DashboardCommissionView,
    DashboardResponse,
    DashboardSeriesPoint,
    LeaderboardEntry,
    MyRank,
    PromoterLeaderboardResponse,
    TopProductView,
    TopPromoterView,
    WithdrawalStatsView,
)

MAX_RANGE_DAYS = 366
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)  # keeps date arithmetic far from date.max
TOP_N = 10
BOARD_SIZE = 100


def apply_change(*, stats: StatsRepository, change: Change, now: datetime) -> ApplyResult:
    """Add what ``change`` contributes to every counter, exactly once per ``event_id``."""
    return stats.apply(change.event_id, contributions(record_change(change)), now=now, group=marker_group(change))


def apply_changes(*, stats: StatsRepository, changes: Sequence[Change], now: datetime) -> ApplyResult:
    """Add what every change contributes, exactly once per ``event_id``, with ONE write per item
    for all of them (the stats worker's invocation: docs/dashboard.md)."""
    groups = {c.event_id: group for c in changes if (group := marker_group(c)) is not None}
    return stats.apply_many([(c.event_id, contributions(record_change(c))) for c in changes], now=now, groups=groups)


# ---- dashboard -------------------------------------------------------------------------------------------


def query_day(value: str, name: str) -> date:
    """A China day given as the query parameter ``name`` (YYYY-MM-DD): 422 ``invalid_date`` naming it.
    Shared with the admin orders list, so a bad day is refused alike wherever a range is asked."""
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not a calendar date (YYYY-MM-DD)", code="invalid_date",
                           fields=[FieldProblem(f"query:{name}", "not a calendar date (YYYY-MM-DD)")]) from exc
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidInput(f"{name} is out of range", code="invalid_date",
                           fields=[FieldProblem(f"query:{name}", f"between {EARLIEST_DAY} and {LATEST_DAY}")])
    return day


def dashboard_range(date_from: str, date_to: str) -> tuple[date, date]:
    start, end = query_day(date_from, "from"), query_day(date_to, "to")
    if start > end:
        raise InvalidInput("from is after to", code="invalid_date_range",
                           fields=[FieldProblem("query:from", f"after to ({end.isoformat()})")])
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"at most {MAX_RANGE_DAYS} days at a time", code="date_range_too_long",
                           fields=[FieldProblem("query:from", f"more than {MAX_RANGE_DAYS} days before to"),
                                   FieldProblem("query:to", f"more than {MAX_RANGE_DAYS} days after from")])
    return start, end


def _level(totals: dict[str, int], level: int) -> CommissionLevelView:
    p = f"comm_l{level}_"
    return CommissionLevelView(records=totals[f"{p}records"], created_fen=totals[f"{p}created_fen"],
                               frozen_fen=totals[f"{p}frozen_fen"], settled_fen=totals[f"{p}settled_fen"],
                               cancelled_fen=totals[f"{p}cancelled_fen"], clawed_back_fen=totals[f"{p}clawed_back_fen"])


def _by_subject(items: Sequence[Mapping[str, Any]], id_field: str, names: Sequence[str]) -> dict[str, dict[str, int]]:
    sums: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    for item in items:
        subject = item.get(id_field)
        if not subject:
            continue
        entry = sums[str(subject)]
        for name in names:
            value = item.get(name)
            if isinstance(value, int):
                entry[name] += value
    return sums


def _top_products(items: Sequence[Mapping[str, Any]]) -> list[TopProductView]:
    sums = _by_subject(items, "product_id", ("units", "sales_fen", "orders"))
    names: dict[str, str] = {}
    for item in sorted(items, key=lambda i: str(i.get("day") or i.get("month") or "")):
        if item.get("product_id") and item.get("name"):
            names[str(item["product_id"])] = str(item["name"])  # the latest period's name wins
    ordered = sorted(((pid, v) for pid, v in sums.items() if v["orders"] > 0 or v["units"] > 0),
                     key=lambda pair: (-pair[1]["sales_fen"], -pair[1]["units"], pair[0]))[:TOP_N]
    return [TopProductView(product_id=pid, name=names.get(pid, ""), units=v["units"],
                           sales_fen=v["sales_fen"], orders=v["orders"]) for pid, v in ordered]


def _series(by_period: Mapping[str, Sequence[Mapping[str, Any]]], start: date, end: date,
            granularity: Granularity) -> list[DashboardSeriesPoint]:
    periods = series_periods(start, end, granularity)
    points = series_sums(by_period, periods, granularity)
    return [DashboardSeriesPoint(
        period=period, gmv_fen=p["gmv_fen"], paid_orders=p["paid_orders"], refund_fen=p["refund_fen"],
        commission_fen=p["comm_l1_created_fen"] + p["comm_l2_created_fen"],
        l1_commission_fen=p["comm_l1_created_fen"], l2_commission_fen=p["comm_l2_created_fen"],
        share_visits=p["share_visits"], shared_orders=p["shared_orders"])
        for period, p in zip(periods, points, strict=True)]


def dashboard(*, stats: StatsRepository, date_from: str, date_to: str, now: datetime) -> DashboardResponse:
    """Sums the day / month aggregates covering the range and the running totals (one
    ``BatchGetItem`` for a week), and the per-day promoter, product and buyer items (one Query per
    month the range touches) for the distinct counts and the top lists; then one ``BatchGetItem``
    of the top promoters' nicknames.
    No scan: cost grows with the number of periods and with how many promoters, products and
    buyers were active in them.

    The aggregates are read once for both the totals and the trend series: a range drawn day by
    day reads every day's items (a whole month's item would not say which day), a longer one whole
    months + the remaining days, whose days add up into their months."""
    start, end = dashboard_range(date_from, date_to)
    months, days = split_range(start, end)
    granularity = series_granularity(start, end)
    agg_days, agg_months = (days_between(start, end), []) if granularity == "day" else (days, months)
    with ThreadPoolExecutor(max_workers=2) as pool:
        agg_f = pool.submit(stats.aggregates_and_totals, days=agg_days, months=agg_months, today=china_day(now))
        # Products, promoters and buyers are kept per day only: whole months are read as their days.
        entities_f = pool.submit(stats.entities, days=days_between(start, end), months=[])
        by_period, totals = agg_f.result()
        agg = sum_fields([item for items in by_period.values() for item in items], AGG_FIELDS)
        running = sum_fields(totals, TOTAL_FIELDS)
        entities = entities_f.result()
        promoter_items, product_items, buyer_items = entities["promoter"], entities["product"], entities["buyer"]

    buyer_orders = _by_subject(buyer_items, "user_id", ("orders",))
    buyers = sum(1 for v in buyer_orders.values() if v["orders"] >= 1)
    repeat = sum(1 for v in buyer_orders.values() if v["orders"] >= 2)
    promoters = _by_subject(promoter_items, "user_id", PROMOTER_FIELDS)
    active = sum(1 for v in promoters.values() if v["commission_records"] > 0 or v["share_visits"] > 0)
    top = sorted(((uid, v) for uid, v in promoters.items() if v["sales_orders"] > 0 or v["commission_records"] > 0),
                 key=lambda pair: (-pair[1]["sales_fen"], -pair[1]["commission_fen"], pair[0]))[:TOP_N]
    nicknames = stats.nicknames(uid for uid, _ in top)

    return DashboardResponse(
        date_from=start.isoformat(), date_to=end.isoformat(), days=(end - start).days + 1,
        gmv_fen=agg["gmv_fen"], paid_orders=agg["paid_orders"],
        average_order_value_fen=floor_div(agg["gmv_fen"], agg["paid_orders"]),
        refunds=agg["refunds"], refund_fen=agg["refund_fen"],
        customers_new=agg["customers_new"], customers_total=running["customers_total"],
        buyers=buyers, repeat_buyers=repeat, repurchase_rate_bp=rate_bp(repeat, buyers),
        first_time_buyers=agg["first_time_buyers"], became_repeat_buyers=agg["repeat_buyers"],
        repurchase_rate_all_time_bp=rate_bp(running["repeat_buyers_total"], running["buyers_total"]),
        promoters_total=running["promoters_total"], promoters_new=agg["promoters_new"], promoters_active=active,
        commission=DashboardCommissionView(l1=_level(agg, 1), l2=_level(agg, 2)),
        withdrawals=WithdrawalStatsView(
            requested=agg["withdrawals_requested"], requested_fen=agg["withdrawals_requested_fen"],
            paid=agg["withdrawals_paid"], paid_fen=agg["withdrawals_paid_fen"], fee_fen=agg["withdrawals_fee_fen"],
            returned=agg["withdrawals_returned"], returned_fen=agg["withdrawals_returned_fen"]),
        share_visits=agg["share_visits"], shared_orders=agg["shared_orders"], shared_gmv_fen=agg["shared_gmv_fen"],
        conversion_bp=rate_bp(agg["shared_orders"], agg["share_visits"]),
        top_promoters=[TopPromoterView(user_id=uid, nickname=mask_nickname(nicknames.get(uid)),
                                       sales_fen=v["sales_fen"], orders=v["sales_orders"],
                                       commission_fen=v["commission_fen"]) for uid, v in top],
        top_products=_top_products(product_items),
        granularity=granularity, series=_series(by_period, start, end, granularity),
        as_of=iso(now),
    )


# ---- leaderboards ----------------------------------------------------------------------------------------


def _board(stats: StatsRepository, board: Board, period: Period, now: datetime) -> tuple[str, str, str, list[Any]]:
    today = china_day(now)
    key = period_key(period, today)
    starts, ends = period_bounds(period, today)
    items = stats.board_top(board, key, limit=BOARD_SIZE)
    scores = [(str(item["promoter_id"]), int(item.get("score_fen", 0))) for item in items
              if item.get("promoter_id") and int(item.get("score_fen", 0)) > 0]
    return key, starts, ends, ranked(scores)


def promoter_leaderboard(*, stats: StatsRepository, board: Board, period: Period, caller_id: str,
                         now: datetime) -> PromoterLeaderboardResponse:
    """The top 100 of the current China week (Monday first) or month, masked, and the caller's own
    rank: 1 + the number of promoters scoring more (counted on the index, up to ``RANK_COUNT_CAP``)."""
    key, starts, ends, ranks = _board(stats, board, period, now)
    nicknames, current, entry = stats.leaderboard_reads((uid for _, uid, _ in ranks), board=board, period_key=key,
                                                        caller_id=caller_id)
    month = china_month(now)
    prizes = PrizeTableView.of(current.settings.leaderboard_prizes.table_for(month), month)
    entries = [LeaderboardEntry(rank=rank, nickname=mask_nickname(nicknames.get(uid)), score_fen=score,
                                is_me=uid == caller_id) for rank, uid, score in ranks]
    mine = next(((rank, score) for rank, uid, score in ranks if uid == caller_id), None)
    if mine is not None:
        me = MyRank(rank=mine[0], score_fen=mine[1], beyond_cap=False, rank_cap=RANK_COUNT_CAP)
    else:
        score = int(entry.get("score_fen", 0)) if entry else 0
        if score <= 0:
            me = MyRank(rank=None, score_fen=max(score, 0), beyond_cap=False, rank_cap=RANK_COUNT_CAP)
        else:
            above, capped = stats.count_above(board, key, score, cap=RANK_COUNT_CAP)
            me = MyRank(rank=None if capped else above + 1, score_fen=score, beyond_cap=capped,
                        rank_cap=RANK_COUNT_CAP)
    return PromoterLeaderboardResponse(board=board, period=period, period_key=key, starts_on=starts, ends_on=ends,
                                       entries=entries, me=me, as_of=iso(now), prizes=prizes)


def admin_leaderboard(*, stats: StatsRepository, board: Board, period: Period,
                      now: datetime) -> AdminLeaderboardResponse:
    key, starts, ends, ranks = _board(stats, board, period, now)
    nicknames = stats.nicknames(uid for _, uid, _ in ranks)
    entries = [AdminLeaderboardEntry(rank=rank, user_id=uid, nickname=mask_nickname(nicknames.get(uid)),
                                     score_fen=score) for rank, uid, score in ranks]
    return AdminLeaderboardResponse(board=board, period=period, period_key=key, starts_on=starts, ends_on=ends,
                                    entries=entries, as_of=iso(now))


def dashboard_default_range(now: datetime) -> tuple[str, str]:
    """The last 7 China days, today included."""
    today = date.fromisoformat(china_day(now))
    return (today - timedelta(days=6)).isoformat(), today.isoformat()
