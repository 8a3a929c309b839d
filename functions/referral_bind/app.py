"""POST /referral/bind — bind the caller to a promoter with an invite code (邀请码绑定).

Allowed in every binding mode (an entered code is the most explicit signal). Refused with a 4xx
and nothing written: unknown code (404), own code (422), a promoter in the caller's own team at
any depth (409 ``binding_cycle``), a promoter not active (409), already bound (409 with
``details.binding``), only-new-customers and a returning customer (409)."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.client_info import client
from mall.api.http import entrypoint, make_resolver
from mall.api.params import OpenAPIResponse, error_response
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.binding import BindRequestBody, BindResult
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)

app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`promoter_not_found`"),
    409: error_response("`already_bound` / `binding_conflict` (details.binding), `binding_cycle`, "
                        "`promoter_not_active`, `not_a_new_customer`"),
    422: error_response("`self_binding`"),
}


@app.post("/referral/bind", summary="Bind to a promoter with an invite code", tags=["referral"], responses=_ERRORS,
          **secured(Role.CUSTOMER, Role.PROMOTER))
def bind(body: BindRequestBody) -> BindResult:
    device, ip = client(app, body.device_id)  # stored on the binding for the fraud scan, never logged
    command = BindWithCode(customer_id=current_principal(app).subject, code=body.code, now=utc_now(),
                           device_id=device, client_ip=ip)
    return bind_with_code(command, network=network)


handler = entrypoint(app)
