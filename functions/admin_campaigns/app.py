"""Admin: the commission campaigns (佣金活动: owner only, audited, refused at save when a line could
exceed the cap) and the wake-up boost rule (沉睡唤醒) that makes them, with the count of who a wake-up
campaign woke. A function of its own, apart from the distribution settings (``admin_settings``), so that
neither loads the other's models at cold start."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import CatalogIdPath, OpenAPIResponse, error_response, source_ip
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.campaigns import (
    CampaignList,
    CampaignRequest,
    CampaignView,
    EndCampaignRequest,
    UpdateCampaignRequest,
)
from mall.schemas.wake_up import WakeUpRuleRequest, WakeUpRuleView, WokeCount
from mall.services import campaigns as campaign_service
from mall.services import wake_up as wake_up_service

if TYPE_CHECKING:
    from mall.dal.stats import StatsRepository

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
# The catalog's, the promoters' and the rate index's repositories, which only a save's cap check reads,
# are built on the first save (CampaignRepositories' properties): the lists do without their modules.
campaign_repos = campaign_service.CampaignRepositories.on(table)

app = make_resolver()

_CAMPAIGN_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`campaign_not_found`"),
    409: error_response("`campaign_version_conflict` (details.current_version), `campaign_ended`, `campaigns_busy`"),
    422: error_response("invalid fields, named by path (`ends_at`, `boost.multiplier_percent`, `scope.level_ids`); "
                        "`commission_over_cap`: with the boost some line could pay more than the cap"),
}


def _actor() -> campaign_service.Actor:
    return campaign_service.Actor(current_principal(app).subject, source_ip(app), utc_now())


@app.get("/admin/campaigns", summary="Commission campaigns (upcoming, in force, ended)", tags=["campaigns"],
         **staff(Capability.READ))
def list_campaigns() -> CampaignList:
    return campaign_service.list_campaigns(campaigns=campaign_repos.campaigns, now=utc_now())


@app.post("/admin/campaigns", summary="Create a commission campaign", tags=["campaigns"],
          responses={409: _CAMPAIGN_ERRORS[409], 422: _CAMPAIGN_ERRORS[422]}, **staff(Capability.MONEY_RULES))
def create_campaign(body: CampaignRequest) -> CampaignView:
    return campaign_service.create(campaign_repos, body, _actor())


@app.put("/admin/campaigns/<campaign_id>", summary="Edit a commission campaign", tags=["campaigns"],
         responses=_CAMPAIGN_ERRORS, **staff(Capability.MONEY_RULES))
def update_campaign(campaign_id: CatalogIdPath, body: UpdateCampaignRequest) -> CampaignView:
    return campaign_service.update(campaign_repos, campaign_id, body, body.version, _actor())


@app.post("/admin/campaigns/<campaign_id>/end", summary="End a commission campaign now", tags=["campaigns"],
          responses={404: _CAMPAIGN_ERRORS[404], 409: _CAMPAIGN_ERRORS[409]}, **staff(Capability.MONEY_RULES))
def end_campaign(campaign_id: CatalogIdPath, body: EndCampaignRequest) -> CampaignView:
    return campaign_service.end(campaign_repos, campaign_id, body.version, _actor())


@app.get("/admin/settings/wake-up", summary="The wake-up boost rule (沉睡唤醒)", tags=["campaigns"],
         **staff(Capability.READ))
def wake_up_rule() -> WakeUpRuleView:
    return wake_up_service.rule_view(campaign_repos.campaigns)


@app.put("/admin/settings/wake-up", summary="Save the wake-up boost rule (沉睡唤醒)", tags=["campaigns"],
         responses={409: _CAMPAIGN_ERRORS[409], 422: error_response(
             "invalid fields; `commission_over_cap`: a wake-up campaign with this boost could take a line over "
             "the cap")}, **staff(Capability.MONEY_RULES))
def save_wake_up_rule(body: WakeUpRuleRequest) -> WakeUpRuleView:
    return wake_up_service.save_rule(campaign_repos, body, _actor())


@app.get("/admin/campaigns/<campaign_id>/wake-up", summary="How many promoters a wake-up campaign woke",
         tags=["campaigns"], responses={404: _CAMPAIGN_ERRORS[404]}, **staff(Capability.READ))
def wake_up_woke(campaign_id: CatalogIdPath) -> WokeCount:
    return wake_up_service.woke(campaigns=campaign_repos.campaigns, stats=_stats(), campaign_id=campaign_id,
                                now=utc_now())


@cache
def _stats() -> StatsRepository:
    # Only the count of who woke reads the statistics: imported on that route's first use, not at cold start.
    from mall.dal.stats import StatsRepository

    return StatsRepository(table)


handler = entrypoint(app)
