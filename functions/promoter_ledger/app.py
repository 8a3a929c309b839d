"""GET /promoter/ledger and /promoter/ledger/summary — the promoter's own ledger (账本) and
earnings summary (收益汇总).

Only ever the caller's: the promoter is the token's subject, never a parameter."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit
from mall.clock import utc_now
from mall.dal.ledger import LedgerRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.ledger import LedgerPage, LedgerSummary
from mall.services import ledger as ledger_service

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
ledger = LedgerRepository(table)

app = make_resolver()


@app.get("/promoter/ledger", summary="My ledger: every money movement, newest first", tags=["ledger"],
         **secured(Role.PROMOTER))
def my_ledger(limit: Limit = 20,
              cursor: Cursor = None) -> LedgerPage:
    return ledger_service.ledger_page(ledger=ledger, user_id=current_principal(app).subject, limit=limit, cursor=cursor)


@app.get("/promoter/ledger/summary", summary="My earnings today and this month (China time) and my balances",
         tags=["ledger"], **secured(Role.PROMOTER))
def my_summary() -> LedgerSummary:
    return ledger_service.summary(ledger=ledger, user_id=current_principal(app).subject, now=utc_now())


handler = entrypoint(app)
