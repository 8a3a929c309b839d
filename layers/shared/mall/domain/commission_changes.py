"""How a commission record follows its order, pure: the change a completion or a refund makes to
one record (``plan_record_change``), and whether a change of an order can change its commission at
all (``commission_trigger``, the order stream's filter). What a record earns in the first place is
``mall.domain.commission``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mall.domain.commission import ever_paid
from mall.domain.commission_records import CommissionRecord, CommissionStatus, remaining_after_refund

# ---- keeping a record in step with its order (completion, refunds) ---------------------------


@dataclass(frozen=True, slots=True)
class RecordChange:
    """What one record needs now. ``refunded_base_fen`` is the line's refunded total the record
    will reflect (None: refunds unchanged); ``cancel_fen`` (before settlement) or
    ``claw_back_fen`` (after) is what that refund takes back; ``due_at`` is set once, when the
    order completed."""

    due_at: datetime | None = None
    refunded_base_fen: int | None = None
    cancel_fen: int = 0
    claw_back_fen: int = 0
    status: CommissionStatus | None = None  # the new status, when it changes (FROZEN → CANCELLED)

    @property
    def step(self) -> str:
        """Unique per adjustment of one record (the line's refunded total only grows)."""
        return str(self.refunded_base_fen)


def plan_record_change(record: CommissionRecord, *, line_refunded_fen: int, completed_at: datetime | None,
                       settlement_days: int) -> RecordChange | None:
    """The change that brings ``record`` to what its order implies, or None when it is in step.

    The amount left after refunds is always recomputed from the line's *total* refunded amount
    (``remaining_after_refund``), never from the previous adjustment, so whatever the order and
    number of refunds and redeliveries, a record ends at floor(amount × (base − refunded) / base).
    Every record of a completed order gets its ``due_at`` (a CANCELLED one too, though only FROZEN
    ones are ever settled) and records the line's refunded total, so the final state does not
    depend on whether the completion or the refund was seen first."""
    due_at = None
    if completed_at is not None and record.due_at is None:
        due_at = completed_at + timedelta(days=settlement_days)
    refunded = min(max(line_refunded_fen, 0), record.base_fen)
    if refunded <= record.refunded_base_fen:
        return RecordChange(due_at=due_at) if due_at is not None else None
    if record.status == CommissionStatus.CANCELLED:  # nothing left to take back: only remember the refund
        return RecordChange(due_at=due_at, refunded_base_fen=refunded)
    remaining = remaining_after_refund(record.amount_fen, record.base_fen, refunded)
    take = max(record.current_fen - remaining, 0)
    if record.status == CommissionStatus.SETTLED:
        return RecordChange(due_at=due_at, refunded_base_fen=refunded, claw_back_fen=take)
    status = CommissionStatus.CANCELLED if record.current_fen - take == 0 else None
    return RecordChange(due_at=due_at, refunded_base_fen=refunded, cancel_fen=take, status=status)


# ---- when the order stream asks for a commission sync -----------------------------------------


def _refunded_by_line(image: Mapping[str, Any]) -> dict[str, int]:
    return {str(line.get("line_id")): int(line.get("refunded_fen", 0) or 0) for line in image.get("lines") or []}


def commission_trigger(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether a change of an order can change its commission: it became paid (or is first seen
    paid), got ``completed_at`` or ``service_verified_at``, became CLOSED, or a line's
    ``refunded_fen`` changed. Orders paid after they expired (refunded in full) never earn.
    ``old`` / ``new`` are the order before and after (None: not an order, or absent); telling an
    order from the other items of its partition is the storage's business
    (``mall.dal.commission_sync.order_image``)."""
    if not new or new.get("entity", "order") != "order" or not ever_paid(new):
        return False
    before = old or {}
    if not ever_paid(before):
        return True
    if new.get("completed_at") and not before.get("completed_at"):
        return True
    if new.get("service_verified_at") and not before.get("service_verified_at"):  # a mixed order's 核销
        return True
    if new.get("status") == "CLOSED" and before.get("status") != "CLOSED":
        return True
    return _refunded_by_line(new) != _refunded_by_line(before)
