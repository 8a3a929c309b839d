"""The domestic refund API: request and query a refund."""

from __future__ import annotations

from datetime import datetime

from local.wechatpay_sandbox.common import (
    _OUT_REFUND_NO,
    Json,
    _ApiError,
    _digits,
    _fmt,
)
from local.wechatpay_sandbox.core import SandboxCore


class RefundsApi(SandboxCore):
    """``/v3/refund/domestic/refunds``."""

    # ---- refunds ----------------------------------------------------------------------------

    def _refund(self, data: Json, now: datetime) -> Json:
        need = self._need
        out_refund_no = need(data, "out_refund_no", str)
        if not _OUT_REFUND_NO.fullmatch(out_refund_no):
            raise _ApiError(400, "PARAM_ERROR", "out_refund_no 格式错误")
        out_trade_no = need(data, "out_trade_no", str)
        amount = need(data, "amount", dict)
        refund_fen = need(amount, "refund", int, where="amount.")
        total_fen = need(amount, "total", int, where="amount.")
        if refund_fen <= 0 or amount.get("currency", "CNY") != "CNY":
            raise _ApiError(400, "PARAM_ERROR", "amount 参数错误")
        with self._state() as state:
            order = state["orders"].get(out_trade_no)
            if order is None:
                raise _ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = state["refunds"].get(out_refund_no)
            if existing is not None:
                if existing["out_trade_no"] != out_trade_no or existing["refund"] != refund_fen:
                    raise _ApiError(400, "INVALID_REQUEST", "退款单号重复且参数不一致")
                return self._refund_view(existing)
            if order["trade_state"] not in {"SUCCESS", "REFUND"}:
                raise _ApiError(400, "INVALID_REQUEST", "订单未支付，不能退款")
            if total_fen != order["total"]:
                raise _ApiError(400, "INVALID_REQUEST", "订单金额与原订单不一致")
            refunded = sum(
                r["refund"] for r in state["refunds"].values()
                if r["out_trade_no"] == out_trade_no and r["status"] != "CLOSED"
            )
            if refund_fen > order["total"] - refunded:
                raise _ApiError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            refund = {
                "out_refund_no": out_refund_no,
                "refund_id": "50" + _digits(27),
                "out_trade_no": out_trade_no,
                "transaction_id": order["transaction_id"],
                "refund": refund_fen,
                "total": order["total"],
                "reason": data.get("reason"),
                "notify_url": data.get("notify_url"),
                "status": "PROCESSING",
                "create_time": _fmt(now),
                "success_time": None,
            }
            state["refunds"][out_refund_no] = refund
            return self._refund_view(refund)

    def _query_refund(self, out_refund_no: str) -> Json:
        with self._state(write=False) as state:
            refund = state["refunds"].get(out_refund_no)
            if refund is None:
                raise _ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return self._refund_view(refund)

    @staticmethod
    def _refund_view(refund: Json) -> Json:
        view: Json = {
            "refund_id": refund["refund_id"],
            "out_refund_no": refund["out_refund_no"],
            "transaction_id": refund["transaction_id"],
            "out_trade_no": refund["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": refund["create_time"],
            "status": refund["status"],
            "funds_account": "AVAILABLE",
            "amount": {
                "total": refund["total"], "refund": refund["refund"],
                "payer_total": refund["total"], "payer_refund": refund["refund"],
                "settlement_refund": refund["refund"], "settlement_total": refund["total"],
                "discount_refund": 0, "currency": "CNY", "refund_fee": 0,
            },
            "promotion_detail": [],
        }
        if refund.get("success_time"):
            view["success_time"] = refund["success_time"]
        return view
