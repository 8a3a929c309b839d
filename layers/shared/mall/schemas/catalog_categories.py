"""Catalog models of the merchant console: categories as the admin writes and reads them. Apart from the
products' models (``mall.schemas.catalog``), so that the categories' function does without those."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP
from mall.schemas.catalog_examples import CATEGORY, TEAWARE
from mall.schemas.common import ApiModel

RateBp = Annotated[int, Field(ge=0, le=COMMISSION_CAP_LIMIT_BP, description="basis points: 1000 = 10%")]
Version = Annotated[int, Field(ge=1, description="the version you read; a stale one gets 409 with the current state")]
Name = Annotated[str, Field(min_length=1, max_length=60)]


class CategoryCreate(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "茶叶", "sort": 1, "l1_rate_bp": 1200, "l2_rate_bp": 600}]})

    name: Name
    sort: Annotated[int, Field(ge=0, le=999_999, description="display order, ascending")] = 0
    l1_rate_bp: Annotated[RateBp | None, Field(description="this category's L1 rate; null: the global rate")] = None
    l2_rate_bp: Annotated[RateBp | None, Field(description="this category's L2 rate; null: the global rate")] = None


class CategoryUpdate(ApiModel):
    """Only the fields sent change; send ``null`` for a rate to fall back to the global rate."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 2, "l1_rate_bp": 1200, "l2_rate_bp": None}]})

    version: Version
    name: Name | None = None
    sort: Annotated[int | None, Field(ge=0, le=999_999)] = None
    l1_rate_bp: RateBp | None = None
    l2_rate_bp: RateBp | None = None


class CategoryView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CATEGORY]})

    category_id: str
    name: str
    sort: int
    l1_rate_bp: int | None
    l2_rate_bp: int | None
    product_count: int
    version: int
    created_at: str | None
    updated_at: str | None


class CategoryList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [CATEGORY, TEAWARE]}]})

    items: list[CategoryView]
