"""Leaderboard prizes on DynamoDB Local: real orders of October through the commission sync; a refund
before the month is final moves a promoter down; nothing is paid while the month is not final; once
it is, overlapping runs in parallel threads pay each rank once through the ledger (prize_paid, merchant
→ available), ties ordered by who reached the score first, a frozen promoter left out; a promoter under
an open risk case is held and paid once the case closes (or voided when it is confirmed); the ledger
reconciles clean."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from mall.clock import iso
from mall.dal.audit import AuditLog
from mall.dal.keys import promoter_key, risk_hold_key
from mall.dal.leaderboard_prizes import PrizeRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.leaderboard_prizes import LeaderboardPrizes
from mall.domain.referral import Promoter
from mall.domain.settings import CommissionRates, DistributionSettings
from mall.domain.team_bonus import TeamBonusRules, final_by
from mall.schemas.leaderboard_prizes import AdminPrizeList
from mall.schemas.stats import PromoterLeaderboardResponse
from mall.services.leaderboard_prizes import PrizeRepositories, admin_prizes, release_held, run_due, run_month
from mall.services.ledger import reconcile
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.stats import promoter_leaderboard
from tests.integration.test_admin_round_trips import ADMIN_ROUND_TRIPS, Counted
from tests.integration.test_team_bonus import complete, put_order, refund

PROMOTER_ROUND_TRIPS = 3
OCT = "2026-10"
MONTH_OVER = datetime(2026, 10, 31, 19, 0, tzinfo=UTC)  # 1 November 03:00 China time
COMPLETED = datetime(2026, 11, 4, 20, 0, tzinfo=UTC)
ALL_SETTLED = COMPLETED + timedelta(days=7, hours=1)
RUN = datetime(2026, 11, 12, 19, 0, tzinfo=UTC)  # 13 November 03:00 China time
PRIZES = LeaderboardPrizes.model_validate({"enabled": True, "standing": {"measure": "sales", "prizes": [
    {"rank": 1, "amount_fen": 50_000}, {"rank": 2, "amount_fen": 20_000}, {"rank": 3, "amount_fen": 10_000}]}})
PROMOTERS = ("u_a", "u_b", "u_c", "u_d", "u_frz")


def october(table: Table) -> None:
    """Level-1 sales of October: u_a 60,000 − 25,000 refunded before the month is final = 35,000;
    u_b 50,000; u_c and u_d 40,000 each (u_d's order paid first); u_frz 100,000 but frozen before the
    month is decided."""
    SettingsRepository(table).save(
        DistributionSettings(commission=CommissionRates(settlement_days=7),
                             team_bonus=TeamBonusRules(final_after_days=30), leaderboard_prizes=PRIZES),
        based_on=0, saved_by="admin:t", now=MONTH_OVER - timedelta(days=60))
    promoters = PromoterRepository(table)
    for uid in PROMOTERS:
        promoters.create(Promoter(user_id=uid, code=uid.upper()[-8:], status="active", level_id="basic",
                                  applied_at=MONTH_OVER - timedelta(days=40)), grant_role=False,
                         replaces_rejected=False, now=MONTH_OVER - timedelta(days=40), reserve_code=False)
    put_order(table, "o_a", datetime(2026, 10, 3, 2, tzinfo=UTC), 60_000, l1="u_a", l2=None, buyer="b_a")
    put_order(table, "o_b", datetime(2026, 10, 5, 2, tzinfo=UTC), 50_000, l1="u_b", l2=None, buyer="b_b")
    put_order(table, "o_c", datetime(2026, 10, 9, 2, tzinfo=UTC), 40_000, l1="u_c", l2=None, buyer="b_c")
    put_order(table, "o_d", datetime(2026, 10, 7, 2, tzinfo=UTC), 40_000, l1="u_d", l2=None, buyer="b_d")
    put_order(table, "o_f", datetime(2026, 10, 8, 2, tzinfo=UTC), 100_000, l1="u_frz", l2=None, buyer="b_f")


def settle_all(table: Table) -> None:
    for order_id in ("o_a", "o_b", "o_c", "o_d", "o_f"):
        complete(table, order_id)
    settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED)


def freeze(table: Table, uid: str) -> None:
    table.update(promoter_key(uid), "SET #s = :frozen", names={"#s": "status"}, values={":frozen": "frozen"})


def prize_postings(table: Table, uid: str) -> list[dict[str, object]]:
    return [p for p in LedgerRepository(table).all_postings(uid) if p["kind"] == "prize_paid"]


def assert_reconciles(table: Table) -> None:
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=RUN + timedelta(days=30))
    assert report.mismatches == [] and report.clean and report.run.global_checked
    assert report.run.total_fen == 0


def test_a_final_month_pays_each_rank_once_under_parallel_runs_and_a_refund_before_final_moves_down(
        table: Table) -> None:
    october(table)
    repos = PrizeRepositories.on(table)
    # Not final: the orders are open (nothing settled) → nothing decided, nothing paid.
    early = run_month(repos, month=OCT, now=MONTH_OVER)
    assert (early.final, early.paid) == (False, 0) and PrizeRepository(table).ranking(OCT) is None
    # The month has not even ended.
    assert run_month(repos, month="2026-11", now=RUN).paid == 0

    refund(table, "o_a", 25_000, datetime(2026, 11, 2, tzinfo=UTC))  # before the month is final
    settle_all(table)
    freeze(table, "u_frz")

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: run_month(PrizeRepositories.on(table), month=OCT, now=RUN, threads=2),
                             range(2)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs += list(pool.map(lambda _: run_month(PrizeRepositories.on(table), month=OCT, now=RUN, threads=2),
                              range(4)))
    assert sum(r.paid for r in runs) == 3 and sum(r.paid_fen for r in runs) == 80_000
    again = run_due(repos, now=RUN + timedelta(days=1))
    assert [r.paid for r in again if r.month == OCT] == [0]

    # u_b first (u_a fell to 35,000 by the refund); u_d before u_c (equal 40,000, u_d reached it first);
    # u_frz (frozen) is not ranked.
    ranking = PrizeRepository(table).ranking(OCT)
    assert ranking is not None
    assert [(w["rank"], w["promoter_id"], w["score_fen"], w["amount_fen"]) for w in ranking["winners"]] == [
        (1, "u_b", 50_000, 50_000), (2, "u_d", 40_000, 20_000), (3, "u_c", 40_000, 10_000)]
    ledger = LedgerRepository(table)
    for uid, prize in {"u_b": 50_000, "u_d": 20_000, "u_c": 10_000, "u_a": 0, "u_frz": 0}.items():
        postings = prize_postings(table, uid)
        assert [p["amount_fen"] for p in postings] == ([prize] if prize else [])
    assert ledger.wallet("u_b").balances.available == 50_000 + 5_000  # the prize + its 10% commission
    view = admin_prizes(repos, month=OCT)
    assert view.decided and view.paid_fen == 80_000 and [i.status for i in view.items] == ["PAID"] * 3
    audits = [i for i in AuditLog(table).on(RUN) if i.get("action") == "prize.paid"]
    assert sorted(i["entity_id"] for i in audits) == ["pz_202610_01", "pz_202610_02", "pz_202610_03"]
    assert_reconciles(table)


def test_a_month_final_by_its_date_is_decided_then_and_a_held_promoter_is_paid_after_the_case(
        table: Table) -> None:
    october(table)
    repos = PrizeRepositories.on(table)
    # Orders never completed: not final until final_after_days after the month's end.
    before = run_month(repos, month=OCT, now=final_by(OCT, 30) - timedelta(seconds=1))
    assert before.paid == 0 and not before.final
    table.put({**risk_hold_key("u_frz"), "entity": "risk_hold", "case_id": "rc_1", "opened_at": iso(RUN)})
    table.put({**risk_hold_key("u_b"), "entity": "risk_hold", "case_id": "rc_2", "opened_at": iso(RUN)})
    at = final_by(OCT, 30)
    report = run_month(repos, month=OCT, now=at)
    # u_frz (100,000) first but held; u_a 60,000 (no refund here); u_b 50,000 held.
    assert (report.paid, report.held) == (1, 2)
    assert [p["amount_fen"] for p in prize_postings(table, "u_a")] == [20_000]
    assert prize_postings(table, "u_frz") == [] and prize_postings(table, "u_b") == []
    statuses = {i.promoter_id: i.status for i in admin_prizes(repos, month=OCT).items}
    assert statuses == {"u_frz": "HELD", "u_a": "PAID", "u_b": "HELD"}

    # u_frz's case closes: paid by the next run, once; u_b's case is confirmed: voided, never paid.
    table.client.delete_item(TableName=table.name, Key={"pk": {"S": "USER#u_frz"}, "sk": {"S": "RISK_HOLD"}})
    assert PrizeRepository(table).void_held("u_b", case_id="rc_2", now=at) == 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        released = list(pool.map(lambda _: release_held(PrizeRepositories.on(table), now=at + timedelta(days=1)),
                                 range(2)))
    assert sum(released) == 1 and release_held(repos, now=at + timedelta(days=2)) == 0
    assert [p["amount_fen"] for p in prize_postings(table, "u_frz")] == [50_000]
    assert prize_postings(table, "u_b") == []
    statuses = {i.promoter_id: i.status for i in admin_prizes(repos, month=OCT).items}
    assert statuses == {"u_frz": "PAID", "u_a": "PAID", "u_b": "VOIDED"}
    assert_reconciles(table)


def test_a_prize_repays_a_debt_first(table: Table) -> None:
    october(table)
    ledger = LedgerRepository(table)
    # u_a owes 3,000 (a clawback that found nothing available).
    ledger.post(L.commission_adjusted(balances=ledger.wallet("u_a").balances, promoter_id="u_a",
                                      adjustment_id="adj_1", amount_fen=3_000, credit=False, at=RUN, reason="t"))
    run_month(PrizeRepositories.on(table), month=OCT, now=final_by(OCT, 30))
    balances = ledger.wallet("u_a").balances
    assert (balances.debt, balances.available) == (0, 20_000 - 3_000)
    assert_reconciles(table)


# ---- round trips ----------------------------------------------------------------------------------


@pytest.fixture
def counted(table: Table, ddb_endpoint: str) -> Iterator[Counted]:
    yield Counted(table, ddb_endpoint)


def test_the_admin_prizes_view_takes_at_most_five_round_trips(table: Table, counted: Counted) -> None:
    october(table)
    run_month(PrizeRepositories.on(table), month=OCT, now=final_by(OCT, 30))
    views: list[AdminPrizeList] = []
    trips = counted.trips(lambda: views.append(admin_prizes(PrizeRepositories.on(counted.table), month=OCT)))
    assert trips <= ADMIN_ROUND_TRIPS
    assert [i.promoter_id for i in views[0].items] == ["u_frz", "u_a", "u_b"]


def test_the_leaderboard_shows_the_month_prize_table_within_the_promoter_round_trips(
        table: Table, counted: Counted) -> None:
    october(table)
    now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    views: list[PromoterLeaderboardResponse] = []
    trips = counted.trips(lambda: views.append(promoter_leaderboard(
        stats=StatsRepository(counted.table), board="sales", period="month", caller_id="u_a", now=now)))
    # The board, the nicknames with the settings in one BatchGetItem, the caller's own entry.
    assert trips <= PROMOTER_ROUND_TRIPS
    prizes = views[0].prizes
    assert prizes is not None and prizes.month == "2026-11" and prizes.measure == "sales"
    assert [(r.rank, r.amount_fen) for r in prizes.ranks] == [(1, 50_000), (2, 20_000), (3, 10_000)]
