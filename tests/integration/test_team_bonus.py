"""Team bonus on DynamoDB Local: seeded commission records of a month → the run, fired twice and by
parallel threads, pays one bonus per eligible promoter (frozen = bonus, the ledger reconciles); at the due
date the settlement moves each bonus to available exactly once — together with a commission in one
slice, skipping a promoter under an open risk case until it closes; a confirmed case voids it."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest import MonkeyPatch

from mall.clock import iso
from mall.dal.commissions import commission_item
from mall.dal.keys import bonus_key, risk_hold_key
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.risk_wallet import flag_write
from mall.dal.settings import SettingsRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Table, Write
from mall.dal.team_bonus import BonusRepository, team_order_item
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.referral import Promoter
from mall.domain.settings import CommissionRates, DistributionSettings
from mall.domain.settlement import Settleable
from mall.domain.team_bonus import TeamBonusRules, bonus_for, due_at, final_by
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.team_bonus import (
    BonusRunReport,
    RecomputeIncomplete,
    TeamBonusRepositories,
    recompute_month,
    run_due,
    run_month,
    void_bonuses,
)

MONTH = "2026-10"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
RULES = TeamBonusRules.model_validate({"enabled": True, "settlement_days": 5, "tiers": [
    {"min_team_sales_fen": 50_000, "bonus_bp": 100}, {"min_team_sales_fen": 500_000, "bonus_bp": 250}]})
DUE = due_at(MONTH, 5)  # 2026-11-06 00:00 China time
ACTIVE = [f"u_p{i:02d}" for i in range(24)]


def sales_of(uid: str) -> int:
    number = int(uid[-2:])
    return 40_000 + number * 37_001  # u_p00 below the first tier; the last ones in the second


def seed(table: Table) -> None:
    SettingsRepository(table).save(DistributionSettings(team_bonus=RULES), based_on=0, saved_by="admin:t", now=NOW)
    promoters = PromoterRepository(table)
    for uid, status in [*((u, "active") for u in ACTIVE), ("u_frozen", "frozen"), ("u_disabled", "disabled")]:
        promoters.create(Promoter(user_id=uid, code=uid.upper()[-8:], status=status,  # type: ignore[arg-type]
                                  level_id="basic", applied_at=NOW), grant_role=False, replaces_rejected=False,
                         now=NOW, reserve_code=False)
    for uid in [*ACTIVE, "u_frozen", "u_disabled"]:
        settled_sale(table, uid, sales_of(uid) if uid in ACTIVE else 900_000)


SEED_PAID = datetime(2026, 10, 9, tzinfo=UTC)


def settled_sale(table: Table, uid: str, base_fen: int, *, paid_at: datetime = SEED_PAID) -> None:
    """A settled level-1 commission record of ``uid`` on an order paid in ``MONTH``, and its team order item."""
    order_id = f"o_seed_{uid}"
    record = CommissionRecord(
        commission_id=commission_id(order_id, "l1", 1), order_id=order_id, line_id="l1", level=1,
        beneficiary_id=uid, buyer_id=f"b_{uid}", product_id="p", product_name="Tea", quantity=1, base_fen=base_fen,
        amount_fen=base_fen // 10, status=CommissionStatus.SETTLED, rule={}, created_at=paid_at,
        settled_at=paid_at + timedelta(days=10))
    table.put(commission_item(record))
    table.put(team_order_item(uid, MONTH, order_id, paid_at, ["COMMISSION#l1#1"]))


def expected() -> dict[str, int]:
    return {uid: amount for uid in ACTIVE if (amount := bonus_for(sales_of(uid), RULES)[1]) > 0}


def assert_ledger_reconciles(table: Table, uids: list[str]) -> None:
    ledger = LedgerRepository(table)
    for uid in uids:
        totals = L.sum_legs(ledger.all_postings(uid))
        assert {k: v for k, v in ledger.wallet(uid).balances.as_dict().items() if v} == \
            {k: v for k, v in totals.items() if not k.startswith("merchant:") and v}


def test_parallel_and_repeated_runs_pay_each_promoter_once_then_settlement_settles_once(table: Table) -> None:
    seed(table)
    want = expected()
    assert 15 < len(want) < len(ACTIVE)  # some below the tier, most paid

    # A schedule firing several times at once, then once more: one bonus per promoter.
    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(lambda _: run_month(TeamBonusRepositories.on(table),
                                                    month=MONTH, now=NOW, threads=4), range(6)))
    again = run_month(TeamBonusRepositories.on(table), month=MONTH, now=NOW + timedelta(hours=1))
    total = BonusRunReport(month=MONTH)
    for report in reports:
        total.merge(report)
    assert sorted(total.promoters) == sorted(want) and total.paid == len(want)
    assert total.paid_fen == sum(want.values())
    assert again.paid == 0 and again.already_paid == len(want) and again.not_active == 2

    ledger = LedgerRepository(table)
    repo = BonusRepository(table)
    for uid in ACTIVE:
        record = repo.get(uid, MONTH)
        assert (record.amount_fen if record else 0) == want.get(uid, 0)
        assert ledger.wallet(uid).balances.frozen == want.get(uid, 0)
        assert [p["kind"] for p in ledger.all_postings(uid)] == (["bonus_frozen"] if uid in want else [])
    assert repo.get("u_frozen", MONTH) is None and repo.get("u_disabled", MONTH) is None
    assert ledger.merchant_balances()["merchant:commission"] == -sum(want.values())
    assert_ledger_reconciles(table, ACTIVE)

    # One promoter also has a commission due the same day; another is under an open risk case.
    mixed, held = sorted(want)[-1], sorted(want)[-2]
    cid = commission_id("o_mix", "l1", 1)
    record_c = CommissionRecord(
        commission_id=cid, order_id="o_mix", line_id="l1", level=1, beneficiary_id=mixed, buyer_id="b",
        product_id="p", product_name="Tea", quantity=1, base_fen=10_000, amount_fen=1_000,
        status=CommissionStatus.FROZEN, rule={}, created_at=NOW, due_at=DUE)
    ledger.post([L.commission_frozen(promoter_id=mixed, commission_id=cid, amount_fen=1_000, at=NOW, ref={})],
                also=[Write.put(table.name, commission_item(record_c), condition="attribute_not_exists(pk)")])
    table.put({**risk_hold_key(held), "entity": "risk_hold", "case_id": "rc_1", "opened_at": "2026-11-02T00:00:00Z"})

    early = settle_due(SettlementRepositories.on(table), as_of=DUE - timedelta(seconds=1), now=DUE)
    assert early.settled == 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: settle_due(SettlementRepositories.on(table),
                                                  as_of=DUE, now=DUE + timedelta(hours=2)), range(4)))
    assert sum(r.settled for r in runs) == len(want) - 1 + 1  # every bonus but the held one, plus the commission
    assert sum(r.settled_fen for r in runs) == sum(want.values()) - want[held] + 1_000
    assert settle_due(SettlementRepositories.on(table),
                      as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1)).settled == 0
    for uid, amount in want.items():
        wallet = ledger.wallet(uid).balances
        if uid == held:
            assert (wallet.frozen, wallet.available) == (amount, 0)
        else:
            assert (wallet.frozen, wallet.available) == (0, amount + (1_000 if uid == mixed else 0))
            kinds = sorted(p["kind"] for p in ledger.all_postings(uid))
            assert kinds.count("bonus_settled") == 1
    settled = repo.get(mixed, MONTH)
    assert settled is not None and settled.status == CommissionStatus.SETTLED and settled.settled_at is not None
    stored = table.get(bonus_key(mixed, MONTH), consistent=True)
    assert stored is not None and "gsi2pk" not in stored and stored["settled_fen"] == want[mixed]

    # The case closes: the held bonus settles on the next run, once.
    table.client.delete_item(TableName=table.name, Key={"pk": {"S": f"USER#{held}"}, "sk": {"S": "RISK_HOLD"}})
    later = settle_due(SettlementRepositories.on(table), as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1))
    assert later.settled == 1 and later.settled_fen == want[held]
    assert ledger.wallet(held).balances.available == want[held]
    assert_ledger_reconciles(table, ACTIVE)
    assert ledger.merchant_balances()["merchant:commission"] == -sum(want.values()) - 1_000


def test_a_confirmed_risk_case_voids_a_frozen_bonus_once(table: Table) -> None:
    seed(table)
    run_month(TeamBonusRepositories.on(table), month=MONTH, now=NOW)
    uid = sorted(expected())[-1]
    amount = expected()[uid]
    assert void_bonuses(TeamBonusRepositories.on(table),
                        promoter_id=uid, case_id="rc_9", now=NOW + timedelta(days=2)) == 1
    assert void_bonuses(TeamBonusRepositories.on(table),
                        promoter_id=uid, case_id="rc_9", now=NOW + timedelta(days=2)) == 0
    record = BonusRepository(table).get(uid, MONTH)
    assert record is not None and record.status == CommissionStatus.CANCELLED and record.current_fen == 0
    ledger = LedgerRepository(table)
    assert ledger.wallet(uid).balances.frozen == 0
    assert sorted(p["kind"] for p in ledger.all_postings(uid)) == ["bonus_frozen", "commission_voided"]
    report = settle_due(SettlementRepositories.on(table), as_of=DUE, now=DUE)
    assert uid not in {p["promoter_id"] for p in ledger.all_postings(uid) if p["kind"] == "bonus_settled"}
    assert report.settled == len(expected()) - 1 and amount > 0
    assert_ledger_reconciles(table, [uid])


def test_a_hold_opened_after_settlement_read_it_refuses_the_bonus(table: Table, monkeypatch: MonkeyPatch) -> None:
    seed(table)
    run_month(TeamBonusRepositories.on(table), month=MONTH, now=NOW)
    uid = sorted(expected())[-1]
    amount = expected()[uid]
    reads = {"stale": 0}
    real = SettlementRepository.held_bonus_promoters

    def read_then_case_opens(self: SettlementRepository, records: Sequence[Settleable]) -> set[str]:
        # The settlement reads "no hold" for the promoter, then a risk case opens before it commits.
        if any(r.beneficiary_id == uid for r in records) and not reads["stale"]:
            reads["stale"] += 1
            # As the hold's writers write it: the item and the wallet's flag in one transaction.
            table.transact([Write.put(table.name, {**risk_hold_key(uid), "entity": "risk_hold", "case_id": "rc_late",
                                                   "opened_at": "2026-11-06T00:00:00Z"}),
                            flag_write(table.name, uid, on=True)])
            return real(self, [r for r in records if r.beneficiary_id != uid])
        return real(self, records)

    monkeypatch.setattr(SettlementRepository, "held_bonus_promoters", read_then_case_opens)
    report = settle_due(SettlementRepositories.on(table), as_of=DUE, now=DUE + timedelta(hours=2))
    assert reads["stale"] == 1
    assert report.settled == len(expected()) - 1
    ledger = LedgerRepository(table)
    assert (ledger.wallet(uid).balances.frozen, ledger.wallet(uid).balances.available) == (amount, 0)
    record = BonusRepository(table).get(uid, MONTH)
    assert record is not None and record.status == CommissionStatus.FROZEN

    # The case is released: the bonus settles on the next run, once.
    table.transact([Write.delete(table.name, risk_hold_key(uid)), flag_write(table.name, uid, on=False)])
    later = settle_due(SettlementRepositories.on(table), as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1))
    assert later.settled == 1 and later.settled_fen == amount
    assert ledger.wallet(uid).balances.available == amount
    assert_ledger_reconciles(table, [uid])


# ---- team sales from the money records: orders paid in the month, net of refunds --------------------

OCT_RULES = TeamBonusRules.model_validate({"enabled": True, "settlement_days": 0, "final_after_days": 30, "tiers": [
    {"min_team_sales_fen": 10_000, "bonus_bp": 100}, {"min_team_sales_fen": 50_000, "bonus_bp": 300}]})
OCT = "2026-10"
MONTH_OVER = datetime(2026, 10, 31, 19, 0, tzinfo=UTC)  # 1 November 03:00 China time
COMPLETED = datetime(2026, 11, 4, 20, 0, tzinfo=UTC)
ALL_SETTLED = COMPLETED + timedelta(days=7, hours=1)
PAID_RUN = datetime(2026, 11, 12, 19, 0, tzinfo=UTC)  # 13 November 03:00 China time


def put_order(table: Table, order_id: str, paid_at: datetime, base_fen: int, *, l1: str, l2: str | None,
              buyer: str = "u_buyer", self_purchase: bool = False, recorded_at: datetime | None = None) -> None:
    line = {"line_id": "1", "product_id": f"p_{order_id}", "name": "Tea", "type": "virtual", "category_id": None,
            "quantity": 1, "unit_price_fen": base_fen, "paid_fen": base_fen, "commission": {"mode": "inherit"},
            "distribution_enabled": True, "refunded_fen": 0}
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
               "status": "PAID", "amount_fen": base_fen, "goods_fen": base_fen, "shipping_fen": 0, "discount_fen": 0,
               "lines": [line], "created_at": iso(paid_at), "paid_at": iso(paid_at), "version": 2,
               "settings_version": 1,
               "attribution": {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": 1,
                               "basis": "self" if self_purchase else "binding", "self_purchase": self_purchase}})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=recorded_at or paid_at + timedelta(seconds=5))


def refund(table: Table, order_id: str, refunded_fen: int, at: datetime) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET #lines[0].refunded_fen = :r ADD version :one",
                 names={"#lines": "lines"}, values={":r": refunded_fen, ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=at)


def complete(table: Table, order_id: str) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET completed_at = :at, #s = :done ADD version :one",
                 names={"#s": "status"}, values={":at": iso(COMPLETED), ":done": "COMPLETED", ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=COMPLETED)


def october(table: Table, *, complete_all: bool = True) -> None:
    """u_mid (level 1) under u_lead (level 2). u_mid's team sales of October: o_1 40,000 + o_2 30,000 (paid
    at 23:30 on 31 October China time, completed in November) + o_5 20,000 − 5,000 refunded = 85,000 → 3%.
    u_lead's add u_mid's own purchase o_4 (50,000): 135,000 → 3%. o_3, paid ten minutes into November
    China time, is November's."""
    SettingsRepository(table).save(DistributionSettings(commission=CommissionRates(settlement_days=7),
                                                        team_bonus=OCT_RULES),
                                   based_on=0, saved_by="admin:t", now=MONTH_OVER - timedelta(days=60))
    promoters = PromoterRepository(table)
    for uid in ("u_lead", "u_mid"):
        promoters.create(Promoter(user_id=uid, code=uid.upper()[-8:], status="active", level_id="basic",
                                  applied_at=NOW), grant_role=False, replaces_rejected=False, now=NOW,
                         reserve_code=False)
    put_order(table, "o_1", datetime(2026, 10, 10, 2, tzinfo=UTC), 40_000, l1="u_mid", l2="u_lead")
    put_order(table, "o_2", datetime(2026, 10, 31, 15, 30, tzinfo=UTC), 30_000, l1="u_mid", l2="u_lead")
    put_order(table, "o_3", datetime(2026, 10, 31, 16, 10, tzinfo=UTC), 99_000, l1="u_mid", l2="u_lead")
    put_order(table, "o_4", datetime(2026, 10, 12, 2, tzinfo=UTC), 50_000, l1="u_mid", l2="u_lead", buyer="u_mid",
              self_purchase=True)
    put_order(table, "o_5", datetime(2026, 10, 20, 2, tzinfo=UTC), 20_000, l1="u_mid", l2="u_lead")
    refund(table, "o_5", 5_000, datetime(2026, 10, 25, tzinfo=UTC))
    if complete_all:
        for order_id in ("o_1", "o_2", "o_4", "o_5"):
            complete(table, order_id)


