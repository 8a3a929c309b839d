"""POST /orders — place an order (下单) and get the signed ``wx.requestPayment`` parameters.

One DynamoDB transaction holds the order, its first history item and the conditional stock
decrements, so stock is never oversold, after a JSAPI prepay at WeChat Pay. ``Idempotency-Key``
is required: a retry returns the first result (the same order and payment parameters)."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, secured
from mall.api.client_info import client
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import OpenAPIResponse, error_response
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal.request_markers import RequestMarkers
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.schemas.orders import PlaceOrderRequest, PlaceOrderResponse
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
placement = PlacementRepositories.on(table)
markers = RequestMarkers(table)
app = make_resolver()

_RESPONSES: dict[int, OpenAPIResponse] = {
    201: {"description": "order placed (CREATED); `payment` holds the wx.requestPayment parameters",
          "content": {"application/json": {"model": PlaceOrderResponse}}},
    409: error_response("`out_of_stock`, `product_unavailable`, `purchase_limit_exceeded`, `order_contention`"),
}


@app.post("/orders", summary="Place an order", tags=["orders"], status_code=201, responses=_RESPONSES,
          **secured(Role.CUSTOMER, Role.PROMOTER))
def place(body: PlaceOrderRequest, idempotency_key: IdempotencyKeyHeader) -> Response[PlaceOrderResponse]:
    principal = current_principal(app)
    now = utc_now()
    device, ip = client(app, body.device_id)  # stored on the order for the fraud scan, never logged

    # The key's marker is read with the order's facts and written in its transaction (no
    # round trips of its own on the hottest write).
    request = marked(markers, idempotency_key, principal.subject, body, now)
    command = PlaceOrder(request=body, buyer_id=principal.subject, now=now, device_id=device, source_ip=ip)
    result = place_order(command, repos=placement, pay=pay_client, notify_url=merchant_config().notify_url,
                         marked=request)
    metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)
    if result.payment is None:
        metrics.add_metric(name="PrepayFailures", unit="Count", value=1)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


handler = entrypoint(app, traced=True)  # template.yaml: Tracing: Active
