"""The customer's address book in the single table: one item ``USER#<uid>`` / ``ADDRESS_BOOK``
(``mall.domain.address_book``; docs/data-model.md, "identity").

The item holds ``addresses`` (a map address id → the sealed name, phone and street, province, city,
a fingerprint, ``version`` and times), ``default_id`` and the book's ``version``. Every change writes
the whole book conditional on the version read (or on there being no book yet), so setting a new
default unsets the old one in the same write and the cap can never be passed by two saves at once.
It lives in the customer's own partition: the erasure request's Query of that partition finds it,
and placing an order reads it in the BatchGetItem it already makes (its key is known from the buyer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mall.dal.keys import address_book_key, user_partition
from mall.dal.table import ConditionFailed, Item, Table
from mall.domain.address_book import AddressBook, SavedAddress


class BookChanged(Exception):
    """The book changed between its read and the write: read and decide again."""


def address_book_context(user_id: str, address_id: str) -> str:
    """The associated data a saved address's sealed fields are bound to: the owner's partition and the
    address id, so a token copied onto another customer's book (or another address) does not open."""
    return f"{user_partition(user_id)}/{address_id}"


def _entry_from(address_id: str, raw: Mapping[str, Any]) -> SavedAddress:
    return SavedAddress(address_id=address_id, name_enc=str(raw.get("name_enc", "")),
                        phone_enc=str(raw.get("phone_enc", "")), detail_enc=str(raw.get("detail_enc", "")),
                        province=str(raw.get("province", "")), city=str(raw.get("city", "")),
                        fingerprint=str(raw.get("fingerprint", "")), version=int(raw.get("version", 1)),
                        created_at=str(raw.get("created_at", "")), updated_at=str(raw.get("updated_at", "")),
                        masked=(str(raw.get("name_masked", "")), str(raw.get("phone_masked", "")),
                                str(raw.get("detail_masked", ""))))


def book_from_item(user_id: str, item: Item | None) -> AddressBook:
    """The book as stored (an empty one when there is none, or when an erasure emptied it)."""
    if not item:
        return AddressBook(user_id=user_id)
    raw = item.get("addresses") or {}
    addresses = {str(k): _entry_from(str(k), v) for k, v in raw.items() if isinstance(v, Mapping)}
    default = item.get("default_id")
    return AddressBook(user_id=user_id, addresses=addresses,
                       default_id=str(default) if default in addresses else None,
                       version=int(item.get("version", 0)))


def _entry_item(entry: SavedAddress) -> dict[str, Any]:
    return {"name_enc": entry.name_enc, "phone_enc": entry.phone_enc, "detail_enc": entry.detail_enc,
            "province": entry.province, "city": entry.city, "fingerprint": entry.fingerprint,
            "version": entry.version, "created_at": entry.created_at, "updated_at": entry.updated_at,
            "name_masked": entry.masked[0], "phone_masked": entry.masked[1], "detail_masked": entry.masked[2]}


class AddressBookRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, user_id: str) -> AddressBook:
        return book_from_item(user_id, self._table.get(address_book_key(user_id), consistent=True))

    def save(self, book: AddressBook, *, seen_version: int) -> AddressBook:
        """Write ``book`` whole, conditional on the stored version being ``seen_version`` (0: no book
        yet, or one an erasure emptied at that version). ``BookChanged`` when it moved meanwhile."""
        version = seen_version + 1
        item = {**address_book_key(book.user_id), "entity": "address_book", "user_id": book.user_id,
                "addresses": {k: _entry_item(v) for k, v in book.addresses.items()},
                "default_id": book.default_id, "version": version}
        condition = "attribute_not_exists(pk) OR #v = :seen" if seen_version == 0 else "#v = :seen"
        try:
            self._table.put(item, condition=condition, names={"#v": "version"}, values={":seen": seen_version})
        except ConditionFailed as exc:
            raise BookChanged from exc
        return AddressBook(user_id=book.user_id, addresses=dict(book.addresses), default_id=book.default_id,
                           version=version)
