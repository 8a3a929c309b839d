"""The ledger in the single table: postings, promoter wallets, merchant account shards.

Keys (docs/data-model.md, "ledger"):
- posting ``USER#<uid>[#LEDGER#<shard>]/LEDGER#<at iso>#<posting_id>`` (immutable; newest first by
  ``sk``), in one of ``POSTING_SHARDS`` partitions chosen by the posting id (shard 0: ``USER#<uid>``),
  so a promoter credited a thousand times a second does not put every posting on one partition
- wallet ``USER#<uid>/WALLET``: ``frozen_fen``, ``available_fen``, ``withdrawing_fen``,
  ``withdrawn_fen``, ``debt_fen`` (≤ 0), ``version``, and ``risk_hold`` (true) exactly while the
  promoter's risk hold item exists: written by the hold's writers in the hold's own transaction
  (``mall.dal.risk``), so a credit that must not reach a held promoter (or must reach only a held
  one) carries that condition on the wallet it updates anyway (``held``) instead of a
  ConditionCheck of the hold item (2 write units each); and ``promoter_blocked`` (``frozen`` or
  ``disabled``) exactly while an admin has the promoter in that status, written with each status
  change (``mall.dal.promoter_wallet``), so a settlement carries "not blocked" on the wallet it
  updates (``unblocked``), and a withdrawal request "not frozen" (``not_blocked_as``), instead of a
  ConditionCheck of the promoter item
- merchant account ``MERCHANT_ACCOUNT#<account>#<shard 00-15>/BALANCE``: ``balance_fen``. Sharded
  because every commission touches it: one item would be a hot partition at ~1,000 writes/s.

``LedgerRepository.writes`` turns postings into the writes of one transaction (the unit of work):
a put per posting (``attribute_not_exists``: a posting is never overwritten), one ``ADD`` per
wallet with the legs summed, and one merchant shard per merchant account. Each wallet account whose
net change is negative carries the condition ``<account>_fen >= :need`` (debt: ``debt_fen <= :room``),
so no interleaving of concurrent transactions can overdraw: DynamoDB evaluates the condition
against the committed balance. Postings computed *from* a balance (debt repayment, a clawback's
split) pass ``expect`` and are also conditional on the wallet's ``version``.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.keys import (
    POSTING_PREFIX,
    POSTING_SHARDS,
    merchant_key,
    posting_key,
    posting_partitions,
    posting_sort_bound,
    user_partition,
    wallet_key,
)
from mall.dal.promoter_wallet import PROMOTER_BLOCKED_FLAG
from mall.dal.retry import retry_conflicts
from mall.dal.table import ConditionFailed, Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.ledger import Account, Balances, MerchantAccount, Posting

MERCHANT_SHARDS = 16
#: The wallet attribute present (true) exactly while the promoter's risk hold item exists.
RISK_HOLD_FLAG = "risk_hold"
TRANSACTION_ATTEMPTS = 10


def merchant_shard(seed: str) -> int:
    return zlib.crc32(seed.encode()) % MERCHANT_SHARDS


def posting_item(posting: Posting) -> Item:
    return {**posting_key(posting), "entity": "posting", **posting.as_dict(), "kind": posting.kind.value,
            "at": iso(posting.at)}


@dataclass(frozen=True, slots=True)
class Wallet:
    """A promoter's balances as stored, with the version for optimistic updates."""

    user_id: str
    balances: Balances
    version: int = 0
    updated_at: str | None = None


def wallet_from_item(user_id: str, item: Item | None) -> Wallet:
    if item is None:
        return Wallet(user_id, Balances())
    balances = Balances(**{a.value: int(item.get(f"{a.value}_fen", 0)) for a in Account})
    return Wallet(user_id, balances, int(item.get("version", 0)), item.get("updated_at"))


