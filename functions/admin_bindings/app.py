"""Admin: a customer's binding (上下级关系) — see it with its history, change it, remove it.

A change or removal needs a reason and is a history entry; the same rules hold as for any bind
(no self-binding, no cycle, only an active promoter)."""

from __future__ import annotations

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import IdPath, OpenAPIResponse, error_response, source_ip
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.referral import AdminBindingRequest, AdminUnbindRequest, BindResult, CustomerBinding
from mall.services.referral import ReferralRepositories
from mall.services.referral import binding as referral_binding

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)

app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such customer, promoter code or binding"),
    409: error_response("`binding_cycle`, `promoter_not_active`, `binding_conflict` (details.binding)"),
    422: error_response("`self_binding`, missing reason"),
}


@app.get("/admin/customers/<user_id>/binding", summary="A customer's binding and its history", tags=["referral"],
         **staff(Capability.READ))
def get_binding(user_id: IdPath) -> CustomerBinding:
    binding, history = referral_binding.get_binding(bindings=network.bindings, customer_id=user_id, limit=50)
    return CustomerBinding(customer_id=user_id, binding=binding, history=history)


@app.put("/admin/customers/<user_id>/binding", summary="Bind a customer to a promoter (reason required)",
         tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def set_binding(user_id: IdPath, body: AdminBindingRequest) -> BindResult:
    return referral_binding.admin_set_binding(network=network, customer_id=user_id,
                                              promoter_code=body.promoter_code, reason=body.reason,
                                              by=current_principal(app).subject, now=utc_now(),
                                              source_ip=source_ip(app))


@app.post("/admin/customers/<user_id>/binding/remove", summary="Remove a customer's binding (reason required)",
          tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def remove_binding(user_id: IdPath, body: AdminUnbindRequest) -> BindResult:
    return referral_binding.admin_remove_binding(network=network, customer_id=user_id, reason=body.reason,
                                                 by=current_principal(app).subject, now=utc_now(),
                                                 source_ip=source_ip(app))


handler = entrypoint(app)
