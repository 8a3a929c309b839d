"""The dashboard series' axis and sums (mall.domain.stats_series): pure."""

from __future__ import annotations

from datetime import date

import pytest

from mall.domain.stats_series import series_granularity, series_periods, series_sums


def test_62_days_are_drawn_by_day_and_63_by_month() -> None:
    assert series_granularity(date(2026, 1, 1), date(2026, 3, 3)) == "day"  # 62 days
    assert series_granularity(date(2026, 1, 1), date(2026, 3, 4)) == "month"


def test_the_month_axis_crosses_a_year_and_keeps_partial_months() -> None:
    assert series_periods(date(2025, 11, 30), date(2026, 2, 1), "month") == ["2025-11", "2025-12", "2026-01",
                                                                             "2026-02"]
    assert series_periods(date(2024, 2, 28), date(2024, 3, 1), "day") == ["2024-02-28", "2024-02-29", "2024-03-01"]


def test_days_add_up_into_their_month_beside_whole_month_items() -> None:
    by_period = {"2025-11-30": [{"gmv_fen": 100, "paid_orders": 1}, {"gmv_fen": 50, "paid_orders": 1}],
                 "2025-12": [{"gmv_fen": 1_000, "paid_orders": 4, "comm_l2_created_fen": 7}],
                 "2026-01": [], "2026-02-01": [{"refund_fen": 30}]}
    points = series_sums(by_period, ["2025-11", "2025-12", "2026-01", "2026-02"], "month")
    assert [(p["gmv_fen"], p["paid_orders"], p["comm_l2_created_fen"], p["refund_fen"]) for p in points] == [
        (150, 2, 0, 0), (1_000, 4, 7, 0), (0, 0, 0, 0), (0, 0, 0, 30)]


def test_items_read_outside_the_axis_are_refused() -> None:
    with pytest.raises(ValueError, match="2026-03-01"):
        series_sums({"2026-03-01": [{"gmv_fen": 1}]}, ["2026-02-28"], "day")
