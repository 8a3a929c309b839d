"""A withdrawal request checks at commit that the promoter may withdraw (active or disabled, not
frozen) on the wallet it updates anyway: its ``promoter_blocked`` flag is not ``frozen``
(``mall.dal.promoter_wallet``), instead of a ConditionCheck of ``USER#<uid>/PROMOTER`` (DynamoDB
Local, the bench's meter). A freeze committed by another thread between the request's read and its
commit refuses the request (403 ``promoter_not_active``, nothing moved); a disabled promoter still
withdraws, and a disabled promoter's overdraft is an overdraft, not a status refusal; freezes and
requests started at once leave the ledger reconciled and no request committed after the freeze. Both
deploy settings: the flag, and the promoter item (``PROMOTER_STATUS_ITEM_CHECKS=1``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from mall.dal.keys import customer_profile_key, wallet_key
from mall.dal.ledger import LedgerRepository
from mall.dal.promoter_wallet import PROMOTER_BLOCKED_FLAG
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.domain.referral.applications import PromoterAction
from mall.errors import Conflict, Forbidden
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services.referral import promoters as referral_promoters
from mall.services.withdrawals.request import request_withdrawal
from tests.at_once import after_first_read, run_at_once
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_withdrawals_concurrency import NOW, UID, setup_promoter

pytestmark = pytest.mark.integration

_CHANGES: list[str] = []


@pytest.fixture(params=["flag", "items"])
def mode(request: pytest.FixtureRequest, table: Table, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "items":
        monkeypatch.setenv("PROMOTER_STATUS_ITEM_CHECKS", "1")
    setup_promoter(table, 100_000, daily_count=1000, daily_amount_fen=10_000_000)
    # The profile the admin's status changes read (the role already granted).
    table.put({**customer_profile_key(UID), "entity": "customer", "user_id": UID, "roles": ["customer", "promoter"]})
    yield str(request.param)


def change_status(table: Table, action: PromoterAction) -> None:
    _CHANGES.append(action)  # each change at its own second (history entries are keyed by time)
    referral_promoters.change_status(promoters=PromoterRepository(table), user_id=UID, action=action,
                                     reason=None if action == "unfreeze" else "test", by="admin:alice",
                                     now=NOW + timedelta(seconds=len(_CHANGES)))


def withdraw(table: Table, amount: int) -> str:
    """One request: its withdrawal id."""
    view = request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                              promoter_id=UID, body=WithdrawalRequest(amount_fen=amount), now=NOW, queue=None)
    return view.withdrawal_id


def balances(table: Table) -> L.Balances:
    return LedgerRepository(table).wallet(UID).balances


def assert_reconciles(table: Table) -> None:
    totals = L.sum_legs(LedgerRepository(table).all_postings(UID))
    assert {k: v for k, v in balances(table).as_dict().items() if v} == \
        {k: v for k, v in totals.items() if not k.startswith("merchant:") and v}


def flag(table: Table) -> Any:
    stored = table.get(wallet_key(UID), consistent=True)
    return None if stored is None else stored.get(PROMOTER_BLOCKED_FLAG)


def test_a_request_spends_no_write_units_on_the_promoter_item(table: Table, mode: str) -> None:
    seen = read_units(table, lambda: withdraw(table, 5_000))
    assert balances(table) == L.Balances(available=95_000, withdrawing=5_000)
    # One consistent BatchGetItem (1 each): settings, promoter (its status decides the refusal), counter,
    # wallet (its flag decides the risk hold). One transaction (×2 each): the record (with its index
    # entry), the counter, the list entry, the posting, the wallet — and, while the promoter item is
    # checked, its ConditionCheck.
    assert seen["rcu_by_item_kind"]["USER#/PROMOTER"] == 1.0 and seen["rcu"] == 4.0
    kinds = seen["wcu_by_item_kind"]
    if mode == "flag":
        assert "USER#/PROMOTER" not in kinds and kinds["USER#/WALLET"] == 2
        assert seen["wcu"] == 12.0  # was 14.0: the promoter's ConditionCheck
    else:
        assert kinds["USER#/PROMOTER"] == 2 and seen["wcu"] == 14.0


def test_a_frozen_promoter_is_refused_and_a_disabled_one_withdraws_what_it_has(table: Table, mode: str) -> None:
    change_status(table, "freeze")
    assert flag(table) == "frozen"
    with pytest.raises(Forbidden) as refused:
        withdraw(table, 5_000)
    assert refused.value.code == "promoter_not_active"
    change_status(table, "unfreeze")
    withdraw(table, 5_000)
    change_status(table, "disable")
    assert flag(table) == "disabled"
    withdraw(table, 5_000)  # the flag is there, and not one that stops a withdrawal
    # More than is available: an overdraft, not a refusal of the status.
    with pytest.raises(Conflict) as overdraft:
        withdraw(table, 95_000)
    assert overdraft.value.code == "insufficient_balance"
    assert balances(table) == L.Balances(available=90_000, withdrawing=10_000)
    assert_reconciles(table)


def test_a_freeze_committed_by_another_thread_after_the_requests_read_refuses_it(
        table: Table, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Read: the promoter is active; then an admin freezes them, committed before this request commits.
    frozen = after_first_read(monkeypatch, WithdrawalRepository, "request_facts",
                              lambda: change_status(table, "freeze") is None)
    with pytest.raises(Forbidden) as refused:
        withdraw(table, 5_000)
    assert frozen == [True]
    assert refused.value.code == "promoter_not_active"
    assert balances(table) == L.Balances(available=100_000)
    found, _ = WithdrawalRepository(table).for_promoter(UID, status=None, limit=10, start_key=None)
    assert found == []

    change_status(table, "unfreeze")
    withdraw(table, 5_000)
    assert balances(table) == L.Balances(available=95_000, withdrawing=5_000)
    assert_reconciles(table)


def test_freezes_and_requests_started_at_once_never_withdraw_after_the_freeze(table: Table, mode: str) -> None:
    def attempt(amount: int) -> int | str:
        try:
            withdraw(table, amount)
        except Forbidden as exc:
            return exc.code
        return amount

    taken = 0
    for _ in range(4):
        results = run_at_once([lambda: attempt(5_000), lambda: attempt(6_000),
                               lambda: change_status(table, "freeze")])
        assert results[2] is None
        assert all(r in {5_000, 6_000, "promoter_not_active"} for r in results[:2]), results
        taken += sum(r for r in results[:2] if isinstance(r, int))
        # Frozen now, whatever ran first: nothing more leaves until the unfreeze.
        assert attempt(5_000) == "promoter_not_active"
        assert balances(table) == L.Balances(available=100_000 - taken, withdrawing=taken)
        assert_reconciles(table)
        change_status(table, "unfreeze")
