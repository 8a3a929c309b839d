"""Exceptions of the WeChat Pay integration.

They are integration errors, not ``mall.errors.DomainError``s: the service code that calls
WeChat Pay decides what each means for the business (e.g. a retryable error while creating a
payout becomes ``UpstreamUnavailable``; ``WeChatPayNotFound`` on a query means "never created").
"""

from __future__ import annotations

from typing import Literal

RejectionReason = Literal[
    "missing_header",
    "ambiguous_header",
    "bad_timestamp",
    "stale_timestamp",
    "signature_probe",
    "bad_signature_type",
    "unknown_serial",
    "bad_signature",
    "malformed_body",
    "unsupported_resource_type",
    "unsupported_algorithm",
    "decrypt_failed",
    "malformed_resource",
]
"""Stable reason codes of ``NotificationRejected`` (safe to log and to count in metrics)."""


class NotificationRejected(Exception):
    """A signed WeChat Pay message (notification or API response) failed a check.

    ``reason_code`` is one of ``RejectionReason``; ``message`` is a human-readable detail that
    never contains key material or decrypted data.
    """

    def __init__(self, reason_code: RejectionReason, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code: RejectionReason = reason_code
        self.message = message


class WeChatPayError(Exception):
    """An API call failed. ``status`` is the HTTP status (0 when no response arrived),
    ``code``/``message`` come from WeChat Pay's error body (``{"code", "message", "detail"}``)
    or describe the local failure; ``request_id`` is WeChat Pay's ``Request-ID`` when known."""

    retryable = False

    def __init__(self, status: int, code: str, message: str, *, request_id: str | None = None,
                 detail: object = None) -> None:
        super().__init__(f"WeChat Pay {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.detail = detail


class WeChatPayRetryableError(WeChatPayError):
    """Transient: 5xx, 429, timeouts, connection errors, ``SYSTEM_ERROR``, ``FREQUENCY_LIMITED``.

    The request may or may not have taken effect: retry with the SAME out_trade_no /
    out_refund_no / out_bill_no (WeChat Pay deduplicates on them) or query first."""

    retryable = True


class WeChatPayNotFound(WeChatPayError):
    """The order / refund / bill does not exist (``ORDER_NOT_EXIST``, ``RESOURCE_NOT_EXISTS``,
    ``NOT_FOUND`` or HTTP 404)."""


class WeChatPayInvalidResponse(WeChatPayError):
    """A 2xx response failed signature verification or did not have the documented shape.

    Never act on such a response. The call may have taken effect at WeChat Pay, so reconcile
    by querying with the same merchant number."""