def bonus_postings(table: Table, uid: str, kind: str) -> list[dict[str, Any]]:
    return [p for p in LedgerRepository(table).all_postings(uid)
            if p["kind"] == kind and p["ref"].get("bonus_id") == f"bn_202610_{uid}"]


def test_a_month_is_paid_once_final_on_the_orders_paid_in_it_net_of_refunds(table: Table) -> None:
    october(table)
    # Stats are not read: nothing but the orders and commission records exists.
    early = run_month(TeamBonusRepositories.on(table), month=OCT, now=MONTH_OVER)
    assert (early.paid, early.not_final, early.examined) == (0, 2, 2)  # o_2 (and the rest) not settled yet
    assert settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED).settled == 8

    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: run_month(TeamBonusRepositories.on(table),
                                                 month=OCT, now=PAID_RUN, threads=2), range(4)))
    assert sum(r.paid for r in runs) == 2 and sum(r.paid_fen for r in runs) == 2_550 + 4_050
    again = run_month(TeamBonusRepositories.on(table), month=OCT, now=PAID_RUN + timedelta(days=1))
    assert again.paid == 0 and again.already_paid == 2
    repo = BonusRepository(table)
    mid, lead = repo.get("u_mid", OCT), repo.get("u_lead", OCT)
    assert mid is not None and (mid.team_sales_fen, mid.amount_fen) == (85_000, 2_550)
    assert lead is not None and (lead.team_sales_fen, lead.amount_fen) == (135_000, 4_050)
    assert mid.due_at == PAID_RUN and mid.status == CommissionStatus.FROZEN
    assert len(bonus_postings(table, "u_mid", "bonus_frozen")) == 1
    # November's order is November's: it is not in October's and November is not over.
    assert run_month(TeamBonusRepositories.on(table), month="2026-11", now=PAID_RUN).examined == 0
    assert_ledger_reconciles(table, ["u_mid", "u_lead"])


