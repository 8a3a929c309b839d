"""POST /promoter/apply — a customer applies to become a promoter (申请成为推广员).

Checks the threshold and that the current rules version was accepted, then activates at once
(review ``auto``) or waits for an admin. The mini-program must show ``GET /rules`` first and send
the ``version`` it showed as ``rules_version``: a version that is no longer current is 409
``rules_changed``; without one the current version is recorded (``accepted_rules_version`` and
``accepted_rules_at`` on the promoter item). On activation the ``promoter`` role is added to the
customer's profile; the token of the NEXT login carries it (tokens are snapshots)."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import current_principal, secured
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import error_response
from mall.api.request_key import IdempotencyKeyHeader, marked
from mall.clock import utc_now
from mall.dal import first_use
from mall.dal.request_markers import RequestMarkers
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.referral import ApplyRequest, PromoterAdminView
from mall.services.referral import ReferralRepositories, share_page
from mall.services.referral import promoters as referral_promoters

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)
markers = RequestMarkers(table)
coupons_of = first_use.coupons(table)  # built on first use: only a first activation issues the gift coupons


app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it


@app.post("/promoter/apply", summary="Apply to become a promoter", tags=["referral"], status_code=201,
          responses={
              201: {"description": "applied (status `applied`) or activated (status `active`)",
                    "content": {"application/json": {"model": PromoterAdminView}}},
              403: error_response("`promoter_threshold_not_met`"),
              409: error_response("`promoter_exists`; `rules_changed` (the `rules_version` sent is not the "
                                  "current one: `details.current_version`; show GET /rules again)"),
              422: error_response("`banned_phrase`"),
          },
          **secured(Role.CUSTOMER, Role.PROMOTER))
def apply(body: ApplyRequest, idempotency_key: IdempotencyKeyHeader) -> Response[PromoterAdminView]:
    principal = current_principal(app)
    now = utc_now()
    # The key's marker is written in the application's own transaction (a retry gets the first answer).
    request = marked(markers, idempotency_key, principal.subject, body, now)
    result = referral_promoters.apply(network=network, user_id=principal.subject, body=body, now=now,
                                      marked=request, coupons_of=coupons_of)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


handler = entrypoint(app)
