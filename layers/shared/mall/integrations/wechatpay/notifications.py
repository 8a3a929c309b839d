"""WeChat Pay v3 notifications (payment, refund, payout): verify, decrypt, reply.

Typical webhook::

    try:
        note = verify_and_decrypt(event_headers, raw_body, public_keys=keys, apiv3_key=key, now=utc_now())
        tx = parse_transaction(note.resource)            # mall.integrations.wechatpay.resources
    except NotificationRejected as exc:
        status, body = rejection_reply(exc)              # 4xx: WeChat Pay retries later
    else:
        ... handle idempotently (duplicates happen) ...
        status, body = success_reply()                   # 204, empty body

The signature is verified over the raw body bytes *before* anything in the body is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from mall.integrations.wechatpay.crypto import AeadError, aes_gcm_decrypt
from mall.integrations.wechatpay.errors import NotificationRejected, RejectionReason
from mall.integrations.wechatpay.verifier import verify_signed_message

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "ALGORITHM",
    "RESOURCE_TYPE",
    "Notification",
    "NotificationRejected",
    "failure_reply",
    "rejection_reply",
    "success_reply",
    "verify_and_decrypt",
]

ALGORITHM = "AEAD_AES_256_GCM"
RESOURCE_TYPE = "encrypt-resource"

EVENT_TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
EVENT_REFUND_SUCCESS = "REFUND.SUCCESS"
EVENT_REFUND_ABNORMAL = "REFUND.ABNORMAL"
EVENT_REFUND_CLOSED = "REFUND.CLOSED"
EVENT_TRANSFER_FINISHED = "MCHTRANSFER.BILL.FINISHED"


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, decrypted notification: the envelope fields plus the decrypted resource."""

    id: str
    create_time: str
    event_type: str
    resource_type: str
    summary: str
    original_type: str
    associated_data: str
    resource: dict[str, object] = field(repr=False)  # decrypted; may hold personal data (openid)
    serial: str  # the Wechatpay-Serial whose key verified the signature
    timestamp: int  # Wechatpay-Timestamp
    request_id: str | None = None


def _text(obj: Mapping[str, object], name: str, *, where: str, required: bool = True) -> str:
    value = obj.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise NotificationRejected("malformed_body", f"{where}.{name} must be a string")
    return value


def verify_and_decrypt(
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    public_keys: Mapping[str, RSAPublicKey],
    apiv3_key: bytes,
    now: datetime,
    replay_window_seconds: int = 300,
) -> Notification:
    """Verify a notification's signature and replay window, then decrypt its resource.

    ``headers`` in any case; ``raw_body`` exactly as received; ``public_keys`` maps a
    ``Wechatpay-Serial`` (``PUB_KEY_ID_…`` or a certificate serial) to its key; ``apiv3_key`` is
    the 32-byte APIv3 key; ``now`` a timezone-aware datetime. Raises ``NotificationRejected``.
    """
    verified = verify_signed_message(
        headers, raw_body, public_keys=public_keys, now=now, replay_window_seconds=replay_window_seconds
    )
    # Only now that the bytes are known to come from WeChat Pay is the body parsed.
    try:
        envelope = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected("malformed_body", "the body is not UTF-8 JSON") from exc
    if not isinstance(envelope, dict):
        raise NotificationRejected("malformed_body", "the body is not a JSON object")
    resource_type = _text(envelope, "resource_type", where="body")
    if resource_type != RESOURCE_TYPE:
        raise NotificationRejected("unsupported_resource_type", f"resource_type {resource_type[:40]!r}")
    resource = envelope.get("resource")
    if not isinstance(resource, dict):
        raise NotificationRejected("malformed_body", "body.resource must be an object")
    algorithm = _text(resource, "algorithm", where="resource")
    if algorithm != ALGORITHM:
        raise NotificationRejected("unsupported_algorithm", f"resource.algorithm {algorithm[:40]!r}")
    ciphertext = _text(resource, "ciphertext", where="resource")
    nonce = _text(resource, "nonce", where="resource")
    associated_data = _text(resource, "associated_data", where="resource", required=False)
    original_type = _text(resource, "original_type", where="resource", required=False)
    note_id = _text(envelope, "id", where="body")
    create_time = _text(envelope, "create_time", where="body")
    event_type = _text(envelope, "event_type", where="body")
    summary = _text(envelope, "summary", where="body", required=False)

    try:
        plaintext = aes_gcm_decrypt(apiv3_key, nonce, associated_data, ciphertext)
    except AeadError as exc:
        raise NotificationRejected("decrypt_failed", "the resource does not decrypt with the APIv3 key") from exc
    try:
        decrypted = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected("malformed_resource", "the decrypted resource is not UTF-8 JSON") from exc
    if not isinstance(decrypted, dict):
        raise NotificationRejected("malformed_resource", "the decrypted resource is not a JSON object")

    return Notification(
        id=note_id,
        create_time=create_time,
        event_type=event_type,
        resource_type=resource_type,
        summary=summary,
        original_type=original_type,
        associated_data=associated_data,
        resource=decrypted,
        serial=verified.serial,
        timestamp=verified.timestamp,
        request_id=verified.request_id,
    )


# ---- webhook replies -----------------------------------------------------------------------

_UNAUTHORISED: frozenset[RejectionReason] = frozenset(
    {"missing_header", "ambiguous_header", "bad_timestamp", "stale_timestamp", "signature_probe",
     "bad_signature_type", "unknown_serial", "bad_signature"}
)


def success_reply() -> tuple[int, bytes]:
    """Acknowledge: HTTP 204 with an empty body (also for an already-handled duplicate)."""
    return 204, b""


def failure_reply(message: str, status: int = 500) -> tuple[int, bytes]:
    """Refuse so that WeChat Pay retries later: ``{"code":"FAIL","message":...}``.

    Use a 5xx when *we* failed (e.g. the database is unavailable) and a 4xx for a bad message.
    Keep ``message`` generic: it is sent back to the caller."""
    if not 400 <= status <= 599:
        raise ValueError("a failure reply needs a 4xx or 5xx status")
    body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False, separators=(",", ":"))
    return status, body.encode("utf-8")


def rejection_reply(exc: NotificationRejected) -> tuple[int, bytes]:
    """The reply to a rejected notification: 401 for signature problems, 400 otherwise."""
    status = 401 if exc.reason_code in _UNAUTHORISED else 400
    return failure_reply(exc.reason_code, status)
