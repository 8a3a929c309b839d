"""The settlement reads the promoter's blocking status from the wallet it reads anyway, and checks it
on the wallet update it makes anyway (``promoter_blocked`` absent, ``mall.dal.promoter_wallet``)
instead of reading and ConditionChecking ``USER#<uid>/PROMOTER`` (DynamoDB Local, the bench's meter):
every admin status change writes the flag in its own transaction; a freeze committed by another thread
between the settlement's read and its commit refuses the settlement, and the records wait; freezes and
settlements started at once leave no record settled twice and the ledger reconciled. Both deploy
settings: the flag, and the promoter item (``PROMOTER_STATUS_ITEM_CHECKS=1``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from mall.dal.keys import promoter_key, wallet_key
from mall.dal.ledger import RISK_HOLD_FLAG, LedgerRepository, Wallet
from mall.dal.promoter_wallet import PROMOTER_BLOCKED_FLAG
from mall.dal.referral import PromoterRepository
from mall.dal.risk import RiskCaseRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.referral import Promoter
from mall.services import risk
from mall.services.settlement import SettlementRepositories, settle_due
from tests.at_once import after_first_read, run_at_once
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_settlement_conditions import (
    AFTER_DUE,
    LATER,
    PROMOTER,
    UPLINE,
    assert_reconciles,
    change_status,
    complete,
    make_world,
    paid_order,
    record,
    wallet,
)
from tools.migrations import run
from tools.migrations.promoter_blocked_flags import MIGRATION, apply

pytestmark = pytest.mark.integration


@pytest.fixture(params=["flag", "items"])
def mode(request: pytest.FixtureRequest, table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "items":
        monkeypatch.setenv("PROMOTER_STATUS_ITEM_CHECKS", "1")
    make_world(table)
    yield str(request.param)


def flag(table: Table, uid: str) -> Any:
    wallet = table.get(wallet_key(uid), consistent=True)
    return None if wallet is None else wallet.get(PROMOTER_BLOCKED_FLAG)


def test_settling_a_two_level_order_spends_no_units_on_the_promoter_items(table: Table, mode: str) -> None:
    paid_order(table, "o_units", l2=UPLINE)
    complete(table, "o_units")
    seen = read_units(table, lambda: settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE))
    assert record(table, "o_units").status == "SETTLED"
    assert record(table, "o_units", level=2).status == "SETTLED"
    kinds = seen["rcu_by_item_kind"]
    # The planner's four shard Queries (½ each), then the worker's reads, eventually consistent (½ per
    # item): two records, the order, two wallets (and the promoters while their items are checked).
    if mode == "flag":
        # One transaction without the promoters' ConditionChecks.
        assert "USER#/PROMOTER" not in kinds and kinds["USER#/WALLET"] == 1.0
        assert (seen["wcu"], seen["rcu"]) == (18.0, 4.5)  # was 13.0: 16 shard Queries, consistent reads
    else:
        assert kinds["USER#/PROMOTER"] == 1.0
        assert (seen["wcu"], seen["rcu"]) == (22.0, 5.5)  # was 15.0


def test_every_status_change_writes_the_blocking_status_on_the_wallet(table: Table, mode: str) -> None:
    assert flag(table, PROMOTER) is None and table.get(wallet_key(PROMOTER), consistent=True) is None
    change_status(table, "freeze")
    assert flag(table, PROMOTER) == "frozen"  # a wallet made for the flag, no balances
    assert LedgerRepository(table).wallet(PROMOTER) == Wallet(PROMOTER, L.Balances())
    change_status(table, "unfreeze")
    assert flag(table, PROMOTER) is None
    change_status(table, "freeze")
    change_status(table, "disable")
    assert flag(table, PROMOTER) == "disabled"
    assert flag(table, UPLINE) is None


def test_a_freeze_committed_by_another_thread_after_the_settlements_read_makes_the_records_wait(
        table: Table, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for order_id in ("o_a", "o_b"):
        paid_order(table, order_id)
        complete(table, order_id)
    amounts = sum(record(table, o).amount_fen for o in ("o_a", "o_b"))
    # Read: the promoter is active; then an admin freezes them, committed before this settlement commits.
    frozen = after_first_read(monkeypatch, SettlementRepository, "read_slice",
                              lambda: change_status(table, "freeze") is None)
    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert frozen == [True]
    assert report.settled == 0 and report.skipped == {"promoter_frozen": 2}
    assert wallet(table) == L.Balances(frozen=amounts)
    assert {record(table, o).status for o in ("o_a", "o_b")} == {"FROZEN"}

    change_status(table, "unfreeze")
    assert settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER).settled_fen == amounts
    assert settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER).settled == 0
    assert wallet(table) == L.Balances(available=amounts)
    assert_reconciles(table)


def test_freezes_and_settlements_started_at_once_settle_each_record_once_and_never_after_the_freeze(
        table: Table, mode: str) -> None:
    for round_no in range(4):
        orders = [f"o_{round_no}_{n}" for n in range(3)]
        for order_id in orders:
            paid_order(table, order_id, l2=UPLINE)
            complete(table, order_id)
        settle_now = AFTER_DUE + timedelta(minutes=round_no)
        results = run_at_once([
            lambda at=settle_now: settle_due(SettlementRepositories.on(table), as_of=at, now=at),
            lambda: change_status(table, "freeze"),
            lambda: change_status(table, "freeze", UPLINE),
        ])
        settled = results[0].settled
        statuses = [record(table, o, level=level).status for o in orders for level in (1, 2)]
        assert set(statuses) <= {"SETTLED", "FROZEN"} and statuses.count("SETTLED") == settled
        # Frozen now: nothing more settles until the unfreeze, whatever ran first.
        assert settle_due(SettlementRepositories.on(table), as_of=settle_now, now=settle_now).settled == 0
        assert {flag(table, PROMOTER), flag(table, UPLINE)} == {"frozen"}
        change_status(table, "unfreeze")
        change_status(table, "unfreeze", UPLINE)
        later = settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER)
        assert later.settled == len(statuses) - settled
        for uid in (PROMOTER, UPLINE):
            assert_reconciles(table, uid)
            assert wallet(table, uid).frozen == 0


def test_a_confirmed_risk_case_freezes_with_the_flag_folded_into_its_other_writes_of_the_wallet(
        table: Table, mode: str) -> None:
    # The confirmation's one transaction keeps the hold (its flag stays), checks that nothing is frozen
    # and freezes the promoter (the blocked flag set): the check and the flag of one wallet, one write.
    repos = risk.RiskRepositories.on(table)
    case = risk.open_case(repos=repos, promoter_id=PROMOTER, rule="same_device", window_key="2026-11-06",
                          evidence={"accounts": 6}, now=AFTER_DUE)
    assert case is not None
    risk.confirm_case(repos=repos, case_id=case.case_id, by="admin:alice", note="confirmed", now=AFTER_DUE)
    promoter = PromoterRepository(table).get(PROMOTER, consistent=True)
    assert promoter is not None and promoter.status == "frozen"
    stored = table.get(wallet_key(PROMOTER), consistent=True)
    assert stored is not None and stored.get(PROMOTER_BLOCKED_FLAG) == "frozen" and stored.get(RISK_HOLD_FLAG)
    confirmed = RiskCaseRepository(table).get(case.case_id)
    assert confirmed is not None and confirmed.finished_at is not None


# ---- the migration --------------------------------------------------------------------------------


def test_the_migration_flags_blocked_promoters_wallets_and_corrects_flags_out_of_step(table: Table, mode: str) -> None:
    paid_order(table, "o_m", l2=UPLINE)  # both have wallets (frozen commission)
    # As the code before left them: statuses changed without flags (UPLINE has a wallet, a third
    # promoter none), PROMOTER's flag left behind by an unfreeze of that code.
    third = "u_third"
    PromoterRepository(table).create(
        Promoter(user_id=third, code="CTHIRD", status="active", level_id="basic"), grant_role=False,
        replaces_rejected=False, now=AFTER_DUE, reserve_code=True)
    for uid, status in ((UPLINE, "frozen"), (third, "disabled")):
        table.update(promoter_key(uid), "SET #s = :s", names={"#s": "status"}, values={":s": status})
    table.update(wallet_key(PROMOTER), f"SET {PROMOTER_BLOCKED_FLAG} = :f", values={":f": "frozen"})
    before = {uid: LedgerRepository(table).wallet(uid) for uid in (PROMOTER, UPLINE)}

    assert run(table, MIGRATION, dry_run=True).changed == 3 and flag(table, UPLINE) is None
    assert run(table, MIGRATION).changed == 3
    assert (flag(table, PROMOTER), flag(table, UPLINE), flag(table, third)) == (None, "frozen", "disabled")
    # Balances and versions untouched: a posting computed from a read wallet is not made stale.
    assert {uid: LedgerRepository(table).wallet(uid) for uid in (PROMOTER, UPLINE)} == before
    assert run(table, MIGRATION, restart=True).changed == 0


def test_the_migration_never_undoes_a_status_changed_after_its_read(table: Table, mode: str) -> None:
    # The scan saw PROMOTER frozen; an unfreeze committed since (its transaction wrote the flag).
    change_status(table, "freeze")
    seen = table.get(promoter_key(PROMOTER), consistent=True)
    change_status(table, "unfreeze")
    assert seen is not None and apply(table, seen, False) is False
    assert flag(table, PROMOTER) is None
