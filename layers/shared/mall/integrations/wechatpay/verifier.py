"""The ``Wechatpay-*`` signature check shared by notifications and API responses.

WeChat Pay signs ``"{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{body}\\n"`` with RSA PKCS#1 v1.5
SHA-256 and sends the base64 signature in ``Wechatpay-Signature``; ``Wechatpay-Serial`` names the
key: ``PUB_KEY_ID_…`` for a WeChat Pay public key, else a platform certificate's hex serial.
The body is the raw bytes as received: never re-serialise JSON before verifying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mall.integrations.wechatpay.crypto import rsa_verify
from mall.integrations.wechatpay.errors import NotificationRejected

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "PUBLIC_KEY_ID_PREFIX",
    "SIGNATURE_TYPE",
    "SIGNTEST_PREFIX",
    "VerifiedHeaders",
    "normalise_headers",
    "signed_message",
    "verify_signed_message",
]

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"

H_TIMESTAMP = "wechatpay-timestamp"
H_NONCE = "wechatpay-nonce"
H_SIGNATURE = "wechatpay-signature"
H_SERIAL = "wechatpay-serial"
H_SIGNATURE_TYPE = "wechatpay-signature-type"
H_REQUEST_ID = "request-id"

_MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class VerifiedHeaders:
    """The signature headers of a message whose signature verified."""

    timestamp: int
    nonce: str
    serial: str
    request_id: str | None


def normalise_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names. Two spellings of one name with different values are refused
    (``ambiguous_header``): which one was signed would be a guess."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in out and out[key] != value:
            raise NotificationRejected("ambiguous_header", f"header {key!r} given twice with different values")
        out[key] = value
    return out


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes WeChat Pay signs: ``timestamp\\nnonce\\nbody\\n``."""
    return timestamp.encode("utf-8") + b"\n" + nonce.encode("utf-8") + b"\n" + body + b"\n"


def _find_key(public_keys: Mapping[str, RSAPublicKey], serial: str) -> RSAPublicKey | None:
    key = public_keys.get(serial)
    if key is not None or serial.startswith(PUBLIC_KEY_ID_PREFIX):
        return key
    # Certificate serials are hex; compare them case-insensitively.
    wanted = serial.upper()
    for known, candidate in public_keys.items():
        if not known.startswith(PUBLIC_KEY_ID_PREFIX) and known.upper() == wanted:
            return candidate
    return None


def verify_signed_message(
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    public_keys: Mapping[str, RSAPublicKey],
    now: datetime | None,
    replay_window_seconds: int | None = 300,
) -> VerifiedHeaders:
    """Check the four signature headers, the replay window, the key and the signature.

    ``now`` must be timezone-aware; ``replay_window_seconds=None`` (API responses) skips the
    timestamp window. Never fetches keys: an unknown serial is rejected.
    Raises ``NotificationRejected`` with one of the reason codes in the order the checks run:
    ``ambiguous_header``, ``missing_header``, ``signature_probe``, ``bad_signature_type``,
    ``bad_timestamp``, ``stale_timestamp``, ``unknown_serial``, ``bad_signature``.
    """
    h = normalise_headers(headers)
    values: dict[str, str] = {}
    for name in (H_TIMESTAMP, H_NONCE, H_SIGNATURE, H_SERIAL):
        value = h.get(name, "")
        if not value:
            raise NotificationRejected("missing_header", f"header {name!r} is missing or empty")
        values[name] = value
    signature = values[H_SIGNATURE]
    if signature.startswith(SIGNTEST_PREFIX):
        raise NotificationRejected("signature_probe", "WeChat Pay signature probe (WECHATPAY/SIGNTEST/)")
    signature_type = h.get(H_SIGNATURE_TYPE)
    if signature_type is not None and signature_type != SIGNATURE_TYPE:
        raise NotificationRejected("bad_signature_type", f"unsupported Wechatpay-Signature-Type {signature_type!r}")

    raw_ts = values[H_TIMESTAMP]
    if not (raw_ts.isascii() and raw_ts.isdigit() and len(raw_ts) <= _MAX_TIMESTAMP_DIGITS):
        raise NotificationRejected("bad_timestamp", "Wechatpay-Timestamp is not a number of seconds")
    timestamp = int(raw_ts)
    if replay_window_seconds is not None:
        if now is None or now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime when a replay window applies")
        if abs(now.timestamp() - timestamp) >= replay_window_seconds:
            raise NotificationRejected(
                "stale_timestamp", f"Wechatpay-Timestamp is {replay_window_seconds} s or more away from now"
            )

    serial = values[H_SERIAL]
    key = _find_key(public_keys, serial)
    if key is None:
        raise NotificationRejected("unknown_serial", f"no WeChat Pay key with serial {serial[:64]!r}")

    nonce = values[H_NONCE]
    if not rsa_verify(key, signed_message(raw_ts, nonce, raw_body), signature):
        raise NotificationRejected("bad_signature", "Wechatpay-Signature does not verify")
    return VerifiedHeaders(timestamp=timestamp, nonce=nonce, serial=serial, request_id=h.get(H_REQUEST_ID))
