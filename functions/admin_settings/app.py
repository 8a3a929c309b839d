"""Admin: the distribution settings (分销设置), one versioned document (the commission campaigns and
the wake-up rule are ``admin_campaigns``').

``PUT`` stores the whole new document as the next version, conditional on ``based_on_version``
(409 with ``details.current_version`` when another admin saved first). Every earlier version
stays readable."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Path, error_response, source_ip
from mall.clock import utc_now
from mall.dal.settings import SettingsRepository
from mall.dal.table import main_table
from mall.domain.staff import Capability
from mall.schemas.settings import SaveSettingsRequest, SettingsHistory, SettingsVersionView
from mall.services import settings as service

if TYPE_CHECKING:
    from mall.services.campaigns import CampaignRepositories

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings_versions = SettingsRepository(table)

app = make_resolver()


@cache
def _cap_reads() -> CampaignRepositories:
    # Only a save checks the cap (against the book of campaigns, the catalog, the promoters and the rate
    # index): the campaigns' use cases and repositories are imported on the first save, not at cold start.
    from mall.services.campaigns import CampaignRepositories

    return CampaignRepositories.on(table)

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
    reads = _cap_reads()
    return service.save(versions=settings_versions, categories=reads.categories, products=reads.products,
                        promoters=reads.promoters, body=body, saved_by=principal.subject, now=utc_now(),
                        source_ip=source_ip(app), rates=reads.rates, roles=principal.roles,
                        campaigns=reads.campaigns)


@app.get("/admin/settings/distribution/versions", summary="Saved versions, newest first", tags=["settings"],
         **staff(Capability.READ))
def versions(limit: Limit = 20,
             cursor: Cursor = None) -> SettingsHistory:
    return service.history(versions=settings_versions, limit=limit, cursor=cursor)


@app.get("/admin/settings/distribution/versions/<version>", summary="One saved version", tags=["settings"],
         responses={404: _ERRORS[404]}, **staff(Capability.READ))
def one(version: Annotated[int, Path(ge=0, le=10_000_000)]) -> SettingsVersionView:
    return service.get_version(versions=settings_versions, version=version)


handler = entrypoint(app)
