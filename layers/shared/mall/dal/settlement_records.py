"""The parts of a settlement (结算) in the single table: the due index, the consistent reads that
decide a record (``SettleContext``), the ConditionChecks a settling transaction carries and the
conditional record writes (settled, voided). ``mall.dal.settlement`` composes them into the units of
work; see its docstring for the keys and the order of things."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.config import function_environment
from mall.dal.commissions import UNREAD_RECORD_ATTRIBUTES, commission_from_item
from mall.dal.keys import bonus_key, commission_key, due_partition, order_key, order_pk, promoter_key, wallet_key
from mall.dal.ledger import Wallet, wallet_from_item
from mall.dal.promoter_wallet import PROMOTER_BLOCKED_FLAG
from mall.dal.promoter_wallet import item_checks as promoter_item_checks
from mall.dal.risk import RiskHoldRepository
from mall.dal.table import Item, Key, Page, Table, Write, key_from_pair, key_pair
from mall.dal.team_bonus import bonus_from_item
from mall.domain.commission_records import SETTLE_SHARDS, SETTLE_SHARDS_BEFORE, CommissionRecord, CommissionStatus
from mall.domain.referral.model import SETTLEMENT_BLOCKING_STATUSES
from mall.domain.settlement import (
    NotDue,
    Settleable,
    not_due_reason,
    pack_slices,
    refund_open_on_line,
)
from mall.domain.team_bonus import BonusRecord

#: What settling or voiding a record removes with its due index entry (``mall.dal.commissions``).
UNREAD = ", ".join(UNREAD_RECORD_ATTRIBUTES)

DUE_INDEX = "gsi2"


def key_of(record: Settleable) -> Key:
    if isinstance(record, BonusRecord):
        return bonus_key(record.beneficiary_id, record.month)
    return commission_key(record.order_id, record.line_id, record.level)


def settleable_from_item(item: Item | None) -> Settleable | None:
    """A commission or bonus record from its item (None for anything else)."""
    if item is None:
        return None
    if item.get("entity") == "commission":
        return commission_from_item(item)
    if item.get("entity") == "bonus":
        return bonus_from_item(item)
    return None


@dataclass(frozen=True, slots=True)
class DueEntry:
    """One entry of the due index (the projection carries the whole record)."""

    key: Key
    commission_id: str
    beneficiary_id: str
    due_at: str


#: ``voided_by`` of the records voided because their promoter was disabled.
VOIDED_DISABLED = "promoter_disabled"


@dataclass(frozen=True, slots=True)
class SettleContext:
    """What decides a record besides its own item, read (consistently) before the transaction and
    checked again inside it: its promoter's status and its order line's open refunds."""

    statuses: Mapping[str, str | None]  # promoter id → status (None: no promoter item)
    orders: Mapping[str, Item]  # order id → the order item, for commission records

    def status(self, record: Settleable) -> str | None:
        return self.statuses.get(record.beneficiary_id)

    def line(self, record: Settleable) -> tuple[int, Mapping[str, Any]] | None:
        """The record's order line and its position in the order's ``lines`` (None for a bonus, or
        a record whose order or line is not there: no refund can be open on it)."""
        if not isinstance(record, CommissionRecord) or record.order_id not in self.orders:
            return None
        for index, line in enumerate(self.orders[record.order_id].get("lines") or []):
            if str(line.get("line_id")) == record.line_id:
                return index, line
        return None

    def refund_open(self, record: Settleable) -> bool:
        found = self.line(record)
        return found is not None and refund_open_on_line(found[1])

    def reason(self, record: Settleable, as_of: datetime) -> NotDue | None:
        return not_due_reason(record, as_of, promoter_status=self.status(record),
                              refund_open=self.refund_open(record))

    def order_check_key(self, record: Settleable) -> tuple[str, ...]:
        """The order a record's transaction checks for open refunds (none for a bonus)."""
        if isinstance(record, CommissionRecord) and self.line(record) is not None:
            return (record.order_id,)
        return ()

