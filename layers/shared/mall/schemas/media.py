"""Product image uploads: ``POST /admin/media/uploads`` and ``POST /admin/media/uploads/{id}/verify``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.schemas.common import ApiModel


class UploadRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"content_type": "image/jpeg"}]})

    content_type: Literal["image/jpeg", "image/png", "image/webp"] = Field(
        description="the image's type; S3 refuses the upload if the form is sent with another")


class UploadForm(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "upload_id": "9dc46c03c21bb00fa9ea3fe546dae72c", "key": "product-images/9dc46c03c21bb00fa9ea3fe546dae72c.jpg",
        "url": "https://mall-prod-mediabucket-1q8z4k7w2m5x.s3.amazonaws.com/",
        "fields": {
            "Content-Type": "image/jpeg", "key": "product-images/9dc46c03c21bb00fa9ea3fe546dae72c.jpg",
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "ASIAQ3EGVXK4EXAMPLE7/20261008/ap-east-1/s3/aws4_request",
            "x-amz-date": "20261008T020500Z",
            "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTAtMDhUMDI6MTU6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJDb250ZW50LVR5cGUi"
                      "OiAiaW1hZ2UvanBlZyJ9LCBbImNvbnRlbnQtbGVuZ3RoLXJhbmdlIiwgMSwgNTAwMDAwMF0sIHsiYnVja2V0IjogIm1h"
                      "bGwtcHJvZC1tZWRpYWJ1Y2tldC0xcTh6NGs3dzJtNXgifSwgeyJrZXkiOiAicHJvZHVjdC1pbWFnZXMvOWRjNDZjMDNj"
                      "MjFiYjAwZmE5ZWEzZmU1NDZkYWU3MmMuanBnIn0sIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYi"
                      "fSwgeyJ4LWFtei1jcmVkZW50aWFsIjogIkFTSUFRM0VHVlhLNEVYQU1QTEU3LzIwMjYxMDA4L2FwLWVhc3QtMS9zMy9h"
                      "d3M0X3JlcXVlc3QifSwgeyJ4LWFtei1kYXRlIjogIjIwMjYxMDA4VDAyMDUwMFoifV19",
            "x-amz-signature": "84c35063e6cb3f8fe905379651e8cff557869728fb2277b950909788349baf19"},
        "max_bytes": 5000000, "expires_at": "2026-10-08T02:15:00Z"}]})

    upload_id: str = Field(description="verify the upload with this id once the POST to S3 succeeded")
    key: str = Field(description="the media-bucket key the image will have (chosen by the server)")
    url: str = Field(description="POST a multipart/form-data form here: every `fields` entry, then `file`")
    fields: dict[str, str]
    max_bytes: int = Field(description="S3 refuses a bigger file")
    expires_at: str


class VerifiedImage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "upload_id": "9dc46c03c21bb00fa9ea3fe546dae72c", "key": "product-images/9dc46c03c21bb00fa9ea3fe546dae72c.jpg",
        "content_type": "image/jpeg", "width": 1080, "height": 1080, "bytes": 286417,
        "thumbnails": ["product-thumbs/9dc46c03c21bb00fa9ea3fe546dae72c-w240.jpg",
                       "product-thumbs/9dc46c03c21bb00fa9ea3fe546dae72c-w750.jpg"]}]})

    upload_id: str
    key: str = Field(description="use this in a product's `images`")
    content_type: str
    width: int
    height: int
    bytes: int
    thumbnails: list[str] = Field(default_factory=list, description=(
        "keys of its copies 240 and 750 px wide (upright, without metadata), made when it was verified; "
        "responses show them as `cover_thumbnail_url` and `image_thumbnail_urls`"))
