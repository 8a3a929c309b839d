"""GET/POST /webhooks/wechat/messages — the mini-program's message push (消息推送), JSON data format.

Public (WeChat sends no bearer token) but verified before anything is read: the replay window, the
``signature`` (SHA1 of the sorted token, timestamp, nonce), and in the safe mode (安全模式) the
``msg_signature`` over the ciphertext, the AES-256-CBC decryption and the appid
(mall.integrations.wechat_messages). GET answers WeChat's URL check with ``echostr``. POST: a
``trade_manage_order_settlement`` at settlement completes the order once (like the buyer's own
confirmation); every event is recorded once and acknowledged with ``success``. Replies: 200
``success`` when handled (repeats included); 4xx plain text when refused, nothing changed; 500 when
we failed (WeChat retries)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mall.api.auth import public
from mall.api.http import Response, entrypoint, logger, make_resolver, metrics
from mall.api.params import OpenAPIResponse
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.table import main_table
from mall.integrations.wechat_messages import push_keys
from mall.services.wechat_receipt import PushReply, ReceiptRepositories, handle_push, verify_push_url

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ReceiptRepositories.on(table)
app = make_resolver()

_SUCCESS: OpenAPIResponse = {"description": "`success`: handled (or already handled)", "content": {"text/plain": {
    "schema": {"type": "string"}, "examples": {"handled": {"value": "success"}}}}}
_ECHO: OpenAPIResponse = {"description": "the echostr, echoed", "content": {"text/plain": {
    "schema": {"type": "string"}, "examples": {"verified": {"value": "6218406426713190137"}}}}}
_REFUSED: OpenAPIResponse = {"description": "refused, with the reason (nothing changed)", "content": {"text/plain": {
    "schema": {"type": "string"}, "examples": {"refused": {"value": "signature mismatch"}}}}}


def raw_body(event: dict[str, Any]) -> bytes:
    """The body bytes exactly as WeChat sent them (API Gateway may hand them over base64)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8")


def _query() -> dict[str, str | None]:
    return dict(app.current_event.query_string_parameters or {})


def _text(reply: PushReply) -> Response[str]:
    return Response(status_code=reply.status, content_type="text/plain", body=reply.body)


@app.get("/webhooks/wechat/messages", summary="Message-push URL check (signed by WeChat)", tags=["shipping"],
         **public(), responses={200: _ECHO, 400: _REFUSED, 401: _REFUSED})
def verify() -> Response[str]:
    return _text(verify_push_url(query=_query(), keys=push_keys(), now=utc_now()))


@app.post("/webhooks/wechat/messages", summary="Mini-program message push (signed, optionally encrypted)",
          tags=["shipping"], **public(),
          responses={200: _SUCCESS, 400: _REFUSED,
                     401: _REFUSED, 403: _REFUSED, 413: _REFUSED, 500: _REFUSED})
def push() -> Response[str]:
    try:
        try:
            body = raw_body(app.current_event.raw_event)
        except (binascii.Error, ValueError):
            reply = PushReply(400, "malformed body", "refused")
        else:
            reply = handle_push(query=_query(), body=body, keys=push_keys(),
                                allow_plain=get_settings().wechat_message_plain_allowed, repos=repos, now=utc_now())
    except Exception:  # our failure, never the message's: 500 so WeChat pushes it again
        logger.exception("message push failed")
        metrics.add_metric(name="WebhookErrors", unit="Count", value=1)
        reply = PushReply(500, "internal error", "failed")
    if reply.outcome == "complete":
        metrics.add_metric(name="OrdersConfirmedInWeChat", unit="Count", value=1)
    return _text(reply)


handler = entrypoint(app)
