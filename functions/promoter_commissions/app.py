"""GET /promoter/commissions — the promoter's own commission records (佣金明细), newest first;
GET /promoter/orders — the orders they earn on (推广订单), one row per order and level, from the same records.

Each record carries its rule snapshot (base, rate source, rate, mode, level points, cap, rules
version) and the computation in words. Only ever the caller's records: the promoter is the
token's subject, never a parameter. Buyers are shown masked."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, Query
from mall.dal.commission_sync import CommissionSyncStore
from mall.dal.promoter_orders import PromoterOrderReads
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.commissions import CommissionPage
from mall.schemas.promoter_orders import PromoterOrderPage
from mall.services import commission_views

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
records = CommissionSyncStore(table)
order_reads = PromoterOrderReads(table)

app = make_resolver()


@app.get("/promoter/commissions", summary="My commission records, newest first", tags=["commission"],
         **secured(Role.PROMOTER))
def my_commissions(status: Annotated[Literal["FROZEN", "SETTLED", "CANCELLED"] | None,
                                     Query(description="only records in this status")] = None,
                   limit: Limit = 20,
                   cursor: Cursor = None) -> CommissionPage:
    return commission_views.my_commissions(records, user_id=current_principal(app).subject, status=status,
                                           limit=limit, cursor=cursor)


@app.get("/promoter/orders", summary="My attributed orders (level 1 and 2), newest first", tags=["commission"],
         description="One row per order and level the caller earns on, with the order's status as it is now, the "
                     "amounts, the commission and the buyer masked. A page may be short: follow `next_cursor`.",
         **secured(Role.PROMOTER))
def my_orders(level: Annotated[int | None, Query(ge=1, le=2, description="only orders at this level (1 or 2)")] = None,
              limit: Limit = 20,
              cursor: Cursor = None) -> PromoterOrderPage:
    # On first use: the orders' rules and views are not needed by the commission list, the main route.
    from mall.services import promoter_orders

    return promoter_orders.my_orders(order_reads, user_id=current_principal(app).subject, level=level, limit=limit,
                                     cursor=cursor)


handler = entrypoint(app)
