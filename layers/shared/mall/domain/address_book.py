"""The customer's address book (收货地址): saved delivery addresses, one of them the default. Pure.

- At most ``MAX_ADDRESSES`` addresses per customer (the book is one stored item; a bounded book
  keeps it small, and a shop's buyer never needs more).
- Exactly one default while the book is not empty: the first address saved becomes it, saving or
  marking another one as default moves it (the book is written as a whole, so the old default is
  unset in the same write), and deleting the default hands it to the most recently changed address.
- Each address has a ``version``: an update or delete naming a version that is no longer the stored
  one is a 409 ``address_changed`` (another device edited it meanwhile).
- Saving an address equal to one already in the book (same recipient, phone and place) returns that
  one: a retried create never fills the book with copies.

Names, phones and street addresses are stored sealed (``mall.integrations.pii_crypto``) and shown
masked; an order placed with a saved address keeps its own sealed copy, so later edits of the book
never change an order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound

#: The most addresses one customer may keep.
MAX_ADDRESSES = 20


@dataclass(frozen=True, slots=True)
class SavedAddress:
    """One address of the book, as stored: ``name``, ``phone`` and ``detail`` are sealed tokens."""

    address_id: str
    name_enc: str
    phone_enc: str
    detail_enc: str
    province: str
    city: str
    fingerprint: str
    version: int
    created_at: str
    updated_at: str
    #: The masks answers show (王**, 138****1234, 西湖区文三路****), kept beside the tokens so a list
    #: opens nothing (no key to unwrap); empty for an address saved without them.
    masked: tuple[str, str, str] = ("", "", "")


@dataclass(frozen=True, slots=True)
class AddressBook:
    """The whole book; ``version`` moves with every change (the write is conditional on it)."""

    user_id: str
    addresses: dict[str, SavedAddress] = field(default_factory=dict)
    default_id: str | None = None
    version: int = 0

    def ordered(self) -> list[SavedAddress]:
        """The default first, then the most recently changed."""
        rest = sorted((a for a in self.addresses.values() if a.address_id != self.default_id),
                      key=lambda a: (a.updated_at, a.address_id), reverse=True)
        first = [self.addresses[self.default_id]] if self.default_id in self.addresses else []
        return [*first, *rest]

    def entry(self, address_id: str, *, field_name: str = "address_id") -> SavedAddress:
        found = self.addresses.get(address_id)
        if found is None:
            raise NotFound("no such address in your address book", code="address_not_found",
                           details={"field": field_name})
        return found

    def same_as(self, fingerprint: str) -> SavedAddress | None:
        return next((a for a in self.addresses.values() if a.fingerprint == fingerprint), None)


def check_room(book: AddressBook) -> None:
    if len(book.addresses) >= MAX_ADDRESSES:
        raise Conflict(f"your address book is full ({MAX_ADDRESSES} addresses); delete one first",
                       code="address_book_full", details={"limit": MAX_ADDRESSES})


def check_version(entry: SavedAddress, version: int) -> None:
    if entry.version != version:
        raise Conflict("the address changed since you read it; read it again", code="address_changed",
                       details={"address_id": entry.address_id, "version": entry.version})


def added(book: AddressBook, entry: SavedAddress, *, make_default: bool) -> AddressBook:
    default = entry.address_id if make_default or book.default_id not in book.addresses else book.default_id
    return replace(book, addresses={**book.addresses, entry.address_id: entry}, default_id=default)


def updated(book: AddressBook, entry: SavedAddress, *, make_default: bool) -> AddressBook:
    current = book.entry(entry.address_id)
    changed = replace(entry, version=current.version + 1, created_at=current.created_at)
    default = entry.address_id if make_default else book.default_id
    return replace(book, addresses={**book.addresses, entry.address_id: changed}, default_id=default)


def removed(book: AddressBook, address_id: str) -> AddressBook:
    book.entry(address_id)
    left = {k: v for k, v in book.addresses.items() if k != address_id}
    default = book.default_id
    if default == address_id or default not in left:
        newest = max(left.values(), key=lambda a: (a.updated_at, a.address_id), default=None)
        default = newest.address_id if newest is not None else None
    return replace(book, addresses=left, default_id=default)


def with_default(book: AddressBook, address_id: str) -> AddressBook:
    book.entry(address_id)
    return replace(book, default_id=address_id)


def unknown_address_for_order() -> InvalidInput:
    """An ``address_id`` that is not in the caller's own book: another customer's id reads the same."""
    return InvalidInput("address_id is not in your address book", code="address_not_found",
                        fields=[FieldProblem("address_id", "not in your address book")])
