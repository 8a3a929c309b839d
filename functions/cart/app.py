"""The customer's cart (购物车): GET /cart, POST /cart/lines (add), PATCH and DELETE /cart/lines/{line_id}.

The cart holds no stock and fixes no price: every answer prices its lines from the catalog as it is
now, with their availability. Lines are checked out by ``POST /orders`` with ``cart_line_ids``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import OpenAPIResponse, Path, error_response
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal.cart import CartRepository
from mall.dal.request_markers import RequestMarkers
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.cart import AddCartLineRequest, CartLineView, CartView, ChangeCartLineRequest
from mall.services import cart as cart_service

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
cart = CartRepository(table)
markers = RequestMarkers(table)
app = make_resolver()

LineIdPath = Annotated[str, Path(pattern=r"^cl_[0-9a-f]{20}$", description="the line's `line_id` from GET /cart")]
_LINE: OpenAPIResponse = {"description": "the line, priced now",
                          "content": {"application/json": {"model": CartLineView}}}
_CART: OpenAPIResponse = {"description": "the lines, newest first",
                          "content": {"application/json": {"model": CartView}}}
_NO_LINE = error_response("`cart_line_not_found`")


@app.get("/cart", summary="The cart, priced now", tags=["cart"],
         responses={200: _CART}, **secured(Role.CUSTOMER, Role.PROMOTER))
def view() -> CartView:
    return cart_service.view_cart(cart=cart, user_id=current_principal(app).subject)


@app.post("/cart/lines", summary="Add to the cart", tags=["cart"], status_code=201,
          responses={201: _LINE,
                     409: error_response("`product_unavailable` (off shelf), `cart_full`, `cart_contention`"),
                     422: error_response("`no_such_product` (naming `product_id` or `sku_id`), `quantity_over_cap`")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def add(body: AddCartLineRequest, idempotency_key: IdempotencyKeyHeader) -> Response[CartLineView]:
    principal = current_principal(app)
    now = utc_now()
    request = marked(markers, idempotency_key, principal.subject, body, now)
    result = cart_service.add_line(cart_service.AddToCart(request=body, user_id=principal.subject, now=now),
                                   cart=cart, marked=request)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.patch("/cart/lines/<line_id>", summary="Change a line's quantity", tags=["cart"],
           responses={200: _LINE, 404: _NO_LINE, 409: error_response("`version_conflict` (details.current)")},
           **secured(Role.CUSTOMER, Role.PROMOTER))
def change(line_id: LineIdPath, body: ChangeCartLineRequest) -> CartLineView:
    return cart_service.change_line(cart=cart, user_id=current_principal(app).subject, line_id=line_id, body=body,
                                    now=utc_now())


@app.delete("/cart/lines/<line_id>", summary="Remove a line", tags=["cart"], status_code=204,
            responses={204: {"description": "removed"}, 404: _NO_LINE}, **secured(Role.CUSTOMER, Role.PROMOTER))
def remove(line_id: LineIdPath) -> Response[str]:
    cart_service.remove_line(cart=cart, user_id=current_principal(app).subject, line_id=line_id)
    return Response(status_code=HTTPStatus.NO_CONTENT, body="")


handler = entrypoint(app)
