"""Admin: product categories (商品分类) with their own optional L1/L2 commission rates.

Every change is conditional on the ``version`` the admin read (409 with the current state
otherwise); rates that could pay more than the commission cap are refused (422)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.idempotency import IdempotencyKeyHeader, once
from mall.api.params import CatalogIdPath, OpenAPIResponse, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.catalog_categories import CategoryCreate, CategoryList, CategoryUpdate, CategoryView
from mall.services.catalog import categories
from mall.services.catalog.common import CatalogRepositories

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CatalogRepositories.on(table)
app = make_resolver()

_VIEW: OpenAPIResponse = {"description": "the category", "content": {"application/json": {"model": CategoryView}}}
_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such category"),
    409: error_response("`version_conflict` (details.current holds the current state) or `category_not_empty`"),
    422: error_response("invalid fields, e.g. `commission_over_cap` naming the rate"),
}


@app.post("/admin/categories", summary="Create a category", tags=["catalog"], status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": CategoryView}}},
                     422: _ERRORS[422]},
          **staff(Capability.OPERATIONS))
def create(body: CategoryCreate, idempotency_key: IdempotencyKeyHeader) -> Response[CategoryView]:
    principal = current_principal(app)
    result = once(idempotency_key, principal.subject, body, CategoryView,
                  lambda: categories.create_category(repos=repos, body=body, now=utc_now(), by=principal.subject,
                                                     source_ip=source_ip(app)),
                  lambda_context=app.lambda_context)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/admin/categories", summary="List the categories in display order", tags=["catalog"],
         **staff(Capability.READ))
def list_all() -> CategoryList:
    return categories.list_categories(repos=repos)


@app.get("/admin/categories/<category_id>", summary="One category", tags=["catalog"],
         responses={200: _VIEW, 404: _ERRORS[404]}, **staff(Capability.READ))
def get_one(category_id: CatalogIdPath) -> CategoryView:
    return categories.get_category(repos=repos, category_id=category_id)


@app.patch("/admin/categories/<category_id>", summary="Change a category (fields sent only)", tags=["catalog"],
           responses={200: _VIEW, **_ERRORS}, **staff(Capability.OPERATIONS))
def update(category_id: CatalogIdPath, body: CategoryUpdate) -> CategoryView:
    return categories.update_category(repos=repos, category_id=category_id, body=body, now=utc_now(),
                                      by=current_principal(app).subject, source_ip=source_ip(app))


@app.delete("/admin/categories/<category_id>", summary="Delete an empty category", tags=["catalog"],
            status_code=204, responses={204: {"description": "deleted"}, 404: _ERRORS[404], 409: _ERRORS[409]},
            **staff(Capability.OPERATIONS))
def delete(category_id: CatalogIdPath,
           version: Annotated[int, Query(ge=1, description="the version you read")]) -> Response[str]:
    categories.delete_category(repos=repos, category_id=category_id, version=version,
                               by=current_principal(app).subject, source_ip=source_ip(app), now=utc_now())
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


handler = entrypoint(app)
