"""Personal data (《个人信息保护法》): field-level encryption at rest.

Phone numbers, real names, addresses and bank accounts are stored only as ``encrypt(...)`` tokens,
AES-256-GCM with the owning record's id as associated data (a token copied onto another record
does not decrypt). Responses and log lines only ever carry the masked forms
(``mall.domain.masking``: 138****1234). docs/personal-data.md tells the whole story.

Keys (envelope encryption):
- In AWS (``PII_KMS_KEY_ID`` set): a data key from KMS ``GenerateDataKey`` (AES_256), made once per
  container and cached. Its wrapped (KMS-encrypted) form is stored once in the table as
  ``PII_KEY#<key_ref>/KEY`` (``mall.dal.pii_keys``) *before* any token names it; tokens are
  ``v2:<key_ref>:<base64 nonce + ciphertext>``. Decrypting unwraps a key_ref with KMS ``Decrypt``
  once per container and caches the plaintext key. A new container may make a new data key (that is
  the rotation); every key_ref ever written stays decryptable. The KMS key itself rotates yearly.
- Locally (no ``PII_KMS_KEY_ID``): the ``pii_encryption_key`` secret (32 bytes, hex) seals
  ``v1:<base64 nonce + ciphertext>`` tokens. v1 tokens stay decryptable forever, also in AWS.

An erased value (``mall.services.erasure``) is the marker ``mall.domain.masking.ERASED``: decrypting
it raises ``PersonalDataErased`` (409 ``personal_data_erased``), never a 500."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from functools import lru_cache
from typing import Any

from mall.clock import utc_now
from mall.config import function_environment
from mall.domain.masking import ERASED
from mall.errors import Conflict
from mall.secrets import get_secret

_V1 = "v1"
_V2 = "v2"
#: Bound into every KMS call (GenerateDataKey and Decrypt must agree; CloudTrail shows it).
KMS_ENCRYPTION_CONTEXT = {"purpose": "mall-pii"}
_NONCE_BYTES = 12


class PersonalDataErased(Conflict):
    """The value was erased at the customer's request (个人信息删除): there is nothing to reveal."""

    code = "personal_data_erased"


@lru_cache(maxsize=2)
def _cipher(key_hex: str):  # type: ignore[no-untyped-def]
    key = bytes.fromhex(key_hex)
    if len(key) != 32:
        raise ValueError("pii_encryption_key must be 32 bytes (64 hex characters)")
    return _aesgcm(key)


def _aesgcm(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only the functions that seal pay for it

    return AESGCM(key)


def kms_key_id() -> str | None:
    """The KMS key of envelope encryption (env ``PII_KMS_KEY_ID``); None → the local v1 key."""
    return function_environment().pii_kms_key_id


@lru_cache(maxsize=1)
def _kms() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("kms", config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=2,
                                             read_timeout=5))


def _table() -> Any:
    from mall.dal.table import main_table

    return main_table()


class _KeyCache:
    """Per container: the data key this container seals with, and every unwrapped key it has opened."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sealing: dict[tuple[str, str], str] = {}  # (table, kms key) → key_ref
        self.keys: dict[str, bytes] = {}  # key_ref → plaintext data key

    def clear(self) -> None:
        with self.lock:
            self.sealing.clear()
            self.keys.clear()


_cache = _KeyCache()


def reset_caches() -> None:
    """Forget every data key and client (tests; a real container never needs it)."""
    _cache.clear()
    _kms.cache_clear()
    _cipher.cache_clear()


def key_ref_for(wrapped: bytes) -> str:
    """A short, stable name of a wrapped data key (12 base32 characters of its sha256)."""
    return "k" + base64.b32encode(hashlib.sha256(wrapped).digest()).decode("ascii")[:12].lower()


def _sealing_key(key_id: str) -> tuple[str, bytes]:
    from mall.dal.pii_keys import PiiKeyRepository, WrappedKey

    table = _table()
    slot = (str(table.name), key_id)
    with _cache.lock:
        ref = _cache.sealing.get(slot)
        if ref is not None:
            return ref, _cache.keys[ref]
        answer = _kms().generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=KMS_ENCRYPTION_CONTEXT)
        wrapped = bytes(answer["CiphertextBlob"])
        ref = key_ref_for(wrapped)
        # Stored before the first token names it: a token whose key is not in the table would be lost data.
        PiiKeyRepository(table).put(WrappedKey(key_ref=ref, wrapped=wrapped, kms_key_id=str(answer["KeyId"])),
                                    utc_now())
        _cache.keys[ref] = bytes(answer["Plaintext"])
        _cache.sealing[slot] = ref
        return ref, _cache.keys[ref]


def _opening_key(ref: str) -> bytes:
    from mall.dal.pii_keys import PiiKeyRepository

    with _cache.lock:
        key = _cache.keys.get(ref)
        if key is not None:
            return key
        stored = PiiKeyRepository(_table()).get(ref)
        if stored is None:
            raise ValueError(f"personal-data key {ref!r} is not in the table")
        answer = _kms().decrypt(CiphertextBlob=stored.wrapped, EncryptionContext=KMS_ENCRYPTION_CONTEXT)
        key = bytes(answer["Plaintext"])
        _cache.keys[ref] = key
        return key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def encrypt(plaintext: str, *, context: str) -> str:
    """An opaque token for ``plaintext`` bound to ``context`` (e.g. the order id)."""
    nonce = os.urandom(_NONCE_BYTES)
    key_id = kms_key_id()
    if key_id is not None:
        ref, key = _sealing_key(key_id)
        sealed = _aesgcm(key).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_V2}:{ref}:{_b64(nonce + sealed)}"
    sealed = _cipher(get_secret("pii_encryption_key")).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{_V1}:{_b64(nonce + sealed)}"


def decrypt(token: str, *, context: str) -> str:
    """The plaintext of a token made by ``encrypt`` with the same ``context`` (any version)."""
    if token == ERASED:
        raise PersonalDataErased("this personal data was erased at the customer's request")
    version, _, rest = token.partition(":")
    if version == _V1:
        raw = base64.urlsafe_b64decode(rest.encode("ascii"))
        cipher = _cipher(get_secret("pii_encryption_key"))
    elif version == _V2:
        ref, _, payload = rest.partition(":")
        raw = base64.urlsafe_b64decode(payload.encode("ascii"))
        cipher = _aesgcm(_opening_key(ref))
    else:
        raise ValueError(f"unknown personal-data token version {version!r}")
    return str(cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode())


# ---- fingerprints (fraud scan): compare personal data without decrypting it --------------------

_FINGERPRINT_LABEL = b"mall-pii-fingerprint-v1"


@lru_cache(maxsize=2)
def _fingerprint_key(key_hex: str) -> bytes:
    # A key of its own, derived from the v1 secret (kept in AWS too): a fingerprint must stay
    # comparable forever, so it cannot follow the per-container KMS data keys.
    import hmac

    return hmac.new(bytes.fromhex(key_hex), _FINGERPRINT_LABEL, hashlib.sha256).digest()


def fingerprint(value: str, *, kind: str = "") -> str:
    """A keyed hash (HMAC-SHA256, 32 hex characters) of ``value``, stored next to its ciphertext so
    equal values can be matched (the fraud scan's same phone / address / device) without decrypting.
    ``kind`` separates domains (``phone``, ``address``, ``device``...): equal text of two kinds never
    matches. Without the key it reveals nothing; callers normalise the value first."""
    import hmac

    key = _fingerprint_key(get_secret("pii_encryption_key"))
    return hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:32]
