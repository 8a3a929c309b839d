"""Erasure request (个人信息删除, 《个人信息保护法》 art. 47): which personal data goes, which records stay.

Pure rules; ``mall.services.erasure`` applies them. Personal data is removed or replaced by the
``mall.domain.masking.ERASED`` marker; **financial records stay** (orders with their amounts and lines,
commissions, ledger postings, wallets, withdrawals with their amounts, the binding that attributes
commission): the law lets a merchant keep what accounting and tax rules require, and the mall must
never lose a dispute for lack of records.

- Attributes named in ``PII_ATTRIBUTES`` are removed from every item of the customer's own partition
  (profile, promoter, binding, login data …), from their orders and from their share visits; a
  secondary-index key that embeds a removed value (``UNIONID#<unionid>``) goes with it.
- An order's shipping ``address`` becomes ``erased_address``: name, phone and street are the marker,
  province, city and the fraud scan's fingerprints are dropped.
- A withdrawal's ``bank`` keeps the bank's name and branch (not personal) and loses the holder's name
  and the account number (ciphertext, mask and last four digits).
- A withdrawal still in flight (pending review, approved, paying) refuses the whole request: it may
  still need its account to be paid, and an erasure is all or nothing from the customer's view.
- So does a paid order with goods to deliver (paid or shipped, not yet received) that still holds its
  address: erasing it would strand the parcel. The customer asks again once it is received (or
  refunded and closed); nothing is erased meanwhile."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import Any

from mall.domain.masking import ERASED

#: Attributes that hold personal data (or data derived from it) wherever they appear. The openid is
#: not here: it is the account (payouts and refunds go to it) and reveals nothing without WeChat.
PII_ATTRIBUTES: frozenset[str] = frozenset({
    "nickname", "avatar", "avatar_url", "phone", "phone_enc", "phone_masked", "phone_fp", "real_name",
    "real_name_enc", "name_enc", "unionid", "device_id", "device_ids", "device_fingerprint", "last_device_id",
    "known_devices", "source_ip", "last_source_ip", "ip", "user_agent", "last_client_at", "address_fp",
    "addresses", "phone_country_code", "phone_bound_at",
})
#: A withdrawal in one of these still moves money.
IN_FLIGHT_WITHDRAWALS: frozenset[str] = frozenset({"PENDING_REVIEW", "APPROVED", "PAYING"})
#: A paid order in one of these has a parcel on its way (or about to be): its address is still needed.
AWAITING_DELIVERY: frozenset[str] = frozenset({"PAID", "SHIPPED"})
_BANK_KEEPS: frozenset[str] = frozenset({"bank_name", "branch"})


def _values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, set | frozenset | list | tuple):
        for v in value:
            if isinstance(v, str):
                yield v


def personal_attributes(item: Mapping[str, Any]) -> list[str]:
    """The attributes of ``PII_ATTRIBUTES`` that ``item`` holds (sorted)."""
    return sorted(name for name in PII_ATTRIBUTES if item.get(name) not in (None, "", set(), []))


def identifying_values(item: Mapping[str, Any], attributes: Iterable[str]) -> set[str]:
    """The values of ``attributes`` long enough to identify someone where they are copied (into an
    index key, say): what must go wherever it appears."""
    return {v for name in attributes for v in _values(item[name]) if len(v) >= 6}


def erased_address(erased_at: str) -> dict[str, str]:
    return {"name_enc": ERASED, "phone_enc": ERASED, "detail_enc": ERASED, "erased_at": erased_at}


def address_needs_erasure(address: Any) -> bool:
    if not isinstance(address, Mapping):
        return False
    return any(k not in {"erased_at"} and v != ERASED for k, v in address.items())


def holds_address(order: Mapping[str, Any], unread: Container[str]) -> bool:
    """Whether ``order`` still holds a delivery address to erase: one read and not erased, or one its
    request did not read (named in ``unread``), which is as placed."""
    return address_needs_erasure(order.get("address")) or str(order.get("order_id")) in unread


def erased_bank(bank: Mapping[str, Any], erased_at: str) -> dict[str, str]:
    kept = {k: str(v) for k, v in bank.items() if k in _BANK_KEEPS and v is not None}
    return {**kept, "account_name_enc": ERASED, "account_no_enc": ERASED, "account_name_masked": "**",
            "account_no_last4": "", "erased_at": erased_at}


def bank_needs_erasure(bank: Any) -> bool:
    if not isinstance(bank, Mapping):
        return False
    return any(k not in _BANK_KEEPS | {"erased_at"} and v not in (ERASED, "**", "") for k, v in bank.items())


def withdrawals_in_flight(withdrawals: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The withdrawals that refuse an erasure (id and status), oldest first."""
    return [{"withdrawal_id": str(w.get("withdrawal_id")), "status": str(w.get("status"))}
            for w in sorted(withdrawals, key=lambda w: str(w.get("created_at", "")))
            if str(w.get("status")) in IN_FLIGHT_WITHDRAWALS]


def orders_awaiting_delivery(orders: Iterable[Mapping[str, Any]], *,
                             unread: Container[str] = frozenset()) -> list[dict[str, str]]:
    """The orders that refuse an erasure (id and status), oldest first: paid or shipped and not yet
    received, with a delivery address still on them (only orders with physical goods keep one; an
    order whose address was not read, named in ``unread``, keeps it as placed)."""
    return [{"order_id": str(o.get("order_id")), "status": str(o.get("status"))}
            for o in sorted(orders, key=lambda o: str(o.get("created_at", "")))
            if str(o.get("status")) in AWAITING_DELIVERY and holds_address(o, unread)]
