"""Team bonus (团队分红) in the single table (docs/data-model.md, "team bonus and exports").

- bonus record ``BONUSES#<yyyy-mm>`` / ``USER#<uid>``: deterministic per promoter per month, put with
  ``attribute_not_exists`` in ONE ledger transaction with its ``bonus_frozen`` posting (id
  ``<bonus_id>.frozen``), so a second or overlapping run can only fail its condition and pay nothing.
  One partition per month: the admin's list of a month is one Query.
- gsi1 ``PROMOTER_BONUSES#<uid>`` / ``<yyyy-mm>#<bonus_id>``: a promoter's bonuses, newest first.
- gsi2 ``SETTLE_DUE#<shard>`` / ``<due_at>#<bonus_id>``: the settlement due index shared with commission
  records (sparse: only while FROZEN with a due date), so the settlement planner and workers settle
  bonuses with commissions (``mall.dal.settlement``).

Team sales (maintained by the stats pipeline; read here): ``TEAM_SALES#<yyyy-mm>#<shard 00-15>`` /
``USER#<uid>`` with ``team_sales_fen``. One Query per shard, every page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.commissions import due_partition
from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.dal.table import Item, Key, Page, Table, Write
from mall.domain.commission_records import CommissionStatus, settle_shard
from mall.domain.ledger import commission_frozen
from mall.domain.team_bonus import BonusRecord

TEAM_SALES_SHARDS = 16


def team_sales_shard(user_id: str) -> int:
    """The stats pipeline's shard of a promoter's team sales item (``mall.domain.stats``; this copy
    is the contract's formula, used until that module exists)."""
    try:
        from mall.domain.stats import team_sales_shard as owned  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return int(hashlib.sha256(user_id.encode()).hexdigest(), 16) % TEAM_SALES_SHARDS
    return int(owned(user_id))


def team_sales_partition(month: str, shard: int) -> str:
    return f"TEAM_SALES#{month}#{shard:02d}"


def month_partition(month: str) -> str:
    return f"BONUSES#{month}"


def bonus_key(promoter_id: str, month: str) -> Key:
    return {"pk": month_partition(month), "sk": f"USER#{promoter_id}"}


def promoter_partition(promoter_id: str) -> str:
    return f"PROMOTER_BONUSES#{promoter_id}"


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def due_index_fields(record: BonusRecord) -> dict[str, str]:
    if record.status != CommissionStatus.FROZEN or record.due_at is None or record.hold:
        return {}
    return {"gsi2pk": due_partition(settle_shard(record.bonus_id)),
            "gsi2sk": f"{iso(record.due_at)}#{record.bonus_id}"}


def bonus_item(record: BonusRecord) -> Item:
    item: Item = {
        **bonus_key(record.beneficiary_id, record.month), "entity": "bonus", "bonus_id": record.bonus_id,
        "beneficiary_id": record.beneficiary_id, "promoter_id": record.beneficiary_id, "month": record.month,
        "team_sales_fen": record.team_sales_fen, "amount_fen": record.amount_fen, "status": record.status.value,
        "rule": record.rule, "created_at": iso(record.created_at), "cancelled_fen": record.cancelled_fen,
        "due_at": iso(record.due_at) if record.due_at else None,
        "settled_at": iso(record.settled_at) if record.settled_at else None, "hold": record.hold,
        "version": record.version, "history": record.history,
        "gsi1pk": promoter_partition(record.beneficiary_id), "gsi1sk": f"{record.month}#{record.bonus_id}",
        **due_index_fields(record),
    }
    return {k: v for k, v in item.items() if v is not None}


def bonus_from_item(item: Item) -> BonusRecord:
    created = _dt(item["created_at"])
    assert created is not None  # noqa: S101 - a stored record always has it
    return BonusRecord(
        bonus_id=str(item["bonus_id"]), beneficiary_id=str(item["beneficiary_id"]), month=str(item["month"]),
        team_sales_fen=int(item["team_sales_fen"]), amount_fen=int(item["amount_fen"]),
        status=CommissionStatus(item["status"]), rule=dict(item.get("rule") or {}), created_at=created,
        due_at=_dt(item.get("due_at")), cancelled_fen=int(item.get("cancelled_fen", 0)),
        settled_at=_dt(item.get("settled_at")), hold=item.get("hold"), version=int(item.get("version", 1)),
        history=list(item.get("history") or []))


@dataclass(frozen=True, slots=True)
class TeamSales:
    promoter_id: str
    month: str
    team_sales_fen: int
    orders: int = 0


class BonusRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._ledger = LedgerRepository(table)

    @property
    def table(self) -> Table:
        return self._table

    # ---- team sales (the stats pipeline's items) -----------------------------------------------

    def team_sales_pages(self, month: str, shard: int, *, page_size: int = 200) -> Iterator[list[TeamSales]]:
        """Every team sales item of one shard of ``month``, a page at a time (one Query per page)."""
        start: Key | None = None
        while True:
            page = self._table.query(partition=("pk", team_sales_partition(month, shard)),
                                     sort_prefix=("sk", "USER#"), limit=page_size, start_key=start)
            yield [TeamSales(promoter_id=str(i.get("promoter_id") or str(i["sk"]).removeprefix("USER#")),
                             month=month, team_sales_fen=int(i.get("team_sales_fen", 0)),
                             orders=int(i.get("orders", 0))) for i in page.items]
            if page.last_key is None:
                return
            start = page.last_key

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, promoter_id: str, month: str, *, consistent: bool = True) -> BonusRecord | None:
        item = self._table.get(bonus_key(promoter_id, month), consistent=consistent)
        return bonus_from_item(item) if item else None

    def existing(self, promoter_ids: Iterable[str], month: str) -> set[str]:
        """The promoters among ``promoter_ids`` that already have a bonus record for ``month``."""
        keys = [bonus_key(uid, month) for uid in dict.fromkeys(promoter_ids)]
        if not keys:
            return set()
        return {str(item["beneficiary_id"]) for item in self._table.batch_get(keys, consistent=True)}

    def for_promoter(self, promoter_id: str, *, limit: int, start_key: Key | None) -> Page:
        """A promoter's bonus records, newest month first (items)."""
        return self._table.query(partition=("gsi1pk", promoter_partition(promoter_id)), index="gsi1", limit=limit,
                                 start_key=start_key, newest_first=True)

    def for_month(self, month: str, *, limit: int, start_key: Key | None) -> Page:
        """One month's bonus records, in promoter id order (items)."""
        return self._table.query(partition=("pk", month_partition(month)), sort_prefix=("sk", "USER#"),
                                 limit=limit, start_key=start_key)

    # ---- the unit of work -----------------------------------------------------------------------

    def create(self, record: BonusRecord, *, now: datetime, also: Sequence[Write] = ()) -> bool:
        """Put the record and its ``bonus_frozen`` posting (merchant → frozen) in one transaction.
        False when the record (or its posting) already exists: another run paid it."""
        posting = commission_frozen(promoter_id=record.beneficiary_id, commission_id=record.bonus_id,
                                    amount_fen=record.amount_fen, at=record.created_at,
                                    ref={"bonus_id": record.bonus_id, "month": record.month}, bonus=True)
        put = Write.put(self._table.name, bonus_item(record), condition="attribute_not_exists(pk)")
        try:
            self._ledger.post([posting], also=[put, *also], now=now)
        except LedgerRefused as refused:
            if refused.any("also:0") or refused.any("posting:"):
                return False
            raise
        return True
