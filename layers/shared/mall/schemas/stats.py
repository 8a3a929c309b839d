"""The merchant dashboard (数据看板) and the leaderboards (排行榜). Money in integer fen, rates in
basis points (10000 = 100%). Metric definitions: docs/dashboard.md."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from mall.schemas.leaderboard_prizes import PRIZE_TABLE_EXAMPLE, PrizeTableView


class CommissionLevelView(BaseModel):
    """Commission records created in the range at one level, by where their money is now."""

    records: int = Field(description="records created (佣金记录数)")
    created_fen: int = Field(description="amount when created (= frozen + settled + cancelled + clawed back)")
    frozen_fen: int = Field(description="still frozen (待结算)")
    settled_fen: int = Field(description="settled and not clawed back (已结算)")
    cancelled_fen: int = Field(description="cancelled before settlement by refunds (已取消)")
    clawed_back_fen: int = Field(description="clawed back after settlement by refunds (已追回)")


class DashboardCommissionView(BaseModel):
    """Commission records created in the range, by level (L1, L2)."""

    l1: CommissionLevelView
    l2: CommissionLevelView


class WithdrawalStatsView(BaseModel):
    requested: int = Field(description="withdrawals requested in the range (申请笔数)")
    requested_fen: int
    paid: int = Field(description="withdrawals paid in the range (已到账笔数), by paid day")
    paid_fen: int = Field(description="their amounts, fee included")
    fee_fen: int = Field(description="fees kept on them")
    returned: int = Field(description="failed or rejected in the range (funds returned)")
    returned_fen: int


class TopPromoterView(BaseModel):
    user_id: str
    nickname: str = Field(description="masked (微**友)")
    sales_fen: int = Field(description="paid amount, net of refunds, of orders where they were L1")
    orders: int
    commission_fen: int = Field(description="commission earned in the range (current value)")


class TopProductView(BaseModel):
    product_id: str
    name: str
    units: int
    sales_fen: int = Field(description="lines' paid amount net of refunds")
    orders: int


class DashboardSeriesPoint(BaseModel):
    """One day or month of the range's trends (趋势), by the same definitions as the range's totals."""

    period: str = Field(description="the China day (YYYY-MM-DD) or month (YYYY-MM); a month at either end of the "
                                    "range counts only its days inside the range")
    gmv_fen: int = Field(description="GMV of orders paid in the period")
    paid_orders: int
    refund_fen: int = Field(description="refunds that succeeded in the period")
    commission_fen: int = Field(description="commission created in the period, L1 + L2 (佣金)")
    l1_commission_fen: int
    l2_commission_fen: int
    share_visits: int
    shared_orders: int


def _example_series() -> list[JsonValue]:
    """The example's 19 days, shaped like a week (busier at weekends) and summing to its totals."""
    weights = [5, 4, 4, 5, 6, 9, 10, 5, 4, 5, 5, 7, 10, 11, 6, 5, 5, 6, 8]
    totals = {"gmv_fen": 2864300, "paid_orders": 163, "refund_fen": 48600, "l1_commission_fen": 296420,
              "l2_commission_fen": 98780, "share_visits": 3920, "shared_orders": 118}
    busiest = weights.index(max(weights))
    points: list[JsonValue] = []
    for day, weight in enumerate(weights):
        numbers = {name: total * weight // sum(weights) for name, total in totals.items()}
        if day == busiest:  # the flooring's remainder, so that the days sum to the totals
            for name, total in totals.items():
                numbers[name] += total - sum(total * w // sum(weights) for w in weights)
        points.append({"period": f"2026-11-{day + 1:02d}", **numbers,
                       "commission_fen": numbers["l1_commission_fen"] + numbers["l2_commission_fen"]})
    return points


class DashboardResponse(BaseModel):
    """Figures for the China days ``from``..``to`` (inclusive), kept up to date from table changes
    (about a few seconds behind)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date_from": "2026-11-01", "date_to": "2026-11-19", "days": 19, "gmv_fen": 2864300, "paid_orders": 163,
        "average_order_value_fen": 17572, "refunds": 6, "refund_fen": 48600, "customers_new": 212,
        "customers_total": 1846, "buyers": 141, "repeat_buyers": 17, "repurchase_rate_bp": 1205,
        "first_time_buyers": 96, "became_repeat_buyers": 11, "repurchase_rate_all_time_bp": 1874,
        "promoters_total": 58, "promoters_new": 9, "promoters_active": 31,
        "commission": {
            "l1": {"records": 188, "created_fen": 296420, "frozen_fen": 152300, "settled_fen": 139020,
                   "cancelled_fen": 4600, "clawed_back_fen": 500},
            "l2": {"records": 97, "created_fen": 98780, "frozen_fen": 51200, "settled_fen": 45680,
                   "cancelled_fen": 1900, "clawed_back_fen": 0}},
        "withdrawals": {"requested": 24, "requested_fen": 612000, "paid": 19, "paid_fen": 468000, "fee_fen": 4380,
                        "returned": 2, "returned_fen": 36000},
        "share_visits": 3920, "shared_orders": 118, "shared_gmv_fen": 2011600, "conversion_bp": 301,
        "top_promoters": [
            {"user_id": "u_cpk4nizqohonwxfnikf4bplx", "nickname": "山**人", "sales_fen": 412800, "orders": 23,
             "commission_fen": 49536},
            {"user_id": "u_36botxbbbigbhenhtgo542dk", "nickname": "茶**筑", "sales_fen": 128600, "orders": 9,
             "commission_fen": 15430}],
        "top_products": [
            {"product_id": "p_01m4cmckqvx119jymzac3w", "name": "西湖龙井 250g", "units": 96, "sales_fen": 1612800,
             "orders": 71},
            {"product_id": "p_01m4cmyx52990zhvaddmkr", "name": "白瓷盖碗 150ml", "units": 46, "sales_fen": 306000,
             "orders": 40}],
        "granularity": "day", "series": _example_series(),
        "as_of": "2026-11-19T09:41:27Z"}]})

    date_from: str = Field(description="the `from` China day asked for")
    date_to: str = Field(description="the `to` China day asked for")
    days: int
    gmv_fen: int = Field(description="GMV (成交额): amounts of orders paid in the range, shipping included")
    paid_orders: int = Field(description="orders paid in the range (支付订单数)")
    average_order_value_fen: int = Field(description="客单价: gmv / paid orders, floored")
    refunds: int = Field(description="refunds that succeeded in the range")
    refund_fen: int
    customers_new: int = Field(description="customers who first logged in in the range (新增用户)")
    customers_total: int = Field(description="all customers now (累计用户)")
    buyers: int = Field(description="customers with a paid order in the range (付款客户数)")
    repeat_buyers: int = Field(description="customers with ≥ 2 paid orders in the range (复购客户数)")
    repurchase_rate_bp: int = Field(description="复购率: repeat_buyers / buyers, in bp")
    first_time_buyers: int = Field(description="customers whose first paid order ever was in the range (新客)")
    became_repeat_buyers: int = Field(description="customers whose second paid order ever was in the range")
    repurchase_rate_all_time_bp: int = Field(description="customers with ≥ 2 paid orders / with ≥ 1, all time")
    promoters_total: int = Field(description="promoters active or frozen now (推广员总数)")
    promoters_new: int = Field(description="promoters approved in the range (新增推广员)")
    promoters_active: int = Field(description="promoters who earned a commission or whose share was visited in the "
                                              "range (活跃推广员), each once")
    commission: DashboardCommissionView
    withdrawals: WithdrawalStatsView
    share_visits: int = Field(description="visits through promoters' links, QR codes and posters (分享访问)")
    shared_orders: int = Field(description="orders paid in the range that came through a share")
    shared_gmv_fen: int
    conversion_bp: int = Field(description="分享转化率: shared_orders / share_visits, in bp")
    top_promoters: list[TopPromoterView] = Field(description="top 10 by sales in the range")
    top_products: list[TopProductView] = Field(description="top 10 by sales in the range")
    granularity: Literal["day", "month"] = Field(description="`day` for ranges of at most 62 days, else `month`")
    series: list[DashboardSeriesPoint] = Field(description="every day (or month) of the range in order, zeros "
                                                           "included; each field sums to the range's total")
    as_of: str


class LeaderboardEntry(BaseModel):
    rank: int = Field(description="1-based; equal scores share a rank")
    nickname: str = Field(description="masked (微**友)")
    score_fen: int
    is_me: bool = False


class MyRank(BaseModel):
    rank: int | None = Field(description="your rank; null when you have no score yet or when more than "
                                         "`rank_cap` promoters are ahead of you")
    score_fen: int
    beyond_cap: bool = Field(description="true when more than `rank_cap` promoters score higher than you")
    rank_cap: int


class PromoterLeaderboardResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "board": "commission", "period": "month", "period_key": "2026-11", "starts_on": "2026-11-01",
        "ends_on": "2026-11-30", "entries": [
            {"rank": 1, "nickname": "山**人", "score_fen": 49536, "is_me": False},
            {"rank": 2, "nickname": "茶**筑", "score_fen": 15430, "is_me": True}],
        "me": {"rank": 2, "score_fen": 15430, "beyond_cap": False, "rank_cap": 1000},
        "as_of": "2026-11-19T09:41:27Z", "prizes": PRIZE_TABLE_EXAMPLE}]})

    board: Literal["commission", "sales"]
    period: Literal["week", "month"]
    period_key: str = Field(description="2026-W45 (ISO week, Monday first) or 2026-11, China time")
    starts_on: str
    ends_on: str
    entries: list[LeaderboardEntry] = Field(description="the top 100, highest first")
    me: MyRank
    as_of: str
    prizes: PrizeTableView | None = Field(
        default=None, description="this China month's leaderboard prizes: which ranks win what, decided on the "
                                  "month's final figures (null: no prizes)")


class AdminLeaderboardEntry(BaseModel):
    rank: int
    user_id: str
    nickname: str = Field(description="masked (微**友)")
    score_fen: int


class AdminLeaderboardResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "board": "sales", "period": "week", "period_key": "2026-W47", "starts_on": "2026-11-16",
        "ends_on": "2026-11-22", "entries": [
            {"rank": 1, "user_id": "u_cpk4nizqohonwxfnikf4bplx", "nickname": "山**人", "score_fen": 186400},
            {"rank": 2, "user_id": "u_36botxbbbigbhenhtgo542dk", "nickname": "茶**筑", "score_fen": 41400}],
        "as_of": "2026-11-19T09:41:27Z"}]})

    board: Literal["commission", "sales"]
    period: Literal["week", "month"]
    period_key: str
    starts_on: str
    ends_on: str
    entries: list[AdminLeaderboardEntry]
    as_of: str
