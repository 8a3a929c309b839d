"""The settlement conditions, pure: per-line completion, the promoter's status, open refunds, the
transaction size with shared condition checks, and GET /rules stating exactly what the code does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.rules_disclosure import render
from mall.domain.settings import DistributionSettings
from mall.domain.settlement import (
    NotDue,
    line_completed_at,
    not_due_reason,
    refund_open_on_line,
    settle_in_order,
    settles_for,
    voids_unsettled,
)
from mall.domain.withdrawals import check_promoter

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


def rec(n: int, order_id: str = "o1", amount: int = 100) -> CommissionRecord:
    return CommissionRecord(
        commission_id=f"cm_{order_id}_{n}_1", order_id=order_id, line_id=str(n), level=1, beneficiary_id="u1",
        buyer_id="b", product_id="p", product_name="P", quantity=1, base_fen=1000, amount_fen=amount,
        status=CommissionStatus.FROZEN, rule={}, created_at=AS_OF - timedelta(days=20),
        due_at=AS_OF - timedelta(days=1))


def order(*types: str, **fields: Any) -> dict[str, Any]:
    return {"lines": [{"line_id": str(n), "type": kind} for n, kind in enumerate(types, start=1)], **fields}


def test_a_mixed_orders_lines_complete_separately() -> None:
    received = order("physical", "service", completed_at="2026-11-03T09:00:00Z", completed_by="buyer")
    assert line_completed_at(received, "1") == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert line_completed_at(received, "2") is None
    verified = {**received, "service_verified_at": "2026-11-05T10:00:00Z"}
    assert line_completed_at(verified, "2") == datetime(2026, 11, 5, 10, tzinfo=UTC)
    only_verified = order("physical", "service", service_verified_at="2026-11-02T10:00:00Z")
    assert line_completed_at(only_verified, "1") is None
    assert line_completed_at(only_verified, "2") == datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_service_and_virtual_orders_complete_as_before() -> None:
    legacy_service = order("service", "virtual", completed_at="2026-11-03T09:00:00Z", completed_by="verify")
    assert line_completed_at(legacy_service, "1") == line_completed_at(legacy_service, "2") == \
        datetime(2026, 11, 3, 9, tzinfo=UTC)
    virtual = order("virtual", completed_at="2026-11-01T08:00:00Z", completed_by="auto")
    assert line_completed_at(virtual, "1") == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert line_completed_at(order("virtual"), "1") is None


@pytest.mark.parametrize(("status", "refund_open", "reason"), [
    ("active", False, None), (None, False, None), ("active", True, NotDue.REFUND_OPEN),
    ("frozen", False, NotDue.PROMOTER_FROZEN), ("frozen", True, NotDue.PROMOTER_FROZEN),
    ("disabled", False, NotDue.PROMOTER_DISABLED), ("disabled", True, NotDue.PROMOTER_DISABLED),
])
def test_promoter_status_and_open_refunds_decide_a_due_record(status: str | None, refund_open: bool,
                                                              reason: NotDue | None) -> None:
    assert not_due_reason(rec(1), AS_OF, promoter_status=status, refund_open=refund_open) == reason


def test_open_refund_means_money_held_on_the_line() -> None:
    assert refund_open_on_line({"refund_held_fen": 1})
    assert not refund_open_on_line({"refund_held_fen": 0}) and not refund_open_on_line({}) \
        and not refund_open_on_line(None)


def test_shared_condition_checks_are_counted_once_per_transaction() -> None:
    records = [rec(n, order_id=f"o{n // 2}") for n in range(10)]  # two records per order
    balances = L.Balances(frozen=1000)
    # wallet (1) + the chunk's one posting (1) + per record its state (1) + its order's check once per order
    taken, _ = settle_in_order(records, balances, at=AS_OF, max_writes=1 + 5, checks_of=lambda r: (r.order_id,))
    assert len(taken) == 2  # 1 + 1 + (1 + 1) + (1 + 0) = 5; a third record opens a new order: 7 > 6
    taken, _ = settle_in_order(records, balances, at=AS_OF, max_writes=1 + 6, checks_of=lambda r: (r.order_id,))
    assert len(taken) == 3  # 7; a fourth shares that order: 8 > 7


def test_rules_state_what_settlement_and_withdrawals_do() -> None:
    items = {i.key: i for s in render(DistributionSettings(), version=1, effective_at=None).sections
             if s.key == "settlement" for i in s.items}
    assert "服务项目自到店核销起" in items["line_completion"].text
    assert not settles_for("frozen") and "解除冻结后照常结算" in items["promoter_frozen"].text
    assert voids_unsettled("disabled") and "尚未结算的佣金作废" in items["promoter_disabled"].text
    assert check_promoter("disabled") is None and "可以继续提现" in items["promoter_disabled"].text
    assert check_promoter("frozen") is not None
    for status in ("待审核", "退款中", "退款异常"):  # every status holding money on the line
        assert status in items["refund_open"].text
