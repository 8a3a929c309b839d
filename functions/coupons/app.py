"""Coupons for customers (领券中心, 我的优惠券): the templates open for claiming, claiming one
(through a promoter's share for a promoter-bound coupon), and the caller's own coupons."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, secured
from mall.api.client_info import client
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import OpenAPIResponse, error_response
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.coupons import AvailableList, ClaimRequest, ClaimResponse, CouponList
from mall.services import coupons as service
from mall.services.coupons import ClaimCoupon, CouponRepositories

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = CouponRepositories.on(table)
app = make_resolver()

_CLAIMED: OpenAPIResponse = {"description": "claimed; for a promoter-bound coupon, what the share did",
                             "content": {"application/json": {"model": ClaimResponse}}}


@app.get("/coupons", summary="Coupons open for claiming", tags=["coupons"], **secured(Role.CUSTOMER, Role.PROMOTER))
def open_for_claiming() -> AvailableList:
    return service.available(coupons=repos.coupons, user_id=current_principal(app).subject, now=utc_now())


@app.post("/coupons/claim", summary="Claim a coupon", tags=["coupons"], status_code=201,
          responses={201: _CLAIMED, 404: error_response("no such coupon to claim"),
                     409: error_response("`coupon_sold_out`, `coupon_limit_reached` or `claim_contention`")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def claim(body: ClaimRequest) -> Response[ClaimResponse]:
    principal = current_principal(app)
    device, ip = client(app, None)  # a share's visit or bind stores them for the fraud scan, never logged
    result = service.claim(ClaimCoupon(template_id=body.template_id, user_id=principal.subject, now=utc_now(),
                                       share_code=body.share_code, device_id=device, client_ip=ip), repos=repos)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/me/coupons", summary="My coupons (unused, used, expired)", tags=["coupons"],
         **secured(Role.CUSTOMER, Role.PROMOTER))
def mine() -> CouponList:
    return service.my_coupons(coupons=repos.coupons, user_id=current_principal(app).subject, now=utc_now())


handler = entrypoint(app)
