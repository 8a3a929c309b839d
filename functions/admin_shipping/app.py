"""Admin shipping (发货信息管理): GET /admin/shipping/carriers (the carriers WeChat accepts, from
get_delivery_list, cached), GET /admin/shipping/uploads (the shipping-information uploads to WeChat in
one status, default FAILED, with WeChat's error), POST /admin/shipping/uploads/{order_id}/retry."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver, metrics
from mall.api.params import Cursor, IdPath, Limit, Query, error_response
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.queues import queue_from_env
from mall.dal.table import main_table
from mall.dal.wechat_tokens import ForceRefreshLease
from mall.domain.shipping import UploadStatus
from mall.domain.staff import Capability
from mall.integrations.wechat_shipping import ShippingClient, shipping_client
from mall.schemas.shipping import CarrierList, UploadPage, UploadView
from mall.services.order_changes import UploadRequests
from mall.services.shipping import ShippingRepositories, carrier_list, known_carriers
from mall.services.shipping_uploads import list_uploads, retry_upload

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = ShippingRepositories.on(table)
uploads = UploadRequests(repos.shipping, queue_from_env("SHIPPING_UPLOAD_QUEUE_URL"))
force_gate = ForceRefreshLease(table)
app = make_resolver()
_client: list[ShippingClient] = []


def wechat() -> ShippingClient:
    if not _client:
        _client.append(shipping_client(force_gate=force_gate))
    return _client[0]


@app.get("/admin/shipping/carriers", summary="The carriers WeChat accepts (get_delivery_list)",
         description="Cached for a day (DynamoDB with a TTL, and in memory); a parcel's `carrier_id` must be one "
                     "of these.", tags=["admin shipping"], **staff(Capability.READ))
def carriers() -> CarrierList:
    return carrier_list(known_carriers(shipping=repos.shipping, source=wechat, app_id=get_settings().wechat_app_id,
                                       now=utc_now()))


@app.get("/admin/shipping/uploads", summary="Shipping-information uploads to WeChat in one status",
         description="FAILED (default): WeChat refused them (its errcode and errmsg); PENDING: queued or being "
                     "retried; UPLOADED: accepted. Newest first.", tags=["admin shipping"], **staff(Capability.READ))
def uploads_list(status: Annotated[UploadStatus, Query(description="FAILED | PENDING | SENDING | UPLOADED")]
                 = UploadStatus.FAILED,
                 limit: Limit = 20,
                 cursor: Cursor = None) -> UploadPage:
    return list_uploads(repos=repos, status=status, limit=limit, cursor=cursor)


@app.post("/admin/shipping/uploads/<order_id>/retry", summary="Send a failed upload to WeChat again",
          tags=["admin shipping"],
          responses={200: {"description": "PENDING again (queued)", "content": {"application/json": {
              "model": UploadView}}},
                     404: error_response("`upload_not_found`"),
                     409: error_response("`upload_not_failed`: only a FAILED upload is retried")},
          **staff(Capability.OPERATIONS))
def retry(order_id: IdPath) -> UploadView:
    result = retry_upload(repos=repos, uploads=uploads, order_id=order_id, now=utc_now())
    metrics.add_metric(name="ShippingUploadsRetried", unit="Count", value=1)
    return result


handler = entrypoint(app)
