"""Materials center models (素材中心): the merchant's texts, backgrounds and templates, and what a
promoter sees of them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.domain.materials import TEXT_MAX_CHARS, TITLE_MAX_CHARS
from mall.domain.posters import POSTER_HEIGHT, POSTER_WIDTH
from mall.schemas.common import ApiModel

ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MaterialId = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_CHARS,
                             description="what the merchant and promoters call it (banned phrases refused)")]
Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_CHARS,
                            description="the copy; `{share_link}`, `{code}` and `{nickname}` become the promoter's "
                                        "own (banned phrases refused)")]
ImageKey = Annotated[str, Field(min_length=1, max_length=200,
                                description="the `key` of a verified upload (POST /admin/media/uploads, then verify)")]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="`#RRGGBB`")]

_LAYOUT_EXAMPLE: dict[str, Any] = {"qr": {"x": 470, "y": 1054, "width": 240, "height": 240},
                   "title": {"x": 40, "y": 900, "width": 670, "height": 96},
                   "price": {"x": 40, "y": 1000, "width": 400, "height": 64},
                   "nickname": {"x": 40, "y": 1100, "width": 400, "height": 48}, "text_color": "#222222"}


class LayoutBox(ApiModel):
    x: Annotated[int, Field(ge=0, le=POSTER_WIDTH)]
    y: Annotated[int, Field(ge=0, le=POSTER_HEIGHT)]
    width: Annotated[int, Field(ge=1, le=POSTER_WIDTH)]
    height: Annotated[int, Field(ge=1, le=POSTER_HEIGHT)]


class LayoutModel(ApiModel):
    """Boxes on the 750 × 1334 poster: each inside it, the QR a square of 160–400 px, text boxes at
    least 80 × 24 px and never over the QR code."""

    model_config = ConfigDict(json_schema_extra={"examples": [_LAYOUT_EXAMPLE]})

    qr: LayoutBox = Field(description="the promoter's own QR code")
    title: LayoutBox = Field(description="the product's title")
    price: LayoutBox = Field(description="the product's price")
    nickname: LayoutBox | None = Field(default=None, description="the promoter's nickname (text; no avatar)")
    text_color: Color = "#222222"


class MaterialCreate(ApiModel):
    """A text needs `text`; a background `image_key`; a template `background_id` and `layout`."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "text", "title": "普洱茶推荐语", "product_id": "p_01m4cmckqvx119jymzac3w",
         "text": "明前头采, 一口回甘。戳这里看看: {share_link}", "enabled": True},
        {"kind": "template", "title": "秋日海报", "background_id": "mat_01m4cn2x7qk0b3v9w1aa8d",
         "layout": _LAYOUT_EXAMPLE}]})

    kind: Literal["text", "background", "template"]
    title: Title
    product_id: ProductId | None = Field(default=None, description="the product it is for; absent: general")
    text: Text | None = None
    image_key: ImageKey | None = None
    background_id: MaterialId | None = None
    layout: LayoutModel | None = None
    enabled: bool = True


class MaterialUpdate(ApiModel):
    """The fields sent change; `version` is the one you read (409 when it is stale). A background's
    image and any material's kind and product stay as created."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version": 2, "enabled": False}]})

    version: Annotated[int, Field(ge=1)]
    title: Title | None = None
    text: Text | None = None
    background_id: MaterialId | None = None
    layout: LayoutModel | None = None
    enabled: bool | None = None


class MaterialView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "material_id": "mat_01m4cn3k9z2yq8w7e5r4t3", "kind": "template", "title": "秋日海报",
        "product_id": None, "text": None, "image_key": "product-images/3f9c2a7be1d04c6f8a5b9d0e1f2a3b4c.jpg",
        "background_id": "mat_01m4cn2x7qk0b3v9w1aa8d", "layout": _LAYOUT_EXAMPLE, "enabled": True, "version": 1,
        "image_url": "https://mall-prod-mediabucket-1q8z4k7w2m5x.s3.amazonaws.com/product-thumbs/"
                     "3f9c2a7be1d04c6f8a5b9d0e1f2a3b4c-w750.jpg?X-Amz-Expires=3600",
        "created_at": "2026-11-20T03:00:00Z", "updated_at": "2026-11-20T03:00:00Z"}]})

    material_id: str
    kind: Literal["text", "background", "template"]
    title: str
    product_id: str | None = Field(description="null: general (offered with every product)")
    text: str | None = Field(description="a text's copy, placeholders unfilled")
    image_key: str | None = Field(description="a background's image, or a template's background image")
    background_id: str | None = Field(description="a template's background material")
    layout: LayoutModel | None
    enabled: bool
    version: int
    image_url: str | None = Field(description="a temporary URL of a 750 px preview of the image")
    created_at: str | None
    updated_at: str | None


class MaterialPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [MaterialView.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        "next_cursor": None}]})

    items: list[MaterialView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class PromoterMaterial(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "material_id": "mat_01m4cn4a1b2c3d4e5f6g7h", "kind": "text", "title": "普洱茶推荐语",
        "product_id": "p_01m4cmckqvx119jymzac3w",
        "text": "明前头采, 一口回甘。戳这里看看: pages/index/index?scene=JXZtwULX", "preview_url": None,
        "version": 3}]})

    material_id: str
    kind: Literal["text", "template"]
    title: str
    product_id: str | None = Field(description="null: a general material")
    text: str | None = Field(description="a text with the caller's own share link, code and nickname filled in: "
                                         "ready to copy")
    preview_url: str | None = Field(description="a template's background (temporary URL of a 750 px preview); "
                                                "POST /promoter/posters with its `material_id` as `template_id` "
                                                "draws the caller's poster on it")
    version: int


class PromoterMaterialList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [PromoterMaterial.model_config["json_schema_extra"]["examples"][0]]}]})  # type: ignore[index]

    items: list[PromoterMaterial] = Field(description="the product's materials first, then the general ones")
