"""Withdrawal requests on real DynamoDB Local: no interleaving of parallel requests overdraws a
balance or passes a daily limit, a debt that appears after the wallet was read fails the request,
and a rejection returns the funds exactly once even when admins race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from mall.clock import china_day
from mall.dal.keys import daily_counter_key
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import RequestRefused, WithdrawalRepository
from mall.domain import ledger as L
from mall.domain import withdrawals as rules
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings, WithdrawalRules
from mall.errors import Conflict
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import reject_withdrawal

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
UID = "u_busy"


def setup_promoter(table: Table, available: int, **withdrawal: Any) -> None:
    PromoterRepository(table).create(
        Promoter(user_id=UID, code="BUSY01", status="active", level_id="basic", applied_at=NOW, activated_at=NOW),
        grant_role=False, replaces_rejected=False, now=NOW, reserve_code=True)
    document = DistributionSettings(withdrawal=WithdrawalRules.model_validate(
        {**WithdrawalRules().model_dump(), **withdrawal}))
    SettingsRepository(table).save(document, based_on=0, saved_by="admin:test", now=NOW)
    ledger = LedgerRepository(table)
    ledger.post([L.commission_frozen(promoter_id=UID, commission_id="cm_seed", amount_fen=available, at=NOW, ref={})])
    ledger.post(L.commission_settled(balances=ledger.wallet(UID).balances, promoter_id=UID, commission_id="cm_seed",
                                     amount_fen=available, at=NOW, ref={}))


def request_many(table: Table, amount: int, n: int) -> list[str]:
    """``n`` parallel requests; each result is "ok" or the refusal's code."""

    def attempt(_: int) -> str:
        try:
            request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                               promoter_id=UID, body=WithdrawalRequest(amount_fen=amount), now=NOW,
                               queue=None)
            return "ok"
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(attempt, range(n)))


def withdrawals_of(table: Table) -> list[rules.Withdrawal]:
    found, _ = WithdrawalRepository(table).for_promoter(UID, status=None, limit=100, start_key=None)
    return found


def test_fifty_parallel_requests_against_one_balance_take_exactly_what_is_there(table: Table) -> None:
    amount = 5_000
    balance = 7 * amount + 3_000  # room for exactly floor(38,000 / 5,000) = 7
    setup_promoter(table, balance, daily_count=1000, daily_amount_fen=10_000_000, max_fen=199_999)
    results = request_many(table, amount, 50)
    assert results.count("ok") == balance // amount
    assert set(results) == {"ok", "insufficient_balance"}, results

    ledger = LedgerRepository(table)
    wallet = ledger.wallet(UID).balances
    assert wallet.available == balance - 7 * amount and wallet.withdrawing == 7 * amount
    items = list(ledger.all_postings(UID))
    held = [p for p in items if p["kind"] == "withdrawal_held"]
    assert len(held) == 7
    sums = L.sum_legs(items)
    assert (sums["available"], sums["withdrawing"]) == (wallet.available, wallet.withdrawing)
    records = withdrawals_of(table)
    assert len(records) == 7 and {f"{w.withdrawal_id}.held" for w in records} == {p["posting_id"] for p in held}
    assert all(w.status == rules.WithdrawalStatus.APPROVED for w in records)  # under the auto-review threshold
    counter = table.get(daily_counter_key(UID, china_day(NOW)), consistent=True)
    assert counter is not None and (counter["count"], counter["amount_fen"]) == (7, 7 * amount)


def test_parallel_requests_never_pass_the_daily_count_or_amount(table: Table) -> None:
    setup_promoter(table, 1_000_000, daily_count=3, daily_amount_fen=500_000)
    results = request_many(table, 6_000, 20)
    assert results.count("ok") == 3 and set(results) == {"ok", "daily_count_exceeded"}
    assert LedgerRepository(table).wallet(UID).balances.withdrawing == 18_000


def test_parallel_requests_never_pass_the_daily_amount(table: Table) -> None:
    setup_promoter(table, 1_000_000, daily_count=100, daily_amount_fen=100_000, max_fen=100_000)
    results = request_many(table, 30_000, 20)
    assert results.count("ok") == 3 and set(results) == {"ok", "daily_amount_exceeded"}
    assert LedgerRepository(table).wallet(UID).balances.withdrawing == 90_000


def test_a_debt_recorded_after_the_wallet_was_read_fails_the_request(table: Table) -> None:
    setup_promoter(table, 50_000)
    repo = WithdrawalRepository(table)
    settings = SettingsRepository(table).current().settings.withdrawal
    seen = repo.ledger.wallet(UID)
    # Meanwhile: the whole balance is requested, then a refunded order's commission is clawed back → debt.
    request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table), promoter_id=UID,
                       body=WithdrawalRequest(amount_fen=50_000), now=NOW, queue=None)
    claw = L.commission_clawed_back(balances=repo.ledger.wallet(UID).balances, promoter_id=UID,
                                    commission_id="cm_refund", amount_fen=1_000, at=NOW, ref={}, step="1")
    repo.ledger.post([claw])
    record = rules.new_withdrawal(withdrawal_id="w_stale", promoter_id=UID, amount_fen=5_000, method="wechat",
                                  rules=settings, decision=rules.review_of(5_000, settings, risk_flag=False),
                                  at="2026-11-20T04:00:00Z")
    with pytest.raises(RequestRefused) as refused:
        repo.create(record, wallet=seen, rules=settings, now=NOW)
    assert refused.value.by == "wallet" and repo.get("w_stale") is None


def test_racing_rejections_return_the_funds_once(table: Table) -> None:
    setup_promoter(table, 50_000)
    view = request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                              promoter_id=UID, body=WithdrawalRequest(amount_fen=40_000), now=NOW,
                              queue=None)
    assert view.status == rules.WithdrawalStatus.PENDING_REVIEW

    def reject(n: int) -> str:
        try:
            reject_withdrawal(withdrawals=WithdrawalRepository(table), withdrawal_id=view.withdrawal_id,
                              admin=f"admin:a{n}", reason="不符",
                              now=NOW, source_ip=None)
            return "ok"
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(reject, range(10)))
    assert results.count("ok") == 1 and set(results) == {"ok", "withdrawal_not_rejectable"}
    ledger = LedgerRepository(table)
    assert ledger.wallet(UID).balances == L.Balances(available=50_000)
    assert [p["kind"] for p in ledger.all_postings(UID)].count("withdrawal_returned") == 1
