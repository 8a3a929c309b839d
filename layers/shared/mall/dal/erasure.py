"""Reads and writes of the erasure request (``mall.services.erasure``; docs/data-model.md, "rules and
personal data"). Every read is a Query on an existing index, never a scan:

- the customer's own partition ``USER#<uid>`` (profile, promoter, binding, counters, ledger …), with a
  filter so only items that hold personal data come back;
- their orders, the orders' address items that have an entry there and the share visits they made
  while logged in: gsi1 ``BUYER#<uid>`` (``mall.dal.order_items.address_index``,
  ``mall.dal.referral.visitor_index``). An order says itself whether it has an address item
  (``mall.dal.order_items.has_address_item``): one not among what the Query read is written by its key,
  unread (``ErasureWrites``);
- a promoter's withdrawals: gsi2 ``PROMOTER_WITHDRAWALS#<uid>``.

Each change is a conditional update of one item that changes personal data only: no ``version``
moves, no amount or status is touched, so it never undoes a money transition running at the same
time, and repeating it changes nothing more. They are committed together, with the profile's
tombstone and the audit entry (``ErasureWrites``): the request's reads are its only other round
trips."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.customers import DIRECTORY_ENTITY
from mall.dal.keys import (
    PROFILE_SK,
    buyer_partition,
    customer_profile_key,
    order_address_key,
    promoter_key,
    user_partition,
    withdrawal_promoter_partition,
)
from mall.dal.order_items import ADDRESS_APART, address_index, has_address_item, with_address
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write, key_of
from mall.domain.erasure import IN_FLIGHT_WITHDRAWALS, PII_ATTRIBUTES, identifying_values, personal_attributes

#: Items one TransactWriteItems may change (DynamoDB's limit).
TRANSACTION_LIMIT = 100
#: Set (never stored) on an order item whose address item the request did not read (``BuyerRecords``).
ADDRESS_UNREAD = "_address_unread"
#: Index keys that may embed an identifier: removed when they contain a value being removed.
INDEX_KEYS: tuple[str, ...] = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")


def is_profile(item: Mapping[str, Any], user_id: str) -> bool:
    return item.get("pk") == user_partition(user_id) and item.get("sk") == PROFILE_SK


def attributes_to_remove(item: Mapping[str, Any]) -> list[str]:
    """The personal-data attributes of ``item`` and the index keys that embed one of their values."""
    found = personal_attributes(item)
    removed_values = identifying_values(item, found)
    for key in INDEX_KEYS:
        value = item.get(key)
        if isinstance(value, str) and any(v in value for v in removed_values):
            found += [key, key[:-2] + "sk"] if key.endswith("pk") else [key]  # an index entry goes whole
    if found and item.get("entity") == DIRECTORY_ENTITY:
        # The customer's search entry (mall.dal.customers): its index keys are made of the phone
        # hash and the folded nickname, however short.
        found += [key for key in INDEX_KEYS if key in item]
    return list(dict.fromkeys(found))


def is_promoter_record(item: Mapping[str, Any], user_id: str) -> bool:
    """The customer's promoter record: only a promoter can have withdrawals."""
    return key_of(item) == promoter_key(user_id)


def _names(attributes: Sequence[str]) -> dict[str, str]:
    return {f"#r{i}": name for i, name in enumerate(attributes)}


@dataclass(frozen=True)
class BuyerRecords:
    """What one Query of the buyer's gsi1 partition holds: orders (with addresses) and share visits."""

    orders: list[Item]
    visits: list[Item]
    #: The orders whose address item the Query did not return (it has no gsi1 entry): it holds the
    #: address as placed, since an erasure gives the item it erases its entry.
    unread_addresses: frozenset[str] = frozenset()


class ErasureRaced(Exception):
    """Something the request read changed before its transaction committed: read and decide again."""


