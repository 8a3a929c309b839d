"""Admin: the audit trail (数据留痕) — GET /admin/audit.

Every admin action and settings change is an entry (who, what, before/after, when, from where;
docs/audit.md). Query by ``actor``, by ``entity_type`` + ``entity_id``, or by time alone (at most
31 days per request), optionally one ``action``; newest first, paginated."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Query, error_response
from mall.clock import utc_now
from mall.dal.audit import AuditLog
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.audit import AuditPage
from mall.services import audit

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
log = AuditLog(table)

app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    422: error_response("`audit_window_too_long` (`from`: more than 31 days without actor or entity), "
                        "`invalid_audit_filter` (entity_type without entity_id or the reverse), `invalid_time`, "
                        "`invalid_time_range`, `invalid_cursor`"),
}
_NAME = r"^[A-Za-z0-9_:.@#-]+$"
_TIME = "ISO-8601 date-time, e.g. 2026-11-22T08:00:00Z"


@app.get("/admin/audit", summary="Audit entries, newest first", tags=["audit"], responses=_ERRORS,
         **staff(Capability.READ))
def query(  # noqa: PLR0917 - one keyword per filter, as the query string has them
          actor: Annotated[str | None, Query(min_length=1, max_length=128, pattern=_NAME, description=(
              "who: `admin:<username>`, `system`, a user id"))] = None,
          entity_type: Annotated[str | None, Query(min_length=1, max_length=64, pattern=_NAME, description=(
              "e.g. settings, promoter, binding, product, order, refund, withdrawal, admin"))] = None,
          entity_id: Annotated[str | None, Query(min_length=1, max_length=128, pattern=_NAME, description=(
              "with entity_type"))] = None,
          action: Annotated[str | None, Query(min_length=1, max_length=64, pattern=_NAME, description=(
              "only this action, e.g. `settings.save`"))] = None,
          start: Annotated[str | None, Query(alias="from", max_length=40, description=(
              f"{_TIME}; inclusive; default: 1 day before `to` when neither actor nor entity is given"))] = None,
          end: Annotated[str | None, Query(alias="to", max_length=40, description=(
              f"{_TIME}; inclusive; default: now"))] = None,
          limit: Limit = 20,
          cursor: Cursor = None) -> AuditPage:
    query = audit.QueryAudit(actor=actor, entity_type=entity_type, entity_id=entity_id, action=action, start=start,
                             end=end, limit=limit, cursor=cursor)
    return audit.query_audit(log=log, query=query, now=utc_now())


handler = entrypoint(app)
