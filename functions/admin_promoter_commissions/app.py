"""GET /admin/promoters/{user_id}/commissions — any promoter's commission records, newest first,
with the beneficiary and any risk hold; buyers masked."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, IdPath, Limit, OpenAPIResponse, Query, error_response
from mall.dal.commission_sync import CommissionSyncStore
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.commissions import AdminCommissionPage
from mall.services import commission_views

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repos = commission_views.ViewReads(store=CommissionSyncStore(table), promoters=PromoterRepository(table))

app = make_resolver()

_NOT_FOUND: OpenAPIResponse = error_response("`promoter_not_found`")


@app.get("/admin/promoters/<user_id>/commissions", summary="A promoter's commission records, newest first",
         tags=["commission"], responses={404: _NOT_FOUND},
         **staff(Capability.READ))
def promoter_commissions(user_id: IdPath,
                         status: Annotated[Literal["FROZEN", "SETTLED", "CANCELLED"] | None,
                                           Query(description="only records in this status")] = None,
                         limit: Limit = 20,
                         cursor: Cursor = None) -> AdminCommissionPage:
    return commission_views.promoter_commissions(repos, user_id=user_id, status=status, limit=limit,
                                                 cursor=cursor)


handler = entrypoint(app)
