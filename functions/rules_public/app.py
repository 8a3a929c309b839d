"""GET /rules — the distribution rules in force (规则公示), public.

Generated from the live settings (``mall.domain.rules_disclosure``), with their ``version``, and the
commission campaigns in force or upcoming (section ``campaigns``). The
mini-program shows this page before ``POST /promoter/apply`` and sends the version it showed as
``rules_version``; the apply answers 409 ``rules_changed`` when the rules moved meanwhile."""

from __future__ import annotations

from http import HTTPStatus

from mall.api.auth import public
from mall.api.http import Response, entrypoint, make_resolver
from mall.clock import utc_now
from mall.dal.campaigns import CampaignRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.schemas.rules import RulesDisclosure
from mall.services.rules import rules_with_campaigns

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings = SettingsRepository(table)
campaigns = CampaignRepository(table)

#: Short: a settings change shows within a minute, and a client that cached an older version learns
#: of it at the latest from the apply's 409 ``rules_changed``.
CACHE_CONTROL = "public, max-age=60"

app = make_resolver()


@app.get("/rules", summary="The distribution rules in force (规则公示)",
         description="Public. Chinese titles and texts with stable English keys; money in integer fen, rates in "
                     "integer basis points (1000 = 10%) beside display texts. Exactly two earning levels. "
                     f"Cached for a minute (`Cache-Control: {CACHE_CONTROL}`).",
         tags=["rules"],
         responses={200: {"description": "the rules and their version",
                          "content": {"application/json": {"model": RulesDisclosure}}}},
         **public())
def rules() -> Response[RulesDisclosure]:
    disclosure, campaigns_version = rules_with_campaigns(settings=settings, campaigns=campaigns, now=utc_now())
    # The page also changes with the campaigns: their book's version joins the tag once there is one.
    tag = f"rules-v{disclosure.version}" + (f"-c{campaigns_version}" if campaigns_version else "")
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=disclosure,
                    headers={"Cache-Control": CACHE_CONTROL, "ETag": f'"{tag}"'})


handler = entrypoint(app)
