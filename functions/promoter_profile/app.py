"""GET /promoter/profile — the promoter's own profile: code, share link, level, progress, counts, the
wake-up boost in force for them;
POST /promoter/agreement — a promoter made by the merchant accepts the promoter agreement (the rules
version in force), which grants the promoter role (the next login's token carries it).

Both take a customer's token too: a customer the merchant made a promoter has no promoter role until
they accept, and the profile tells them so (``agreement_pending``, ``rules_version_to_accept``)."""

from __future__ import annotations

from mall.api.auth import current_principal, secured
from mall.api.http import entrypoint, make_resolver
from mall.api.params import error_response
from mall.clock import utc_now
from mall.dal.campaigns import CampaignRepository
from mall.dal.catalog import ProductRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.campaigns import BoostedProducts
from mall.schemas.promoter_profile import AgreementAcceptRequest, PromoterProfile
from mall.services.campaigns import boosted_for
from mall.services.referral import ReferralRepositories, share_page
from mall.services.referral.profile import accept_agreement, my_profile

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)
campaigns = CampaignRepository(table)
promoters = PromoterRepository(table)
products = ProductRepository(table)

app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it


@app.get("/promoter/profile", summary="My promoter profile", tags=["referral"],
         description="`agreement_pending: true`: the merchant made you a promoter; show GET /rules and send "
                     "its version to POST /promoter/agreement before any other promoter page.",
         responses={404: error_response("not a promoter")},
         **secured(Role.CUSTOMER, Role.PROMOTER))
def profile() -> PromoterProfile:
    return my_profile(network=network, campaigns=campaigns, user_id=current_principal(app).subject, now=utc_now())


@app.post("/promoter/agreement", summary="Accept the promoter agreement", tags=["referral"],
          description="For a promoter made by the merchant: records the accepted rules version and grants the "
                      "promoter role (log in again to use it). Accepting again changes nothing.",
          responses={404: error_response("`promoter_not_found`"),
                     409: error_response("`rules_changed` (`details.current_version`: show GET /rules again)")},
          **secured(Role.CUSTOMER, Role.PROMOTER))
def accept(body: AgreementAcceptRequest) -> PromoterProfile:
    return accept_agreement(network=network, user_id=current_principal(app).subject, rules_version=body.rules_version,
                            now=utc_now())


@app.get("/promoter/boosted-products", summary="Products and campaigns boosting my commission", tags=["referral"],
         description="The commission campaigns in force or starting later whose scope takes you in: the products "
                     "they boost (高佣商品, some only for you or your level) and campaigns on every product.",
         responses={404: error_response("`promoter_not_found`")}, **secured(Role.PROMOTER))
def boosted() -> BoostedProducts:
    return boosted_for(campaigns=campaigns, promoters=promoters, products=products,
                       user_id=current_principal(app).subject, now=utc_now())


handler = entrypoint(app)
