"""POST /orders/{order_id}/refunds — ask for a refund (申请退款); GET — the order's refunds.

Lines in full or in part; never more than a line's paid amount minus what is refunded or being
refunded (held on the order in the same transaction). Only a paid, shipped or completed order:
while the payment is not confirmed it is 409 ``order_not_paid``. ``Idempotency-Key`` required."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver, metrics
from mall.api.params import IdPath, error_response
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.request_markers import RequestMarkers
from mall.dal.table import main_table
from mall.domain.refunds import LineRequest
from mall.domain.tokens import Role
from mall.schemas.refunds import RefundList, RefundRequest, RefundView
from mall.services.refunds import list_order_refunds, request_refund

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
orders = OrderRepository(table)
refunds = RefundRepository(table)
markers = RequestMarkers(table)
app = make_resolver()


@app.post("/orders/<order_id>/refunds", summary="Ask for a refund", tags=["refunds"], status_code=201,
          responses={201: {"description": "REQUESTED", "content": {"application/json": {"model": RefundView}}},
                     409: error_response("`order_not_paid` (payment not confirmed yet), `order_not_refundable`, "
                                         "`nothing_to_refund`"),
                     422: error_response("`refund_exceeds_refundable` (per line)")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def ask(order_id: IdPath, body: RefundRequest, idempotency_key: IdempotencyKeyHeader) -> Response[RefundView]:
    principal = current_principal(app)
    lines = [LineRequest(line.line_id, line.amount_fen) for line in body.lines]
    now = utc_now()
    # The key's marker is written in the refund's own transaction (a retry replays the first refund).
    request = marked(markers, idempotency_key, f"{principal.subject}:{order_id}", body, now)
    result = request_refund(orders=orders, refunds=refunds, buyer_id=principal.subject, order_id=order_id,
                            reason=body.reason, lines=lines, now=now, marked=request)
    metrics.add_metric(name="RefundsRequested", unit="Count", value=1)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/orders/<order_id>/refunds", summary="The refunds of one of my orders", tags=["refunds"],
         **secured(Role.CUSTOMER, Role.PROMOTER))
def list_refunds(order_id: IdPath) -> RefundList:
    return list_order_refunds(orders=orders, refunds=refunds, buyer_id=current_principal(app).subject,
                              order_id=order_id)


handler = entrypoint(app)
