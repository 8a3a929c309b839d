"""Each WeChat Pay API call as an X-Ray subsegment, in the functions template.yaml traces.

The call is named for the API (``wechatpay POST /v3/refund/domestic/refunds``, ``wechatpay GET
/v3/pay/transactions/out-trade-no/{out_trade_no}``), with the HTTP status, WeChat Pay's error code on
failure and its ``Request-ID``: what a slow or failed payment needs on call (docs/operations.md,
"Traces of WeChat Pay calls"). Never an id, an openid, an amount, a header or a body: the URL
recorded is the path template's, and WeChat Pay's error message (which may repeat what was sent)
stays out too. Where the function is not traced this is a null context: no X-Ray SDK is loaded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayInvalidResponse
from mall.observability import remote_subsegment

__all__ = ["traced_call"]


def traced_call[T](method: str, api: str, url_template: str, exchange: Callable[[], tuple[int, str | None, T]]) -> T:
    """``exchange()``'s result (its HTTP status and Request-ID recorded); its ``WeChatPayError`` raised."""
    with remote_subsegment(f"wechatpay {method} {api}") as subsegment:
        try:
            status, request_id, result = exchange()
        except WeChatPayError as exc:
            if subsegment is not None:
                _record(subsegment, method, url_template, status=exc.status, request_id=exc.request_id, failure=exc)
            failure = exc
        else:
            if subsegment is not None:
                _record(subsegment, method, url_template, status=status, request_id=request_id, failure=None)
            return result
    # Raised outside the subsegment: the SDK would record its message and stack in the trace.
    raise failure


def _record(subsegment: Any, method: str, url_template: str, *, status: int, request_id: str | None,
            failure: WeChatPayError | None) -> None:
    """What a traced call's subsegment holds, with the flags X-Ray reads as the X-Ray SDK's HTTP
    patches set them: the status sets error (4xx), throttle (429) or fault (5xx); no response at
    all (timeout, connection) and a 2xx that failed its checks (signature, body) are faults too.
    Annotations are indexed (``annotation.wechatpay_code = "SYSTEM_ERROR"`` finds those traces);
    the client makes one attempt per call (a retry is a call of its own, so a subsegment of its own)."""
    subsegment.put_http_meta("method", method)
    subsegment.put_http_meta("url", url_template)
    if status:
        subsegment.put_http_meta("status", status)
    subsegment.put_annotation("wechatpay_status", status)
    if failure is not None:
        subsegment.put_annotation("wechatpay_code", failure.code)
        subsegment.put_annotation("wechatpay_retryable", failure.retryable)
        if not status or isinstance(failure, WeChatPayInvalidResponse):
            subsegment.add_fault_flag()
    if request_id:
        subsegment.put_metadata("request_id", request_id, "wechatpay")  # what WeChat Pay's support asks for
