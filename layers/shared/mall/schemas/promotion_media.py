"""Promoter QR code and poster models (推广码、海报)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from mall.domain.posters import SLOGAN_MAX_CHARS
from mall.schemas.common import ApiModel


class QrCodeResponse(BaseModel):
    """The caller's own promoter QR code. ``url`` is temporary: fetch a new one when it expires."""

    url: str = Field(description="a temporary (presigned) URL of the QR image")
    expires_at: str = Field(description="when `url` stops working (ISO-8601 UTC)")
    scene: str = Field(description="the scene encoded in the QR: the promoter's code")
    page: str = Field(description="the mini-program page the QR opens")
    share_link: str = Field(description="`<page>?scene=<code>`: what the QR opens, the same as the profile's "
                                        "`share_link`")
    width: int


class PosterRequest(ApiModel):
    product_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    slogan: Annotated[
        str | None,
        Field(min_length=1, max_length=SLOGAN_MAX_CHARS,
              description="the promoter's own line under the price (checked against banned phrases)"),
    ] = None


class PosterResponse(BaseModel):
    url: str = Field(description="a temporary (presigned) URL of the poster PNG")
    expires_at: str = Field(description="when `url` stops working (ISO-8601 UTC)")
    product_id: str
    width: int
    height: int
