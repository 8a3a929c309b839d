"""Customers browse the catalog: on-shelf products (search, filter, sort, paginate), a
product's detail, and the categories. Guests may browse (public routes); with a bearer
token of an active promoter, each product also says what they would earn on it (L1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from mall.api.auth import principal_from_headers, public
from mall.api.http import entrypoint, make_resolver
from mall.api.params import CatalogIdPath, Cursor, Query, error_response, limit_query
from mall.dal.table import main_table
from mall.domain.catalog import ListingFilter
from mall.schemas.catalog_public import ListingSortParam, ProductDetail, ProductList, PublicCategoryList
from mall.services.catalog import browsing
from mall.services.catalog.browsing import BrowseProducts
from mall.services.catalog.common import CatalogRepositories
from mall.services.media_bucket import media_settings, media_store

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CatalogRepositories.on(table)
# Built here, not by a first request: every list and product page reads the pages' reads, and a signed-in
# viewer's page their promoter record (mall.dal.catalog.page imports the referral records for it).
pages, promoters = repos.pages, repos.promoters
app = make_resolver()

PriceQuery = Annotated[int | None, Query(ge=0, le=10_000_000_000, description="integer fen")]
_OPTIONAL_TOKEN = ("Browsing is open to guests. Send `Authorization: Bearer <token>` to be recognised: an active "
                   "promoter then sees `promoter_earn_fen`. A token that is sent must be valid (401 otherwise).")


def _viewer() -> str | None:
    """The caller's user id when a token is sent (verified), else None (a guest)."""
    headers = app.current_event.headers
    if not (headers.get("authorization") or headers.get("Authorization")):
        return None
    principal = principal_from_headers(headers)
    return None if principal.is_admin else principal.subject


def _image_url() -> Callable[[str], str] | None:
    """Signs product images' media-bucket keys for display (no S3 call); None without a bucket."""
    settings = media_settings()
    if not settings.bucket:
        return None
    store = media_store()
    return lambda key: store.presigned_url(key, expires_in=settings.url_ttl_seconds)


@app.get("/products", summary="Browse and search on-shelf products", description=_OPTIONAL_TOKEN, tags=["catalog"],
         responses={200: {"description": "one page of products",
                          "content": {"application/json": {"model": ProductList}}},
                    422: error_response("invalid filters or cursor")},
         **public())
def browse(*,
           category_id: Annotated[str | None, Query(max_length=64)] = None,
           min_price_fen: PriceQuery = None,
           max_price_fen: PriceQuery = None,
           q: Annotated[str | None, Query(max_length=60, description="keyword in the product name")] = None,
           sort: Annotated[ListingSortParam, Query(description=(
               "newest, price_asc, price_desc (by the lowest SKU price), sales_desc, hot (爆款 first), or "
               "commission_desc (active promoters only: what the caller earns at L1 on the best-paying SKU; "
               "anyone else gets 422)"))]
           = "newest",
           min_commission_fen: Annotated[int | None, Query(ge=0, le=10_000_000_000, description=(
               "active promoters only: products whose best-paying SKU earns the caller at least this at L1"))]
           = None,
           limit: Annotated[int, limit_query(50)] = 20,
           cursor: Cursor = None) -> ProductList:
    where = ListingFilter(category_id=category_id, min_price_fen=min_price_fen, max_price_fen=max_price_fen,
                          keyword=q or None, min_commission_fen=min_commission_fen)
    command = BrowseProducts(where=where, sort=sort, limit=limit, cursor=cursor, viewer=_viewer())
    return browsing.browse_products(command, repos=repos, image_url=_image_url())


@app.get("/products/<product_id>", summary="A product's detail", description=_OPTIONAL_TOKEN, tags=["catalog"],
         responses={200: {"description": "the product", "content": {"application/json": {"model": ProductDetail}}},
                    404: error_response("no such product")},
         **public())
def detail(product_id: CatalogIdPath) -> ProductDetail:
    return browsing.product_detail(repos=repos, product_id=product_id, viewer=_viewer(), image_url=_image_url())


@app.get("/categories", summary="The categories, in display order", tags=["catalog"], **public())
def categories() -> PublicCategoryList:
    return browsing.public_categories(repos=repos)


handler = entrypoint(app)
