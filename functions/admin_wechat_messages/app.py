"""Admin: GET /admin/wechat-messages — the mini-program's pushed events (消息推送) as recorded, one
China day at a time, newest first: which settlement completed which order, which were repeats or
named an order we do not know, and the buyers' reminders to ship (docs/shipping.md)."""

from __future__ import annotations

from typing import Annotated

from mall.api.auth import staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Query, error_response
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.dal.wechat_messages import WeChatMessageLog
from mall.domain.staff import Capability
from mall.schemas.wechat_messages import WeChatMessagePage
from mall.services.wechat_receipt import list_messages

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
messages = WeChatMessageLog(table)
app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {422: error_response("`invalid_date` (`day`), `invalid_cursor`")}


@app.get("/admin/wechat-messages", summary="WeChat's pushed events of one day, newest first", tags=["shipping"],
         responses=_ERRORS, **staff(Capability.READ))
def list_day(day: Annotated[str | None, Query(max_length=10, description=(
                 "the China day received, YYYY-MM-DD; default: today"))] = None,
             limit: Limit = 20,
             cursor: Cursor = None) -> WeChatMessagePage:
    return list_messages(messages=messages, day=day, limit=limit, cursor=cursor, now=utc_now())


handler = entrypoint(app)
