"""Admin orders (订单管理): GET /admin/orders (by status and China days created, newest first),
GET /admin/orders/{order_id}, POST /admin/orders/{order_id}/ship (发货: PAID → SHIPPED),
POST /admin/orders/{order_id}/verify (核销: a paid service order's code → COMPLETED),
GET /admin/orders/{order_id}/tracking (parcels' trails) and POST .../tracking/refresh (ask the
logistics provider now, rate-limited per parcel). Addresses are
masked in every view; only GET /admin/orders/{order_id}/shipping-address shows one in full, audited
and never cached."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import ID_PATTERN, Cursor, IdPath, Limit, Query, error_response, source_ip
from mall.clock import utc_now
from mall.config import function_environment, get_settings
from mall.dal.audit import AuditLog
from mall.dal.orders import OrderRepository
from mall.dal.queues import queue_from_env
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.shipping import ParcelRequest
from mall.domain.staff import Capability
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.fulfilment import OrderDetail
from mall.schemas.fulfilment_admin import AdminOrderPage, ShippingAddress, ShipRequest, VerifyRequest
from mall.schemas.tracking import TrackingView
from mall.services.fulfilment import (
    admin_list_orders,
    admin_order,
    reveal_shipping_address,
    verify_service_order,
)
from mall.services.order_changes import UploadRequests
from mall.services.shipping import ShipOrder, ShippingRepositories, known_carriers, ship_parcels
from mall.services.tracking import admin_tracking, refresh_tracking

if TYPE_CHECKING:
    from mall.dal.promoter_orders import PromoterOrderReads
    from mall.integrations.wechat_shipping import ShippingClient

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
shipping = ShippingRepositories.on(table)
repo = OrderRepository(table, status_list=function_environment().order_status_list)
audit = AuditLog(table)
uploads = UploadRequests(shipping.shipping, queue_from_env("SHIPPING_UPLOAD_QUEUE_URL"))
force_gate = ForceRefreshLease(table)
tracking = TrackingRepository(table)
settings = SettingsRepository(table)
app = make_resolver()
_client: list[ShippingClient] = []


def wechat() -> ShippingClient:
    """One client per process (its token is cached); the secret is read only when the carrier list is fetched."""
    if not _client:
        # Imported with the first client: a shipment reads the carrier list cached in the table, and asks WeChat
        # for it only when that copy has expired (about once a day).
        from mall.integrations.wechat_shipping import shipping_client

        _client.append(shipping_client(force_gate=force_gate))
    return _client[0]

OrderStatusFilter = Literal["CREATED", "PAID", "EXPIRED", "PAID_AFTER_EXPIRY", "SHIPPED", "COMPLETED", "CLOSED"]


@app.get("/admin/orders", summary="Orders in one status, or one promoter's orders, newest first",
         tags=["admin orders"],
         description="`from` / `to` keep the orders created on those China days (UTC+8, inclusive; either may be "
                     "left out). The range is read from the index, so every page costs the same; a cursor "
                     "belongs to its status and range. With `promoter_id`: the orders that promoter earns on "
                     "(optionally at one `level`, and in one `status`; no default status), read from their "
                     "commission records; rows carry `level` and `commission_fen`, and a page may be short.",
         responses={404: error_response("`promoter_not_found` (with `promoter_id`)"),
                    422: error_response("`validation_error` (not YYYY-MM-DD), `invalid_date`, "
                                        "`invalid_date_range`, `invalid_cursor`, `promoter_required` (`level` "
                                        "without `promoter_id`), `dates_not_with_promoter` (the field is named)")},
         **staff(Capability.READ))
def list_orders(status: Annotated[OrderStatusFilter | None,  # noqa: PLR0917 - one keyword per query filter
                                  Query(description="e.g. PAID: waiting to be shipped (default PAID without "
                                                    "`promoter_id`)")] = None,
                date_from: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                       description="first China day, YYYY-MM-DD")] = None,
                date_to: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                                     description="last China day, YYYY-MM-DD (inclusive)")] = None,
                promoter_id: Annotated[str | None, Query(min_length=3, max_length=64, pattern=ID_PATTERN,
                                                         description="only the orders this promoter earns on")] = None,
                level: Annotated[int | None, Query(ge=1, le=2,
                                                   description="with `promoter_id`: only this level (1 or 2)")] = None,
                limit: Limit = 20,
                cursor: Cursor = None) -> AdminOrderPage:
    if promoter_id is None:
        if level is not None:
            raise InvalidInput("level needs promoter_id", code="promoter_required",
                               fields=[FieldProblem("query:level", "only with promoter_id")])
        return admin_list_orders(repo=repo, status=status or "PAID", limit=limit, cursor=cursor, date_from=date_from,
                                 date_to=date_to)
    if date_from is not None or date_to is not None:
        raise InvalidInput("dates do not combine with promoter_id", code="dates_not_with_promoter",
                           fields=[FieldProblem("query:from" if date_from is not None else "query:to",
                                                "not with promoter_id")])
    # Only the list of one promoter's orders reads them: imported on its first use, not at cold start.
    from mall.services.promoter_orders import admin_orders_by_promoter

    return admin_orders_by_promoter(_promoter_order_reads(), promoter_id=promoter_id, level=level, status=status,
                                    limit=limit, cursor=cursor)


@app.get("/admin/orders/<order_id>", summary="One order with its history and refunds", tags=["admin orders"],
         **staff(Capability.READ))
def get_order(order_id: IdPath) -> OrderDetail:
    return admin_order(repo=repo, order_id=order_id, settings=settings)


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
          description="One or several parcels (unified or split delivery, at most 15), each with a carrier id "
                      "of `GET /admin/shipping/carriers`; or the single-parcel `carrier` + `tracking_no`. The "
                      "shipment's information is then uploaded to WeChat (`GET /admin/shipping/uploads`).",
          responses={200: {"description": "SHIPPED (or already shipped with these parcels)",
                           "content": {"application/json": {"model": OrderDetail}}},
                     409: error_response("`order_not_shippable`, `order_not_physical`, `nothing_to_ship`; "
                                         "other parcels for a shipped order correct it once: "
                                         "`shipment_change_used`, `upload_in_progress`"),
                     422: error_response("`invalid_parcels`: an unknown carrier (`parcels.0.carrier_id`), more "
                                         "than 15 parcels, a line in no or two parcels (the field is named)")},
          **staff(Capability.OPERATIONS))
def ship(order_id: IdPath, body: ShipRequest) -> OrderDetail:
    now = utc_now()
    carriers = known_carriers(shipping=shipping.shipping, source=wechat, app_id=get_settings().wechat_app_id, now=now)
    result = ship_parcels(_ship_command(order_id, body, carriers, now), repos=shipping, carriers=carriers,
                          uploads=uploads)
    metrics.add_metric(name="OrdersShipped", unit="Count", value=1)
    return result


def _ship_command(order_id: str, body: ShipRequest, carriers: dict[str, str], now: datetime) -> ShipOrder:
    from mall.services.shipping import resolve_carrier

    admin, ip = current_principal(app).subject, source_ip(app)
    if body.parcels is not None:
        if body.carrier is not None or body.tracking_no is not None:
            raise InvalidInput("send either parcels or carrier + tracking_no", code="validation_error",
                               fields=[FieldProblem("parcels", "not together with carrier / tracking_no")])
        parcels = tuple(ParcelRequest(p.carrier_id, p.tracking_no, tuple(p.line_ids)) for p in body.parcels)
        return ShipOrder(order_id=order_id, parcels=parcels, admin=admin, now=now, source_ip=ip)
    if body.carrier is None or body.tracking_no is None:
        missing = "carrier" if body.carrier is None else "tracking_no"
        raise InvalidInput(f"{missing} is required (or send parcels)", code="validation_error",
                           fields=[FieldProblem(missing, "required without parcels")])
    carrier_id = resolve_carrier(body.carrier, carriers)
    if carrier_id not in carriers:
        raise InvalidInput("unknown carrier", code="invalid_parcels",
                           fields=[FieldProblem("carrier", f"unknown carrier {body.carrier!r} "
                                                           "(see GET /admin/shipping/carriers)")])
    return ShipOrder(order_id=order_id, parcels=(ParcelRequest(carrier_id, body.tracking_no),), admin=admin, now=now,
                     source_ip=ip, label=body.carrier)


@app.post("/admin/orders/<order_id>/verify", summary="Verify a service order's 核销 code", tags=["admin orders"],
          responses={200: {"description": "COMPLETED", "content": {"application/json": {"model": OrderDetail}}},
                     409: error_response("`order_not_verifiable`, `order_already_verified`"),
                     422: error_response("`wrong_verify_code`"),
                     429: error_response("`verify_locked`: too many wrong codes")},
          **staff(Capability.OPERATIONS))
def verify(order_id: IdPath, body: VerifyRequest) -> OrderDetail:
    result = verify_service_order(repo=repo, order_id=order_id, code=body.code, admin=current_principal(app).subject,
                                  now=utc_now(), source_ip=source_ip(app), uploads=uploads)
    metrics.add_metric(name="ServiceOrdersVerified", unit="Count", value=1)
    return result


@app.get("/admin/orders/<order_id>/tracking", summary="The order's parcels and their trails", tags=["admin orders"],
         responses={200: {"description": "the trails", "content": {"application/json": {"model": TrackingView}}},
                    404: error_response("`order_not_found`")},
         **staff(Capability.READ))
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
          **staff(Capability.OPERATIONS))
def refresh_order_tracking(order_id: IdPath) -> TrackingView:
    # Only this route asks the logistics provider: its client is imported on the route's first use.
    from mall.integrations.tracking.factory import provider_from_env

    result = refresh_tracking(repo=tracking, settings=settings, provider=provider_from_env(), order_id=order_id,
                              now=utc_now(), orders=repo)
    metrics.add_metric(name="TrackingRefreshed", unit="Count", value=1)
    return result


@cache
def _promoter_order_reads() -> PromoterOrderReads:
    from mall.dal.promoter_orders import PromoterOrderReads  # with the promoter's list (see list_orders)

    return PromoterOrderReads(table)


handler = entrypoint(app)
