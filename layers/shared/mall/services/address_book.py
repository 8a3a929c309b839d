"""Use cases of the customer's address book (收货地址): ``/me/addresses`` (rules:
``mall.domain.address_book``; storage: ``mall.dal.address_book``).

Each change is one consistent read of the book and one conditional write of it (two round trips);
a write that lost a race with another change of the same book reads and decides again. Names,
phones and streets are sealed before they are stored and masked in every answer; a log line names
the address id, never its content."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from mall.clock import iso
from mall.dal.address_book import AddressBookRepository, BookChanged, address_book_context
from mall.domain import address_book as rules
from mall.domain import masking
from mall.domain.address_book import AddressBook, SavedAddress
from mall.domain.normalise import normalise_address, normalise_phone
from mall.errors import Conflict
from mall.ids import new_id
from mall.integrations import pii_crypto
from mall.schemas.address_book import AddressBookView, SaveAddressRequest, SavedAddressView, UpdateAddressRequest
from mall.schemas.orders import AddressRequest
from mall.services.saved_address import opened

logger = Logger(child=True)

#: Reads and decisions again after another change of the same book won the write.
ATTEMPTS = 4


def _fingerprint(a: AddressRequest) -> str:
    same = f"{a.name.strip()}\x1f{normalise_phone(a.phone)}\x1f{normalise_address(a.province, a.city, a.detail)}"
    return pii_crypto.fingerprint(same, kind="saved_address")


def _sealed(user_id: str, address_id: str, a: AddressRequest, *, now: datetime) -> SavedAddress:
    context = address_book_context(user_id, address_id)
    stamp = iso(now)
    return SavedAddress(address_id=address_id, name_enc=pii_crypto.encrypt(a.name, context=context),
                        phone_enc=pii_crypto.encrypt(a.phone, context=context),
                        detail_enc=pii_crypto.encrypt(a.detail, context=context), province=a.province, city=a.city,
                        fingerprint=_fingerprint(a), version=1, created_at=stamp, updated_at=stamp,
                        masked=(masking.mask_name(a.name), masking.mask_phone(a.phone), masking.mask_address(a.detail)))


def _masks(book: AddressBook, entry: SavedAddress) -> tuple[str, str, str]:
    if all(entry.masked):
        return entry.masked
    clear = opened(book.user_id, entry)
    return masking.mask_name(clear.name), masking.mask_phone(clear.phone), masking.mask_address(clear.detail)


def _view(book: AddressBook, entry: SavedAddress) -> SavedAddressView:
    name, phone, detail = _masks(book, entry)
    return SavedAddressView(address_id=entry.address_id, name=name, phone=phone, province=entry.province,
                            city=entry.city, detail=detail, is_default=entry.address_id == book.default_id,
                            version=entry.version, created_at=entry.created_at, updated_at=entry.updated_at)


def book_view(book: AddressBook) -> AddressBookView:
    return AddressBookView(items=[_view(book, entry) for entry in book.ordered()], default_id=book.default_id,
                           limit=rules.MAX_ADDRESSES)


def list_addresses(*, books: AddressBookRepository, user_id: str) -> AddressBookView:
    return book_view(books.get(user_id))


def _address_of(body: SaveAddressRequest) -> AddressRequest:
    return AddressRequest(name=body.name, phone=body.phone, province=body.province, city=body.city,
                          detail=body.detail)


def add_address(*, books: AddressBookRepository, user_id: str, body: SaveAddressRequest,
                now: datetime) -> tuple[SavedAddressView, bool]:
    """Save a new address (and whether it is new: an equal one already saved is returned instead)."""
    address = _address_of(body)
    fingerprint = _fingerprint(address)
    for _ in range(ATTEMPTS):
        book = books.get(user_id)
        same = book.same_as(fingerprint)
        if same is not None and not (body.is_default and book.default_id != same.address_id):
            return _view(book, same), False
        if same is not None:
            changed = rules.with_default(book, same.address_id)
            entry = same
        else:
            rules.check_room(book)
            entry = _sealed(user_id, new_id("a"), address, now=now)
            changed = rules.added(book, entry, make_default=body.is_default)
        try:
            saved = books.save(changed, seen_version=book.version)
        except BookChanged:
            continue
        logger.info("address saved", extra={"user_id": user_id, "address_id": entry.address_id})
        return _view(saved, saved.addresses[entry.address_id]), same is None
    raise Conflict("your address book changed meanwhile; retry", code="retry_later")


def update_address(*, books: AddressBookRepository, user_id: str, address_id: str, body: UpdateAddressRequest,
                   now: datetime) -> SavedAddressView:
    for _ in range(ATTEMPTS):
        book = books.get(user_id)
        current = book.entry(address_id)
        rules.check_version(current, body.version)
        fresh = _sealed(user_id, address_id, _address_of(body), now=now)
        changed = rules.updated(book, fresh, make_default=body.is_default)
        try:
            saved = books.save(changed, seen_version=book.version)
        except BookChanged:
            continue
        logger.info("address changed", extra={"user_id": user_id, "address_id": address_id})
        return _view(saved, saved.addresses[address_id])
    raise Conflict("your address book changed meanwhile; retry", code="retry_later")


def delete_address(*, books: AddressBookRepository, user_id: str, address_id: str, version: int) -> None:
    for _ in range(ATTEMPTS):
        book = books.get(user_id)
        rules.check_version(book.entry(address_id), version)
        try:
            books.save(rules.removed(book, address_id), seen_version=book.version)
        except BookChanged:
            continue
        logger.info("address deleted", extra={"user_id": user_id, "address_id": address_id})
        return
    raise Conflict("your address book changed meanwhile; retry", code="retry_later")


def set_default(*, books: AddressBookRepository, user_id: str, address_id: str) -> AddressBookView:
    """Make ``address_id`` the default; the old default is unset in the same write (a repeat is a no-op)."""
    for _ in range(ATTEMPTS):
        book = books.get(user_id)
        book.entry(address_id)
        if book.default_id == address_id:
            return book_view(book)
        try:
            saved = books.save(rules.with_default(book, address_id), seen_version=book.version)
        except BookChanged:
            continue
        return book_view(saved)
    raise Conflict("your address book changed meanwhile; retry", code="retry_later")
