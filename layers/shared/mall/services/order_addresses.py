"""The delivery address of an order being placed (收货地址): a saved address opened from the buyer's
book, the order's own sealed copy, and the masked view the answer shows."""

from __future__ import annotations

from mall.dal.order_items import address_context
from mall.dal.placement_reads import PlacementFacts
from mall.domain import masking
from mall.domain.normalise import normalise_address, normalise_phone
from mall.errors import FieldProblem, InvalidInput
from mall.integrations import pii_crypto
from mall.schemas.order_address import AddressView
from mall.schemas.orders import PlaceOrderRequest


def address_or_id(*, has_address: bool, has_address_id: bool) -> None:
    """An order names its address either inline or by its id in the buyer's address book, not both."""
    if has_address and has_address_id:
        raise InvalidInput("send either an address or an address_id, not both", code="address_ambiguous",
                           fields=[FieldProblem("address_id", "omit it when sending an inline address")])


def sealed_address(request: PlaceOrderRequest, order_id: str) -> dict[str, str] | None:
    """The order's own copy of its delivery address: sealed under the order's id, with keyed
    fingerprints beside it."""
    if request.address is None:
        return None
    context = address_context(order_id)
    a = request.address
    return {"name_enc": pii_crypto.encrypt(a.name, context=context),
            "phone_enc": pii_crypto.encrypt(a.phone, context=context),
            "detail_enc": pii_crypto.encrypt(a.detail, context=context), "province": a.province, "city": a.city,
            # keyed hashes next to the ciphertext: the fraud scan matches phones / addresses without decrypting
            "phone_fp": pii_crypto.fingerprint(normalise_phone(a.phone), kind="phone"),
            "address_fp": pii_crypto.fingerprint(normalise_address(a.province, a.city, a.detail), kind="address")}


def with_saved_address(request: PlaceOrderRequest, facts: PlacementFacts, *, buyer_id: str) -> PlaceOrderRequest:
    """The request with the saved address it names opened as its inline address: the order then
    seals its own copy under its own id, so a later edit of the book never changes the order. Only
    the buyer's own book is read: another customer's address id is simply not found (422)."""
    if request.address_id is None:
        return request
    # The address book's rules are imported by an order that names a saved address, not at every cold start.
    from mall.domain import address_book
    from mall.services.saved_address import opened as saved_address

    book = facts.address_book
    entry = book.addresses.get(request.address_id) if book is not None else None
    if entry is None:
        raise address_book.unknown_address_for_order()
    return request.model_copy(update={"address": saved_address(buyer_id, entry)})


def masked_address(request: PlaceOrderRequest) -> AddressView | None:
    """The address as the order's answer shows it (masked)."""
    if request.address is None:
        return None
    a = request.address
    return AddressView(name=masking.mask_name(a.name), phone=masking.mask_phone(a.phone), province=a.province,
                       city=a.city, detail=masking.mask_address(a.detail))
