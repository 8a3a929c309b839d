"""确认收货提醒: ``POST /wxa/sec/order/notify_confirm_receive?access_token=`` (docs/shipping.md).

Body: the order by ``transaction_id`` (or ``merchant_id`` + ``merchant_trade_no``) and
``received_time``, the parcel's signing time in seconds (milliseconds are refused). WeChat allows
one reminder per order, only for express parcels, and the signing time must be after the shipment
(10060029 otherwise); 10060001: WeChat knows no such payment."""

from __future__ import annotations

import json
import urllib.parse

from mall.errors import TooManyRequests, UpstreamUnavailable
from mall.integrations.wechat import (
    _INVALID_TOKEN_ERRCODES,
    ForceRefreshGate,
    WeChatApiError,
    WeChatServerClient,
)


class ReceiptClient(WeChatServerClient):
    """The server client with the shipping service's reminder call."""

    def notify_confirm_receive(self, *, transaction_id: str, received_time: int) -> None:
        """Ask WeChat to remind the buyer to confirm receipt. Raises ``WeChatApiError`` (with
        ``errcode``) when WeChat refuses, ``TooManyRequests`` on 45009, ``UpstreamUnavailable``
        when WeChat cannot be reached or is busy (-1). A revoked token is replaced once."""
        if not transaction_id or received_time <= 0 or received_time >= 10**11:
            raise ValueError("transaction_id and received_time (seconds) are required")
        body: dict[str, object] = {"transaction_id": transaction_id, "received_time": received_time}
        token = self.access_token()
        for attempt in (0, 1):
            if attempt == 1:
                token = self._replacement_token(token)
            query = urllib.parse.urlencode({"access_token": token})
            data, _ = self._post_json(f"/wxa/sec/order/notify_confirm_receive?{query}", body,
                                      what="confirm-receipt reminder")
            try:
                payload = json.loads(data or b"{}")
            except ValueError as exc:
                raise UpstreamUnavailable("WeChat's reminder service answered garbage",
                                          code="wechat_bad_answer") from exc
            if not isinstance(payload, dict):
                raise UpstreamUnavailable("WeChat's reminder service answered garbage", code="wechat_bad_answer")
            errcode, errmsg = int(payload.get("errcode", 0) or 0), str(payload.get("errmsg", ""))
            if errcode == 0:
                return
            if errcode in _INVALID_TOKEN_ERRCODES and attempt == 0:
                continue
            if errcode == 45009:
                raise TooManyRequests("WeChat's reminder quota is exhausted for now", retry_after_seconds=60,
                                      code="wechat_reminder_rate_limited")
            if errcode == -1:
                raise UpstreamUnavailable("WeChat's reminder service is busy; try again", code="wechat_unavailable")
            raise WeChatApiError(f"WeChat refused the reminder (errcode {errcode}: {errmsg})", errcode=errcode,
                                 code="wechat_reminder_refused")
        raise AssertionError("unreachable")  # pragma: no cover


def receipt_client(*, force_gate: ForceRefreshGate | None = None) -> ReceiptClient:
    """The reminder client of the configured mini-program, with the app secret as it is now."""
    from mall.config import get_settings
    from mall.secrets import get_secret

    settings = get_settings()
    return ReceiptClient(base_url=str(settings.wechat_api_base), app_id=settings.wechat_app_id,
                         app_secret=get_secret("wechat_app_secret"), timeout=settings.http_timeout_seconds,
                         force_gate=force_gate)
