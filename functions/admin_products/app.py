"""Admin: products (商品) — create, change (on/off shelf too), stock adjustments, lists and
the low-stock list (库存预警).

Edits are conditional on the ``version`` the admin read (409 with the current state
otherwise). Stock changes only through adjustments (a delta, never a value: orders change
stock at the same time). A commission setting that could pay more than the cap is 422."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.idempotency import IdempotencyKeyHeader, once
from mall.api.params import CatalogIdPath, Cursor, Limit, OpenAPIResponse, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.catalog import (
    AdminProductList,
    AdminProductView,
    AdminShelfParam,
    ProductCreate,
    ProductUpdate,
    StockAdjustment,
)
from mall.schemas.catalog_batch import ProductBatchEdit, ProductBatchResult
from mall.services.catalog import products
from mall.services.catalog.common import CatalogRepositories

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CatalogRepositories.on(table)
app = make_resolver()

_VIEW: OpenAPIResponse = {"description": "the product", "content": {"application/json": {"model": AdminProductView}}}
_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such product"),
    409: error_response("`version_conflict` (details.current holds the current state) or `insufficient_stock`"),
    422: error_response("invalid fields, e.g. `invalid_product` with `commission.l1` over the cap"),
}


@app.post("/admin/products", summary="Create a product", tags=["catalog"], status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": AdminProductView}}},
                     422: _ERRORS[422]},
          **staff(Capability.OPERATIONS))
def create(body: ProductCreate, idempotency_key: IdempotencyKeyHeader) -> Response[AdminProductView]:
    principal = current_principal(app)
    result = once(idempotency_key, principal.subject, body, AdminProductView,
                  lambda: products.create_product(repos=repos, body=body, now=utc_now(), by=principal.subject,
                                                  source_ip=source_ip(app)),
                  lambda_context=app.lambda_context)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/admin/products", summary="List products, newest first", tags=["catalog"], **staff(Capability.READ))
def list_products(shelf: Annotated[AdminShelfParam, Query(description="on / off shelf, or all")] = "all",
                  category_id: Annotated[str | None, Query(max_length=64)] = None,
                  q: Annotated[str | None, Query(max_length=60, description="keyword in the name")] = None,
                  limit: Limit = 20, cursor: Cursor = None) -> AdminProductList:
    return products.list_admin_products(repos=repos, shelf=shelf, category_id=category_id, keyword=q, limit=limit,
                                        cursor=cursor)


@app.get("/admin/products/low-stock", summary="Products at or below their low-stock threshold", tags=["catalog"],
         **staff(Capability.READ))
def low_stock(limit: Limit = 20, cursor: Cursor = None) -> AdminProductList:
    return products.low_stock_products(repos=repos, limit=limit, cursor=cursor)


@app.post("/admin/products/batch", summary="Batch edit: shelf, category or commission setting of many products",
          description=("Each product is changed on its own (a conditional update, audited), checked as a single "
                       "edit is; the answer reports each id: updated, unchanged, not_found, refused (with the "
                       "fields) or conflict. Send the same Idempotency-Key to repeat it safely."),
          tags=["catalog"],
          responses={200: {"description": "each product's outcome",
                           "content": {"application/json": {"model": ProductBatchResult}}},
                     422: error_response("invalid body, e.g. more than 100 ids, or no change sent")},
          **staff(Capability.OPERATIONS))
def batch_edit(body: ProductBatchEdit, idempotency_key: IdempotencyKeyHeader) -> ProductBatchResult:
    # Imported on first use: a batch edit is the console's rarer edit (the lists, a product and its edits are not).
    from mall.services.catalog.merchandising import BatchEdit, batch_edit_products

    principal = current_principal(app)
    command = BatchEdit(body=body, by=principal.subject, now=utc_now(), source_ip=source_ip(app))
    return once(idempotency_key, principal.subject, body, ProductBatchResult,
                lambda: batch_edit_products(command, repos=repos), lambda_context=app.lambda_context)


@app.get("/admin/products/<product_id>", summary="One product", tags=["catalog"],
         responses={200: _VIEW, 404: _ERRORS[404]}, **staff(Capability.READ))
def get_one(product_id: CatalogIdPath) -> AdminProductView:
    return products.get_admin_product(repos=repos, product_id=product_id)


@app.patch("/admin/products/<product_id>", summary="Change a product (fields sent only; on/off shelf too)",
           tags=["catalog"], responses={200: _VIEW, **_ERRORS}, **staff(Capability.OPERATIONS))
def update(product_id: CatalogIdPath, body: ProductUpdate) -> AdminProductView:
    return products.update_product(repos=repos, product_id=product_id, body=body, now=utc_now(),
                                   by=current_principal(app).subject, source_ip=source_ip(app))


@app.post("/admin/products/<product_id>/stock-adjustments", summary="Add or remove stock (入库, 盘点, 损耗)",
          tags=["catalog"], responses={200: _VIEW, **_ERRORS}, **staff(Capability.OPERATIONS))
def adjust(product_id: CatalogIdPath, body: StockAdjustment, idempotency_key: IdempotencyKeyHeader) -> AdminProductView:
    principal = current_principal(app)
    return once(idempotency_key, principal.subject, body, AdminProductView,
                lambda: products.adjust_stock(repos=repos, product_id=product_id, body=body, by=principal.subject,
                                              now=utc_now(), source_ip=source_ip(app)),
                lambda_context=app.lambda_context)


handler = entrypoint(app)
