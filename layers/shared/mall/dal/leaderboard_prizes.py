"""Leaderboard prizes (排行榜奖励): the month's ranking, its awards, and the units of work that pay them.

Items (docs/leaderboard-prizes.md):
- ``PRIZES#<month>`` / ``RANKING``: the ranking decided once for the month (who won which rank, the
  table and settings version that decided it), put only if absent — overlapping runs pay from the one
  that was stored first, so a promoter can never hold two ranks of a month;
- ``PRIZES#<month>`` / ``RANK#<nn>``: one award (PAID or HELD), put only if absent, in the
  transaction of its ``prize_paid`` posting (id ``<prize_id>.paid``) and an audit entry;
- ``PRIZES_HELD`` / ``<month>#<nn>``: an award waiting for its promoter's open risk case to close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import (
    HELD_PRIZES_PARTITION,
    held_prize_key,
    prize_key,
    prize_month_partition,
    prize_ranking_key,
)
from mall.dal.ledger import LedgerRefused, LedgerRepository, Wallet
from mall.dal.risk import RiskHoldRepository
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, Write
from mall.domain.ledger import Posting

PAID = "PAID"
HELD = "HELD"
VOIDED = "VOIDED"  # held for a risk case that was then confirmed: never paid


@dataclass(frozen=True, slots=True)
class Award:
    """One rank's prize of one month."""

    prize_id: str
    month: str
    rank: int
    promoter_id: str
    measure: str
    score_fen: int
    amount_fen: int
    status: str  # PAID | HELD
    settings_version: int
    created_at: str
    paid_at: str | None = None
    memo: str = ""


def award_item(award: Award) -> Item:
    item: Item = {**prize_key(award.month, award.rank), "entity": "prize", "prize_id": award.prize_id,
                  "month": award.month, "rank": award.rank, "promoter_id": award.promoter_id,
                  "measure": award.measure, "score_fen": award.score_fen, "amount_fen": award.amount_fen,
                  "status": award.status, "settings_version": award.settings_version,
                  "created_at": award.created_at, "paid_at": award.paid_at, "memo": award.memo}
    return {k: v for k, v in item.items() if v is not None}


def award_from_item(item: Item) -> Award:
    return Award(prize_id=str(item["prize_id"]), month=str(item["month"]), rank=int(item["rank"]),
                 promoter_id=str(item["promoter_id"]), measure=str(item["measure"]),
                 score_fen=int(item["score_fen"]), amount_fen=int(item["amount_fen"]), status=str(item["status"]),
                 settings_version=int(item.get("settings_version", 0)), created_at=str(item["created_at"]),
                 paid_at=item.get("paid_at"), memo=str(item.get("memo") or ""))


class PrizeRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)
        self._audit = AuditLog(table)

    # ---- the ranking ---------------------------------------------------------------------------

    def ranking(self, month: str) -> Item | None:
        return self._table.get(prize_ranking_key(month), consistent=True)

    def decide(self, month: str, ranking: dict[str, Any]) -> Item:
        """Store ``ranking`` unless one exists; return the one stored (ours, or the one a concurrent
        run stored first)."""
        item: Item = {**prize_ranking_key(month), "entity": "prize_ranking", "month": month, **ranking}
        try:
            self._table.put(item, condition="attribute_not_exists(pk)")
        except ConditionFailed:
            stored = self.ranking(month)
            if stored is None:  # pragma: no cover - a ranking is never deleted
                raise
            return stored
        return item

    # ---- awards --------------------------------------------------------------------------------

    def awards(self, month: str, *, limit: int = 100, start_key: Key | None = None) -> Page:
        """The month's awards, by rank (items)."""
        return self._table.query(partition=("pk", prize_month_partition(month)), sort_prefix=("sk", "RANK#"),
                                 limit=limit, start_key=start_key)

    def existing(self, month: str) -> dict[int, Award]:
        """Every award of ``month`` by rank (consistent; ≤ 20 items, one page)."""
        page = self._table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": "pk", "#sk": "sk"},
                                       values={":pk": prize_month_partition(month), ":sk": "RANK#"}, limit=100,
                                       start_key=None, consistent=True)
        return {int(i["rank"]): award_from_item(i) for i in page.items}

    def held(self, *, limit: int = 100) -> list[Award]:
        """Awards waiting for a risk case to close (consistent; their own partition)."""
        page = self._table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": HELD_PRIZES_PARTITION},
                                       limit=limit, start_key=None, consistent=True)
        keys = [prize_key(str(i["month"]), int(i["rank"])) for i in page.items]
        return [award_from_item(i) for i in self._table.batch_get(keys, consistent=True)] if keys else []

    def wallet(self, promoter_id: str) -> Wallet:
        return self._ledger.wallet(promoter_id)

    def _audit_write(self, award: Award, action: str, now: datetime) -> Write:
        return self._audit.write(AuditEntry(
            action=action, actor="system", entity_type="prize", entity_id=award.prize_id,
            after={"status": award.status}, subject_user=award.promoter_id,
            details={"month": award.month, "rank": award.rank, "measure": award.measure,
                     "score_fen": award.score_fen, "amount_fen": award.amount_fen,
                     "settings_version": award.settings_version}), now)

    def _hold_absent(self, promoter_id: str) -> tuple[list[Write], dict[str, bool]]:
        """The promoter still not held: a check of the hold item, or the condition on their wallet."""
        return RiskHoldRepository(self._table).conditions({promoter_id: False})

    def pay(self, award: Award, postings: Sequence[Posting], *, wallet: Wallet, now: datetime) -> bool:
        """Put the PAID award with its postings, its audit entry and a check that the promoter is still
        not held, in one transaction. False when the award exists (another run paid it); raises
        ``LedgerRefused`` when the wallet moved or a hold appeared (read again)."""
        put = Write.put(self._table.name, award_item(award), condition="attribute_not_exists(pk)")
        checks, held = self._hold_absent(award.promoter_id)
        try:
            self._ledger.post(postings, also=[put, *checks, self._audit_write(award, "prize.paid", now)],
                              expect={award.promoter_id: wallet}, held=held, now=now)
        except LedgerRefused as refused:
            if refused.any("also:0") or refused.any("posting:"):
                return False
            raise
        return True

    def hold(self, award: Award, *, now: datetime) -> bool:
        """Record a HELD award (no money moves yet) and its place in the held list. False when the award
        exists."""
        put = Write.put(self._table.name, award_item(award), condition="attribute_not_exists(pk)")
        pointer = Write.put(self._table.name, {**held_prize_key(award.month, award.rank), "entity": "prize_held",
                                               "month": award.month, "rank": award.rank,
                                               "promoter_id": award.promoter_id, "held_at": iso(now)})
        try:
            self._ledger.post([], also=[put, pointer, self._audit_write(award, "prize.held", now)], now=now)
        except LedgerRefused as refused:
            if refused.any("also:0"):
                return False
            raise
        return True

    def release(self, award: Award, postings: Sequence[Posting], *, wallet: Wallet, now: datetime) -> bool:
        """HELD → PAID once the case is closed: the award's update from HELD, its postings, the held
        pointer removed, the hold still absent, an audit entry. False when it was released already."""
        paid = replace(award, status=PAID, paid_at=iso(now))
        update = Write.update(self._table.name, prize_key(award.month, award.rank),
                              "SET #status = :paid, paid_at = :now", condition="#status = :held",
                              names={"#status": "status"}, values={":paid": PAID, ":held": HELD, ":now": iso(now)})
        checks, held = self._hold_absent(award.promoter_id)
        try:
            self._ledger.post(postings, also=[update, Write.delete(self._table.name,
                                                                    held_prize_key(award.month, award.rank)),
                                              *checks, self._audit_write(paid, "prize.released", now)],
                              expect={award.promoter_id: wallet}, held=held, now=now)
        except LedgerRefused as refused:
            if refused.any("also:0") or refused.any("posting:"):
                return False
            raise
        return True

    def void_held(self, promoter_id: str, *, case_id: str, now: datetime) -> int:
        """A confirmed risk case: the promoter's HELD awards become VOIDED (no money had moved), each
        conditional on still being HELD; returns how many."""
        voided = 0
        for award in self.held():
            if award.promoter_id != promoter_id or award.status != HELD:
                continue
            update = Write.update(self._table.name, prize_key(award.month, award.rank),
                                  "SET #status = :voided, voided_at = :now, case_id = :case",
                                  condition="#status = :held", names={"#status": "status"},
                                  values={":voided": VOIDED, ":held": HELD, ":now": iso(now), ":case": case_id})
            try:
                self._ledger.post([], also=[update, Write.delete(self._table.name,
                                                                 held_prize_key(award.month, award.rank)),
                                            self._audit_write(replace(award, status=VOIDED), "prize.voided", now)],
                                  now=now)
            except LedgerRefused:
                continue  # released or voided meanwhile
            voided += 1
        return voided
