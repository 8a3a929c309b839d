"""GET /promoter/profile — the promoter's own profile: code, share link, level, progress, counts."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import error_response
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.referral import PromoterProfile
from mall.services.referral import ReferralRepositories, share_page
from mall.services.referral.team import my_profile

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)

app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it


@app.get("/promoter/profile", summary="My promoter profile", tags=["referral"],
         responses={404: error_response("not a promoter")},
         **secured(Role.PROMOTER))
def profile() -> PromoterProfile:
    return my_profile(network=network, user_id=current_principal(app).subject)


handler = entrypoint(app)
