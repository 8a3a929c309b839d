"""POST /webhooks/tracking — the logistics provider's tracking pushes (Kuaidi100 推送).

Public (the provider sends no bearer token) but verified: the form's ``sign`` over its raw ``param``
with our salt is checked before anything in ``param`` is read (mall.integrations.tracking). A
verified push stores the parcel's trail when it is newer than the stored one (repeats and late
pushes change nothing) and, once every parcel is signed for, records the delivery. Replies: 200
``{"result":true,"returnCode":"200","message":"成功"}`` when stored or already known; 401 / 422 when
refused, nothing changed; 500 when we failed (the provider pushes again)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

from mall.api.auth import public
from mall.api.http import Response, entrypoint, logger, make_resolver, metrics
from mall.api.params import OpenAPIResponse
from mall.clock import utc_now
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.errors import DomainError
from mall.integrations.tracking.factory import provider_from_env
from mall.schemas.tracking import TrackingPushReply
from mall.services.tracking import handle_push

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = TrackingRepository(table)
settings = SettingsRepository(table)
app = make_resolver()

_REFUSED: OpenAPIResponse = {
    "description": "refused (4xx, nothing changed) or our failure (5xx: the provider pushes again), in the "
                   "provider's format: `result` false, `returnCode` the status, `message` the reason",
    "content": {"application/json": {"model": TrackingPushReply}},
}


def form_fields(event: dict[str, Any]) -> dict[str, str]:
    """The urlencoded form as sent (``param`` stays the exact text the signature covers)."""
    body = event.get("body") or ""
    raw = base64.b64decode(body, validate=True).decode("utf-8") if event.get("isBase64Encoded") else body
    return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))


def _reply(status: int, ok: bool, message: str) -> Response[TrackingPushReply]:
    return Response(status_code=status, content_type="application/json",
                    body=TrackingPushReply(result=ok, returnCode=str(status), message=message))


@app.post("/webhooks/tracking", summary="Tracking pushes from the logistics provider (signed)", tags=["tracking"],
          **public(), responses={
              200: {"description": "stored, or already known (a repeat or an older trail)",
                    "content": {"application/json": {"model": TrackingPushReply}}},
              400: _REFUSED, 401: _REFUSED, 422: _REFUSED, 500: _REFUSED})
def webhook() -> Response[TrackingPushReply]:
    provider = provider_from_env()
    if provider is None:
        return _reply(200, True, "tracking is off")
    try:
        form = form_fields(app.current_event.raw_event)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return _reply(400, False, "malformed body")
    try:
        changed = handle_push(repo=repo, settings=settings, provider=provider, form=form,
                              order_id=(app.current_event.query_string_parameters or {}).get("order_id"),
                              now=utc_now())
    except DomainError as exc:
        status = 401 if exc.code == "invalid_signature" else 422  # 422: signed, but not a trail we can read
        metrics.add_metric(name="TrackingPushesRefused", unit="Count", value=1)
        return _reply(status, False, exc.message)
    except Exception:  # our failure, never the push's: the provider pushes again later
        logger.exception("tracking webhook failed")
        metrics.add_metric(name="WebhookErrors", unit="Count", value=1)
        return _reply(500, False, "internal error")
    metrics.add_metric(name="TrackingPushesStored" if changed else "TrackingPushesUnchanged", unit="Count", value=1)
    return Response(status_code=200, content_type="application/json",
                    body=TrackingPushReply.model_validate(provider.acknowledgement()))


handler = entrypoint(app)