def _flag_conditions(*, held: bool | None, unblocked: bool,
                     not_blocked_as: Collection[str] = ()) -> tuple[list[str], dict[str, Any]]:
    """A wallet update's conditions on its flags, with their values: the risk hold (present, absent or
    either) and the promoter's blocking status (absent; not one of ``not_blocked_as``; or either)."""
    conditions = [] if held is None else [
        f"{'attribute_exists' if held else 'attribute_not_exists'}({RISK_HOLD_FLAG})"]
    if unblocked:
        return [*conditions, f"attribute_not_exists({PROMOTER_BLOCKED_FLAG})"], {}
    if not_blocked_as:
        values = {f":blocked_as{i}": status for i, status in enumerate(sorted(not_blocked_as))}
        conditions.append(f"(attribute_not_exists({PROMOTER_BLOCKED_FLAG}) "
                          f"OR NOT ({PROMOTER_BLOCKED_FLAG} IN ({', '.join(values)})))")
        return conditions, values
    return conditions, {}


class LedgerRefused(Exception):
    """The ledger transaction was refused. ``labels`` name the operations whose condition failed:
    ``wallet:<uid>`` (an overdraft or a stale ``expect``), ``posting:<id>`` (already written),
    ``also:<i>`` (the caller's own writes, by index)."""

    def __init__(self, labels: list[str], items: list[Item | None],
                 current: Mapping[str, Item | None] | None = None) -> None:
        super().__init__(f"ledger transaction refused: {labels}")
        self.labels = labels
        self.items = items
        #: Each failed operation's item as DynamoDB saw it, by label.
        self.current = dict(current or {})

    def wallet_held(self, user_id: str) -> bool:
        """The wallet of ``user_id`` was refused while it carried the risk-hold flag."""
        item = self.current.get(f"wallet:{user_id}")
        return bool(item and item.get(RISK_HOLD_FLAG))

    def wallet_blocked(self, user_id: str) -> bool:
        """The wallet of ``user_id`` was refused while it carried the promoter-blocked flag."""
        return self.blocked_as(user_id) is not None

    def blocked_as(self, user_id: str) -> str | None:
        """The promoter-blocked flag (the blocking status) the refused wallet of ``user_id`` carried."""
        item = self.current.get(f"wallet:{user_id}")
        flag = item.get(PROMOTER_BLOCKED_FLAG) if item else None
        return str(flag) if flag else None

    def only(self, prefix: str) -> bool:
        return bool(self.labels) and all(label.startswith(prefix) for label in self.labels)

    def any(self, prefix: str) -> bool:
        return any(label.startswith(prefix) for label in self.labels)


class LedgerRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table(self) -> Table:
        return self._table

    # ---- reads ----------------------------------------------------------------------------------

    def wallet(self, user_id: str, *, consistent: bool = True) -> Wallet:
        return wallet_from_item(user_id, self._table.get(wallet_key(user_id), consistent=consistent))

    def postings(self, user_id: str, *, limit: int = 20, start_key: Key | None = None,
                 newest_first: bool = True, since: datetime | None = None) -> Page:
        """One page of a promoter's postings (``since``: only at or after that moment), merged from
        their ``POSTING_SHARDS`` partitions (queried at once): each shard's first ``limit`` after
        the cursor hold the page. The cursor is the promoter's partition with the last sort key
        returned, valid in every shard."""
        after = None if start_key is None else str(start_key["sk"])
        with ThreadPoolExecutor(max_workers=POSTING_SHARDS) as pool:
            pages = list(pool.map(lambda pk: self._shard_page(pk, limit=limit, after=after,
                                                              newest_first=newest_first, since=since),
                                  posting_partitions(user_id)))
        merged = sorted((item for page in pages for item in page.items), key=lambda i: str(i["sk"]),
                        reverse=newest_first)
        taken = merged[:limit]
        more = len(merged) > limit or any(page.last_key is not None for page in pages)
        last = {"pk": user_partition(user_id), "sk": taken[-1]["sk"]} if more and taken else None
        return Page(items=taken, last_key=last)

    def _shard_page(self, pk: str, *, limit: int, after: str | None, newest_first: bool,
                    since: datetime | None) -> Page:
        names = {"#pk": "pk", "#sk": "sk"}
        values: dict[str, Any] = {":pk": pk}
        if since is None:
            condition = "#pk = :pk AND begins_with(#sk, :prefix)"
            values[":prefix"] = POSTING_PREFIX
        else:
            condition = "#pk = :pk AND #sk BETWEEN :low AND :high"
            values[":low"] = posting_sort_bound(iso(since))
            values[":high"] = posting_sort_bound("\uffff")
        start = None if after is None else {"pk": pk, "sk": after}
        return self._table.query_where(condition, names=names, values=values, limit=limit, start_key=start,
                                       newest_first=newest_first)

    def all_postings(self, user_id: str, *, since: datetime | None = None) -> Iterator[Item]:
        """Every posting of the promoter, oldest first (the shards merged by sort key)."""
        return heapq.merge(*(self._shard_postings(pk, since) for pk in posting_partitions(user_id)),
                           key=lambda item: str(item["sk"]))

    def wallet_and_postings(self, user_id: str, *, since: datetime) -> tuple[Wallet, Iterator[Item]]:
        """The wallet (consistent) and every posting at or after ``since``, oldest first, in one
        Query per posting shard: the wallet sorts after the postings in the promoter's own
        partition (shard 0), so that shard's Query runs on to it, consistent and filtered to
        postings and the wallet by their ``entity``. The few items sorting between (profile, promoter, hold,
        purchases, ~1-3 KB) are read and dropped: cheaper than a round trip of its own."""
        own, *others = posting_partitions(user_id)
        wallet_sk = str(wallet_key(user_id)["sk"])
        names = {"#pk": "pk", "#sk": "sk", "#entity": "entity"}
        values: dict[str, Any] = {":pk": own, ":low": posting_sort_bound(iso(since)), ":high": wallet_sk,
                                  ":posting": "posting", ":wallet": "wallet"}
        postings: list[Item] = []
        wallet: Item | None = None
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk AND #sk BETWEEN :low AND :high", names=names, values=values,
                                           limit=None, start_key=start, consistent=True,
                                           filter_expression="#entity IN (:posting, :wallet)")
            for item in page.items:
                if item["sk"] == wallet_sk:
                    wallet = item
                else:
                    postings.append(item)
            if page.last_key is None:
                break
            start = page.last_key
        merged = heapq.merge(iter(postings), *(self._shard_postings(pk, since) for pk in others),
                             key=lambda item: str(item["sk"]))
        return wallet_from_item(user_id, wallet), merged

    def _shard_postings(self, pk: str, since: datetime | None) -> Iterator[Item]:
        after: str | None = None
        while True:
            page = self._shard_page(pk, limit=500, after=after, newest_first=False, since=since)
            yield from page.items
            if page.last_key is None:
                return
            after = str(page.last_key["sk"])

    def merchant_balances(self) -> dict[str, int]:
        keys = [merchant_key(account.value, shard) for account in MerchantAccount for shard in range(MERCHANT_SHARDS)]
        totals = {account.value: 0 for account in MerchantAccount}
        for item in self._table.batch_get(keys, consistent=True):
            account = str(item["pk"]).removeprefix("MERCHANT_ACCOUNT#").rsplit("#", 1)[0]
            totals[account] = totals.get(account, 0) + int(item.get("balance_fen", 0))
        return totals

    # ---- writes ---------------------------------------------------------------------------------

    def writes(self, postings: Sequence[Posting], *, expect: Mapping[str, Wallet] | None = None,
               no_debt: Collection[str] = (), debt_is: Mapping[str, int] | None = None,
               now: datetime | None = None, held: Mapping[str, bool] | None = None,
               unblocked: Collection[str] = (),
               not_blocked_as: Mapping[str, Collection[str]] | None = None) -> list[tuple[str, Write]]:
        """The labelled writes that record ``postings`` (see the module docstring). ``held``: promoters
        whose wallet must carry (True) or not carry (False) the risk-hold flag at commit time;
        ``unblocked``: promoters whose wallet must not carry the promoter-blocked flag;
        ``not_blocked_as``: promoters whose wallet must not carry it as one of the given statuses."""
        if not postings:
            return []
        name = self._table.name
        out: list[tuple[str, Write]] = []
        for posting in postings:
            out.append((f"posting:{posting.posting_id}",
                        Write.put(name, posting_item(posting), condition="attribute_not_exists(pk)")))
        at = now or max(p.at for p in postings)
        per_wallet: dict[str, dict[str, int]] = {}
        per_merchant: dict[str, int] = {}
        for posting in postings:
            for leg in posting.legs:
                if leg.account.startswith("merchant:"):
                    per_merchant[leg.account] = per_merchant.get(leg.account, 0) + leg.delta_fen
                else:
                    deltas = per_wallet.setdefault(posting.promoter_id, {})
                    deltas[leg.account] = deltas.get(leg.account, 0) + leg.delta_fen
        for user_id, deltas in per_wallet.items():
            out.append((f"wallet:{user_id}", self._wallet_write(
                user_id, deltas, expect=(expect or {}).get(user_id), no_debt=user_id in no_debt,
                debt_is=(debt_is or {}).get(user_id), now=at, held=(held or {}).get(user_id),
                unblocked=user_id in unblocked, not_blocked_as=(not_blocked_as or {}).get(user_id, ()))))
        shard = merchant_shard(postings[0].posting_id)
        for account, delta in per_merchant.items():
            if delta:
                out.append((f"merchant:{account}", Write.update(
                    name, merchant_key(account, shard), "ADD balance_fen :d SET entity = :e, account = :a",
                    values={":d": delta, ":e": "merchant_account", ":a": account})))
        return out

    def _wallet_write(self, user_id: str, deltas: Mapping[str, int], *, expect: Wallet | None, no_debt: bool,
                      now: datetime, debt_is: int | None = None, held: bool | None = None,
                      unblocked: bool = False, not_blocked_as: Collection[str] = ()) -> Write:
        adds = ["version :one"]
        sets = ["entity = :entity", "promoter_id = :uid", "updated_at = :now"]
        conditions: list[str] = []
        values: dict[str, Any] = {":one": 1, ":entity": "wallet", ":uid": user_id, ":now": iso(now)}
        for i, (account, delta) in enumerate(sorted(deltas.items())):
            if delta == 0:
                continue
            field = f"{Account(account).value}_fen"
            adds.append(f"{field} :d{i}")
            values[f":d{i}"] = delta
            if account == Account.DEBT and delta > 0:
                conditions.append(f"{field} <= :room{i}")
                values[f":room{i}"] = -delta
            elif account != Account.DEBT and delta < 0:
                conditions.append(f"{field} >= :need{i}")
                values[f":need{i}"] = -delta
        if no_debt:
            conditions.append("(attribute_not_exists(debt_fen) OR debt_fen >= :zero)")
            values[":zero"] = 0
        if debt_is is not None:
            # Only the debt as read, not the whole wallet version: concurrent movements of other
            # accounts do not invalidate a split that depends on the debt alone.
            if debt_is == 0:
                conditions.append("(attribute_not_exists(debt_fen) OR debt_fen = :debt_is)")
            else:
                conditions.append("debt_fen = :debt_is")
            values[":debt_is"] = debt_is
        flags, flag_values = _flag_conditions(held=held, unblocked=unblocked, not_blocked_as=not_blocked_as)
        conditions += flags
        values.update(flag_values)
        if expect is not None:
            if expect.version == 0:
                conditions.append("attribute_not_exists(version)")
            else:
                conditions.append("version = :expected")
                values[":expected"] = expect.version
        return Write.update(self._table.name, wallet_key(user_id), f"ADD {', '.join(adds)} SET {', '.join(sets)}",
                            condition=" AND ".join(conditions) or None, values=values)

    def no_debt_check(self, user_id: str) -> Write:
        """A ConditionCheck that ``user_id`` owes nothing at commit time: for a state transition
        that moves no money but must not happen while a debt exists (approving, starting a payout)."""
        return Write.check(self._table.name, wallet_key(user_id), "attribute_not_exists(debt_fen) OR debt_fen >= :zero",
                           values={":zero": 0})

    def nothing_frozen_check(self, user_id: str) -> Write:
        """A ConditionCheck that ``user_id`` has no frozen money at commit time: for a decision
        that nothing unsettled is left to act on (no FROZEN commission or bonus: each is frozen fen)."""
        return Write.check(self._table.name, wallet_key(user_id),
                           "attribute_not_exists(frozen_fen) OR frozen_fen = :zero", values={":zero": 0})

    def post(self, postings: Sequence[Posting], *, also: Sequence[Write] = (),
             expect: Mapping[str, Wallet] | None = None, no_debt: Collection[str] = (),
             debt_is: Mapping[str, int] | None = None, now: datetime | None = None,
             held: Mapping[str, bool] | None = None, unblocked: Collection[str] = (),
             not_blocked_as: Mapping[str, Collection[str]] | None = None) -> None:
        """Record ``postings`` together with the caller's ``also`` writes (its state transition)
        in one transaction (one conditional write when there are no postings and one write).
        ``no_debt``: promoters whose wallet must owe nothing at commit time (a withdrawal waits
        while a debt exists). ``debt_is``: promoters whose debt must still be exactly the given
        (≤ 0) ``debt_fen`` (a repayment computed from it). ``held``: promoters whose wallet must (True)
        or must not (False) carry the risk-hold flag (``LedgerRefused.wallet_held`` tells a refusal
        by the flag from one by a balance). ``unblocked``: promoters whose wallet must not carry the
        promoter-blocked flag (an admin's freeze or disable; ``LedgerRefused.wallet_blocked``);
        ``not_blocked_as``: promoters whose wallet must not carry it as one of the given statuses (a
        withdrawal: not frozen, a disabled promoter still withdraws; ``LedgerRefused.blocked_as``). A
        conflict with a concurrent transaction is retried with jitter; a failed condition raises
        ``LedgerRefused`` naming what failed."""
        labelled = [(f"also:{i}", w) for i, w in enumerate(also)] + self.writes(
            postings, expect=expect, no_debt=no_debt, debt_is=debt_is, now=now, held=held, unblocked=unblocked,
            not_blocked_as=not_blocked_as)
        if len(labelled) == 1 and "ConditionCheck" not in labelled[0][1].op:
            # No money moves, one item changes (a record's due date): a conditional write is as
            # atomic as a one-item transaction under the same condition, at half the units.
            label, only = labelled[0]
            try:
                retry_conflicts(lambda: self._table.write_one(only), attempts=TRANSACTION_ATTEMPTS)
            except ConditionFailed as exc:
                raise LedgerRefused([label], [exc.item], {label: exc.item}) from exc
            return
        if len(labelled) > 100:
            raise ValueError(f"{len(labelled)} writes exceed DynamoDB's 100 per transaction")
        try:
            retry_conflicts(lambda: self._table.transact([w for _, w in labelled]), attempts=TRANSACTION_ATTEMPTS)
        except TransactionCancelled as exc:
            failed = exc.conditional_failures
            raise LedgerRefused([labelled[i][0] for i in failed] or ["conflict"], exc.items,
                                {labelled[i][0]: exc.items[i] for i in failed if i < len(exc.items)}) from exc
