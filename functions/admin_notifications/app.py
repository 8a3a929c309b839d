"""GET /admin/notifications — subscribe-message records in one status (default FAILED: what did not
reach a promoter and is being retried), most recently changed first. NOT_SUBSCRIBED lists the
promoters WeChat refused for (43101): they need to subscribe in the mini-program. SKIPPED lists what was
not sent because the recipient held no grant of the template (``reason: no_grant``)."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, Query
from mall.dal.notifications import NotificationRepository, NotificationStatus
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.notifications import NotificationPage
from mall.services.notifications import admin_list_notifications

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
repo = NotificationRepository(table)

app = make_resolver()


@app.get("/admin/notifications", summary="Subscribe messages in one status, most recent first",
         tags=["admin notifications"], **staff(Capability.READ))
def list_notifications(
        status: Annotated[NotificationStatus, Query(description="FAILED: being retried; NOT_SUBSCRIBED: 43101; "
                                                        "SKIPPED: no grant")]
        = NotificationStatus.FAILED,
        limit: Limit = 20,
        cursor: Cursor = None) -> NotificationPage:
    return admin_list_notifications(repo=repo, status=status.value, limit=limit, cursor=cursor)


handler = entrypoint(app)
