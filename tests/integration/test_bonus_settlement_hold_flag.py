"""A team bonus settles on condition that its promoter is not held, checked on the wallet the settlement
posting updates anyway (``risk_hold`` absent) instead of a ConditionCheck of ``USER#<uid>/RISK_HOLD``:
2 write units less per promoter and settling transaction, none spent on the hold item (DynamoDB Local).
A case opened by the risk service in another thread between the settlement's read of the hold and its
commit still refuses the bonus, which stays FROZEN and settles once after the case is released. Both
deploy settings: the flag checked, and the hold item checked (``RISK_HOLD_ITEM_CHECKS=1``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from mall.dal.ledger import LedgerRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Table
from mall.dal.team_bonus import BonusRepository
from mall.domain.commission_records import CommissionStatus
from mall.services import risk
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.team_bonus import TeamBonusRepositories, run_month
from tests.at_once import after_first_read
from tests.integration.test_risk_hold_wallet_flag import transaction_units
from tests.integration.test_team_bonus import DUE, MONTH, NOW, assert_ledger_reconciles, expected, seed

pytestmark = pytest.mark.integration

__all__ = ["transaction_units"]  # the fixture, used by name


@pytest.fixture(params=["flag", "items"])
def mode(request: pytest.FixtureRequest, table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "items":
        monkeypatch.setenv("RISK_HOLD_ITEM_CHECKS", "1")
    seed(table)
    run_month(TeamBonusRepositories.on(table), month=MONTH, now=NOW)
    yield str(request.param)


def test_settling_bonuses_spends_no_units_on_the_risk_hold_item(
        table: Table, mode: str, transaction_units: Callable[[], dict[str, int]]) -> None:
    want = expected()
    report = settle_due(SettlementRepositories.on(table), as_of=DUE, now=DUE + timedelta(hours=2))
    assert report.settled == len(want) and report.settled_fen == sum(want.values())
    spent = transaction_units()
    # One ConditionCheck of an absent hold item per promoter, 2 units each, only while the items are checked.
    assert spent.get("USER#/RISK_HOLD", 0) == (2 * len(want) if mode == "items" else 0)
    assert spent["USER#/WALLET"] == 2 * len(want)  # one wallet update per promoter, in both settings
    assert_ledger_reconciles(table, sorted(want))


def test_a_case_opened_in_another_thread_after_the_settlements_read_refuses_the_bonus(
        table: Table, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    want = expected()
    uid = sorted(want)[-1]
    amount = want[uid]
    # Read: the promoter is not held; then the risk service opens a case on them (hold item and wallet
    # flag in its own transaction), committed before this settlement commits.
    opened = after_first_read(
        monkeypatch, SettlementRepository, "held_bonus_promoters",
        lambda: risk.open_case(repos=risk.RiskRepositories.on(table), promoter_id=uid, rule="same_device",
                               window_key="2026-11-06", evidence={"accounts": 6}, now=DUE).case_id,  # type: ignore[union-attr]
        when=lambda records: any(r.beneficiary_id == uid for r in records))
    report = settle_due(SettlementRepositories.on(table), as_of=DUE, now=DUE + timedelta(hours=2))
    assert len(opened) == 1
    assert report.settled == len(want) - 1
    ledger = LedgerRepository(table)
    assert (ledger.wallet(uid).balances.frozen, ledger.wallet(uid).balances.available) == (amount, 0)
    record = BonusRepository(table).get(uid, MONTH)
    assert record is not None and record.status == CommissionStatus.FROZEN

    # Released: the bonus settles on the next run, once.
    risk.release_case(repos=risk.RiskRepositories.on(table), case_id=opened[0], by="admin:a", note="ok",
                      now=DUE + timedelta(hours=3))
    later = settle_due(SettlementRepositories.on(table), as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1))
    assert later.settled == 1 and later.settled_fen == amount
    assert settle_due(SettlementRepositories.on(table), as_of=DUE + timedelta(days=2),
                      now=DUE + timedelta(days=2)).settled == 0
    assert ledger.wallet(uid).balances.available == amount
    assert_ledger_reconciles(table, sorted(want))
