"""Personal data (《个人信息保护法》): field-level encryption at rest and masking for output.

Phone numbers, real names and addresses are stored only as ``encrypt(...)`` tokens: AES-256-GCM
under the ``pii_encryption_key`` secret (32 random bytes, hex), with the owning record's id as
associated data so a token copied onto another record does not decrypt. Responses and log lines
only ever carry the ``mask_*`` forms (138****1234)."""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from mall.secrets import get_secret

_VERSION = "v1"


@lru_cache(maxsize=2)
def _cipher(key_hex: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = bytes.fromhex(key_hex)
    if len(key) != 32:
        raise ValueError("pii_encryption_key must be 32 bytes (64 hex characters)")
    return AESGCM(key)


def encrypt(plaintext: str, *, context: str) -> str:
    """An opaque token for ``plaintext`` bound to ``context`` (e.g. the order id)."""
    nonce = os.urandom(12)
    sealed = _cipher(get_secret("pii_encryption_key")).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def decrypt(token: str, *, context: str) -> str:
    version, _, payload = token.partition(":")
    if version != _VERSION:
        raise ValueError(f"unknown personal-data token version {version!r}")
    raw = base64.urlsafe_b64decode(payload.encode("ascii"))
    return str(_cipher(get_secret("pii_encryption_key")).decrypt(raw[:12], raw[12:], context.encode()).decode())


def mask_phone(phone: str) -> str:
    """138****1234; shorter numbers keep only their last 2 digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str) -> str:
    """张** / 欧阳** : the family name (first character) only."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_address(address: str) -> str:
    """The first 6 characters (province / city) then stars: enough to recognise, not to locate."""
    address = address.strip()
    return address[:6] + "****" if len(address) > 6 else address[:2] + "****"


def mask_nickname(nickname: str | None) -> str:
    """A team member's nickname in lists: first and last character (微**友)."""
    if not nickname:
        return "微信用户"
    if len(nickname) <= 2:
        return nickname[:1] + "*"
    return nickname[:1] + "**" + nickname[-1:]
