"""Promoter QR code and poster models (推广码、海报)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mall.domain.posters import SLOGAN_MAX_CHARS
from mall.schemas.common import ApiModel


class QrCodeResponse(BaseModel):
    """The caller's own promoter QR code. ``url`` is temporary: fetch a new one when it expires."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "https://mall-prod-mediabucket-1q8z4k7w2m5x.s3.amazonaws.com/qr/JXZtwULX/0d5c61a97fc9c204f08a"
               "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAQ3EGVXK4EXAMPLE7%2F20261120%2Fap-east-1%2Fs3"
               "%2Faws4_request&X-Amz-Date=20261120T030000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
               "&X-Amz-Signature=bf459e7febe28d89445a633042e7895a42e7f22b4674e46961674b45ae381d7f",
        "expires_at": "2026-11-20T04:00:00Z", "scene": "JXZtwULX", "page": "pages/index/index",
        "share_link": "pages/index/index?scene=JXZtwULX", "width": 430}]})

    url: str = Field(description="a temporary (presigned) URL of the QR image")
    expires_at: str = Field(description="when `url` stops working (ISO-8601 UTC)")
    scene: str = Field(description="the scene encoded in the QR: the promoter's code")
    page: str = Field(description="the mini-program page the QR opens")
    share_link: str = Field(description="`<page>?scene=<code>`: what the QR opens, the same as the profile's "
                                        "`share_link`")
    width: int


class PosterRequest(ApiModel):
    # The poster function's body and answer: built by its entry point at init, not by the QR code's.
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"product_id": "p_01m4cmckqvx119jymzac3w", "slogan": "明前头采, 一口回甘"},
        {"product_id": "p_01m4cmckqvx119jymzac3w", "template_id": "mat_01m4cn3k9z2yq8w7e5r4t3"}]})

    product_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    slogan: Annotated[
        str | None,
        Field(min_length=1, max_length=SLOGAN_MAX_CHARS,
              description="the promoter's own line under the price (checked against banned phrases)"),
    ] = None
    template_id: Annotated[
        str | None,
        Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
              description="draw on this template of the materials center (GET /promoter/materials) instead of "
                          "the standard layout; not with `slogan`"),
    ] = None


class PosterResponse(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{
        "url": "https://mall-prod-mediabucket-1q8z4k7w2m5x.s3.amazonaws.com/posters/u_36botxbbbigbhenhtgo542dk/"
               "p_01m4cmckqvx119jymzac3w/JXZtwULX-461d480f74059db63c5b.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
               "&X-Amz-Credential=ASIAQ3EGVXK4EXAMPLE7%2F20261120%2Fap-east-1%2Fs3%2Faws4_request"
               "&X-Amz-Date=20261120T030000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
               "&X-Amz-Signature=4a733d509346314fdf64418c3109fbae9d78a70cf6821d05198ccec7128399d5",
        "expires_at": "2026-11-20T04:00:00Z", "product_id": "p_01m4cmckqvx119jymzac3w", "width": 750,
        "height": 1334, "template_id": None}]})

    url: str = Field(description="a temporary (presigned) URL of the poster PNG")
    expires_at: str = Field(description="when `url` stops working (ISO-8601 UTC)")
    product_id: str
    width: int
    height: int
    template_id: str | None = Field(default=None, description="the template it was drawn on; null: the standard layout")
