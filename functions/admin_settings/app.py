"""Admin: the distribution settings (分销设置), one versioned document.

``PUT`` stores the whole new document as the next version, conditional on ``based_on_version``
(409 with ``details.current_version`` when another admin saved first). Every earlier version
stays readable."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from mall.api.auth import current_principal, secured, signing_key
from mall.api.http import entrypoint, make_resolver
from mall.clock import utc_now
from mall.dal.table import main_table
from mall.domain.tokens import Role
from mall.schemas.common import ErrorBody
from mall.schemas.settings import SaveSettingsRequest, SettingsHistory, SettingsVersionView
from mall.services import settings as service

table = main_table()
app = make_resolver()

_ERRORS: dict[int, OpenAPIResponse] = {
    404: {"description": "no such version", "content": {"application/json": {"model": ErrorBody}}},
    409: {"description": "`settings_version_conflict`: saved by someone else since `based_on_version` "
                         "(details.current_version)", "content": {"application/json": {"model": ErrorBody}}},
    422: {"description": "invalid fields, named by path (`commission.l1_rate_bp`, `levels.1.name`); "
                         "banned phrases in the title or level names are refused",
          "content": {"application/json": {"model": ErrorBody}}},
}


@app.get("/admin/settings/distribution", summary="The distribution settings in force", tags=["settings"],
         **secured(Role.ADMIN))
def current() -> SettingsVersionView:
    return service.current(table=table)


@app.put("/admin/settings/distribution", summary="Save a new version of the distribution settings",
         tags=["settings"], responses={409: _ERRORS[409], 422: _ERRORS[422]}, **secured(Role.ADMIN))
def save(body: SaveSettingsRequest) -> SettingsVersionView:
    return service.save(table=table, body=body, saved_by=current_principal(app).subject, now=utc_now(),
                        source_ip=app.current_event.request_context.http.source_ip)


@app.get("/admin/settings/distribution/versions", summary="Saved versions, newest first", tags=["settings"],
         **secured(Role.ADMIN))
def versions(limit: Annotated[int, Query(ge=1, le=100)] = 20,
             cursor: Annotated[str | None, Query(max_length=2048)] = None) -> SettingsHistory:
    return service.history(table=table, limit=limit, cursor=cursor, cursor_key=signing_key())


@app.get("/admin/settings/distribution/versions/<version>", summary="One saved version", tags=["settings"],
         responses={404: _ERRORS[404]}, **secured(Role.ADMIN))
def one(version: Annotated[int, Path(ge=0, le=10_000_000)]) -> SettingsVersionView:
    return service.get_version(table=table, version=version)


handler = entrypoint(app)
