"""Admin: coupon templates (优惠券模板): create, list, read, change or disable (``enabled: false``).

Every change is conditional on the ``version`` the admin read (409 otherwise) and audited in its
own transaction; coupons already claimed keep the terms they were claimed with."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.idempotency import IdempotencyKeyHeader, once
from mall.api.params import IdPath, OpenAPIResponse, error_response, source_ip
from mall.clock import utc_now
from mall.dal.coupons import CouponRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.coupons import CouponTemplateIn, CouponTemplateList, CouponTemplateUpdate, CouponTemplateView
from mall.services import coupons as service

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
coupons = CouponRepository(table)
app = make_resolver()

_VIEW: OpenAPIResponse = {"description": "the template", "content": {"application/json": {"model": CouponTemplateView}}}
_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such template"),
    409: error_response("`version_conflict`, or `total_below_issued` (the total is below the coupons issued)"),
    422: error_response("invalid fields, e.g. `invalid_coupon_template` naming `max_off_fen`"),
}


@app.post("/admin/coupon-templates", summary="Create a coupon template", tags=["coupons"], status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": CouponTemplateView}}},
                     422: _ERRORS[422]},
          **staff(Capability.OPERATIONS))
def create(body: CouponTemplateIn, idempotency_key: IdempotencyKeyHeader) -> Response[CouponTemplateView]:
    principal = current_principal(app)
    result = once(idempotency_key, principal.subject, body, CouponTemplateView,
                  lambda: service.create_template(coupons=coupons, body=body, by=principal.subject,
                                                  source_ip=source_ip(app), now=utc_now()),
                  lambda_context=app.lambda_context)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/admin/coupon-templates", summary="List the coupon templates with their issued counts", tags=["coupons"],
         **staff(Capability.READ))
def list_all() -> CouponTemplateList:
    return service.list_templates(coupons=coupons)


@app.get("/admin/coupon-templates/<template_id>", summary="One coupon template", tags=["coupons"],
         responses={200: _VIEW, 404: _ERRORS[404]}, **staff(Capability.READ))
def get_one(template_id: IdPath) -> CouponTemplateView:
    return service.get_template(coupons=coupons, template_id=template_id)


@app.put("/admin/coupon-templates/<template_id>", summary="Change or disable a coupon template", tags=["coupons"],
         responses={200: _VIEW, **_ERRORS}, **staff(Capability.OPERATIONS))
def update(template_id: IdPath, body: CouponTemplateUpdate) -> CouponTemplateView:
    return service.update_template(coupons=coupons, template_id=template_id, body=body,
                                   by=current_principal(app).subject, source_ip=source_ip(app), now=utc_now())


handler = entrypoint(app)
