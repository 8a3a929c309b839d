"""POST /share/visits — the mini-program reports a visit through a promoter's share (分享访问).

Anyone may report one; with a customer token, in ``first_click`` mode the visit binds the
customer when the rules allow. The device id (body or ``x-device-id`` header) and the source IP
are stored with the visit for the fraud scans, and never written to logs. A visit counts in the
statistics once per source (IP, device, account) per promoter per day; a source past the configured
rate (``SHARE_VISIT_RATE_LIMIT`` per ``SHARE_VISIT_RATE_WINDOW_SECONDS``) gets 429 with Retry-After."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import principal_from_headers, public
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import error_response, source_ip
from mall.clock import utc_now
from mall.dal.referral import VisitRateLimiter, VisitRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.binding import VisitRequest, VisitResult
from mall.services.referral import ReferralRepositories
from mall.services.referral.visits import RecordVisit, record_visit

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)
visits = VisitRepository(table)
visit_rate = VisitRateLimiter(table)

app = make_resolver()


@app.post("/share/visits", summary="Record a share visit (binds in first_click mode)", tags=["referral"],
          status_code=201,
          responses={201: {"description": "recorded; `outcome` says whether it bound the caller",
                           "content": {"application/json": {"model": VisitResult}}},
                     401: error_response("a token was sent and is not valid"),
                     404: error_response("no promoter with this code"),
                     429: error_response("`too_many_visits`: this source reported more visits than the configured "
                                         "rate allows; the `Retry-After` header says when to try again")},
          **public())
def visit(body: VisitRequest) -> Response[VisitResult]:
    event = app.current_event
    headers = event.headers or {}
    visitor: str | None = None
    if headers.get("authorization") or headers.get("Authorization"):
        principal = principal_from_headers(headers)
        if Role.CUSTOMER in principal.roles or Role.PROMOTER in principal.roles:
            visitor = principal.subject
    device = body.device_id or (headers.get("x-device-id") or "")[:128] or None
    command = RecordVisit(code=body.code, source=body.source, product_id=body.product_id, visitor_id=visitor,
                          device_id=device, source_ip=source_ip(app), now=utc_now())
    result = record_visit(command, network=network, visits=visits, visit_rate=visit_rate)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


handler = entrypoint(app)
