"""Coupons (优惠券): the merchant's templates, claiming, and a customer's own coupons."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

Fen = Annotated[int, Field(ge=0, le=100_000_000, description="integer fen (分)")]
ShareEffect = Literal["bound", "rebound", "unchanged", "unbound", "not_bound", "not_logged_in",
                      "share_source", "none"]
ScopeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

_TEMPLATE_IN: JsonDict = {"name": "新人满99减10", "kind": "amount", "amount_off_fen": 1000, "percent_off_bp": 0,
                "max_off_fen": None, "min_spend_fen": 9900, "scope": "all", "scope_ids": [],
                "starts_at": None, "ends_at": None, "valid_days": 7, "total_quantity": 1000, "per_user_limit": 1,
                "enabled": True, "auto_issue": "first_login", "promoter_bound": False,
                "on_refund": "return_if_full_refund"}
TEMPLATE_EXAMPLE: JsonDict = {**_TEMPLATE_IN, "template_id": "ct_01HZX", "issued": 120, "version": 3,
                    "created_at": "2026-03-01T09:45:12Z", "updated_at": "2026-03-02T10:00:00Z"}
COUPON_EXAMPLE: JsonDict = {"coupon_id": "cp_01HZX", "template_id": "ct_01HZX", "name": "新人满99减10",
                  "kind": "amount", "amount_off_fen": 1000, "percent_off_bp": 0, "max_off_fen": None,
                  "min_spend_fen": 9900, "scope": "all", "scope_ids": [], "valid_from": "2026-03-01T09:45:12Z",
                  "valid_until": "2026-03-08T16:00:00Z", "status": "unused", "claimed_at": "2026-03-01T09:45:12Z",
                  "order_id": None, "used_at": None, "promoter_bound": False}


_AVAILABLE: JsonDict = {**{k: v for k, v in TEMPLATE_EXAMPLE.items()
                           if k not in {"total_quantity", "per_user_limit", "enabled", "auto_issue", "on_refund",
                                        "issued", "version", "created_at", "updated_at"}}, "left_for_you": 1}


class CouponTemplateIn(ApiModel):
    """A template as the merchant writes it: amount off, or percent off with a ceiling; a validity
    window (``starts_at``/``ends_at``) or ``valid_days`` after claiming (through the end of that
    China day)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TEMPLATE_IN]})

    name: Annotated[str, Field(min_length=1, max_length=40)]
    kind: Literal["amount", "percent"]
    amount_off_fen: Fen = 0
    percent_off_bp: Annotated[int, Field(ge=0, le=9_900, description="percent off in basis points")] = 0
    max_off_fen: Annotated[Fen | None, Field(description="the ceiling of a percent coupon")] = None
    min_spend_fen: Annotated[Fen, Field(description="of the products in scope, before any discount")] = 0
    scope: Literal["all", "categories", "products"] = "all"
    scope_ids: Annotated[list[ScopeId], Field(max_length=100)] = Field(default_factory=list)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    valid_days: Annotated[int | None, Field(ge=1, le=366)] = None
    total_quantity: Annotated[int, Field(ge=1, le=10_000_000)]
    per_user_limit: Annotated[int, Field(ge=1, le=100)] = 1
    enabled: bool = True
    auto_issue: Literal["none", "first_login", "becomes_promoter"] = "none"
    promoter_bound: bool = False
    on_refund: Literal["return_if_full_refund", "never"] = "return_if_full_refund"


class CouponTemplateUpdate(CouponTemplateIn):
    """The whole template again, with the ``version`` you read (409 if it changed since)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{**_TEMPLATE_IN, "version": 3}]})

    version: Annotated[int, Field(ge=1)]


class CouponTerms(BaseModel):
    """What a coupon takes off and where (the same in a template, a claimable offer and a coupon held)."""

    template_id: str
    name: str
    kind: str
    amount_off_fen: int
    percent_off_bp: int
    max_off_fen: int | None
    min_spend_fen: int
    scope: str
    scope_ids: list[str]


class CouponWindow(CouponTerms):
    """A template's terms with when its coupons can be used (fixed dates, or days after claiming)."""

    starts_at: str | None
    ends_at: str | None
    valid_days: int | None


class CouponTemplateView(CouponWindow):
    model_config = ConfigDict(json_schema_extra={"examples": [TEMPLATE_EXAMPLE]})

    total_quantity: int
    per_user_limit: int
    enabled: bool
    auto_issue: str
    promoter_bound: bool
    on_refund: str
    issued: int = Field(description="coupons claimed or issued of it so far")
    version: int
    created_at: str
    updated_at: str


class CouponTemplateList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [TEMPLATE_EXAMPLE]}]})

    items: list[CouponTemplateView]


class ClaimRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"template_id": "ct_01HZX", "share_code": "AB12CD"}]})

    template_id: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="the template to claim one coupon of (`GET /coupons`)")]
    share_code: Annotated[str | None, Field(
        min_length=4, max_length=16, pattern=r"^[A-Za-z0-9]+$",
        description="the promoter code of the share a promoter-bound coupon was claimed through")] = None


class CouponView(CouponTerms):
    model_config = ConfigDict(json_schema_extra={"examples": [COUPON_EXAMPLE]})

    coupon_id: str
    valid_from: str
    valid_until: str
    status: Literal["unused", "used", "expired"]
    claimed_at: str
    order_id: str | None
    used_at: str | None
    promoter_bound: bool


class CouponList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [COUPON_EXAMPLE]}]})

    items: list[CouponView]


class AvailableTemplate(CouponWindow):
    """A template a customer may claim now, and how many more they may claim of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_AVAILABLE]})

    promoter_bound: bool
    left_for_you: int


class AvailableList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_AVAILABLE]}]})

    items: list[AvailableTemplate]


class ClaimResponse(BaseModel):
    """The coupon claimed; for a promoter-bound coupon claimed through a share, what the share did
    under the binding mode (``share_effect``) and, when it did not bind, why (``share_refused``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"coupon": COUPON_EXAMPLE, "share_effect": "bound", "share_refused": None}]})

    coupon: CouponView
    share_effect: ShareEffect = "none"
    share_refused: str | None = Field(default=None, description="why the share did not bind (error code)")
