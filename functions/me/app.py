"""GET /me — the caller's own profile, whatever their role."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.dal.identity import AdminRepository, CustomerRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability, roles_for
from mall.domain.tokens import Role
from mall.schemas.identity import MeResponse
from mall.services.identity import profile

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
customers = CustomerRepository(table)
admins = AdminRepository(table)

app = make_resolver()


@app.get("/me", summary="The caller's profile", tags=["identity"],
         **secured(Role.CUSTOMER, Role.PROMOTER, *roles_for(Capability.OWN_ACCOUNT)))
def me() -> MeResponse:
    return profile(current_principal(app), customers=customers, admins=admins)


handler = entrypoint(app)
