"""Admin orders (订单管理): GET /admin/orders (by status, newest first), GET /admin/orders/{order_id},
POST /admin/orders/{order_id}/ship (发货: PAID → SHIPPED), POST /admin/orders/{order_id}/verify
(核销: a paid service order's code → COMPLETED). Addresses are masked in every view; only
GET /admin/orders/{order_id}/shipping-address shows one in full, audited and never cached."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from mall.api.auth import current_principal, secured, signing_key
from mall.api.http import entrypoint, make_resolver, metrics
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.fulfilment import FulfilmentRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.common import ErrorBody
from mall.schemas.fulfilment import AdminOrderPage, OrderDetail, ShippingAddress, ShipRequest, VerifyRequest
from mall.services.fulfilment import (
    admin_list_orders,
    admin_order,
    reveal_shipping_address,
    ship_order,
    verify_service_order,
)

repo = FulfilmentRepository(main_table())
audit = AuditLog(main_table())
app = make_resolver()


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}

OrderStatusFilter = Literal["CREATED", "PAID", "EXPIRED", "PAID_AFTER_EXPIRY", "SHIPPED", "COMPLETED", "CLOSED"]
OrderIdPath = Annotated[str, Path(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@app.get("/admin/orders", summary="Orders in one status, newest first", tags=["admin orders"],
         **secured(Role.ADMIN))
def list_orders(status: Annotated[OrderStatusFilter, Query(description="e.g. PAID: waiting to be shipped")] = "PAID",
                limit: Annotated[int, Query(ge=1, le=100)] = 20,
                cursor: Annotated[str | None, Query(max_length=2048)] = None) -> AdminOrderPage:
    return admin_list_orders(repo=repo, status=status, limit=limit, cursor=cursor, cursor_key=signing_key())


@app.get("/admin/orders/<order_id>", summary="One order with its history and refunds", tags=["admin orders"],
         **secured(Role.ADMIN))
def get_order(order_id: OrderIdPath) -> OrderDetail:
    return admin_order(repo=repo, order_id=order_id)


@app.get("/admin/orders/<order_id>/shipping-address", summary="The full delivery address, to ship the order",
         description="Unmasked name, phone and street address. Every call writes an audit record (who, which "
                     "order, when, source IP); the answer is `Cache-Control: no-store`.",
         tags=["admin orders"],
         responses={200: {"description": "the full address",
                          "content": {"application/json": {"model": ShippingAddress}}},
                    404: _error("`order_not_found`, `no_shipping_address` (nothing physical to ship)")},
         **secured(Role.ADMIN))
def shipping_address(order_id: OrderIdPath) -> Response[ShippingAddress]:
    result = reveal_shipping_address(repo=repo, audit=audit, order_id=order_id, admin=current_principal(app).subject,
                                     source_ip=app.current_event.request_context.http.source_ip, now=utc_now())
    metrics.add_metric(name="ShippingAddressesRevealed", unit="Count", value=1)
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=result,
                    headers={"Cache-Control": "no-store"})


@app.post("/admin/orders/<order_id>/ship", summary="Ship a paid order", tags=["admin orders"],
          responses={200: {"description": "SHIPPED (or already shipped with this parcel)",
                           "content": {"application/json": {"model": OrderDetail}}},
                     409: {"description": "`order_not_shippable`, `order_not_physical`, `nothing_to_ship`",
                           "content": {"application/json": {"model": ErrorBody}}}},
          **secured(Role.ADMIN))
def ship(order_id: OrderIdPath, body: ShipRequest) -> OrderDetail:
    result = ship_order(repo=repo, order_id=order_id, carrier=body.carrier, tracking_no=body.tracking_no,
                        admin=current_principal(app).subject, now=utc_now(),
                        source_ip=app.current_event.request_context.http.source_ip)
    metrics.add_metric(name="OrdersShipped", unit="Count", value=1)
    return result


@app.post("/admin/orders/<order_id>/verify", summary="Verify a service order's 核销 code", tags=["admin orders"],
          responses={200: {"description": "COMPLETED", "content": {"application/json": {"model": OrderDetail}}},
                     409: _error("`order_not_verifiable`, `order_already_verified`"),
                     422: _error("`wrong_verify_code`"),
                     429: _error("`verify_locked`: too many wrong codes")},
          **secured(Role.ADMIN))
def verify(order_id: OrderIdPath, body: VerifyRequest) -> OrderDetail:
    result = verify_service_order(repo=repo, order_id=order_id, code=body.code, admin=current_principal(app).subject,
                                  now=utc_now(), source_ip=app.current_event.request_context.http.source_ip)
    metrics.add_metric(name="ServiceOrdersVerified", unit="Count", value=1)
    return result


handler = entrypoint(app)
