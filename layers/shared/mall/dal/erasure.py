"""Reads and writes of the erasure request (``mall.services.erasure``; docs/data-model.md, "rules and
personal data"). Every read is a Query on an existing index, never a scan:

- the customer's own partition ``USER#<uid>`` (profile, promoter, binding, counters, ledger …), with a
  filter so only items that hold personal data come back;
- their orders, the orders' address items and the share visits they made while logged in: gsi1
  ``BUYER#<uid>`` (``mall.dal.order_items.address_index``, ``mall.dal.referral.visitor_index``);
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
from mall.dal.order_items import ADDRESS_APART, with_address
from mall.dal.table import Item, Key, Table, TransactionCancelled, Write, key_of
from mall.domain.erasure import IN_FLIGHT_WITHDRAWALS, PII_ATTRIBUTES, identifying_values, personal_attributes

#: Items one TransactWriteItems may change (DynamoDB's limit).
TRANSACTION_LIMIT = 100
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


class ErasureRaced(Exception):
    """Something the request read changed before its transaction committed: read and decide again."""


class ErasureWrites:
    """The request's changes, gathered and committed together with the profile's tombstone: one
    TransactWriteItems (up to ``TRANSACTION_LIMIT`` items; a larger account commits its first
    changes in earlier transactions, each change idempotent). Each change stays conditional on its
    item still existing (a withdrawal: on being final), so a transaction cancelled by a concurrent
    change is read and decided again."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._writes: list[Write] = []

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
        if not order.get(ADDRESS_APART):
            return self.replace_map(dict(key_of(order)), "address", value, remove=remove,
                                    condition="attribute_exists(pk) AND attribute_exists(#m)")
        if remove:
            self.remove_attributes(order, remove)
        return self.replace_map(order_address_key(str(order["order_id"])), "address", value)

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
                self._table.transact(self._writes[:TRANSACTION_LIMIT])
                self._writes = self._writes[TRANSACTION_LIMIT:]
        except TransactionCancelled as exc:
            raise ErasureRaced from exc
        try:
            self._table.transact([*last, *self._writes])
        except TransactionCancelled as exc:
            if exc.conditional_failures == [0]:
                return False
            raise ErasureRaced from exc
        return True


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
        gsi1 ``BUYER#<uid>``, which holds the orders, their address items and the visits made while
        logged in. An order whose address item is not indexed there yet (placed before the index;
        ``tools/migrations/buyer_index_entries``) has it read in one more BatchGetItem."""
        found = list(self._all("#pk = :pk", names={"#pk": "gsi1pk"}, values={":pk": buyer_partition(user_id)},
                               index="gsi1"))
        orders = [i for i in found if i.get("entity") == "order"]
        apart = {str(i["order_id"]): i for i in found if i.get("entity") == "order_address"}
        missing = [str(o["order_id"]) for o in orders if o.get("address") is None and str(o["order_id"]) not in apart]
        if missing:
            apart |= {str(i["order_id"]): i for i in self._table.batch_get([order_address_key(o) for o in missing],
                                                                          consistent=True)}
        return BuyerRecords(orders=[with_address(o, apart.get(str(o["order_id"]))) for o in orders],
                            visits=[i for i in found if i.get("entity") == "share_visit"])

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
