"""The ledger's pure rules: postings balance, builders move the right amounts, no overdraft."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mall.domain import ledger as L

AT = datetime(2026, 11, 1, tzinfo=UTC)
REF = {"order_id": "o1"}


def test_a_posting_must_balance_and_use_integer_fen() -> None:
    with pytest.raises(L.LedgerError, match="balance"):
        L.Posting("p", "u", L.PostingKind.COMMISSION_FROZEN, (L.Leg("frozen", 10), L.Leg("merchant:commission", -9)),
                  AT)
    with pytest.raises(L.LedgerError, match="integer"):
        L.Leg("frozen", 1.5)  # type: ignore[arg-type]
    with pytest.raises(L.LedgerError, match="unknown"):
        L.Leg("savings", 1)
    with pytest.raises(L.LedgerError, match="two legs"):
        L.Posting("p", "u", L.PostingKind.COMMISSION_FROZEN, (L.Leg("frozen", 1),), AT)


def test_commission_lifecycle_moves_money_between_the_right_accounts() -> None:
    frozen = L.commission_frozen(promoter_id="u", commission_id="c1", amount_fen=500, at=AT, ref=REF)
    b = L.Balances().apply(frozen)
    assert b == L.Balances(frozen=500)
    settled = L.commission_settled(balances=b, promoter_id="u", commission_id="c1", amount_fen=500, at=AT, ref=REF)
    assert [p.kind for p in settled] == [L.PostingKind.COMMISSION_SETTLED]
    b = b.apply(*settled)
    assert b == L.Balances(available=500)


def test_clawback_takes_available_first_then_records_debt_and_later_earnings_repay_it() -> None:
    b = L.Balances(available=300)
    claw = L.commission_clawed_back(balances=b, promoter_id="u", commission_id="c1", amount_fen=500, at=AT, ref=REF,
                                    step="500")
    assert claw.delta("available") == -300 and claw.delta("debt") == -200 and claw.delta("merchant:commission") == 500
    b = b.apply(claw)
    assert b == L.Balances(debt=-200) and b.owed_fen == 200
    b = b.apply(L.commission_frozen(promoter_id="u", commission_id="c2", amount_fen=150, at=AT, ref=REF))
    postings = L.commission_settled(balances=b, promoter_id="u", commission_id="c2", amount_fen=150, at=AT, ref=REF)
    assert [p.kind for p in postings] == [L.PostingKind.COMMISSION_SETTLED, L.PostingKind.DEBT_REPAID]
    b = b.apply(*postings)
    assert b == L.Balances(debt=-50)


def test_apply_refuses_an_overdraft() -> None:
    with pytest.raises(L.Overdraft):
        L.Balances(available=10).apply(L.withdrawal_held(promoter_id="u", withdrawal_id="w1", amount_fen=11, at=AT))


def test_withdrawal_paid_keeps_the_fee_with_the_merchant() -> None:
    p = L.withdrawal_paid(promoter_id="u", withdrawal_id="w1", amount_fen=10_000, fee_fen=100, at=AT)
    assert p.delta("withdrawing") == -10_000 and p.delta("withdrawn") == 9_900 and p.delta("merchant:fees") == 100


@given(st.lists(st.tuples(st.sampled_from(["earn", "settle", "claw", "hold", "return"]),
                          st.integers(min_value=1, max_value=100_000)), max_size=60))
def test_any_sequence_of_builders_conserves_money(steps: list[tuple[str, int]]) -> None:
    b = L.Balances()
    done: list[L.Posting] = []
    for i, (what, amount) in enumerate(steps):
        cid = f"c{i}"
        postings: list[L.Posting] = []
        if what == "earn":
            postings = [L.commission_frozen(promoter_id="u", commission_id=cid, amount_fen=amount, at=AT, ref=REF)]
        elif what == "settle" and b.frozen:
            postings = L.commission_settled(balances=b, promoter_id="u", commission_id=cid,
                                            amount_fen=min(amount, b.frozen), at=AT, ref=REF)
        elif what == "claw":
            postings = [L.commission_clawed_back(balances=b, promoter_id="u", commission_id=cid, amount_fen=amount,
                                                 at=AT, ref=REF, step="1")]
        elif what == "hold" and b.available and not b.owed_fen:
            postings = [L.withdrawal_held(promoter_id="u", withdrawal_id=cid, amount_fen=min(amount, b.available),
                                          at=AT)]
        elif what == "return" and b.withdrawing:
            postings = [L.withdrawal_returned(promoter_id="u", withdrawal_id=cid, amount_fen=b.withdrawing, at=AT,
                                              reason="failed")]
        b = b.apply(*postings)
        done.extend(postings)
        assert min(b.frozen, b.available, b.withdrawing, b.withdrawn) >= 0 and b.debt <= 0
    totals = L.sum_legs(done)
    assert sum(totals.values()) == 0
    assert {k: v for k, v in b.as_dict().items() if v} == {k: v for k, v in totals.items()
                                                            if not k.startswith("merchant:") and v}


@given(amount=st.integers(1, 10**7), owed=st.integers(0, 10**7), available=st.integers(0, 10**7))
def test_returned_funds_repay_the_debt_first_and_only_the_rest_becomes_available(amount: int, owed: int,
                                                                                available: int) -> None:
    before = L.Balances(available=available, withdrawing=amount, debt=-owed)
    moved = L.returned_funds(owed_fen=owed, promoter_id="u", withdrawal_id="w1", amount_fen=amount, at=AT,
                             reason="rejected")
    after = before.apply(*moved)
    repaid = min(amount, owed)
    assert (after.withdrawing, after.debt, after.available) == (0, -(owed - repaid), available + amount - repaid)
    assert [p.kind for p in moved] == [L.PostingKind.WITHDRAWAL_RETURNED] + (
        [L.PostingKind.DEBT_REPAID] if repaid else [])
    assert len({p.posting_id for p in moved}) == len(moved)
