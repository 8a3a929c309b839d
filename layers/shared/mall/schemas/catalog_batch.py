"""The batch edit of products (批量编辑): one shelf, category or commission change applied to many
products, each answered on its own."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.schemas.catalog import CategoryId, CommissionSettingIn
from mall.schemas.common import ApiModel, FieldError

#: How many products one batch edit may change (each is its own conditional write and audit entry).
MAX_BATCH_PRODUCTS = 100
ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
BatchOutcome = Literal["updated", "unchanged", "not_found", "refused", "conflict"]


class ProductBatchEdit(ApiModel):
    """The same change applied to each product: the fields sent only (at least one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "product_ids": ["p_01m4cmckqvx119jymzac3w", "p_01m4cmyx52990zhvaddmkr"], "on_shelf": False}]})

    product_ids: Annotated[list[ProductId], Field(min_length=1, max_length=MAX_BATCH_PRODUCTS, description=(
        f"the products to change, at most {MAX_BATCH_PRODUCTS}; repeats count once"))]
    on_shelf: bool | None = None
    category_id: CategoryId | None = None
    commission: CommissionSettingIn | None = None


class ProductBatchItem(BaseModel):
    product_id: str
    outcome: BatchOutcome = Field(description=(
        "updated; unchanged (already so: nothing written); not_found; refused (invalid for this product, "
        "e.g. the commission over the cap at its price: see reason and fields); conflict (edited meanwhile: "
        "send it again)"))
    reason: str | None = None
    fields: list[FieldError] = Field(default_factory=list)
    version: int | None = Field(default=None, description="the product's version after the batch")


class ProductBatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"product_id": "p_01m4cmckqvx119jymzac3w", "outcome": "updated", "reason": None, "fields": [], "version": 5},
        {"product_id": "p_01m4cmyx52990zhvaddmkr", "outcome": "refused",
         "reason": "the product has invalid fields",
         "fields": [{"field": "commission.l1", "reason": "L1 + L2 could pay 3100 bp of the price; the cap is 3000 bp"}],
         "version": 7}], "updated": 1}]})

    items: list[ProductBatchItem]
    updated: int = Field(description="how many products this batch changed")
