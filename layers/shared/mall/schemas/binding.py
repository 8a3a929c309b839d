"""Request and response models of binding a customer to a promoter: by a code (``POST /referral/bind``)
or by a share visit (``POST /share/visits``), and a binding as the routes show it.

Apart from ``mall.schemas.referral`` (which re-exports them) because the two customer-facing routes
need only these: the promoter, team and admin models there, with the wake-up boost's, are a large
share of a cold start that a visit or a binding would otherwise pay.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

PromoterCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$",
                                    description="a promoter's code (also the QR `scene`)")]
BINDING_EXAMPLE: JsonDict = {"parent_id": "u_36botxbbbigbhenhtgo542dk", "bound_at": "2026-10-20T11:42:05Z",
                             "source": "link", "trigger": "visit", "promoter_code": "JXZtwULX"}


class BindingView(BaseModel):
    parent_id: str
    bound_at: str
    source: str
    trigger: str
    promoter_code: str | None = None


class BindRequestBody(ApiModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"code": "JXZtwULX", "device_id": "a8f0c2d4-5e61-4b7a-9c3e-2d1f0e9b8a76"}]})

    code: PromoterCode
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None


class BindResult(BaseModel):
    model_config = ConfigDict(defer_build=True,
                              json_schema_extra={"examples": [{"outcome": "bound", "binding": BINDING_EXAMPLE}]})

    outcome: Literal["bound", "rebound", "unchanged", "unbound"]
    binding: BindingView | None = None


class VisitRequest(ApiModel):
    """分享访问: the mini-program reports a visit through a share link, QR scene or poster."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"code": "JXZtwULX", "source": "poster", "product_id": "p_01m4cmckqvx119jymzac3w",
         "device_id": "a8f0c2d4-5e61-4b7a-9c3e-2d1f0e9b8a76"}]})

    code: PromoterCode
    source: Literal["link", "qr", "poster"]
    product_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    device_id: Annotated[str | None, Field(min_length=1, max_length=128,
                                           description="device fingerprint (or header `x-device-id`)")] = None


class VisitResult(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"visit_id": "v_01m6dvhp42mr3m3w87b9dg", "outcome": "bound", "binding": BINDING_EXAMPLE,
         "binding_refused": None}]})

    visit_id: str
    outcome: Literal["bound", "rebound", "unchanged", "not_bound", "not_logged_in"]
    binding: BindingView | None = None
    binding_refused: str | None = Field(default=None, description="why the visit did not bind (error code)")


class BindingHistoryEntry(BaseModel):
    action: str
    from_parent: str | None = None
    to_parent: str | None = None
    source: str
    trigger: str
    promoter_code: str | None = None
    reason: str | None = None
    by: str
    at: str
