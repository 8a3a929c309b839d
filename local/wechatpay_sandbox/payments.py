"""The JSAPI payment API: prepay, query and close an order."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from local.wechatpay_sandbox.common import (
    _OUT_TRADE_NO,
    CST,
    TRADE_STATE_DESC,
    Json,
    _ApiError,
    _fmt,
)
from local.wechatpay_sandbox.core import SandboxCore


class PaymentsApi(SandboxCore):
    """``/v3/pay/transactions``."""

    # ---- payments ---------------------------------------------------------------------------

    def _jsapi(self, data: Json, now: datetime) -> Json:
        need = self._need
        if need(data, "appid", str) != self.appid or need(data, "mchid", str) != self.mchid:
            raise _ApiError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配")
        out_trade_no = need(data, "out_trade_no", str)
        if not _OUT_TRADE_NO.fullmatch(out_trade_no):
            raise _ApiError(400, "PARAM_ERROR", "out_trade_no 格式错误")
        amount = need(data, "amount", dict)
        total = need(amount, "total", int, where="amount.")
        if total <= 0 or amount.get("currency", "CNY") != "CNY":
            raise _ApiError(400, "PARAM_ERROR", "amount 参数错误")
        openid = need(need(data, "payer", dict), "openid", str, where="payer.")
        order = {
            "out_trade_no": out_trade_no,
            "description": need(data, "description", str),
            "notify_url": need(data, "notify_url", str),
            "total": total,
            "openid": openid,
            "attach": data.get("attach"),
            "time_expire": data.get("time_expire"),
            "profit_sharing": bool((data.get("settle_info") or {}).get("profit_sharing")),
            "trade_state": "NOTPAY",
            "created": _fmt(now),
        }
        with self._state() as state:
            existing = state["orders"].get(out_trade_no)
            if existing is not None:
                if existing["trade_state"] in {"SUCCESS", "REFUND"}:
                    raise _ApiError(400, "ORDERPAID", "该订单已支付")
                if existing["trade_state"] == "CLOSED":
                    raise _ApiError(400, "ORDER_CLOSED", "订单已关闭")
                same = ("description", "total", "openid", "attach")
                if any(existing[k] != order[k] for k in same):
                    raise _ApiError(400, "INVALID_REQUEST", "201 商户订单号重复")
                order = existing
            prepay_id = f"wx{now.astimezone(CST):%d%H%M%S}{secrets.token_hex(13)}"
            order.setdefault("prepay_ids", []).append(prepay_id)
            state["orders"][out_trade_no] = order
        return {"prepay_id": prepay_id}

    def _transaction_view(self, order: Json) -> Json:
        view: Json = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": order["out_trade_no"],
            "trade_state": order["trade_state"],
            "trade_state_desc": TRADE_STATE_DESC[order["trade_state"]],
            "amount": {"total": order["total"], "currency": "CNY", "payer_currency": "CNY"},
            "promotion_detail": [],
        }
        if order.get("attach") is not None:
            view["attach"] = order["attach"]
        if order.get("transaction_id"):
            view.update(
                transaction_id=order["transaction_id"],
                trade_type="JSAPI",
                bank_type=order.get("bank_type", "OTHERS"),
                success_time=order["success_time"],
                payer={"openid": order["openid"]},
            )
            view["amount"]["payer_total"] = order["total"]
            view.setdefault("attach", "")
        return view

    def _query_order(self, out_trade_no: str, params: Mapping[str, str]) -> Json:
        if params.get("mchid") != self.mchid:
            raise _ApiError(400, "PARAM_ERROR", "mchid 参数错误")
        with self._state(write=False) as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            return self._transaction_view(order)

    def _close(self, out_trade_no: str, data: Json) -> tuple[int, None]:
        """Close an unpaid order (204, no body)."""
        if data.get("mchid") != self.mchid:
            raise _ApiError(400, "PARAM_ERROR", "mchid 参数错误")
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
            if order["trade_state"] in {"SUCCESS", "REFUND"}:
                raise _ApiError(400, "ORDERPAID", "该订单已支付")
            order["trade_state"] = "CLOSED"
        return 204, None
