"""An implied history entry is hidden only by the same transition stored (same actor), never by another
transition's entry that shares its sort key (a 核销 while PAID in the second WeChat Pay reports the payment)."""

from __future__ import annotations

from mall.dal.order_items import IMPLIED_HISTORY, PAID_IMPLIED, history_item, order_history, paid_entry

PAID_AT = "2026-12-07T10:00:00Z"
ORDER = {"order_id": "o_1", "buyer_id": "u_1", "created_at": "2026-12-07T09:59:00Z", "status": "PAID",
         "paid_at": PAID_AT, "transaction_id": "tx_1", IMPLIED_HISTORY: PAID_IMPLIED}


def test_a_verification_in_the_payments_second_shows_both_entries() -> None:
    verified = history_item("o_1", "PAID", at=PAID_AT, by="staff_1", note="核销 code verified: service lines completed")

    history = order_history(ORDER, [verified])

    assert [(h.status, h.by, h.note) for h in history] == [
        ("CREATED", "u_1", "order placed"),
        ("PAID", "wechatpay", "transaction tx_1"),
        ("PAID", "staff_1", "核销 code verified: service lines completed"),
    ]


def test_the_payments_entry_written_back_by_the_migration_counts_once() -> None:
    entry = paid_entry("tx_1", paid_at=PAID_AT)
    written_back = history_item("o_1", entry.status, at=entry.at, by=entry.by, note=entry.note)

    history = order_history(ORDER, [written_back])

    assert [(h.status, h.by) for h in history] == [("CREATED", "u_1"), ("PAID", "wechatpay")]


def test_a_stored_entry_of_the_same_transition_with_its_own_note_stands_for_the_implied_one() -> None:
    completed = {**ORDER, "status": "COMPLETED", "completed_at": "2026-12-08T10:00:00Z", "completed_by": "buyer"}
    stored = history_item("o_1", "COMPLETED", at="2026-12-08T10:00:00Z", by="buyer", note="another note")

    history = order_history(completed, [stored])

    assert [(h.status, h.note) for h in history if h.status == "COMPLETED"] == [("COMPLETED", "another note")]