def test_a_refund_after_the_month_was_paid_takes_back_the_overpaid_part_once(table: Table) -> None:
    october(table)
    settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED)
    run_month(TeamBonusRepositories.on(table), month=OCT, now=PAID_RUN)
    ledger = LedgerRepository(table)

    # A partial refund before the bonus settled: 75,000 → 2,250; 300 cancelled from frozen.
    refund(table, "o_2", 10_000, PAID_RUN + timedelta(hours=1))
    cancelled = bonus_postings(table, "u_mid", "commission_cancelled")
    assert [p["amount_fen"] for p in cancelled] == [300]
    assert [p["amount_fen"] for p in bonus_postings(table, "u_lead", "commission_cancelled")] == [300]
    o_3 = 9_900  # November's order, not completed: its commission stays frozen
    assert ledger.wallet("u_mid").balances.frozen == 2_250 + o_3
    settle_due(SettlementRepositories.on(table), as_of=PAID_RUN + timedelta(hours=2), now=PAID_RUN + timedelta(hours=2))
    assert ledger.wallet("u_mid").balances.frozen == o_3

    # u_mid withdraws all but 100 fen; then o_1 is refunded in full: 35,000 → 1% = 350, 1,900 overpaid.
    balances = ledger.wallet("u_mid").balances
    ledger.post([L.withdrawal_held(promoter_id="u_mid", withdrawal_id="wd_1", amount_fen=balances.available - 100,
                                   at=PAID_RUN + timedelta(hours=3))])
    at = PAID_RUN + timedelta(days=1)
    refund(table, "o_1", 40_000, at)
    clawed = bonus_postings(table, "u_mid", "commission_clawed_back")
    assert [p["amount_fen"] for p in clawed] == [1_900]
    assert sum(leg["delta_fen"] for leg in clawed[0]["legs"] if leg["account"] == "debt") == -1_900
    mid = BonusRepository(table).get("u_mid", OCT)
    assert mid is not None and (mid.team_sales_fen, mid.clawed_back_fen, mid.current_fen) == (35_000, 1_900, 350)
    # u_lead: 85,000 → 3% = 2,550 of 3,750.
    assert [p["amount_fen"] for p in bonus_postings(table, "u_lead", "commission_clawed_back")] == [1_200]

    # Redelivered, concurrent: nothing more.
    before = ledger.wallet("u_mid").balances
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: sync_order(CommissionRepositories.on(table),
                                           order_id="o_1", now=at + timedelta(minutes=5)), range(4)))
    assert recompute_month(TeamBonusRepositories.on(table),
                           promoter_id="u_mid", month=OCT, now=at).outcome == "unchanged"
    assert len(bonus_postings(table, "u_mid", "commission_clawed_back")) == 1
    assert ledger.wallet("u_mid").balances == before and before.debt < 0
    assert_ledger_reconciles(table, ["u_mid", "u_lead"])


