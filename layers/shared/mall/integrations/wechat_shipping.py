"""WeChat's shipping-information service (小程序发货信息管理服务) and carrier list, server side
(docs/protocols.md, docs/shipping.md):

- ``POST /wxa/sec/order/upload_shipping_info`` (发货信息录入): the answer is returned as
  ``(errcode, errmsg)``, never raised: the caller records it on the order;
- ``POST /wxa/sec/order/get_order`` (查询订单发货状态) and ``/wxa/sec/order/get_order_list``;
- ``POST /cgi-bin/express/delivery/open_msg/get_delivery_list`` (运力 id 列表).

A revoked access token (40001/42001) is replaced once, as for every server API."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mall.errors import UpstreamUnavailable
from mall.integrations.wechat import _INVALID_TOKEN_ERRCODES, WeChatApiError, WeChatServerClient

UPLOAD_PATH = "/wxa/sec/order/upload_shipping_info"
GET_ORDER_PATH = "/wxa/sec/order/get_order"
GET_ORDER_LIST_PATH = "/wxa/sec/order/get_order_list"
DELIVERY_LIST_PATH = "/cgi-bin/express/delivery/open_msg/get_delivery_list"


@dataclass(frozen=True, slots=True)
class WeChatOrder:
    """One entry of get_order / get_order_list: enough to find our order and its state."""

    transaction_id: str
    merchant_trade_no: str
    order_state: int


class ShippingClient(WeChatServerClient):
    """The shipping-information APIs on top of the token handling of ``WeChatServerClient``."""

    def _call(self, path: str, body: dict[str, object], *, what: str) -> dict[str, Any]:
        token = self.access_token()
        for attempt in (0, 1):
            if attempt == 1:
                token = self._replacement_token(token)
            query = urllib.parse.urlencode({"access_token": token})
            data, _ = self._post_json(f"{path}?{query}", body, what=what)
            try:
                payload = json.loads(data or b"{}")
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                raise UpstreamUnavailable(f"WeChat {what} answered garbage", code="wechat_bad_answer")
            errcode = int(payload.get("errcode", 0) or 0)
            if errcode in _INVALID_TOKEN_ERRCODES and attempt == 0:
                continue  # the cached token was revoked (refreshed elsewhere): ask for WeChat's current one, once
            return payload
        raise AssertionError("unreachable")  # pragma: no cover

    def upload_shipping_info(self, body: dict[str, object]) -> tuple[int, str]:
        """WeChat's answer to one upload: ``(0, "ok")`` or its errcode and errmsg. Raises
        ``UpstreamUnavailable`` only when WeChat cannot be reached or answers garbage."""
        payload = self._call(UPLOAD_PATH, body, what="shipping-information service")
        return int(payload.get("errcode", 0) or 0), str(payload.get("errmsg", "ok"))

    def delivery_list(self) -> dict[str, str]:
        """``delivery_id`` → ``delivery_name`` of every carrier WeChat accepts."""
        payload = self._call(DELIVERY_LIST_PATH, {}, what="carrier list")
        errcode = int(payload.get("errcode", 0) or 0)
        if errcode:
            raise WeChatApiError(f"WeChat refused the carrier list (errcode {errcode}: {payload.get('errmsg')})",
                                 errcode=errcode)
        return {str(entry["delivery_id"]): str(entry.get("delivery_name") or entry["delivery_id"])
                for entry in payload.get("delivery_list") or [] if isinstance(entry, dict) and entry.get("delivery_id")}

    def get_order(self, *, transaction_id: str | None = None, merchant_id: str | None = None,
                  merchant_trade_no: str | None = None) -> WeChatOrder | None:
        """The payment's shipping state; None when WeChat does not know it (10060001)."""
        body: dict[str, object] = ({"transaction_id": transaction_id} if transaction_id else
                                   {"merchant_id": merchant_id or "", "merchant_trade_no": merchant_trade_no or ""})
        payload = self._call(GET_ORDER_PATH, body, what="shipping order query")
        errcode = int(payload.get("errcode", 0) or 0)
        if errcode == 10060001:
            return None
        if errcode:
            raise WeChatApiError(f"WeChat refused the order query (errcode {errcode}: {payload.get('errmsg')})",
                                 errcode=errcode)
        order = payload.get("order")
        return _order(order) if isinstance(order, dict) else None

    def get_order_list(self, *, order_state: int, last_index: str | None = None, page_size: int = 50,
                       pay_time_range: dict[str, int] | None = None) -> tuple[list[WeChatOrder], str | None]:
        """One page of the payments in ``order_state``; the index of the next page (None: the last)."""
        body: dict[str, object] = {"order_state": order_state, "page_size": page_size}
        if last_index:
            body["last_index"] = last_index
        if pay_time_range:
            body["pay_time_range"] = pay_time_range
        payload = self._call(GET_ORDER_LIST_PATH, body, what="shipping order list")
        errcode = int(payload.get("errcode", 0) or 0)
        if errcode:
            raise WeChatApiError(f"WeChat refused the order list (errcode {errcode}: {payload.get('errmsg')})",
                                 errcode=errcode)
        orders = [_order(o) for o in payload.get("order_list") or [] if isinstance(o, dict)]
        more = bool(payload.get("has_more")) and payload.get("last_index")
        return orders, str(payload["last_index"]) if more else None


def _order(raw: dict[str, Any]) -> WeChatOrder:
    return WeChatOrder(transaction_id=str(raw.get("transaction_id") or ""),
                       merchant_trade_no=str(raw.get("merchant_trade_no") or ""),
                       order_state=int(raw.get("order_state") or 0))


def shipping_client(*, force_gate: Any = None) -> ShippingClient:
    """The shipping client of the configured mini-program (mall.config), with the current app secret."""
    from mall.config import get_settings
    from mall.secrets import get_secret

    settings = get_settings()
    return ShippingClient(base_url=str(settings.wechat_api_base), app_id=settings.wechat_app_id,
                          app_secret=get_secret("wechat_app_secret"), timeout=settings.http_timeout_seconds,
                          force_gate=force_gate)