class SettlementRecords:
    """The reads, checks and record writes a settlement is made of (``SettlementRepository`` composes
    them into units of work)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    # ---- the due index ---------------------------------------------------------------------------

    def due_page(self, shard: int, *, as_of: datetime, start_key: Key | None = None,
                 limit: int | None = None) -> Page:
        """One page of the shard's entries due at ``as_of``, oldest first."""
        return self._table.query_where("#pk = :pk AND #sk <= :upto", names={"#pk": "gsi2pk", "#sk": "gsi2sk"},
                                       values={":pk": due_partition(shard), ":upto": f"{iso(as_of)}#~"},
                                       index=DUE_INDEX, limit=limit, start_key=start_key)

    def due_entries(self, shard: int, *, as_of: datetime, page_size: int | None = None) -> Iterator[DueEntry]:
        """Every entry of the shard due at ``as_of`` (all pages)."""
        start: Key | None = None
        while True:
            page = self.due_page(shard, as_of=as_of, start_key=start, limit=page_size)
            for item in page.items:
                record_id = item.get("commission_id") or item["bonus_id"]
                yield DueEntry(key={"pk": item["pk"], "sk": item["sk"]}, commission_id=str(record_id),
                               beneficiary_id=str(item["beneficiary_id"]), due_at=str(item.get("due_at", "")))
            if page.last_key is None:
                return
            start = page.last_key

    @staticmethod
    def shards() -> range:
        """The shards to read: the ``SETTLE_SHARDS`` written, and while ``SETTLEMENT_DUE_SHARDS_READ`` says
        so (a stack whose records were written over ``SETTLE_SHARDS_BEFORE``, until the migration
        ``settle_due_shards`` has moved their entries), the shards written before as well."""
        wanted = min(function_environment().settlement_due_shards_read, SETTLE_SHARDS_BEFORE)
        return range(max(SETTLE_SHARDS, wanted))

    @staticmethod
    def slices(entries: Sequence[DueEntry], slice_size: int) -> list[list[Key]]:
        """The entries' record keys cut into slices (``mall.domain.settlement.pack_slices``: a
        promoter's keys kept together, duplicates dropped)."""
        packed = pack_slices(((e.beneficiary_id, key_pair(e.key)) for e in entries), slice_size)
        return [[key_from_pair(pair) for pair in keys] for keys in packed]

    # ---- reads -----------------------------------------------------------------------------------

    def records(self, keys: Sequence[Key]) -> list[Settleable]:
        """The commission (and bonus) records named by ``keys`` that exist (consistent reads)."""
        found = (settleable_from_item(item) for item in self._table.batch_get(keys, consistent=True))
        return [record for record in found if record is not None]

    def read_slice(self, keys: Sequence[Key]) -> tuple[list[Settleable], SettleContext, dict[str, Wallet]]:
        """The records named by ``keys`` that exist, their context and their promoters' wallets, in two
        BatchGetItem rounds instead of three: a commission record's order is known from its key, so it
        is read with the records; the promoters' statuses come with their wallets (the
        ``promoter_blocked`` flag; while ``PROMOTER_STATUS_ITEM_CHECKS=1`` the promoter items, read
        beside the wallets).

        Eventually consistent (half the read units): an answer at most a moment old can only make a
        settlement that the transaction refuses, or a skip. Every write it leads to is conditional on
        what was read (each record's status, due date, hold and version; each wallet's version and
        flags; each order line's refund: an order the answer lacks is read again consistently, as
        without it no refund would be checked), so a stale answer that would settle is refused whole and its
        promoters are settled on their own from consistent reads (``settle_group``, ``settle_one``);
        a promoter seen disabled is voided only after consistent reads say so (``void_one``); and a
        record a stale answer skips (not due yet, held, frozen promoter, refund open) keeps its due
        index entry, so the next run settles it."""
        order_prefix = order_pk("")
        order_keys = [{"pk": str(k["pk"]), "sk": order_key("")["sk"]} for k in keys
                      if str(k["pk"]).startswith(order_prefix)]
        records: list[Settleable] = []
        orders: dict[str, Item] = {}
        for item in self._table.batch_get([*keys, *order_keys], consistent=False):
            if item.get("sk") == "ORDER":
                orders[str(item["pk"]).removeprefix(order_prefix)] = item
            elif (record := settleable_from_item(item)) is not None:
                records.append(record)
        promoters = sorted({r.beneficiary_id for r in records})
        statuses, wallet_items = self._statuses_and_wallets(promoters, consistent=False)
        needed = {r.order_id for r in records if isinstance(r, CommissionRecord)}
        # An order the eventual answer lacks would leave its records without a refund check: read it again.
        if unanswered := sorted(needed - orders.keys()):
            for item in self._table.batch_get([order_key(oid) for oid in unanswered], consistent=True):
                orders[str(item["pk"]).removeprefix(order_prefix)] = item
        context = SettleContext(statuses, {oid: item for oid, item in orders.items() if oid in needed})
        return records, context, {uid: wallet_from_item(uid, wallet_items.get(uid)) for uid in promoters}

    def _statuses_and_wallets(self, promoters: Sequence[str], *, also: Sequence[Key] = (), wallets: bool = True,
                              consistent: bool = True) -> tuple[dict[str, str | None], dict[str, Item]]:
        """The promoters' statuses as settlement sees them and (``wallets``) their wallet items, in one
        BatchGetItem with the items of ``also`` (returned under their ``pk``). From the wallets'
        ``promoter_blocked`` flag; from the promoter items while ``PROMOTER_STATUS_ITEM_CHECKS=1``."""
        statuses: dict[str, str | None] = dict.fromkeys(promoters)
        wallet_items: dict[str, Item] = {}
        items = promoter_item_checks()
        keys = [*(promoter_key(uid) for uid in promoters if items),
                *(wallet_key(uid) for uid in promoters if wallets or not items), *also]
        for item in self._table.batch_get(keys, consistent=consistent) if keys else []:
            pk = str(item["pk"])
            if item.get("sk") == "PROMOTER" and items:
                statuses[pk.removeprefix("USER#")] = str(item.get("status"))
            elif item.get("sk") == "WALLET":
                uid = pk.removeprefix("USER#")
                wallet_items[uid] = item
                if not items:
                    flag = item.get(PROMOTER_BLOCKED_FLAG)
                    statuses[uid] = str(flag) if flag else None
            else:
                wallet_items[pk] = item
        return statuses, wallet_items

    def promoter_status(self, beneficiary_id: str) -> str | None:
        """The promoter item's own status (consistent): what voiding a record decides on."""
        item = self._table.get(promoter_key(beneficiary_id), consistent=True)
        return str(item.get("status")) if item is not None else None

    def record(self, key: Key) -> Settleable | None:
        return settleable_from_item(self._table.get(key, consistent=True))

    def context(self, records: Sequence[Settleable]) -> SettleContext:
        """The promoters' statuses and the commission records' orders: one consistent BatchGetItem."""
        promoters = sorted({r.beneficiary_id for r in records})
        orders = sorted({r.order_id for r in records if isinstance(r, CommissionRecord)})
        statuses, found = self._statuses_and_wallets(promoters, also=[order_key(oid) for oid in orders], wallets=False)
        found_orders = {pk.removeprefix("ORDER#"): item for pk, item in found.items() if pk.startswith("ORDER#")}
        return SettleContext(statuses, found_orders)

    def status_checks(self, beneficiary_id: str) -> list[Write]:
        """``status_check`` while ``PROMOTER_STATUS_ITEM_CHECKS=1``; none once the wallets carry the
        status (the settling wallet update's ``unblocked`` condition checks it)."""
        return [self.status_check(beneficiary_id)] if promoter_item_checks() else []

    @staticmethod
    def unblocked(beneficiary_ids: Sequence[str]) -> list[str]:
        """The wallets whose update must find no ``promoter_blocked`` flag (``LedgerRepository.post``):
        every settled promoter's, unless the promoter items are checked instead."""
        return [] if promoter_item_checks() else list(beneficiary_ids)

    def status_check(self, beneficiary_id: str) -> Write:
        """The ConditionCheck that an admin has not frozen or disabled the promoter since the read:
        a freeze committed first refuses the settlement, which then finds the records held."""
        blocking = sorted(SETTLEMENT_BLOCKING_STATUSES)
        values = {f":blocked{i}": status for i, status in enumerate(blocking)}
        return Write.check(self._table.name, promoter_key(beneficiary_id),
                           f"NOT (#status IN ({', '.join(values)}))", names={"#status": "status"}, values=values)

    def refund_checks(self, records: Sequence[Settleable], context: SettleContext) -> list[Write]:
        """Per order of ``records``, the ConditionCheck that none of their lines holds a refund
        (``refund_held_fen`` 0 or absent; the line still at the position read). A refund request
        committed between the read and the settlement refuses it; the record then waits."""
        lines: dict[str, dict[int, str]] = {}
        for record in records:
            found = context.line(record)
            if found is not None and isinstance(record, CommissionRecord):
                lines.setdefault(record.order_id, {})[found[0]] = record.line_id
        checks: list[Write] = []
        for order_id in sorted(lines):
            names = {"#lines": "lines", "#held": "refund_held_fen", "#line_id": "line_id"}
            values: dict[str, Any] = {":zero": 0}
            conditions: list[str] = []
            for index, line_id in sorted(lines[order_id].items()):
                path = f"#lines[{index}]"
                values[f":line{index}"] = line_id
                conditions.append(f"{path}.#line_id = :line{index} AND (attribute_not_exists({path}.#held) "
                                  f"OR {path}.#held = :zero)")
            checks.append(Write.check(self._table.name, order_key(order_id), " AND ".join(conditions),
                                      names=names, values=values))
        return checks

    def checks(self, beneficiary_id: str, records: Sequence[Settleable], context: SettleContext) -> list[Write]:
        """Everything a settling transaction checks besides the records and the wallet."""
        return [*self.hold_checks(beneficiary_id, records), *self.status_checks(beneficiary_id),
                *self.refund_checks(records, context)]

    def held_bonus_promoters(self, records: Sequence[Settleable]) -> set[str]:
        """The promoters among the bonus records' whose risk hold is open (bonuses have no hold of their own)."""
        promoters = {r.beneficiary_id for r in records if isinstance(r, BonusRecord)}
        return set(RiskHoldRepository(self._table).get_many(promoters)) if promoters else set()

    def hold_conditions(self, beneficiary_id: str,
                        records: Sequence[Settleable]) -> tuple[list[Write], dict[str, bool]]:
        """How the transaction checks that the promoter is still not held, when ``records`` include a
        bonus (a commission record's own ``hold`` attribute is in its settle condition already): the
        condition ``attribute_not_exists(risk_hold)`` on the wallet the settlement posting updates
        anyway (``LedgerRepository.post(held=...)``; a bonus settles at least 1 fen, so that update is
        always there), or, while ``RISK_HOLD_ITEM_CHECKS=1``, a ConditionCheck of the hold item."""
        if not any(isinstance(r, BonusRecord) for r in records):
            return [], {}
        return RiskHoldRepository(self._table).conditions({beneficiary_id: False})

    def hold_checks(self, beneficiary_id: str, records: Sequence[Settleable]) -> list[Write]:
        """The ConditionChecks of ``hold_conditions`` (none once the wallets carry the flag)."""
        return self.hold_conditions(beneficiary_id, records)[0]

    def hold_flags(self, beneficiary_id: str, records: Sequence[Settleable]) -> dict[str, bool]:
        """The wallet conditions of ``hold_conditions``, for ``LedgerRepository.post(held=...)``."""
        return self.hold_conditions(beneficiary_id, records)[1]

    def wallets(self, user_ids: Sequence[str]) -> dict[str, Wallet]:
        """The promoters' wallets, all in one BatchGetItem (consistent): one read per group."""
        found = {str(item["pk"]).removeprefix("USER#"): item for item in self._table.batch_get(
            [wallet_key(uid) for uid in user_ids], consistent=True)}
        return {uid: wallet_from_item(uid, found.get(uid)) for uid in user_ids}

    # ---- the record writes (the ``also`` of a ledger transaction) -------------------------------

    def settle_write(self, record: Settleable, *, as_of: datetime, now: datetime, settled_by: str) -> Write:
        """FROZEN → SETTLED, conditional on the state the postings were computed from; ``settled_by``
        names the posting that moved its money (shared with the other records of its chunk)."""
        return Write.update(
            self._table.name, key_of(record),
            "SET #status = :settled, settled_at = :now, settled_fen = :amount, settled_by = :by, "
            "#version = #version + :one, history = list_append(if_not_exists(history, :empty), :entry) "
            f"REMOVE gsi2pk, gsi2sk, {UNREAD}",
            condition="#status = :frozen AND #due <= :as_of AND attribute_not_exists(#hold) AND #version = :v",
            names={"#status": "status", "#version": "version", "#due": "due_at", "#hold": "hold"},
            values={":settled": CommissionStatus.SETTLED.value, ":frozen": CommissionStatus.FROZEN.value,
                    ":now": iso(now), ":amount": record.current_fen, ":one": 1, ":as_of": iso(as_of), ":by": settled_by,
                    ":v": record.version, ":empty": [],
                    ":entry": [{"at": iso(now), "status": CommissionStatus.SETTLED.value,
                                "settled_fen": record.current_fen}]})

    def void_write(self, record: Settleable, *, now: datetime) -> Write:
        """FROZEN → CANCELLED (``voided_by`` promoter_disabled), from the version read, out of the
        due index: the ``also`` of the transaction posting its ``commission_voided`` reversal."""
        amount = record.current_fen
        return Write.update(
            self._table.name, key_of(record),
            "SET #status = :cancelled, cancelled_fen = :cancelled_fen, voided_by = :why, voided_fen = :amount, "
            "history = list_append(if_not_exists(history, :empty), :entry) "
            f"REMOVE gsi2pk, gsi2sk, {UNREAD} ADD #version :one",
            condition="#status = :frozen AND #version = :v",
            names={"#status": "status", "#version": "version"},
            values={":cancelled": CommissionStatus.CANCELLED.value, ":cancelled_fen": record.cancelled_fen + amount,
                    ":why": VOIDED_DISABLED, ":amount": amount, ":empty": [], ":one": 1,
                    ":v": record.version, ":frozen": CommissionStatus.FROZEN.value,
                    ":entry": [{"at": iso(now), "status": CommissionStatus.CANCELLED.value, "voided_fen": amount,
                                "reason": VOIDED_DISABLED}]})
