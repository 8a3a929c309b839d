"""GET /promoter/commissions/preview?product_id= — what the caller would earn on one unit of a
product at its list price (佣金预估): as L1 (their own customer buys) and as L2 (a customer of
their direct member buys), with the rate source, level points, the cap, and self-purchase."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Query, error_response
from mall.dal.commission_preview import PreviewReads
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.commissions import CommissionPreview
from mall.services import commission_preview

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
reads = PreviewReads(table)

app = make_resolver()


@app.get("/promoter/commissions/preview", summary="My commission on one unit of a product", tags=["commission"],
         responses={404: error_response("`product_not_found` (unknown or off the shelf), `promoter_not_found`")},
         **secured(Role.PROMOTER))
def preview(product_id: Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
            ) -> CommissionPreview:
    return commission_preview.preview(reads, user_id=current_principal(app).subject, product_id=product_id)


handler = entrypoint(app)
