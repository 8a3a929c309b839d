"""POST /webhooks/wechatpay — WeChat Pay notifications (支付结果通知, 退款结果通知).

Public (WeChat Pay sends no bearer token) but verified: the signature over the raw body bytes,
the key's serial, the 300 s replay window, no SIGNTEST probes, then AES-256-GCM decryption
(mall.integrations.wechatpay.notifications). TRANSACTION.SUCCESS records the payment exactly
once; REFUND.* goes to the refunds service; MCHTRANSFER.BILL.FINISHED (商家转账) to the payouts
service (a withdrawal PAID or FAILED exactly once); anything else is refused. Replies: 204 when handled
(duplicates included); 4xx ``{"code":"FAIL","message":...}`` when refused, with nothing changed;
5xx ``{"code":"FAIL"}`` when we failed (WeChat Pay redelivers)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mall.api.auth import public
from mall.api.http import Response, entrypoint, logger, make_resolver, metrics
from mall.api.params import OpenAPIResponse
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.integrations.wechatpay.factory import merchant_config, notification_keys, pay_client
from mall.integrations.wechatpay.notifications import failure_reply
from mall.services.payments import PaymentRepositories, handle_notification

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
payments = PaymentRepositories.on(table)
app = make_resolver()

_FAIL: OpenAPIResponse = {
    "description": '`{"code":"FAIL","message":"<reason>"}`: refused (4xx, nothing changed) or our failure '
                   "(5xx; WeChat Pay redelivers)",
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "code": {"type": "string", "enum": ["FAIL"]}, "message": {"type": "string"}}}}},
}


def raw_body(event: dict[str, Any]) -> bytes:
    """The body bytes exactly as WeChat Pay sent them (API Gateway may hand them over base64)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8")


@app.post("/webhooks/wechatpay", summary="WeChat Pay notifications (signed by WeChat Pay)", tags=["payments"],
          status_code=204, **public(),
          responses={204: {"description": "handled (or already handled)"}, 400: _FAIL, 401: _FAIL, 404: _FAIL,
                     409: _FAIL, 500: _FAIL})
def webhook() -> Response[str]:
    try:
        try:
            body = raw_body(app.current_event.raw_event)
        except (binascii.Error, ValueError):
            status, payload = failure_reply("malformed body", 400)
        else:
            keys, apiv3_key = notification_keys()
            reply = handle_notification(headers=app.current_event.headers, raw_body=body, repos=payments,
                                        merchant=merchant_config(), public_keys=keys, apiv3_key=apiv3_key,
                                        pay=pay_client, now=utc_now())
            logger.info("wechatpay notification", extra={"status": reply.status, "outcome": reply.outcome})
            status, payload = reply.status, reply.body
    except Exception:  # our failure, never the message's: answer 5xx so WeChat Pay redelivers later
        logger.exception("wechatpay webhook failed")
        metrics.add_metric(name="WebhookErrors", unit="Count", value=1)
        status, payload = failure_reply("internal error", 500)
    if status == 204:
        return Response(status_code=204, body="")
    return Response(status_code=status, content_type="application/json", body=payload.decode("utf-8"))


handler = entrypoint(app, traced=True)  # template.yaml: Tracing: Active
