"""POST /orders/{order_id}/confirm-receipt — the buyer confirms receipt (确认收货): SHIPPED → COMPLETED.

Repeating it answers the completed order again; any other status is 409 ``order_not_shipped``."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import IdPath, error_response
from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.fulfilment import OrderDetail
from mall.services.fulfilment import confirm_receipt

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = OrderRepository(table)
app = make_resolver()


@app.post("/orders/<order_id>/confirm-receipt", summary="Confirm receipt of a shipped order", tags=["orders"],
          responses={200: {"description": "COMPLETED", "content": {"application/json": {"model": OrderDetail}}},
                     409: error_response("`order_not_shipped`")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def confirm(order_id: IdPath) -> OrderDetail:
    result = confirm_receipt(repo=repo, buyer_id=current_principal(app).subject, order_id=order_id, now=utc_now())
    metrics.add_metric(name="OrdersConfirmedByBuyer", unit="Count", value=1)
    return result


handler = entrypoint(app)
