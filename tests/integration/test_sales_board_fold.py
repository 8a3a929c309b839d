"""The sales board of a period from the stack's fold day on is kept on the promoters' commission
entries (``mall.dal.stats_boards``): on DynamoDB Local, every reader of the boards — the top of
each board, a promoter's own entry and rank, the admin's promoter list sorted by the month's
commission — answers as with a sales entry of its own, for periods on either side of the fold day,
and scores moved concurrently on one folded entry are each added once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from mall.dal.keys import board_key
from mall.dal.promoter_list import PromoterListReads
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain.stats import BoardDelta

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, tzinfo=UTC)
#: A promoter with sales only (an order of theirs whose commission is 0), one with both, one with commission only.
SCORES = [BoardDelta("sales", "{p}", "u_sales", 500), BoardDelta("commission", "{p}", "u_both", 300),
          BoardDelta("sales", "{p}", "u_both", 900), BoardDelta("commission", "{p}", "u_comm", 100)]


def _apply(stats: StatsRepository, period: str, event: str) -> None:
    deltas = [BoardDelta(d.board, period, d.promoter_id, d.delta_fen) for d in SCORES]
    stats.apply(event, deltas, now=NOW)


def _board(stats: StatsRepository, board: str, period: str) -> list[tuple[str, int]]:
    return [(str(i["promoter_id"]), int(i["score_fen"])) for i in stats.board_top(board, period)]


@pytest.mark.parametrize("period", ["2026-11", "2026-W47", "2026-12", "2026-W49", "2026-W50"])
def test_every_reader_answers_alike_before_and_after_the_fold_day(table: Table, period: str) -> None:
    stats = StatsRepository(table, sales_folded_from="2026-12-01")  # November and W47 are not folded
    _apply(stats, period, f"ev-{period}")
    folded = period in ("2026-12", "2026-W50")  # W49 starts on 30 November
    assert (table.get(board_key("sales", period, "u_both")) is None) is folded
    assert _board(stats, "sales", period) == [("u_both", 900), ("u_sales", 500)]
    assert _board(stats, "commission", period) == [("u_both", 300), ("u_comm", 100)]
    assert stats.board_entry("commission", period, "u_sales") is None
    assert stats.board_entry("sales", period, "u_comm") is None
    assert int((stats.board_entry("sales", period, "u_sales") or {})["score_fen"]) == 500
    assert stats.count_above("sales", period, 500) == (1, False)
    assert stats.count_above("commission", period, 100) == (1, False)
    _, _, mine = stats.leaderboard_reads([], board="sales", period_key=period, caller_id="u_both")
    assert mine is not None and int(mine["score_fen"]) == 900
    if "-W" not in period:  # the admin's promoter list: each promoter's commission of the month only
        assert PromoterListReads(table).month_commissions(period) == {"u_both": 300, "u_comm": 100}


def test_concurrent_sales_and_commission_on_one_folded_entry_each_count_once(table: Table) -> None:
    stats = StatsRepository(table)
    changes = [(f"ev-{i}", [BoardDelta("sales" if i % 2 else "commission", "2026-11", "u_star", 10 + i)])
               for i in range(12)]
    barrier = threading.Barrier(len(changes))

    def work(change: tuple[str, list[BoardDelta]]) -> int:
        barrier.wait()
        return stats.apply(change[0], change[1], now=NOW).applied

    with ThreadPoolExecutor(max_workers=len(changes)) as pool:
        assert sum(pool.map(work, changes)) == len(changes)
    assert _board(stats, "sales", "2026-11") == [("u_star", sum(10 + i for i in range(1, 12, 2)))]
    assert _board(stats, "commission", "2026-11") == [("u_star", sum(10 + i for i in range(0, 12, 2)))]
    # A score back to nothing leaves its board; the other stays.
    stats.apply("ev-undo", [BoardDelta("sales", "2026-11", "u_star", -sum(10 + i for i in range(1, 12, 2)))], now=NOW)
    assert _board(stats, "sales", "2026-11") == [] and len(_board(stats, "commission", "2026-11")) == 1
