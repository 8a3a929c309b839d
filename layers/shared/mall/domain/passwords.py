"""Admin password hashing: salted scrypt (memory-hard, stdlib), self-describing format
``scrypt$n$r$p$salt$hash`` so parameters can be raised later without breaking old hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
MIN_PASSWORD_LENGTH = 12


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    enc = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, hash_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=256 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when the username is unknown, so response time does not reveal which
    usernames exist. Computed on first use, not at import (cold start)."""
    return hash_password("not-a-real-password", salt=b"\x00" * 16)
