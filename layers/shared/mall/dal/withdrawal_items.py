"""The withdrawal record as stored: its item and back (docs/data-model.md, "withdrawals"); the keys below are
built in ``mall.dal.keys.money``.

Keys:
- withdrawal ``WITHDRAWAL#<withdrawal_id>`` / ``WITHDRAWAL``; gsi1 ``WITHDRAWALS#<status>`` /
  ``<created_at>#<id>`` (admin queue by status), gsi2 ``PROMOTER_WITHDRAWALS#<uid>`` /
  ``<created_at>#<id>`` (a promoter's own list, an admin's per-promoter filter)
- list entry ``WITHDRAWAL_LIST`` / ``<created_at>#<id>``: ``withdrawal_id``, ``amount_fen`` (what never
  changes), put with the record: the admin list of every status reads this one partition
- daily counter ``USER#<uid>`` / ``WITHDRAW_DAY#<China day>``: ``count``, ``amount_fen`` (expires later)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aws_lambda_powertools import Logger

from mall.dal.keys import (
    withdrawal_key,
    withdrawal_list_key,
    withdrawal_pk,
    withdrawal_promoter_partition,
    withdrawal_status_partition,
)
from mall.dal.table import Item
from mall.domain.settings_terms import WithdrawalMethod
from mall.domain.withdrawals import Approval, ReviewKind, TimelineEntry, Withdrawal, WithdrawalStatus
from mall.ids import new_id

logger = Logger(child=True)

RECORD_FIELDS = ("rejected_by", "reason", "transfer_bill_no", "bill_state", "package_info", "fail_reason",
                 "bank_reference", "approved_at", "paying_at", "paid_at", "failed_at", "rejected_at", "cancel_reason")
#: The ``<status>_at`` field each status sets when the record enters it.
STATUS_TIME_FIELD: Mapping[WithdrawalStatus, str] = {
    WithdrawalStatus.APPROVED: "approved_at", WithdrawalStatus.PAYING: "paying_at",
    WithdrawalStatus.PAID: "paid_at", WithdrawalStatus.FAILED: "failed_at", WithdrawalStatus.REJECTED: "rejected_at",
}


def bank_context(withdrawal_id: str) -> str:
    """The associated data a withdrawal's encrypted bank account is sealed with: the withdrawal's
    own partition key, so a token copied onto another record does not open."""
    return withdrawal_pk(withdrawal_id)


def new_withdrawal_id() -> str:
    return new_id("w")


def _order_key(w: Withdrawal) -> str:
    return f"{w.created_at}#{w.withdrawal_id}"


def timeline_entry_item(entry: TimelineEntry) -> dict[str, str]:
    return {"status": entry.status, "at": entry.at, "by": entry.by, "note": entry.note}


def withdrawal_item(w: Withdrawal) -> Item:
    item: Item = {
        **withdrawal_key(w.withdrawal_id), "entity": "withdrawal", "withdrawal_id": w.withdrawal_id,
        "promoter_id": w.promoter_id, "amount_fen": w.amount_fen, "fee_fen": w.fee_fen, "net_fen": w.net_fen,
        "method": w.method, "status": w.status.value, "review": w.review, "required_approvals": w.required_approvals,
        "approvals": [{"admin_id": a.admin_id, "at": a.at} for a in w.approvals], "out_bill_no": w.out_bill_no,
        "created_at": w.created_at, "timeline": [timeline_entry_item(e) for e in w.timeline], "version": w.version,
        "gsi1pk": withdrawal_status_partition(w.status.value), "gsi1sk": _order_key(w),
        "gsi2pk": withdrawal_promoter_partition(w.promoter_id), "gsi2sk": _order_key(w),
    }
    for name in RECORD_FIELDS:
        value = getattr(w, name)
        if value is not None:
            item[name] = value
    if w.bank is not None:
        item["bank"] = dict(w.bank)
    return item


def withdrawal_list_item(w: Withdrawal) -> Item:
    """The record's entry in the list of every status: only what never changes (the amount, to
    filter on; the id, to read the record by), so no later change of the record rewrites it."""
    return {**withdrawal_list_key(w.created_at, w.withdrawal_id), "entity": "withdrawal_entry",
            "withdrawal_id": w.withdrawal_id, "amount_fen": w.amount_fen}


_KNOWN = {"pk", "sk", "entity", "withdrawal_id", "promoter_id", "amount_fen", "fee_fen", "net_fen", "method", "status",
          "review", "required_approvals", "approvals", "out_bill_no", "created_at", "timeline", "version", "gsi1pk",
          "gsi1sk", "gsi2pk", "gsi2sk", "bank", *RECORD_FIELDS}


def readable_withdrawal(item: Mapping[str, Any]) -> Withdrawal | None:
    """The withdrawal of an item, or None (logged) for one a scan cannot read: one bad record
    must not stop the scan of the others."""
    try:
        return withdrawal_from_item(dict(item))
    except (KeyError, ValueError, TypeError):
        logger.exception("unreadable withdrawal record", extra={"pk": item.get("pk")})
        return None


def withdrawal_from_item(item: Item) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=str(item["withdrawal_id"]), promoter_id=str(item["promoter_id"]),
        amount_fen=int(item["amount_fen"]), fee_fen=int(item.get("fee_fen", 0)), net_fen=int(item["net_fen"]),
        method=cast(WithdrawalMethod, item["method"]), status=WithdrawalStatus(item["status"]),
        review=cast(ReviewKind, item.get("review", "manual")),
        required_approvals=int(item.get("required_approvals", 1)),
        created_at=str(item["created_at"]), out_bill_no=str(item["out_bill_no"]),
        approvals=tuple(Approval(str(a["admin_id"]), str(a["at"])) for a in item.get("approvals", [])),
        bank=item.get("bank"), version=int(item.get("version", 1)),
        timeline=tuple(TimelineEntry(str(e.get("status", "")), str(e.get("at", "")), str(e.get("by", "")),
                                     str(e.get("note", ""))) for e in item.get("timeline", [])),
        **{name: item.get(name) for name in RECORD_FIELDS},
        extra={k: v for k, v in item.items() if k not in _KNOWN},
    )