def test_a_refund_after_payment_is_recomputed_over_the_orders_the_bonus_was_paid_on(table: Table) -> None:
    """An October order whose commission is recorded only after October was paid counts for nothing
    in it: a later refund takes back the same, whether the late record came before it or not."""
    october(table)
    settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED)
    run_month(TeamBonusRepositories.on(table), month=OCT, now=PAID_RUN)  # u_mid: 2,550 on 85,000
    put_order(table, "o_6", datetime(2026, 10, 28, 2, tzinfo=UTC), 30_000, l1="u_mid", l2="u_lead",
              recorded_at=PAID_RUN + timedelta(hours=1))
    refund(table, "o_1", 40_000, PAID_RUN + timedelta(days=1))
    # 85,000 − 40,000 = 45,000 of the orders paid on → 1% = 450: 2,100 taken back (o_6's 30,000 ignored).
    assert [p["amount_fen"] for p in bonus_postings(table, "u_mid", "commission_cancelled")] == [2_100]
    mid = BonusRepository(table).get("u_mid", OCT)
    assert mid is not None and (mid.team_sales_fen, mid.current_fen) == (45_000, 450)
    assert_ledger_reconciles(table, ["u_mid", "u_lead"])


def test_a_month_with_an_open_order_is_final_the_configured_days_after_its_end(table: Table) -> None:
    october(table, complete_all=False)
    assert run_due(TeamBonusRepositories.on(table), now=PAID_RUN) and BonusRepository(table).get("u_mid", OCT) is None
    due = final_by(OCT, OCT_RULES.final_after_days)  # 1 December 00:00 China time
    assert [r.paid for r in run_due(TeamBonusRepositories.on(table),
                                    now=due - timedelta(seconds=1)) if r.month == OCT] == [0]
    reports = run_due(TeamBonusRepositories.on(table), now=due)
    assert [r.month for r in reports] == ["2026-10", "2026-11"]
    assert reports[0].paid == 2 and reports[1].paid == 0  # November is not final yet
    mid = BonusRepository(table).get("u_mid", OCT)
    assert mid is not None and (mid.team_sales_fen, mid.amount_fen) == (85_000, 2_550)
    assert mid.rule["open_records"] == 3  # o_1, o_2, o_5 (its own purchase o_4 is not team sales)


