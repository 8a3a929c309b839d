"""A small WeChat Pay API v3 client (direct merchant, JSAPI / mini-program) over ``urllib``.

Every request is signed with the merchant key; every 2xx response's signature is verified with
the WeChat Pay public keys (same checks as notifications, without the replay window) before its
body is read. Errors become ``WeChatPayError`` subclasses (see ``errors``).

All amounts are integer fen. Merchant numbers (out_trade_no, out_refund_no, out_bill_no) are the
idempotency keys of WeChat Pay: after a retryable error, retry with the same number or query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from pydantic import BaseModel

from mall.integrations.wechatpay.crypto import rsa_oaep_encrypt
from mall.integrations.wechatpay.errors import (
    NotificationRejected,
    WeChatPayError,
    WeChatPayInvalidResponse,
    WeChatPayNotFound,
    WeChatPayRetryableError,
)
from mall.integrations.wechatpay.refund_resources import RefundResult
from mall.integrations.wechatpay.resources import TransactionResource, parse_model
from mall.integrations.wechatpay.signing import JsapiPayParams, build_authorization, jsapi_pay_params
from mall.integrations.wechatpay.tracing import traced_call
from mall.integrations.wechatpay.transfer_resources import (
    TransferBillCancelled,
    TransferBillCreated,
    TransferBillResource,
)
from mall.integrations.wechatpay.transport import HttpRequest, HttpResponse, Transport, urllib_transport
from mall.integrations.wechatpay.verifier import PUBLIC_KEY_ID_PREFIX, verify_signed_message

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

# Re-exported: a client built without a transport sends through this module's ``urllib_transport``,
# the name the tests and the local stack replace to reach the pay sandbox.
__all__ = [
    "DEFAULT_BASE_URL",
    "HttpRequest",
    "HttpResponse",
    "TransferSceneReportInfo",
    "Transport",
    "WeChatPayClient",
    "rfc3339_cst",
    "urllib_transport",
]

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
USER_AGENT = "mall-backend/1.0 (python-urllib; WeChat Pay API v3)"
USER_NAME_REQUIRED_FROM_FEN = 200_000  # ¥2,000: a transfer needs the payee's real name from here on

RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED"})
NOT_FOUND_CODES = frozenset({"ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS", "NOT_FOUND"})

_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")
_CST = timezone(timedelta(hours=8), "CST")


def rfc3339_cst(moment: datetime) -> str:
    """``2018-06-08T10:34:56+08:00``: the time format WeChat Pay expects (China Standard Time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("expected a timezone-aware datetime")
    return moment.astimezone(_CST).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class TransferSceneReportInfo:
    """One ``transfer_scene_report_infos`` entry, e.g. ("岗位类型", "推广员")."""

    info_type: str
    info_content: str


def _check_no(name: str, value: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{name} has a format WeChat Pay does not accept")
    return value


def _check_fen(name: str, value: int, *, minimum: int = 1) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an integer number of fen ≥ {minimum}")
    return value


def _check_text(name: str, value: str, max_chars: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value) or len(value) > max_chars:
        raise ValueError(f"{name} must be a string of {'1' if required else '0'}–{max_chars} characters")
    return value


def _error(status: int, code: str, message: str, request_id: str | None, detail: object) -> WeChatPayError:
    if status == 404 or code in NOT_FOUND_CODES:
        return WeChatPayNotFound(status, code, message, request_id=request_id, detail=detail)
    if status >= 500 or status == 429 or code in RETRYABLE_CODES:
        return WeChatPayRetryableError(status, code, message, request_id=request_id, detail=detail)
    return WeChatPayError(status, code, message, request_id=request_id, detail=detail)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class WeChatPayClient:
    """WeChat Pay API v3 for one direct merchant (``mchid``) and one mini-program (``appid``).

    ``public_keys`` maps ``Wechatpay-Serial`` values to keys (``PUB_KEY_ID_…`` → WeChat Pay public
    key). ``wechatpay_serial`` is sent as the ``Wechatpay-Serial`` request header and names the
    key used by ``encrypt_sensitive``; it defaults to the (first) ``PUB_KEY_ID_…`` in ``public_keys``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        mchid: str,
        appid: str,
        merchant_serial: str,
        merchant_private_key: RSAPrivateKey,
        public_keys: Mapping[str, RSAPublicKey],
        timeout: float = 5.0,
        wechatpay_serial: str | None = None,
        transport: Transport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        if not public_keys:
            raise ValueError("at least one WeChat Pay public key is required to verify responses")
        self.base_url = base_url.rstrip("/")
        self.mchid = mchid
        self.appid = appid
        self.merchant_serial = merchant_serial
        self._private_key = merchant_private_key
        self._public_keys = dict(public_keys)
        self.timeout = timeout
        if wechatpay_serial is None:
            ids = sorted(k for k in self._public_keys if k.startswith(PUBLIC_KEY_ID_PREFIX))
            wechatpay_serial = ids[0] if ids else None
        elif wechatpay_serial not in self._public_keys:
            raise ValueError("wechatpay_serial must be one of public_keys")
        self.wechatpay_serial = wechatpay_serial
        self._transport: Transport = transport or urllib_transport
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    # ---- plumbing --------------------------------------------------------------------------

    def _call(
        self,
        method: Literal["GET", "POST"],
        api: str,
        payload: Mapping[str, object] | None = None,
        query: Mapping[str, str] | None = None,
        **path: str,
    ) -> dict[str, object]:
        """One API call: ``api`` is the path template (``/v3/…/{out_trade_no}``), ``path`` its values;
        in a traced function, a subsegment named for the API (``mall.integrations.wechatpay.tracing``)."""
        return traced_call(method, api, self.base_url + api,
                           lambda: self._exchange(method, api.format_map(path), payload, query))

    def _exchange(
        self,
        method: Literal["GET", "POST"],
        path: str,
        payload: Mapping[str, object] | None,
        query: Mapping[str, str] | None,
    ) -> tuple[int, str | None, dict[str, object]]:
        """(HTTP status, WeChat Pay's Request-ID, the verified JSON body) of one request."""
        url = self.base_url + path + (f"?{urlencode(query)}" if query else "")
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": build_authorization(
                method=method, url=url, body=body, mchid=self.mchid, serial_no=self.merchant_serial,
                private_key=self._private_key, now=self._clock(),
            ),
        }
        if method == "POST":
            headers["Content-Type"] = "application/json"
        if self.wechatpay_serial:
            headers["Wechatpay-Serial"] = self.wechatpay_serial
        response = self._transport(HttpRequest(method, url, headers, body, self.timeout))
        request_id = _header(response.headers, "request-id")

        if not 200 <= response.status < 300:
            code, message, detail = "HTTP_ERROR", f"HTTP {response.status}", None
            try:
                err = json.loads(response.body.decode("utf-8")) if response.body else {}
            except (UnicodeDecodeError, ValueError):
                err = {}
            if isinstance(err, dict):
                code = str(err.get("code") or code)
                message = str(err.get("message") or message)
                detail = err.get("detail")
            raise _error(response.status, code, message, request_id, detail)

        try:
            verify_signed_message(
                response.headers, response.body, public_keys=self._public_keys, now=None, replay_window_seconds=None
            )
        except NotificationRejected as exc:
            raise WeChatPayInvalidResponse(
                response.status, "INVALID_SIGNATURE", f"response signature rejected ({exc.reason_code})",
                request_id=request_id,
            ) from exc
        if not response.body:
            return response.status, request_id, {}
        try:
            data = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise WeChatPayInvalidResponse(
                response.status, "INVALID_BODY", "response body is not JSON", request_id=request_id
            ) from exc
        if not isinstance(data, dict):
            raise WeChatPayInvalidResponse(
                response.status, "INVALID_BODY", "response body is not a JSON object", request_id=request_id
            )
        return response.status, request_id, data

    @staticmethod
    def _parse[M: BaseModel](model: type[M], data: Mapping[str, object]) -> M:
        try:
            return parse_model(model, data)
        except NotificationRejected as exc:
            raise WeChatPayInvalidResponse(200, "INVALID_BODY", exc.message) from exc

    # ---- payments --------------------------------------------------------------------------

    def jsapi_prepay(
        self,
        out_trade_no: str,
        *,
        description: str,
        amount_fen: int,
        payer_openid: str,
        notify_url: str,
        time_expire: datetime,
        attach: str | None = None,
        profit_sharing: bool = False,
    ) -> str:
        """``POST /v3/pay/transactions/jsapi`` → ``prepay_id`` (valid 2 h; then sign ``pay_params``)."""
        payload: dict[str, object] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": _check_text("description", description, 127),
            "out_trade_no": _check_no("out_trade_no", out_trade_no, _OUT_TRADE_NO),
            "time_expire": rfc3339_cst(time_expire),
            "notify_url": _check_text("notify_url", notify_url, 255),
            "amount": {"total": _check_fen("amount_fen", amount_fen), "currency": "CNY"},
            "payer": {"openid": _check_text("payer_openid", payer_openid, 128)},
        }
        if attach is not None:
            payload["attach"] = _check_text("attach", attach, 128)
        if profit_sharing:
            payload["settle_info"] = {"profit_sharing": True}
        data = self._call("POST", "/v3/pay/transactions/jsapi", payload)
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise WeChatPayInvalidResponse(200, "INVALID_BODY", "no prepay_id in the response")
        return prepay_id

    def pay_params(self, prepay_id: str) -> JsapiPayParams:
        """The signed ``wx.requestPayment`` object for ``prepay_id``."""
        return jsapi_pay_params(appid=self.appid, prepay_id=prepay_id, private_key=self._private_key,
                                now=self._clock())

    def query_by_out_trade_no(self, out_trade_no: str) -> TransactionResource:
        """``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=`` (reconciliation)."""
        no = _check_no("out_trade_no", out_trade_no, _OUT_TRADE_NO)
        data = self._call("GET", "/v3/pay/transactions/out-trade-no/{out_trade_no}", query={"mchid": self.mchid},
                          out_trade_no=no)
        return self._parse(TransactionResource, data)

    def close_order(self, out_trade_no: str) -> None:
        """``POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`` (204)."""
        no = _check_no("out_trade_no", out_trade_no, _OUT_TRADE_NO)
        self._call("POST", "/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.mchid},
                   out_trade_no=no)

    # ---- refunds ---------------------------------------------------------------------------

    def create_refund(
        self,
        out_refund_no: str,
        *,
        out_trade_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str | None,
        notify_url: str,
        funds_account: str | None = None,
    ) -> RefundResult:
        """``POST /v3/refund/domestic/refunds`` (partial refunds allowed; ``total_fen`` = the order's)."""
        refund = _check_fen("refund_fen", refund_fen)
        total = _check_fen("total_fen", total_fen)
        if refund > total:
            raise ValueError("refund_fen cannot exceed total_fen")
        payload: dict[str, object] = {
            "out_trade_no": _check_no("out_trade_no", out_trade_no, _OUT_TRADE_NO),
            "out_refund_no": _check_no("out_refund_no", out_refund_no, _OUT_REFUND_NO),
            "notify_url": _check_text("notify_url", notify_url, 256),
            "amount": {"refund": refund, "total": total, "currency": "CNY"},
        }
        if reason:
            payload["reason"] = _check_text("reason", reason, 80)
        if funds_account is not None:
            payload["funds_account"] = funds_account
        return self._parse(RefundResult, self._call("POST", "/v3/refund/domestic/refunds", payload))

    def query_refund(self, out_refund_no: str) -> RefundResult:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}``."""
        no = _check_no("out_refund_no", out_refund_no, _OUT_REFUND_NO)
        data = self._call("GET", "/v3/refund/domestic/refunds/{out_refund_no}", out_refund_no=no)
        return self._parse(RefundResult, data)

    # ---- payouts (商家转账) -----------------------------------------------------------------

    def encrypt_sensitive(self, plaintext: str) -> str:
        """RSA-OAEP-encrypt a sensitive field (``user_name``) with the key ``wechatpay_serial`` names."""
        if not self.wechatpay_serial:
            raise ValueError("no wechatpay_serial configured to encrypt with")
        return rsa_oaep_encrypt(self._public_keys[self.wechatpay_serial], plaintext)

    def create_transfer_bill(
        self,
        out_bill_no: str,
        *,
        openid: str,
        amount_fen: int,
        remark: str,
        notify_url: str,
        transfer_scene_id: str,
        user_recv_perception: str,
        scene_report_infos: Sequence[TransferSceneReportInfo | Mapping[str, str]],
        user_name_encrypted: str | None = None,
    ) -> TransferBillCreated:
        """``POST /v3/fund-app/mch-transfer/transfer-bills``. From ¥2,000 ``user_name_encrypted``
        (see ``encrypt_sensitive``) is required. A bill number in a terminal state is never reused."""
        amount = _check_fen("amount_fen", amount_fen)
        if amount >= USER_NAME_REQUIRED_FROM_FEN and not user_name_encrypted:
            raise ValueError("a transfer of ¥2,000 or more requires user_name_encrypted")
        infos: list[dict[str, str]] = []
        for info in scene_report_infos:
            if isinstance(info, TransferSceneReportInfo):
                infos.append({"info_type": info.info_type, "info_content": info.info_content})
            else:
                infos.append({"info_type": str(info["info_type"]), "info_content": str(info["info_content"])})
        payload: dict[str, object] = {
            "appid": self.appid,
            "out_bill_no": _check_no("out_bill_no", out_bill_no, _OUT_BILL_NO),
            "transfer_scene_id": _check_text("transfer_scene_id", transfer_scene_id, 36),
            "openid": _check_text("openid", openid, 64),
            "transfer_amount": amount,
            "transfer_remark": _check_text("remark", remark, 32),
            "notify_url": _check_text("notify_url", notify_url, 256),
            "user_recv_perception": _check_text("user_recv_perception", user_recv_perception, 64),
            "transfer_scene_report_infos": infos,
        }
        if user_name_encrypted:
            if not self.wechatpay_serial:
                raise ValueError("user_name_encrypted needs wechatpay_serial (the key id it was encrypted with)")
            payload["user_name"] = user_name_encrypted
        data = self._call("POST", "/v3/fund-app/mch-transfer/transfer-bills", payload)
        return self._parse(TransferBillCreated, data)

    def query_transfer_bill(self, out_bill_no: str) -> TransferBillResource:
        """``GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}``."""
        no = _check_no("out_bill_no", out_bill_no, _OUT_BILL_NO)
        data = self._call("GET", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}", out_bill_no=no)
        return self._parse(TransferBillResource, data)

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBillCancelled:
        """``POST …/transfer-bills/out-bill-no/{out_bill_no}/cancel`` (only before the user confirms)."""
        no = _check_no("out_bill_no", out_bill_no, _OUT_BILL_NO)
        data = self._call("POST", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel",
                          out_bill_no=no)
        return self._parse(TransferBillCancelled, data)
