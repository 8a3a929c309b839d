"""Admin: product image uploads (商品图片上传).

``POST /admin/media/uploads`` picks the key and returns a presigned POST form bound to it (one of
jpeg, png, webp; at most 5 MB); the admin's browser sends the file straight to S3.
``POST /admin/media/uploads/{upload_id}/verify`` then checks the stored object is a real image of
that type and of sane dimensions; only a verified upload's key may be used in a product's
``images``. The server never fetches an address the admin typed (docs/security.md)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import Path, error_response
from mall.clock import utc_now
from mall.dal.media import MediaUploadRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.media import UploadForm, UploadRequest, VerifiedImage
from mall.services import media
from mall.services.media_bucket import media_store

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
uploads = MediaUploadRepository(table)
app = make_resolver()

UploadIdPath = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]


@app.post("/admin/media/uploads", summary="Start a product image upload (presigned POST)", tags=["catalog"],
          status_code=201,
          responses={201: {"description": "the form to POST the file to S3 with",
                           "content": {"application/json": {"model": UploadForm}}}},
          **staff(Capability.OPERATIONS))
def start(body: UploadRequest) -> Response[UploadForm]:
    form = media.start_upload(uploads=uploads, store=media_store(), body=body, by=current_principal(app).subject,
                              now=utc_now())
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=form)


@app.post("/admin/media/uploads/<upload_id>/verify", summary="Check an uploaded product image", tags=["catalog"],
          responses={200: {"description": "verified: its `key` may be used in a product's `images`",
                           "content": {"application/json": {"model": VerifiedImage}}},
                     404: error_response("`upload_not_found` (or expired)"),
                     409: error_response("`upload_missing`: nothing was uploaded yet; "
                                         "`upload_refused`: refused before"),
                     422: error_response("`invalid_image`: not an image of the declared type, too big, "
                                         "or of dimensions outside 64–6000 px / 25 Mpx; the object is deleted")},
          **staff(Capability.OPERATIONS))
def verify(upload_id: UploadIdPath) -> VerifiedImage:
    return media.verify_upload(uploads=uploads, store=media_store(), upload_id=upload_id, now=utc_now())


handler = entrypoint(app)
