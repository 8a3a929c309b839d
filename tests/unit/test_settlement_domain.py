"""Settlement rules, pure: what is due, postings in due order against evolving balances (debt
first), transactions that never exceed 100 writes, slices that keep a promoter together."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.settlement import NotDue, SettleReport, not_due_reason, pack_slices, settle_in_order, writes_of

AS_OF = datetime(2026, 11, 11, tzinfo=UTC)


def record(n: int = 0, *, amount: int = 100, due: datetime | None = AS_OF, **changes: object) -> CommissionRecord:
    base = CommissionRecord(commission_id=f"cm_o{n}_l1_1", order_id=f"o{n}", line_id="l1", level=1,
                            beneficiary_id="u1", buyer_id="b", product_id="p", product_name="Tea", quantity=1,
                            base_fen=amount * 10, amount_fen=amount, status=CommissionStatus.FROZEN, rule={},
                            created_at=AS_OF - timedelta(days=10), due_at=due)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_what_is_due() -> None:
    assert not_due_reason(record(), AS_OF) is None  # due exactly at as_of
    assert not_due_reason(record(due=AS_OF + timedelta(seconds=1)), AS_OF) == NotDue.NOT_YET_DUE
    assert not_due_reason(record(due=AS_OF + timedelta(microseconds=5)), AS_OF) is None  # stored to the second
    assert not_due_reason(record(due=None), AS_OF) == NotDue.NO_DUE_DATE
    assert not_due_reason(record(hold="case_1"), AS_OF) == NotDue.HELD
    assert not_due_reason(record(status=CommissionStatus.SETTLED), AS_OF) == NotDue.NOT_FROZEN
    assert not_due_reason(record(status=CommissionStatus.CANCELLED), AS_OF) == NotDue.NOT_FROZEN
    assert not_due_reason(record(cancelled_fen=100), AS_OF) == NotDue.NOTHING_OWED
    assert not_due_reason(record(cancelled_fen=30), AS_OF) is None


def test_a_chunk_settles_by_one_posting_naming_its_records_and_repays_debt_first() -> None:
    records = [record(0, amount=200), record(1, amount=200, cancelled_fen=50), record(2, amount=100)]
    start = L.Balances(frozen=500, debt=-300)
    chunk, after = settle_in_order(records, start, at=AS_OF, max_writes=100)
    assert chunk.records == tuple(records) and (chunk.settled_fen, chunk.repaid_fen) == (450, 300)
    settled, repaid = chunk.postings
    assert (settled.posting_id, settled.kind, settled.amount_fen) == \
        ("cm_o0_l1_1.settled", L.PostingKind.COMMISSION_SETTLED, 450)
    assert settled.settles == ("cm_o0_l1_1", "cm_o1_l1_1", "cm_o2_l1_1")
    assert (repaid.posting_id, repaid.kind, repaid.amount_fen) == ("cm_o0_l1_1.repaid", L.PostingKind.DEBT_REPAID, 300)
    assert {chunk.settled_by(r) for r in records} == {"cm_o0_l1_1.settled"}
    # The same total as record by record: 200 + 100 of the debt repaid, the rest available.
    assert after == L.Balances(frozen=50, available=150, debt=0)


def test_a_chunk_of_one_record_posts_what_settling_it_alone_always_did() -> None:
    chunk, _ = settle_in_order([record(0, amount=200)], L.Balances(frozen=200, debt=-50), at=AS_OF, max_writes=100)
    alone = L.commission_settled(balances=L.Balances(frozen=200, debt=-50), promoter_id="u1",
                                 commission_id="cm_o0_l1_1", amount_fen=200, at=AS_OF,
                                 ref={"commission_id": "cm_o0_l1_1", "order_id": "o0", "line_id": "l1", "level": "1"})
    assert [(p.posting_id, p.legs, dict(p.ref)) for p in chunk.postings] == \
        [(p.posting_id, p.legs, dict(p.ref)) for p in alone]


def test_a_frozen_balance_that_cannot_cover_the_records_is_an_overdraft() -> None:
    with pytest.raises(L.Overdraft):
        settle_in_order([record(0), record(1)], L.Balances(frozen=150), at=AS_OF, max_writes=100)


@given(count=st.integers(1, 200), owed=st.integers(0, 30_000))
def test_a_chunk_never_exceeds_the_transaction_limit(count: int, owed: int) -> None:
    records = [record(i, amount=100 + i) for i in range(count)]
    balances = L.Balances(frozen=sum(r.amount_fen for r in records), debt=-owed)
    done = 0
    while done < count:
        owing = balances.owed_fen
        chunk, balances = settle_in_order(records[done:], balances, at=AS_OF, max_writes=100)
        assert chunk and 1 + writes_of(chunk) <= 100
        assert len(chunk.postings) == 1 + (owing > 0)  # one settlement posting, one repayment while owed
        done += len(chunk)
    assert balances.frozen == 0 and balances.available - balances.owed_fen == sum(r.amount_fen for r in records) - owed


@given(st.lists(st.tuples(st.sampled_from("abcdefg"), st.integers(0, 300)), max_size=400), st.integers(1, 60))
def test_slices_keep_a_promoter_together_and_lose_nothing(entries: list[tuple[str, int]], size: int) -> None:
    slices = pack_slices(entries, size)
    flat = [k for s in slices for k in s]
    assert sorted(flat) == sorted({k for _, k in entries})  # every key once
    assert all(1 <= len(s) <= size for s in slices)
    owner: dict[int, str] = {}
    for who, key in entries:
        owner.setdefault(key, who)
    for who in {w for w, _ in entries}:
        mine = [i for i, s in enumerate(slices) if any(owner[k] == who for k in s)]
        count = len({k for k in flat if owner[k] == who})
        # Together: in as few slices as a promoter's count allows.
        assert len(mine) == -(-count // size)


def test_reports_add_up() -> None:
    one = SettleReport(as_of=AS_OF, examined=3, settled=2, settled_fen=300, transactions=1, promoters=1)
    one.skip(NotDue.HELD)
    two = SettleReport(as_of=AS_OF, examined=1, settled=1, settled_fen=50, repaid_fen=50, transactions=1, voided=1,
                       voided_fen=30)
    two.skip(NotDue.HELD)
    two.skip(NotDue.MISSING, 0)
    total = one.merge(two).as_dict()
    assert total == {"as_of": "2026-11-11T00:00:00Z", "examined": 4, "settled": 3, "settled_fen": 350,
                     "repaid_fen": 50, "skipped": {"held": 2}, "promoters": 1, "transactions": 2, "fallbacks": 0,
                     "retries": 0, "voided": 1, "voided_fen": 30}
