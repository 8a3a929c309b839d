"""The merchant transfer API (商家转账): create, query and cancel a transfer bill."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from datetime import datetime

from local.wechatpay_sandbox.actions import Actions
from local.wechatpay_sandbox.common import (
    _OUT_BILL_NO,
    Json,
    _ApiError,
    _digits,
    _fmt,
    _oaep,
)


class TransfersApi(Actions):
    """``/v3/fund-app/mch-transfer/transfer-bills``; a cancelled bill is notified."""

    # ---- transfers --------------------------------------------------------------------------

    def _transfer(self, data: Json, headers: Mapping[str, str], now: datetime) -> Json:
        need = self._need
        if need(data, "appid", str) != self.appid:
            raise _ApiError(400, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配")
        out_bill_no = need(data, "out_bill_no", str)
        if not _OUT_BILL_NO.fullmatch(out_bill_no):
            raise _ApiError(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成")
        amount = need(data, "transfer_amount", int)
        remark = need(data, "transfer_remark", str)
        if amount <= 0 or len(remark) > 32:
            raise _ApiError(400, "PARAM_ERROR", "transfer_amount 或 transfer_remark 错误")
        openid = need(data, "openid", str)
        need(data, "transfer_scene_id", str)
        infos = data.get("transfer_scene_report_infos")
        if not isinstance(infos, list) or not all(
            isinstance(i, dict) and isinstance(i.get("info_type"), str) and isinstance(i.get("info_content"), str)
            for i in infos
        ):
            raise _ApiError(400, "PARAM_ERROR", "transfer_scene_report_infos 格式错误")
        user_name = data.get("user_name")
        if amount >= 200_000 and not user_name:
            raise _ApiError(400, "PARAM_ERROR", "转账金额 >= 2000 元时 user_name 必填")
        if user_name:
            if headers.get("wechatpay-serial") != self.public_key_id:
                raise _ApiError(400, "PARAM_ERROR", "Wechatpay-Serial 与加密使用的公钥不一致")
            try:
                self._platform_private.decrypt(base64.b64decode(str(user_name), validate=True), _oaep())
            except ValueError as exc:
                raise _ApiError(400, "PARAM_ERROR", "user_name 解密失败") from exc
        with self._state() as state:
            existing = state["bills"].get(out_bill_no)
            if existing is not None:
                if existing["openid"] != openid or existing["transfer_amount"] != amount:
                    raise _ApiError(400, "INVALID_REQUEST", "商户单号重复且参数不一致")
                return self._bill_created_view(existing)
            bill = {
                "out_bill_no": out_bill_no,
                "transfer_bill_no": "1330" + _digits(36),
                "openid": openid,
                "transfer_amount": amount,
                "transfer_remark": remark,
                "notify_url": data.get("notify_url"),
                "transfer_scene_id": data["transfer_scene_id"],
                "state": "WAIT_USER_CONFIRM",
                "package_info": base64.b64encode(secrets.token_bytes(48)).decode(),
                "create_time": _fmt(now),
                "update_time": _fmt(now),
                "fail_reason": None,
                "user_name_given": bool(user_name),
            }
            state["bills"][out_bill_no] = bill
            return self._bill_created_view(bill)

    @staticmethod
    def _bill_created_view(bill: Json) -> Json:
        view: Json = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "create_time", "state")}
        if bill["state"] == "WAIT_USER_CONFIRM":
            view["package_info"] = bill["package_info"]
        if bill.get("fail_reason"):
            view["fail_reason"] = bill["fail_reason"]
        return view

    def _query_bill(self, out_bill_no: str) -> Json:
        with self._state(write=False) as state:
            bill = state["bills"].get(out_bill_no)
            if bill is None:
                raise _ApiError(404, "NOT_FOUND", "记录不存在")
            return self._bill_view(bill)

    def _bill_view(self, bill: Json) -> Json:
        view: Json = {
            "mch_id": self.mchid, "appid": self.appid,
            **{k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "transfer_amount",
                                    "transfer_remark", "openid", "create_time", "update_time")},
        }
        if bill.get("fail_reason"):
            view["fail_reason"] = bill["fail_reason"]
        return view

    def _cancel_bill(self, out_bill_no: str, now: datetime) -> Json:
        with self._state() as state:
            bill = state["bills"].get(out_bill_no)
            if bill is None:
                raise _ApiError(404, "NOT_FOUND", "记录不存在")
            if bill["state"] not in {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "CANCELING"}:
                raise _ApiError(400, "INVALID_REQUEST", f"单据状态 {bill['state']} 不允许撤销")
            bill["state"] = "CANCELLED"
            bill["update_time"] = _fmt(now)
            view = {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "update_time")}
            snapshot = dict(bill)
        self._deliver_bill(snapshot, background=True)
        return view
