"""Promoter: my history (我的记录) — GET /promoter/history?kind=binding|commission|withdrawal.

Only the caller's own: their bindings (their own, and members who joined or left their team),
their commission records with each status change, their withdrawals with their timeline. Masked
data only (member and buyer ids, no admin names, no bank accounts); newest first, paginated."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Query, error_response
from mall.dal.history import HistoryReader
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.audit import PromoterHistoryPage
from mall.services import audit

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
reader = HistoryReader(table)

app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    422: error_response("`invalid_time`, `invalid_time_range`, `invalid_cursor`"),
}
_TIME = "ISO-8601 date-time, e.g. 2026-11-22T08:00:00Z; inclusive"


@app.get("/promoter/history", summary="My history of bindings, commissions or withdrawals, newest first",
         tags=["audit"], responses=_ERRORS, **secured(Role.PROMOTER))
def history(kind: Annotated[Literal["binding", "commission", "withdrawal"], Query()],
            start: Annotated[str | None, Query(alias="from", max_length=40, description=_TIME)] = None,
            end: Annotated[str | None, Query(alias="to", max_length=40, description=_TIME)] = None,
            limit: Limit = 20,
            cursor: Cursor = None) -> PromoterHistoryPage:
    return audit.promoter_history(reader=reader, user_id=current_principal(app).subject, kind=kind, start=start,
                                  end=end, limit=limit, cursor=cursor)


handler = entrypoint(app)
