"""Genuine WeChat Pay notifications: the decrypted resources, the encrypted and signed envelope, and
their delivery to a webhook (now or in the background)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from local.wechatpay_sandbox.common import (
    EVENT_SUMMARY,
    TRADE_STATE_DESC,
    Json,
    SandboxEvent,
    _alnum,
    _digits,
    _dumps,
    _fmt,
)
from local.wechatpay_sandbox.core import SandboxCore


class Notifications(SandboxCore):
    """Builds, signs and delivers notifications."""

    # ---- notifications ----------------------------------------------------------------------

    def build_notification(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        original_type: str,
        now: datetime | None = None,
        timestamp_override: str | None = None,
        serial_override: str | None = None,
        signature_override: str | None = None,
        associated_data: str | None = None,
        notification_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A genuine WeChat Pay notification: returns (headers, raw body).

        ``associated_data`` defaults to ``original_type``; ``timestamp_override`` is signed (a
        genuine but stale message); ``serial_override``/``signature_override`` forge the header."""
        moment = now or self._clock()
        aad = original_type if associated_data is None else associated_data
        nonce = _alnum(12)
        sealed = AESGCM(self.apiv3_key).encrypt(nonce.encode(), _dumps(resource), aad.encode())
        envelope = {
            "id": notification_id or str(uuid.uuid4()),
            "create_time": _fmt(moment),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": EVENT_SUMMARY.get(event_type, event_type),
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(sealed).decode(),
                "associated_data": aad,
                "nonce": nonce,
            },
        }
        raw = _dumps(envelope)
        headers = self._signed_headers(raw, now=moment, timestamp=timestamp_override)
        headers["Content-Type"] = "application/json"
        if serial_override is not None:
            headers["Wechatpay-Serial"] = serial_override
        if signature_override is not None:
            headers["Wechatpay-Signature"] = signature_override
        return headers, raw

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """POST a notification to ``url`` (through the configured sender)."""
        return self._sender(url, headers, body)

    def transaction_resource(
        self,
        out_trade_no: str,
        total_fen: int,
        openid: str,
        *,
        transaction_id: str | None = None,
        success_time: datetime | None = None,
        attach: str = "",
        bank_type: str = "OTHERS",
        trade_state: str = "SUCCESS",
    ) -> Json:
        """The decrypted TRANSACTION.SUCCESS resource."""
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "4200" + _digits(24),
            "trade_type": "JSAPI",
            "trade_state": trade_state,
            "trade_state_desc": TRADE_STATE_DESC.get(trade_state, trade_state),
            "bank_type": bank_type,
            "attach": attach,
            "success_time": _fmt(success_time or self._clock()),
            "payer": {"openid": openid},
            "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
        }

    def refund_resource(
        self,
        out_refund_no: str,
        out_trade_no: str,
        refund_fen: int,
        total_fen: int,
        *,
        refund_status: str = "SUCCESS",
        transaction_id: str | None = None,
        refund_id: str | None = None,
        success_time: datetime | None = None,
    ) -> Json:
        """The decrypted REFUND.* resource."""
        resource: Json = {
            "mchid": self.mchid,
            "transaction_id": transaction_id or "4200" + _digits(24),
            "out_trade_no": out_trade_no,
            "refund_id": refund_id or "50" + _digits(27),
            "out_refund_no": out_refund_no,
            "refund_status": refund_status,
            "user_received_account": "支付用户零钱",
            "amount": {"total": total_fen, "refund": refund_fen, "payer_total": total_fen, "payer_refund": refund_fen},
        }
        if refund_status == "SUCCESS":
            resource["success_time"] = _fmt(success_time or self._clock())
        return resource

    def transfer_bill_resource(
        self,
        out_bill_no: str,
        amount_fen: int,
        openid: str,
        *,
        state: str = "SUCCESS",
        transfer_bill_no: str | None = None,
        fail_reason: str | None = None,
        create_time: str | None = None,
        update_time: str | None = None,
    ) -> Json:
        """The decrypted MCHTRANSFER.BILL.FINISHED resource."""
        now = _fmt(self._clock())
        resource: Json = {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer_bill_no or "1330" + _digits(36),
            "state": state,
            "mch_id": self.mchid,
            "transfer_amount": amount_fen,
            "openid": openid,
            "create_time": create_time or now,
            "update_time": update_time or now,
        }
        if fail_reason:
            resource["fail_reason"] = fail_reason
        return resource

    def _deliver(self, event_type: str, resource: Json, original_type: str, url: str | None,
                 *, notification_id: str | None = None, background: bool = False) -> SandboxEvent:
        headers, body = self.build_notification(
            event_type, resource, original_type=original_type, notification_id=notification_id
        )
        target = self.notify_url or url
        envelope_id = json.loads(body)["id"]
        with self._state() as state:
            state["last_notification"] = {
                "id": envelope_id, "event_type": event_type, "resource": resource,
                "original_type": original_type, "url": target,
            }
        if not target:
            return SandboxEvent(event_type, resource, headers, body, None, None, None)
        if background:
            # Called from inside ``handle``: the webhook may be served by the very (possibly
            # single-threaded) server that is waiting for this response, so deliver afterwards.
            threading.Thread(target=self.send, args=(target, headers, body), daemon=True).start()
            return SandboxEvent(event_type, resource, headers, body, target, None, None)
        status, response = self.send(target, headers, body)
        return SandboxEvent(event_type, resource, headers, body, target, status, response)
