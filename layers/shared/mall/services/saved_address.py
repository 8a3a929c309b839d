"""A saved address of the buyer's book opened in clear (收货地址簿), as an order's inline address.

Apart from the address book's use cases (``mall.services.address_book``, which shows it masked), so placing
an order does not load the book routes' models (``mall.schemas.address_book``) at its cold start
(docs/performance.md, "Cold start: place order's init")."""

from __future__ import annotations

from mall.dal.address_book import address_book_context
from mall.domain.address_book import SavedAddress
from mall.integrations import pii_crypto
from mall.schemas.orders import AddressRequest


def opened(user_id: str, entry: SavedAddress) -> AddressRequest:
    """The saved address in clear, as an order's inline address (the order seals its own copy)."""
    context = address_book_context(user_id, entry.address_id)
    return AddressRequest(name=pii_crypto.decrypt(entry.name_enc, context=context),
                          phone=pii_crypto.decrypt(entry.phone_enc, context=context),
                          province=entry.province, city=entry.city,
                          detail=pii_crypto.decrypt(entry.detail_enc, context=context))
