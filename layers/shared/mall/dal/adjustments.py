"""Manual commission adjustments (人工调整): the item ``ADJUSTMENT#<id>`` / ``ADJUSTMENT`` (gsi1
``ADJUSTMENTS#<status>`` / ``<created_at>#<id>``, moving with the status) and its units of work. An
adjustment that applies is ONE ledger transaction (``LedgerRepository.post``): its postings, the
wallet, a merchant shard, the adjustment's put or conditional update, and the audit entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import SETTINGS_CURRENT_KEY, adjustment_key, adjustment_status_partition, promoter_key, wallet_key
from mall.dal.ledger import LedgerRepository, Wallet, wallet_from_item
from mall.dal.settings import current_from_item
from mall.dal.table import Item, Key, Page, Table, Write
from mall.domain.adjustments import Adjustment, AdjustmentStatus
from mall.domain.ledger import Posting


def adjustment_item(a: Adjustment) -> Item:
    return {
        **adjustment_key(a.adjustment_id), "entity": "adjustment",
        "gsi1pk": adjustment_status_partition(a.status.value), "gsi1sk": f"{a.created_at}#{a.adjustment_id}",
        "adjustment_id": a.adjustment_id, "promoter_id": a.promoter_id, "direction": a.direction,
        "amount_fen": a.amount_fen, "reason": a.reason, "status": a.status.value,
        "required_approvals": a.required_approvals, "created_by": a.created_by, "created_at": a.created_at,
        "approvals": list(a.approvals), "applied_at": a.applied_at, "rejected_by": a.rejected_by,
        "rejected_at": a.rejected_at, "reject_reason": a.reject_reason, "version": a.version,
    }


def adjustment_from_item(item: Mapping[str, Any]) -> Adjustment:
    return Adjustment(
        adjustment_id=str(item["adjustment_id"]), promoter_id=str(item["promoter_id"]),
        direction="credit" if item.get("direction") == "credit" else "debit", amount_fen=int(item["amount_fen"]),
        reason=str(item.get("reason", "")), status=AdjustmentStatus(str(item["status"])),
        required_approvals=int(item.get("required_approvals", 1)), created_by=str(item["created_by"]),
        created_at=str(item["created_at"]), approvals=tuple(str(a) for a in item.get("approvals") or ()),
        applied_at=item.get("applied_at"), rejected_by=item.get("rejected_by"), rejected_at=item.get("rejected_at"),
        reject_reason=item.get("reject_reason"), version=int(item.get("version", 1)))


@dataclass(frozen=True, slots=True)
class AdjustmentContext:
    """What a request decides from, read together (consistent)."""

    promoter_status: str | None
    adjustment: Adjustment | None
    wallet: Wallet
    dual_approval_from_fen: int


class AdjustmentRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self.ledger = LedgerRepository(table)
        self._audit = AuditLog(table)

    def context(self, promoter_id: str, adjustment_id: str) -> AdjustmentContext:
        """The promoter's status, the adjustment (if any), the wallet and the settings in force: one
        consistent BatchGetItem."""
        found = {str(i["sk"]): i for i in self._table.batch_get(
            [promoter_key(promoter_id), adjustment_key(adjustment_id), wallet_key(promoter_id), SETTINGS_CURRENT_KEY],
            consistent=True)}
        promoter = found.get(str(promoter_key(promoter_id)["sk"]))
        stored = found.get(str(adjustment_key(adjustment_id)["sk"]))
        return AdjustmentContext(
            promoter_status=str(promoter["status"]) if promoter else None,
            adjustment=adjustment_from_item(stored) if stored else None,
            wallet=wallet_from_item(promoter_id, found.get(str(wallet_key(promoter_id)["sk"]))),
            dual_approval_from_fen=current_from_item(found.get(str(SETTINGS_CURRENT_KEY["sk"]))
                                                     ).settings.withdrawal.dual_approval_from_fen)

    def get(self, adjustment_id: str) -> Adjustment | None:
        item = self._table.get(adjustment_key(adjustment_id), consistent=True)
        return adjustment_from_item(item) if item else None

    def by_status(self, status: str, *, limit: int, start_key: Key | None) -> Page:
        """Adjustments in ``status``, newest first (gsi1)."""
        return self._table.query(partition=("gsi1pk", adjustment_status_partition(status)), index="gsi1",
                                 limit=limit, start_key=start_key, newest_first=True)

    def save(self, after: Adjustment, *, before: Adjustment | None, postings: list[Posting], wallet: Wallet | None,
             audit: AuditEntry, now: datetime) -> None:
        """Record ``after`` (a new adjustment, or ``before`` changed), its postings and its audit entry
        in one transaction. A new one is put only if absent; a change only from the status and
        version read. A debit is also conditional on the wallet version its split was computed from;
        a credit repaying a debt on the debt as read. Raises ``LedgerRefused`` naming what failed."""
        item = adjustment_item(after)
        if before is None:
            write = Write.put(self._table.name, item, condition="attribute_not_exists(pk)")
        else:
            write = Write.put(self._table.name, item, condition="#s = :s AND version = :v",
                              names={"#s": "status"}, values={":s": before.status.value, ":v": before.version})
        also = [write, self._audit.write(audit, now)]
        if not postings or wallet is None:
            self.ledger.post([], also=also, now=now)
            return
        self.ledger.post(postings, also=also, expect=None if after.credit else {after.promoter_id: wallet},
                         debt_is={after.promoter_id: wallet.balances.debt} if after.credit else None, now=now)
