"""Admin refunds (退款审核): GET /admin/refunds (by status, newest first), POST
/admin/refunds/{refund_id}/approve (→ PROCESSING and the WeChat Pay refund, ``out_refund_no`` =
refund_id, so approving again never refunds twice), POST /admin/refunds/{refund_id}/reject."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.integrations.wechatpay.factory import merchant_config, pay_client
from mall.schemas.refunds import RefundPage, RefundView, RejectRefundRequest
from mall.services.refunds import admin_list_refunds, approve_refund, reject_refund

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
orders = OrderRepository(table)
refunds = RefundRepository(table)
app = make_resolver()

RefundStatusFilter = Literal["REQUESTED", "REJECTED", "PROCESSING", "SUCCEEDED", "FAILED", "CLOSED"]


@app.get("/admin/refunds", summary="Refunds in one status, newest first", tags=["admin refunds"],
         **staff(Capability.READ))
def list_refunds(status: Annotated[RefundStatusFilter, Query(description="e.g. REQUESTED: waiting for review")]
                 = "REQUESTED",
                 limit: Limit = 20,
                 cursor: Cursor = None) -> RefundPage:
    return admin_list_refunds(refunds=refunds, status=status, limit=limit, cursor=cursor)


@app.post("/admin/refunds/<refund_id>/approve", summary="Approve a refund: WeChat Pay returns the money",
          tags=["admin refunds"],
          responses={200: {"description": "PROCESSING (SUCCEEDED arrives by notification); CLOSED with "
                                          "`failure_code` when WeChat Pay refused it",
                           "content": {"application/json": {"model": RefundView}}},
                     409: error_response("`refund_not_approvable`"),
                     503: error_response("`wechatpay_unavailable`: stays PROCESSING, approve again")},
          **staff(Capability.MONEY_OPERATIONS))
def approve(refund_id: IdPath) -> RefundView:
    result = approve_refund(orders=orders, refunds=refunds, refund_id=refund_id, admin=current_principal(app).subject,
                            now=utc_now(), gateway=pay_client(), notify_url=merchant_config().notify_url,
                            source_ip=source_ip(app))
    metrics.add_metric(name="RefundsApproved", unit="Count", value=1)
    return result


@app.post("/admin/refunds/<refund_id>/reject", summary="Reject a refund request with a reason",
          tags=["admin refunds"],
          responses={409: error_response("`refund_not_rejectable`")},
          **staff(Capability.MONEY_OPERATIONS))
def reject(refund_id: IdPath, body: RejectRefundRequest) -> RefundView:
    return reject_refund(orders=orders, refunds=refunds, refund_id=refund_id, admin=current_principal(app).subject,
                         reason=body.reason, now=utc_now(), source_ip=source_ip(app))


handler = entrypoint(app, traced=True)  # template.yaml: Tracing: Active
