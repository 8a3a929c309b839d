"""The sandbox's side of WeChat's shipping-information service (小程序发货信息管理服务) and carrier list.

Routes (all ``POST`` with ``?access_token=`` of ``stable_token``; an unknown or revoked token → 40001):

- ``/wechat/wxa/sec/order/upload_shipping_info``: 47001 (data format error) when ``order_key``,
  ``shipping_list`` (not an array), ``upload_time`` (not RFC 3339) or ``payer.openid`` is missing or
  malformed; 10060005 bad ``logistics_type``; 10060006 split delivery not by express; 10060007 split
  delivery without ``is_all_delivered``; 10060008 / 10060009 ``item_desc`` empty / over 120 chars;
  10060024 more than 15 parcels; 10060014 an express parcel without ``tracking_no`` or with an
  ``express_company`` not in the carrier list, an SF parcel without ``contact.receiver_contact``, or an
  ``upload_time`` not later than the previous upload's; 10060001 payment not found; 10060031 the
  payer is not the payment's openid; 10060004 the payment is refunded or closed; a second upload is
  the one change (重新发货), a third → 10060003. ``POST /wechat/sandbox/shipping/fail-next``
  ``{"errcode": 10060012, "times": 2}`` answers the next uploads with that errcode.
- ``/wechat/wxa/sec/order/get_order`` (``transaction_id``, or ``merchant_id`` + ``merchant_trade_no``)
  → the payment's ``order_state`` (1 waiting, 2 shipped, 5 refunded) and its last ``shipping``, or 10060001.
- ``/wechat/wxa/sec/order/get_order_list`` (``order_state``, ``last_index``, ``page_size``).
- ``/wechat/cgi-bin/express/delivery/open_msg/get_delivery_list`` → ``delivery_list`` (``SANDBOX_CARRIERS``).

Payments are those the WeChat Pay sandbox has paid (``payments`` is set by ``local.sandbox``), plus any a
test registers with ``POST /wechat/sandbox/shipping/payments`` ``{"transaction_id", "out_trade_no",
"mchid", "openid"}``. ``GET /wechat/sandbox/shipping/uploads[?out_trade_no=]`` lists what was accepted
(``make ship-uploads``)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

Reply = tuple[int, dict[str, str], bytes]

SANDBOX_CARRIERS: dict[str, str] = {
    "SF": "顺丰速运", "ZTO": "中通快递", "YTO": "圆通速递", "STO": "申通快递", "YD": "韵达快递", "JTSD": "极兔速递",
    "EMS": "EMS", "JD": "京东物流", "DBL": "德邦快递", "YZPY": "邮政快递包裹"}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ERRMSG = {47001: "data format error", 10060001: "支付单不存在", 10060003: "支付单已使用重新发货机会",
           10060004: "支付单处于不可发货的状态", 10060005: "物流类型有误", 10060006: "非快递发货时不允许分拆发货",
           10060007: "分拆发货模式下必须填写 is_all_delivered", 10060008: "商品描述不能为空",
           10060009: "商品描述太长", 10060012: "系统繁忙", 10060014: "参数错误", 10060024: "物流信息列表太长",
           10060031: "该笔支付单不属于 openid 所指定的用户"}

_lock = threading.Lock()
_registered: dict[str, dict[str, Any]] = {}     # transaction_id → payment
_shipments: dict[str, dict[str, Any]] = {}      # transaction_id → {"uploads": [...], "changes": n}
_fail_next: list[int] = []
#: ``() -> [payment]`` of the WeChat Pay sandbox (``transaction_id``, ``out_trade_no``, ``mchid``,
#: ``openid``, ``trade_state``); set by ``local.sandbox``.
payments: Callable[[], list[dict[str, Any]]] = list


def _json(payload: dict[str, Any]) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(payload, ensure_ascii=False).encode()


def _err(errcode: int, detail: str = "") -> Reply:
    return _json({"errcode": errcode, "errmsg": f"{_ERRMSG.get(errcode, 'error')}{': ' + detail if detail else ''}"})


def _all_payments() -> list[dict[str, Any]]:
    found = {p["transaction_id"]: p for p in payments() if p.get("transaction_id")}
    found.update(_registered)
    return list(found.values())


def _payment(key: dict[str, Any]) -> dict[str, Any] | None:
    for payment in _all_payments():
        if key.get("transaction_id") and payment["transaction_id"] == key["transaction_id"]:
            return payment
        if (key.get("out_trade_no") or key.get("merchant_trade_no")) in (payment.get("out_trade_no"),) and \
                (key.get("mchid") or key.get("merchant_id")) == payment.get("mchid"):
            return payment
    return None


def _shipping_list_problem(body: dict[str, Any]) -> int | None:  # noqa: PLR0911 (WeChat's checks in order)
    items = body["shipping_list"]
    if len(items) > 15:
        return 10060024
    if body.get("delivery_mode") == 2:
        if body.get("logistics_type") != 1:
            return 10060006
        if not isinstance(body.get("is_all_delivered"), bool):
            return 10060007
    for item in items:
        desc = item.get("item_desc") if isinstance(item, dict) else None
        if not desc:
            return 10060008
        if len(desc) > 120:
            return 10060009
        if body.get("logistics_type") == 1:
            if not item.get("tracking_no") or item.get("express_company") not in SANDBOX_CARRIERS:
                return 10060014
            contact = (item.get("contact") or {}).get("receiver_contact", "")
            if item["express_company"] == "SF" and not re.fullmatch(r"[0-9*]*\d{4}", str(contact)):
                return 10060014
    return None


def _malformed(body: Any) -> bool:
    key = body.get("order_key") if isinstance(body, dict) else None
    return (not isinstance(key, dict) or key.get("order_number_type") not in (1, 2)
            or not isinstance(body.get("shipping_list"), list) or not body["shipping_list"]
            or not _RFC3339.match(str(body.get("upload_time", "")))
            or not (body.get("payer") or {}).get("openid"))


def upload_shipping_info(body: Any) -> Reply:  # noqa: PLR0911 (WeChat's checks, in order)
    if _malformed(body):
        return _err(47001)
    if body.get("logistics_type") not in (1, 2, 3, 4):
        return _err(10060005)
    problem = _shipping_list_problem(body)
    if problem:
        return _err(problem)
    with _lock:
        if _fail_next:
            return _err(_fail_next.pop(0))
        payment = _payment(body["order_key"])
        if payment is None:
            return _err(10060001)
        if payment.get("openid") != body["payer"]["openid"]:
            return _err(10060031)
        if payment.get("trade_state") in ("REFUND", "CLOSED"):
            return _err(10060004)
        shipment = _shipments.setdefault(payment["transaction_id"], {"uploads": [], "changes": 0})
        if shipment["uploads"]:
            if shipment["changes"] >= 1:
                return _err(10060003)
            if body["upload_time"] <= shipment["uploads"][-1]["upload_time"]:
                return _err(10060014, "upload_time must be later than the previous upload's")
            shipment["changes"] += 1
        shipment["uploads"].append({**body, "out_trade_no": payment.get("out_trade_no")})
    return _json({"errcode": 0, "errmsg": "ok"})


def _order_view(payment: dict[str, Any]) -> dict[str, Any]:
    shipment = _shipments.get(payment["transaction_id"])
    state = 5 if payment.get("trade_state") == "REFUND" else 2 if shipment and shipment["uploads"] else 1
    view: dict[str, Any] = {"transaction_id": payment["transaction_id"], "merchant_id": payment.get("mchid"),
                            "merchant_trade_no": payment.get("out_trade_no"), "openid": payment.get("openid"),
                            "order_state": state}
    if shipment and shipment["uploads"]:
        last = shipment["uploads"][-1]
        view["shipping"] = {"delivery_mode": last["delivery_mode"], "logistics_type": last["logistics_type"],
                            "finish_shipping": True, "finish_shipping_count": shipment["changes"],
                            "shipping_list": last["shipping_list"]}
    return view


def get_order(body: Any) -> Reply:
    with _lock:
        payment = _payment(body if isinstance(body, dict) else {})
        return _json({"errcode": 0, "errmsg": "ok", "order": _order_view(payment)}) if payment else _err(10060001)


def get_order_list(body: Any) -> Reply:
    body = body if isinstance(body, dict) else {}
    size = max(1, min(int(body.get("page_size") or 50), 100))
    start = int(body.get("last_index") or 0)
    with _lock:
        views = [_order_view(p) for p in sorted(_all_payments(), key=lambda p: p["transaction_id"])
                 if p.get("trade_state", "SUCCESS") in ("SUCCESS", "REFUND")]
    if body.get("order_state"):
        views = [v for v in views if v["order_state"] == body["order_state"]]
    page = views[start:start + size]
    more = start + size < len(views)
    return _json({"errcode": 0, "errmsg": "ok", "order_list": page, "has_more": more,
                  "last_index": str(start + size) if more else ""})


def delivery_list() -> Reply:
    return _json({"errcode": 0, "delivery_list": [{"delivery_id": k, "delivery_name": v}
                                                  for k, v in SANDBOX_CARRIERS.items()],
                  "count": len(SANDBOX_CARRIERS)})


def register_payment(body: Any) -> Reply:
    with _lock:
        _registered[str(body["transaction_id"])] = {"trade_state": "SUCCESS", **body}
    return _json({"ok": True})


def fail_next(body: Any) -> Reply:
    with _lock:
        _fail_next.extend([int(body.get("errcode", 10060012))] * int(body.get("times", 1)))
    return _json({"ok": True, "queued": len(_fail_next)})


def list_uploads(out_trade_no: str | None) -> Reply:
    with _lock:
        uploads = [u for s in _shipments.values() for u in s["uploads"]
                   if out_trade_no is None or u.get("out_trade_no") == out_trade_no]
    return _json({"uploads": uploads})


def reset() -> None:
    with _lock:
        _registered.clear()
        _shipments.clear()
        _fail_next.clear()


WECHAT_PATHS: dict[str, Callable[[Any], Reply]] = {
    "/wechat/wxa/sec/order/upload_shipping_info": upload_shipping_info,
    "/wechat/wxa/sec/order/get_order": get_order,
    "/wechat/wxa/sec/order/get_order_list": get_order_list,
    "/wechat/cgi-bin/express/delivery/open_msg/get_delivery_list": lambda body: delivery_list(),
}
