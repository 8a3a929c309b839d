"""Admin orders (订单管理): GET /admin/orders (by status and China days created, newest first),
GET /admin/orders/{order_id}, POST /admin/orders/{order_id}/ship (发货: PAID → SHIPPED),
POST /admin/orders/{order_id}/verify (核销: a paid service order's code → COMPLETED). Addresses are
masked in every view; only GET /admin/orders/{order_id}/shipping-address shows one in full, audited
and never cached."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.orders import OrderRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.fulfilment import AdminOrderPage, OrderDetail, ShippingAddress, ShipRequest, VerifyRequest
from mall.services.fulfilment import (
    admin_list_orders,
    admin_order,
    reveal_shipping_address,
    ship_order,
    verify_service_order,
)

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table)
audit = AuditLog(table)
app = make_resolver()

OrderStatusFilter = Literal["CREATED", "PAID", "EXPIRED", "PAID_AFTER_EXPIRY", "SHIPPED", "COMPLETED", "CLOSED"]


@app.get("/admin/orders", summary="Orders in one status, newest first", tags=["admin orders"],
         description="`from` / `to` keep the orders created on those China days (UTC+8, inclusive; either may be "
                     "left out). The range is read from the index, so every page costs the same; a cursor "
                     "belongs to its status and range.",
         responses={422: error_response("`validation_error` (not YYYY-MM-DD), `invalid_date`, "
                                        "`invalid_date_range`, `invalid_cursor` (the field is named)")},
         **staff(Capability.READ))
def list_orders(status: Annotated[OrderStatusFilter, Query(description="e.g. PAID: waiting to be shipped")] = "PAID",
                date_from: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                       description="first China day, YYYY-MM-DD")] = None,
                date_to: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                     description="last China day, YYYY-MM-DD (inclusive)")] = None,
                limit: Limit = 20,
                cursor: Cursor = None) -> AdminOrderPage:
    return admin_list_orders(repo=repo, status=status, limit=limit, cursor=cursor, date_from=date_from,
                             date_to=date_to)


@app.get("/admin/orders/<order_id>", summary="One order with its history and refunds", tags=["admin orders"],
         **staff(Capability.READ))
def get_order(order_id: IdPath) -> OrderDetail:
    return admin_order(repo=repo, order_id=order_id)


@app.get("/admin/orders/<order_id>/shipping-address", summary="The full delivery address, to ship the order",
         description="Unmasked name, phone and street address. Every call writes an audit record (who, which "
                     "order, when, source IP); the answer is `Cache-Control: no-store`.",
         tags=["admin orders"],
         responses={200: {"description": "the full address",
                          "content": {"application/json": {"model": ShippingAddress}}},
                    404: error_response("`order_not_found`, `no_shipping_address` (nothing physical to ship)")},
         **staff(Capability.REVEAL_ADDRESS))
def shipping_address(order_id: IdPath) -> Response[ShippingAddress]:
    result = reveal_shipping_address(repo=repo, audit=audit, order_id=order_id, admin=current_principal(app).subject,
                                     source_ip=source_ip(app), now=utc_now())
    metrics.add_metric(name="ShippingAddressesRevealed", unit="Count", value=1)
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=result,
                    headers={"Cache-Control": "no-store"})


@app.post("/admin/orders/<order_id>/ship", summary="Ship a paid order", tags=["admin orders"],
          responses={200: {"description": "SHIPPED (or already shipped with this parcel)",
                           "content": {"application/json": {"model": OrderDetail}}},
                     409: error_response("`order_not_shippable`, `order_not_physical`, `nothing_to_ship`")},
          **staff(Capability.OPERATIONS))
def ship(order_id: IdPath, body: ShipRequest) -> OrderDetail:
    result = ship_order(repo=repo, order_id=order_id, carrier=body.carrier, tracking_no=body.tracking_no,
                        admin=current_principal(app).subject, now=utc_now(),
                        source_ip=source_ip(app))
    metrics.add_metric(name="OrdersShipped", unit="Count", value=1)
    return result


@app.post("/admin/orders/<order_id>/verify", summary="Verify a service order's 核销 code", tags=["admin orders"],
          responses={200: {"description": "COMPLETED", "content": {"application/json": {"model": OrderDetail}}},
                     409: error_response("`order_not_verifiable`, `order_already_verified`"),
                     422: error_response("`wrong_verify_code`"),
                     429: error_response("`verify_locked`: too many wrong codes")},
          **staff(Capability.OPERATIONS))
def verify(order_id: IdPath, body: VerifyRequest) -> OrderDetail:
    result = verify_service_order(repo=repo, order_id=order_id, code=body.code, admin=current_principal(app).subject,
                                  now=utc_now(), source_ip=source_ip(app))
    metrics.add_metric(name="ServiceOrdersVerified", unit="Count", value=1)
    return result


handler = entrypoint(app)