class ErasureWrites:
    """The request's changes, gathered and committed together with the profile's tombstone: one
    TransactWriteItems (up to ``TRANSACTION_LIMIT`` items; a larger account commits its first
    changes in earlier transactions, each change idempotent). Each change stays conditional on its
    item still existing (a withdrawal: on being final), so a transaction cancelled by a concurrent
    change is read and decided again. The update of an address item the request did not read
    (``ADDRESS_UNREAD``) is conditional on the item existing too, so it never creates one; an order
    without the item it should have cancels the transaction, which is committed again without that
    update (a round trip more only then)."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._writes: list[Write] = []
        #: ``id`` of each write to an address item the request did not read.
        self._unread: set[int] = set()

    def remove_attributes(self, item: Mapping[str, Any], attributes: Sequence[str]) -> bool:
        """REMOVE ``attributes`` from a stored item (as read); False when there is nothing to remove."""
        if not attributes:
            return False
        names = _names(attributes)
        self._writes.append(Write.update(self._table.name, key_of(item), "REMOVE " + ", ".join(names),
                                         condition="attribute_exists(pk)", names=names))
        return True

    def replace_map(self, item: Mapping[str, Any], attribute: str, value: Mapping[str, Any], *,
                    remove: Sequence[str] = (), condition: str = "attribute_exists(pk)",
                    values: Mapping[str, Any] | None = None) -> bool:
        """SET ``attribute`` (an order's address, a withdrawal's bank) of a stored item (as read) to
        ``value`` and REMOVE ``remove``."""
        if attribute == "address" and item.get("entity") == "order":
            return self._replace_order_address(item, value, remove=remove)
        names = {"#m": attribute, **_names(remove)}
        update = "SET #m = :m" + (" REMOVE " + ", ".join(k for k in names if k != "#m") if remove else "")
        if "#status" in condition:
            names["#status"] = "status"
        self._writes.append(Write.update(self._table.name, key_of(item), update, condition=condition, names=names,
                                         values={":m": dict(value), **(values or {})}))
        return True

    def _replace_order_address(self, order: Mapping[str, Any], value: Mapping[str, Any], *,
                               remove: Sequence[str]) -> bool:
        """The order's address is in its address item (orders placed since it is kept apart, and older
        ones once ``tools/migrations/order_addresses_apart`` moved it), else on the order, conditional
        on still being there: an address the migration moves meanwhile cancels the transaction, and the
        request reads again and erases it where it went."""
        if not order.get(ADDRESS_APART) and not order.get(ADDRESS_UNREAD):
            return self.replace_map(dict(key_of(order)), "address", value, remove=remove,
                                    condition="attribute_exists(pk) AND attribute_exists(#m)")
        if remove:
            self.remove_attributes(order, remove)
        order_id = str(order["order_id"])
        if not order.get(ADDRESS_UNREAD):
            return self.replace_map(order_address_key(order_id), "address", value)
        # Its gsi1 entry too: a repeated request reads the address back erased and writes nothing.
        entry = address_index(order_id, buyer_id=str(order["buyer_id"]), created_at=str(order["created_at"]))
        write = Write.update(self._table.name, order_address_key(order_id), "SET #m = :m, #pk = :pk, #sk = :sk",
                             condition="attribute_exists(pk)", names={"#m": "address", "#pk": "gsi1pk",
                                                                      "#sk": "gsi1sk"},
                             values={":m": dict(value), ":pk": entry["gsi1pk"], ":sk": entry["gsi1sk"]})
        self._writes.append(write)
        self._unread.add(id(write))
        return True

    def replace_bank_of_final_withdrawal(self, withdrawal: Mapping[str, Any], bank: Mapping[str, Any]) -> bool:
        """SET the withdrawal's ``bank`` to ``bank``, only while the withdrawal is final."""
        statuses = {f":s{i}": status for i, status in enumerate(sorted(IN_FLIGHT_WITHDRAWALS))}
        return self.replace_map(withdrawal, "bank", bank, values=statuses,
                                condition=f"attribute_exists(pk) AND NOT #status IN ({', '.join(statuses)})")

    def commit_with_tombstone(self, tombstone: Write, audit: Write | None) -> bool:
        """Commit the changes with the profile's tombstone (and its audit entry) last of all. False
        when only the tombstone's condition failed: a request running at the same time finished
        first. Raises ``ErasureRaced`` when anything else moved meanwhile (decide again)."""
        last = [tombstone, *([audit] if audit is not None else [])]
        room = TRANSACTION_LIMIT - len(last)
        try:
            while len(self._writes) > room:
                self._transact(self._writes[:TRANSACTION_LIMIT])
                self._writes = self._writes[TRANSACTION_LIMIT:]
        except TransactionCancelled as exc:
            raise ErasureRaced from exc
        try:
            self._transact([*last, *self._writes])
        except TransactionCancelled as exc:
            if exc.conditional_failures == [0]:
                return False
            raise ErasureRaced from exc
        return True

    def _transact(self, writes: list[Write]) -> None:
        """One TransactWriteItems of ``writes``; when it is cancelled because an unread address item does
        not exist, again without the updates of the missing items (and raising as anything else)."""
        while True:
            try:
                self._table.transact(writes)
                return
            except TransactionCancelled as exc:
                missing = {i for i in exc.conditional_failures
                           if id(writes[i]) in self._unread and exc.items[i] is None}
                if not missing:
                    raise
                writes = [w for i, w in enumerate(writes) if i not in missing]
                if not writes:
                    return


class ErasureRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _all(self, condition: str, *, names: Mapping[str, str], values: Mapping[str, Any], index: str | None = None,
             filter_expression: str | None = None) -> Iterator[Item]:
        start: Key | None = None
        while True:
            page = self._table.query_where(condition, names=names, values=values, index=index, limit=None,
                                           start_key=start, filter_expression=filter_expression,
                                           consistent=index is None)
            yield from page.items
            start = page.last_key
            if not start:
                return

    def profile(self, user_id: str) -> Item | None:
        return self._table.get(customer_profile_key(user_id), consistent=True)

    def own_items_with_personal_data(self, user_id: str) -> Iterator[Item]:
        """Items of ``USER#<uid>`` holding any attribute of ``PII_ATTRIBUTES``, and the profile and the
        promoter record whatever they hold (the filter runs on the server: postings and counters are
        read but not returned). One consistent Query answers what the request needs of the partition."""
        names = {"#pk": "pk", "#entity": "entity",
                 **{f"#a{i}": name for i, name in enumerate(sorted(PII_ATTRIBUTES))}}
        found = " OR ".join(f"attribute_exists(#a{i})" for i in range(len(PII_ATTRIBUTES)))
        return self._all("#pk = :pk", names=names,
                         values={":pk": user_partition(user_id), ":customer": "customer", ":promoter": "promoter"},
                         filter_expression=f"#entity IN (:customer, :promoter) OR {found}")

    def buyer_records(self, user_id: str) -> BuyerRecords:
        """The buyer's orders, each with its delivery address, and their share visits: one Query of
        gsi1 ``BUYER#<uid>``, which holds the orders, the address items that have an entry there (put
        while ``ORDER_ADDRESS_INDEXED``, or by an erasure) and the visits made while logged in. An order
        that has an address item (``has_address_item``) the Query did not return is marked
        ``ADDRESS_UNREAD`` and named in ``unread_addresses``: no read more, its item is written by its key."""
        found = list(self._all("#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": buyer_partition(user_id)},
                               index="gsi1"))
        orders = [i for i in found if i.get("entity") == "order"]
        apart = {str(i["order_id"]): i for i in found if i.get("entity") == "order_address"}
        unread = frozenset(str(o["order_id"]) for o in orders
                           if has_address_item(o) and str(o["order_id"]) not in apart)
        return BuyerRecords(orders=[{**o, ADDRESS_UNREAD: True} if str(o["order_id"]) in unread
                                    else with_address(o, apart.get(str(o["order_id"]))) for o in orders],
                            visits=[i for i in found if i.get("entity") == "share_visit"], unread_addresses=unread)

    def withdrawals(self, user_id: str) -> Iterator[Item]:
        return self._all("#pk = :pk", names={"#pk": "gsi2pk"}, values={":pk": withdrawal_promoter_partition(user_id)},
                         index="gsi2")

    def writes(self) -> ErasureWrites:
        """A batch of the request's changes, committed with the tombstone (``erase``)."""
        return ErasureWrites(self._table)

    def erase(self, changes: ErasureWrites, user_id: str, *, remove: Sequence[str], erased_at: str,
              seen_last_erasure: str | None, audit: AuditEntry | None, now: datetime) -> bool:
        """Commit ``changes`` with the tombstone (as ``tombstone`` describes it): False when a request
        running at the same time finished first."""
        tombstone = self._tombstone_write(user_id, remove=remove, erased_at=erased_at,
                                          seen_last_erasure=seen_last_erasure)
        return changes.commit_with_tombstone(tombstone, AuditLog(self._table).write(audit, now) if audit else None)

    def _tombstone_write(self, user_id: str, *, remove: Sequence[str], erased_at: str,
                         seen_last_erasure: str | None) -> Write:
        """Mark the profile erased (the first ``erased_at`` stays) and remove its personal data,
        conditional on the profile's last erasure being the one the caller read: of two requests
        running at once exactly one writes (and audits)."""
        names = {"#ea": "erased_at", "#le": "last_erasure_at", **_names(remove)}
        update = "SET #ea = if_not_exists(#ea, :at), #le = :at"
        if remove:
            update += " REMOVE " + ", ".join(k for k in names if k.startswith("#r"))
        values: dict[str, Any] = {":at": erased_at}
        if seen_last_erasure is None:
            condition = "attribute_exists(pk) AND attribute_not_exists(#le)"
        else:
            condition = "attribute_exists(pk) AND #le = :seen"
            values[":seen"] = seen_last_erasure
        return Write.update(self._table.name, customer_profile_key(user_id), update, condition=condition,
                            names=names, values=values)
