"""What is fingerprinted (phones, addresses, device ids), normalised first so trivial differences
still match. Pure.

Apart from the fraud scan's rules (``mall.domain.fraud``), which compare the fingerprints: a login
binding a phone, an address book or an order's address only normalise, and do not load the rules."""

from __future__ import annotations

import re

_NOT_ADDRESS = re.compile(r"[\s,，.。、;；:：\-—_#/\\()（）]+")


def normalise_phone(phone: str) -> str:
    """Digits only, without China's country code: ``+86 138-1234-1234`` → ``13812341234``."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def normalise_address(province: str, city: str, detail: str) -> str:
    """Province + city + detail, case-folded, without spaces and punctuation."""
    return _NOT_ADDRESS.sub("", f"{province}{city}{detail}").casefold()


def normalise_device(device_id: str) -> str:
    return device_id.strip()
