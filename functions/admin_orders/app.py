"""Admin orders (订单管理): GET /admin/orders (by status and China days created, newest first),
GET /admin/orders/{order_id}, POST /admin/orders/{order_id}/ship (发货: PAID → SHIPPED),
POST /admin/orders/{order_id}/verify (核销: a paid service order's code → COMPLETED),
GET /admin/orders/{order_id}/tracking (parcels' trails) and POST .../tracking/refresh (ask the
logistics provider now, rate-limited per parcel). Addresses are
masked in every view; only GET /admin/orders/{order_id}/shipping-address shows one in full, audited
and never cached."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.domain.tokens import Role
from mall.integrations.tracking.factory import provider_from_env
from mall.schemas.fulfilment import AdminOrderPage, OrderDetail, ShippingAddress, ShipRequest, VerifyRequest
from mall.schemas.tracking import TrackingView
from mall.services.fulfilment import (
    admin_list_orders,
    admin_order,
    reveal_shipping_address,
    ship_order,
    verify_service_order,
)
from mall.services.tracking import admin_tracking, refresh_tracking

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table)
audit = AuditLog(table)
tracking = TrackingRepository(table)
settings = SettingsRepository(table)
app = make_resolver()

OrderStatusFilter = Literal["CREATED", "PAID", "EXPIRED", "PAID_AFTER_EXPIRY", "SHIPPED", "COMPLETED", "CLOSED"]


@app.get("/admin/orders", summary="Orders in one status, newest first", tags=["admin orders"],
         description="`from` / `to` keep the orders created on those China days (UTC+8, inclusive; either may be "
                     "left out). The range is read from the index, so every page costs the same; a cursor "
                     "belongs to its status and range.",
         responses={422: error_response("`validation_error` (not YYYY-MM-DD), `invalid_date`, "
                                        "`invalid_date_range`, `invalid_cursor` (the field is named)")},
         **secured(Role.ADMIN))
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
         **secured(Role.ADMIN))
def get_order(order_id: IdPath) -> OrderDetail:
    return admin_order(repo=repo, order_id=order_id)


@app.get("/admin/orders/<order_id>/shipping-address", summary="The full delivery address, to ship the order",
         description="Unmasked name, phone and street address. Every call writes an audit record (who, which "
                     "order, when, source IP); the answer is `Cache-Control: no-store`.",
         tags=["admin orders"],
         responses={200: {"description": "the full address",
                          "content": {"application/json": {"model": ShippingAddress}}},
                    404: error_response("`order_not_found`, `no_shipping_address` (nothing physical to ship)")},
         **secured(Role.ADMIN))
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
          **secured(Role.ADMIN))
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
          **secured(Role.ADMIN))
def verify(order_id: IdPath, body: VerifyRequest) -> OrderDetail:
    result = verify_service_order(repo=repo, order_id=order_id, code=body.code, admin=current_principal(app).subject,
                                  now=utc_now(), source_ip=source_ip(app))
    metrics.add_metric(name="ServiceOrdersVerified", unit="Count", value=1)
    return result


@app.get("/admin/orders/<order_id>/tracking", summary="The order's parcels and their trails", tags=["admin orders"],
         responses={200: {"description": "the trails", "content": {"application/json": {"model": TrackingView}}},
                    404: error_response("`order_not_found`")},
         **secured(Role.ADMIN))
def order_tracking(order_id: IdPath) -> TrackingView:
    return admin_tracking(repo=tracking, settings=settings, order_id=order_id)


@app.post("/admin/orders/<order_id>/tracking/refresh", summary="Ask the logistics provider for fresh trails now",
          description="A real-time query per parcel (billed by the provider): each parcel at most once per 30 "
                      "minutes; a newer trail replaces the stored one, an older answer changes nothing.",
          tags=["admin orders"],
          responses={200: {"description": "the trails after the query",
                           "content": {"application/json": {"model": TrackingView}}},
                     404: error_response("`order_not_found`"),
                     429: error_response("`tracking_refresh_too_soon`: every parcel was asked recently"),
                     503: error_response("`tracking_query_failed`, `tracking_provider_unavailable`, `tracking_off`")},
          **secured(Role.ADMIN))
def refresh_order_tracking(order_id: IdPath) -> TrackingView:
    result = refresh_tracking(repo=tracking, settings=settings, provider=provider_from_env(), order_id=order_id,
                              now=utc_now(), orders=repo)
    metrics.add_metric(name="TrackingRefreshed", unit="Count", value=1)
    return result


handler = entrypoint(app)
