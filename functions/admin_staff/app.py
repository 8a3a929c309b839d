"""Staff management (员工管理): an owner lists, creates, disables or enables admins, sets their roles
and resets their passwords; every admin changes their own password (POST /admin/me/password).

Each change ends the admin's sessions within a minute (the session version moves on) and is audited;
none may leave the shop without an enabled owner (409 ``last_owner``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from mall.api.auth import current_principal, signing_key, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import Cursor, Limit, OpenAPIResponse, Path, error_response, source_ip
from mall.clock import utc_now
from mall.config import get_settings
from mall.dal.audit import AuditLog
from mall.dal.identity import AdminRepository, LoginThrottle
from mall.dal.table import main_table
from mall.domain.identity import USERNAME_PATTERN, LockoutPolicy
from mall.domain.staff import Capability
from mall.schemas.identity import TokenResponse
from mall.schemas.staff import (
    ChangeOwnPasswordRequest,
    CreateStaffRequest,
    ResetPasswordRequest,
    StaffPage,
    StaffRolesRequest,
    StaffStatusRequest,
    StaffView,
)
from mall.services import staff as service

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
settings = get_settings()
admins = AdminRepository(table)
log = AuditLog(table)
throttle = LoginThrottle(table, LockoutPolicy(settings.admin_max_failed_logins, settings.admin_lockout_seconds,
                                             settings.admin_max_logins_per_username))

app = make_resolver()

Username = Annotated[str, Path(min_length=3, max_length=32, pattern=USERNAME_PATTERN)]

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`account_not_found`"),
    409: error_response("`last_owner` (the change would leave no enabled owner), `staff_account_changed` "
                        "(changed by someone else meanwhile: read and retry), `admin_exists`"),
    422: error_response("invalid fields (`roles.0`, `password`)"),
}


def _actor() -> service.Actor:
    return service.Actor(subject=current_principal(app).subject, source_ip=source_ip(app), now=utc_now())


@app.get("/admin/staff", summary="Admin accounts by username", tags=["staff"], **staff(Capability.STAFF))
def list_staff(limit: Limit = 50, cursor: Cursor = None) -> StaffPage:
    return service.list_staff(admins=admins, limit=limit, cursor=cursor)


@app.post("/admin/staff", summary="Create an admin with an initial password and roles", tags=["staff"],
          status_code=201,
          responses={201: {"description": "created", "content": {"application/json": {"model": StaffView}}},
                     409: error_response("`admin_exists`"), 422: _ERRORS[422]},
          **staff(Capability.STAFF))
def create(body: CreateStaffRequest) -> Response[StaffView]:
    created = service.create_staff(admins=admins, log=log, body=body, actor=_actor())
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=created)


@app.put("/admin/staff/<username>/roles", summary="Set an admin's roles (their sessions end)", tags=["staff"],
         responses=_ERRORS, **staff(Capability.STAFF))
def set_roles(username: Username, body: StaffRolesRequest) -> StaffView:
    return service.set_roles(admins=admins, log=log, username=username, roles=list(body.roles), actor=_actor())


@app.put("/admin/staff/<username>/status", summary="Disable or enable an admin (their sessions end)",
         tags=["staff"], responses=_ERRORS, **staff(Capability.STAFF))
def set_status(username: Username, body: StaffStatusRequest) -> StaffView:
    return service.set_disabled(admins=admins, log=log, username=username, disabled=body.disabled, actor=_actor())


@app.post("/admin/staff/<username>/password", summary="Reset an admin's password (their sessions end)",
          tags=["staff"], responses={404: _ERRORS[404], 409: _ERRORS[409], 422: _ERRORS[422]},
          **staff(Capability.STAFF))
def reset_password(username: Username, body: ResetPasswordRequest) -> StaffView:
    return service.reset_password(admins=admins, log=log, username=username, password=body.password, actor=_actor())


@app.post("/admin/me/password", summary="Change my own password (my other sessions end; a fresh token is answered)",
          tags=["staff"], responses={404: _ERRORS[404], 422: error_response("`wrong_password` (`current_password`)"),
                                     429: error_response("`account_locked`: too many attempts")},
          **staff(Capability.OWN_ACCOUNT))
def change_own_password(body: ChangeOwnPasswordRequest) -> TokenResponse:
    principal = current_principal(app)
    command = service.ChangeOwnPassword(username=principal.subject.removeprefix("admin:"),
                                        current_password=body.current_password, new_password=body.new_password,
                                        signing_key=signing_key(), ttl_seconds=settings.admin_token_ttl_seconds)
    return service.change_own_password(admins=admins, throttle=throttle, log=log, command=command, actor=_actor())


handler = entrypoint(app)
