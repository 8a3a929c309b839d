"""Admin: product image uploads (商品图片上传).

``POST /admin/media/uploads`` picks the key and returns a presigned POST form bound to it (one of
jpeg, png, webp; at most 5 MB); the admin's browser sends the file straight to S3.
``POST /admin/media/uploads/{upload_id}/verify`` then checks the stored object is a real image of
that type and of sane dimensions; only a verified upload's key may be used in a product's
``images``. The server never fetches an address the admin typed (docs/security.md).

``/admin/materials``: the materials center (素材中心) — texts, poster backgrounds (a verified
upload's key) and templates (a background plus a layout), per product or general; banned phrases
refused on save, every change audited and conditional on the version read."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.cursor import cursors
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.idempotency import IdempotencyKeyHeader, once
from mall.api.params import Cursor, IdPath, OpenAPIResponse, Path, Query, error_response, limit_query, source_ip
from mall.clock import utc_now
from mall.dal.materials import MaterialRepository
from mall.dal.media import MediaUploadRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.materials import MaterialCreate, MaterialPage, MaterialUpdate, MaterialView
from mall.schemas.media import UploadForm, UploadRequest, VerifiedImage
from mall.services import materials as materials_center
from mall.services import media
from mall.services.materials import MaterialEdit, MaterialQuery, MaterialSources
from mall.services.media_bucket import media_store

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
uploads = MediaUploadRepository(table)
materials = MaterialRepository(table)
distribution = SettingsRepository(table)
app = make_resolver()


def banned_phrases() -> tuple[str, ...]:
    return distribution.current().settings.all_banned_phrases()


def sources() -> MaterialSources:
    return MaterialSources(materials=materials, uploads=uploads, banned_phrases=banned_phrases, store=media_store())


def edit() -> MaterialEdit:
    return MaterialEdit(by=current_principal(app).subject, source_ip=source_ip(app), now=utc_now())

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


_MATERIAL: OpenAPIResponse = {"description": "the material",
                              "content": {"application/json": {"model": MaterialView}}}
_MATERIAL_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`material_not_found`"),
    409: error_response("`version_conflict` (details.current holds the current state)"),
    422: error_response("`banned_phrase` naming the field and the phrase, or `validation_error` naming the field "
                        "(a missing or unknown placeholder, a box outside the poster or over the QR, an "
                        "unverified image, no such background)"),
}


@app.post("/admin/materials", summary="Create a text, poster background or poster template", tags=["materials"],
          status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": MaterialView}}},
                     422: _MATERIAL_ERRORS[422]},
          **staff(Capability.OPERATIONS))
def create_material(body: MaterialCreate, idempotency_key: IdempotencyKeyHeader) -> Response[MaterialView]:
    result = once(idempotency_key, current_principal(app).subject, body, MaterialView,
                  lambda: materials_center.create_material(body, edit=edit(), sources=sources()),
                  lambda_context=app.lambda_context)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/admin/materials", summary="The materials center: every material, a product's or the general ones",
         tags=["materials"], responses={422: error_response("`validation_error`, `invalid_cursor`")},
         **staff(Capability.READ))
def list_materials(
        product_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
        general: Annotated[bool, Query(description="the general materials only")] = False,
        kind: Annotated[Literal["text", "background", "template"] | None,
                        Query(description="with product_id or general")] = None,
        limit: Annotated[int, limit_query(100)] = 50,
        cursor: Cursor = None) -> MaterialPage:
    query = MaterialQuery(product_id=product_id, general=general, kind=kind, limit=limit, cursor=cursor)
    return materials_center.list_materials(query, materials=materials, store=media_store(), cursors=cursors)


@app.get("/admin/materials/<material_id>", summary="One material", tags=["materials"],
         responses={200: _MATERIAL, 404: _MATERIAL_ERRORS[404]}, **staff(Capability.READ))
def get_material(material_id: IdPath) -> MaterialView:
    return materials_center.get_material(material_id, materials=materials, store=media_store())


@app.patch("/admin/materials/<material_id>", summary="Change, enable or disable a material (fields sent only)",
           tags=["materials"], responses={200: _MATERIAL, **_MATERIAL_ERRORS}, **staff(Capability.OPERATIONS))
def update_material(material_id: IdPath, body: MaterialUpdate) -> MaterialView:
    return materials_center.update_material(material_id, body, edit=edit(), sources=sources())


handler = entrypoint(app)
