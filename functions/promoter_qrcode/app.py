"""GET /promoter/qrcode — the caller's own promoter QR code (推广码), as a temporary URL.

In AWS the image comes from WeChat ``getwxacodeunlimit`` (scene = the promoter's code); locally
from the sandbox. It is stored in the media bucket once and reused: a repeat request makes no
WeChat call."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import error_response
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.tokens import Role
from mall.integrations.wechat import WeChatServerClient, server_client
from mall.schemas.promotion_media import QrCodeResponse
from mall.services.media_bucket import media_settings, media_store
from mall.services.promotion_media import promoter_qr

# Composition root: built once per cold start, shared by every invocation.
settings = get_settings()
media = media_settings()
table = main_table()
promoters = PromoterRepository(table)
force_gate = ForceRefreshLease(table)
app = make_resolver()


def wechat() -> WeChatServerClient:
    return server_client(force_gate=force_gate)


@app.get("/promoter/qrcode", summary="The caller's promoter QR code", tags=["promotion media"],
         **secured(Role.PROMOTER),
         responses={
             200: {"description": "a temporary URL of the QR image",
                   "content": {"application/json": {"model": QrCodeResponse}}},
             403: error_response("not an active promoter"),
             429: error_response("WeChat's QR quota is exhausted for now"),
             503: error_response("WeChat is unavailable"),
         })
def qrcode() -> QrCodeResponse:
    return promoter_qr(user_id=current_principal(app).subject, promoters=promoters,
                       store=media_store(), wechat=wechat, settings=media,
                       now=utc_now())


handler = entrypoint(app)
