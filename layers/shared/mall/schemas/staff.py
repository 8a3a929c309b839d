"""Models of the staff routes (员工管理): accounts, roles, status, passwords."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.identity import USERNAME_PATTERN
from mall.domain.passwords import MIN_PASSWORD_LENGTH
from mall.schemas.common import ApiModel

StaffRoleName = Literal["owner", "finance", "operations", "support", "auditor"]
StaffRoles = Annotated[list[StaffRoleName], Field(min_length=1, max_length=5,
                                                  description="staff roles (docs/security.md, \"Staff roles\")")]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)]


class CreateStaffRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "wang.fang", "display_name": "王芳", "password": "initial password 2026",
         "roles": ["support"]}]})

    username: Annotated[str, Field(pattern=USERNAME_PATTERN, description="lower case; the login name")]
    display_name: Annotated[str, Field(max_length=40)] = ""
    password: Annotated[Password, Field(description="the initial password; tell it to the new admin")]
    roles: StaffRoles


class StaffRolesRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"roles": ["finance", "auditor"]}]})

    roles: StaffRoles


class StaffStatusRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"disabled": True}]})

    disabled: Annotated[bool, Field(description="true: the account cannot log in and its tokens stop working")]


class ResetPasswordRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "a new password 2026"}]})

    password: Password


class ChangeOwnPasswordRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"current_password": "correct horse battery", "new_password": "a new password 2026"}]})

    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


def _staff_example() -> JsonDict:
    return {"username": "wang.fang", "display_name": "王芳", "roles": ["support"], "disabled": False,
            "created_at": "2026-11-02T01:30:00Z", "last_login_at": "2026-11-03T00:58:12Z"}


class StaffView(BaseModel):
    """An admin account as the staff page shows it (never the password hash)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_staff_example()]})

    username: str
    display_name: str
    roles: list[str]
    disabled: bool
    created_at: str = Field(description="ISO-8601 UTC")
    last_login_at: str | None = Field(default=None, description="ISO-8601 UTC; null: never logged in")


class StaffPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_staff_example()], "next_cursor": None}]})

    items: list[StaffView]
    next_cursor: str | None = None