def test_a_reduction_that_keeps_losing_races_fails_the_sync_and_its_retry_takes_it_once(
        table: Table, monkeypatch: MonkeyPatch) -> None:
    october(table)
    settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED)
    run_month(TeamBonusRepositories.on(table), month=OCT, now=PAID_RUN)
    real = LedgerRepository.post

    def always_loses(self: LedgerRepository, postings: Sequence[L.Posting], **kwargs: Any) -> None:
        if any("bonus_id" in p.ref for p in postings):
            raise LedgerRefused(["wallet:contended"], [])
        real(self, postings, **kwargs)

    monkeypatch.setattr(LedgerRepository, "post", always_loses)
    with pytest.raises(RecomputeIncomplete):  # the commission sync's message is retried
        refund(table, "o_1", 40_000, PAID_RUN + timedelta(hours=1))
    monkeypatch.setattr(LedgerRepository, "post", real)
    sync_order(CommissionRepositories.on(table), order_id="o_1", now=PAID_RUN + timedelta(hours=2))  # the redelivery
    sync_order(CommissionRepositories.on(table), order_id="o_1", now=PAID_RUN + timedelta(hours=3))
    # 45,000 → 1% = 450 of 2,550, once.
    assert [p["amount_fen"] for p in bonus_postings(table, "u_mid", "commission_cancelled")] == [2_100]
    assert_ledger_reconciles(table, ["u_mid", "u_lead"])
