"""The caller's subscribe-message grants (订阅授权): ``POST /me/subscriptions`` reports the answers of
``wx.requestSubscribeMessage`` (per template: accept, reject, ban, filter) with the scene it was asked
in; ``GET /me/subscriptions`` answers, per enabled notice, whether its next message would be sent.

Own grants only: no route takes a user id. Template ids no notice uses are ignored (listed back)."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.clock import utc_now
from mall.dal.settings import SettingsRepository
from mall.dal.subscriptions import SubscriptionGrantRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.subscriptions import GrantReportRequest, GrantsResponse
from mall.services.subscriptions import my_grants, report_grants

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
grants = SubscriptionGrantRepository(table)
settings = SettingsRepository(table)

app = make_resolver()

_ROLES = secured(Role.CUSTOMER, Role.PROMOTER)


@app.get("/me/subscriptions", summary="My subscribe-message grants per notice", tags=["identity"], **_ROLES)
def list_mine() -> GrantsResponse:
    return my_grants(grants=grants, settings=settings, user_id=current_principal(app).subject)


@app.post("/me/subscriptions", summary="Report subscribe-message answers", tags=["identity"],
          description="Send what wx.requestSubscribeMessage answered, once per call of it. Each `accept` of a "
                      "one-time template adds one message the server may send; a long-term template's `accept` "
                      "turns it on and `reject` off. Answers the caller's grants afterwards.", **_ROLES)
def report(body: GrantReportRequest) -> GrantsResponse:
    return report_grants(grants=grants, settings=settings, user_id=current_principal(app).subject, body=body,
                         now=utc_now())


handler = entrypoint(app)
