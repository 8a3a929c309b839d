"""GET /orders, GET /orders/{order_id} — the customer's own orders (我的订单) and one order's detail
with its status history, refunds and (paid service orders) the 核销 code to show at the counter.
GET /orders/{order_id}/tracking — its parcels' trails (物流轨迹) and the auto-confirm countdown;
GET /promoter/orders/{order_id}/tracking — the same for an order attributed to the promoter (L1 or
L2), the buyer and the carriers' texts masked; any other order is 404.

Someone else's order is 404. The delivery address is masked. The first view of a paid service
order stores its code (only a hash and an encrypted copy), hence write access."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, IdPath, Query, error_response, limit_query
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.dal.tracking import TrackingRepository
from mall.domain.tokens import Role
from mall.schemas.fulfilment import OrderDetail, OrderPage
from mall.schemas.tracking import TrackingView
from mall.services.fulfilment import list_my_orders, my_order
from mall.services.tracking import buyer_tracking, promoter_tracking

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table)
tracking = TrackingRepository(table)
settings = SettingsRepository(table)
app = make_resolver()

OrderStatusFilter = Literal["CREATED", "PAID", "EXPIRED", "PAID_AFTER_EXPIRY", "SHIPPED", "COMPLETED", "CLOSED"]


@app.get("/orders", summary="My orders, newest first", tags=["orders"], **secured(Role.CUSTOMER, Role.PROMOTER))
def list_orders(status: Annotated[OrderStatusFilter | None, Query(description="only orders in this status")] = None,
                limit: Annotated[int, limit_query(50)] = 20,
                cursor: Cursor = None) -> OrderPage:
    principal = current_principal(app)
    return list_my_orders(repo=repo, buyer_id=principal.subject, status=status, limit=limit, cursor=cursor)


@app.get("/orders/<order_id>", summary="One of my orders, with its history and refunds", tags=["orders"],
         responses={200: {"description": "the order", "content": {"application/json": {"model": OrderDetail}}},
                    404: error_response("no such order of yours")},
         **secured(Role.CUSTOMER, Role.PROMOTER))
def get_order(order_id: IdPath) -> OrderDetail:
    return my_order(repo=repo, buyer_id=current_principal(app).subject, order_id=order_id, settings=settings)


@app.get("/orders/<order_id>/tracking", summary="Where my order's parcels are (物流轨迹)", tags=["orders"],
         description="Each parcel's latest events (newest first), its state and signing; `auto_confirm` says from "
                     "when the auto-confirm countdown runs and when it ends.",
         responses={200: {"description": "the trails", "content": {"application/json": {"model": TrackingView}}},
                    404: error_response("no such order of yours")},
         **secured(Role.CUSTOMER, Role.PROMOTER))
def my_tracking(order_id: IdPath) -> TrackingView:
    return buyer_tracking(repo=tracking, settings=settings, buyer_id=current_principal(app).subject, order_id=order_id)


@app.get("/promoter/orders/<order_id>/tracking", summary="Where an order attributed to me is (buyer masked)",
         tags=["orders"],
         description="Only orders that earn the promoter commission (level 1 or 2); the buyer and the names and "
                     "phone numbers in the carriers' texts are masked.",
         responses={200: {"description": "the trails", "content": {"application/json": {"model": TrackingView}}},
                    404: error_response("no such order attributed to you")},
         **secured(Role.PROMOTER))
def attributed_tracking(order_id: IdPath) -> TrackingView:
    return promoter_tracking(repo=tracking, settings=settings, promoter_id=current_principal(app).subject,
                             order_id=order_id)


handler = entrypoint(app)
