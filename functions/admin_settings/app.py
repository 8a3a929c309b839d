"""Admin: the distribution settings (分销设置), one versioned document, and the commission
campaigns (佣金活动: owner only, audited, refused at save when a line could exceed the cap).

``PUT`` stores the whole new document as the next version, conditional on ``based_on_version``
(409 with ``details.current_version`` when another admin saved first). Every earlier version
stays readable."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import CatalogIdPath, Cursor, Limit, OpenAPIResponse, Path, error_response, source_ip
from mall.clock import utc_now
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.campaigns import (
    CampaignList,
    CampaignRequest,
    CampaignView,
    EndCampaignRequest,
    UpdateCampaignRequest,
)
from mall.schemas.settings import SaveSettingsRequest, SettingsHistory, SettingsVersionView
from mall.schemas.wake_up import WakeUpRuleRequest, WakeUpRuleView, WokeCount
from mall.services import campaigns as campaign_service
from mall.services import settings as service
from mall.services import wake_up as wake_up_service

if TYPE_CHECKING:
    from mall.dal.stats import StatsRepository

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings_versions = SettingsRepository(table)
# The catalog's, the promoters' and the rate index's repositories, which only a save's cap check reads,
# are built on the first save (CampaignRepositories' properties): the reads do without their modules.
campaign_repos = campaign_service.CampaignRepositories.on(table)

app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such version"),
    409: error_response("`settings_version_conflict`: saved by someone else since `based_on_version` "
                        "(details.current_version)"),
    422: error_response("invalid fields, named by path (`commission.l1_rate_bp`, `levels.1.name`); "
                        "banned phrases in the title or level names are refused"),
}


@app.get("/admin/settings/distribution", summary="The distribution settings in force", tags=["settings"],
         **staff(Capability.READ))
def current() -> SettingsVersionView:
    return service.current(versions=settings_versions)


@app.put("/admin/settings/distribution", summary="Save a new version of the distribution settings",
         tags=["settings"], responses={409: _ERRORS[409], 422: _ERRORS[422]}, **staff(Capability.OPERATIONS))
def save(body: SaveSettingsRequest) -> SettingsVersionView:
    principal = current_principal(app)
    return service.save(versions=settings_versions, categories=campaign_repos.categories,
                        products=campaign_repos.products, promoters=campaign_repos.promoters, body=body,
                        saved_by=principal.subject, now=utc_now(), source_ip=source_ip(app),
                        rates=campaign_repos.rates, roles=principal.roles, campaigns=campaign_repos.campaigns)


@app.get("/admin/settings/distribution/versions", summary="Saved versions, newest first", tags=["settings"],
         **staff(Capability.READ))
def versions(limit: Limit = 20,
             cursor: Cursor = None) -> SettingsHistory:
    return service.history(versions=settings_versions, limit=limit, cursor=cursor)


@app.get("/admin/settings/distribution/versions/<version>", summary="One saved version", tags=["settings"],
         responses={404: _ERRORS[404]}, **staff(Capability.READ))
def one(version: Annotated[int, Path(ge=0, le=10_000_000)]) -> SettingsVersionView:
    return service.get_version(versions=settings_versions, version=version)


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
