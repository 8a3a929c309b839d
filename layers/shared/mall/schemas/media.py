"""Product image uploads: ``POST /admin/media/uploads`` and ``POST /admin/media/uploads/{id}/verify``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mall.schemas.common import ApiModel


class UploadRequest(ApiModel):
    content_type: Literal["image/jpeg", "image/png", "image/webp"] = Field(
        description="the image's type; S3 refuses the upload if the form is sent with another")


class UploadForm(BaseModel):
    upload_id: str = Field(description="verify the upload with this id once the POST to S3 succeeded")
    key: str = Field(description="the media-bucket key the image will have (chosen by the server)")
    url: str = Field(description="POST a multipart/form-data form here: every `fields` entry, then `file`")
    fields: dict[str, str]
    max_bytes: int = Field(description="S3 refuses a bigger file")
    expires_at: str


class VerifiedImage(BaseModel):
    upload_id: str
    key: str = Field(description="use this in a product's `images`")
    content_type: str
    width: int
    height: int
    bytes: int
