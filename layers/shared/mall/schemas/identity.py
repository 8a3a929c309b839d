"""Login and profile models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from mall.schemas.common import ApiModel


class CustomerLoginRequest(ApiModel):
    code: Annotated[str, Field(min_length=1, max_length=128, description="the code from `wx.login()`")]
    device_id: Annotated[
        str | None, Field(max_length=128, description="device fingerprint from the mini-program")
    ] = None


class AdminLoginRequest(ApiModel):
    username: Annotated[str, Field(min_length=3, max_length=32)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the token expires")
    roles: list[str]


class CustomerLoginResponse(TokenResponse):
    user_id: str
    is_new_user: bool


class MeResponse(BaseModel):
    """The caller's own profile."""

    kind: Literal["customer", "admin"]
    id: str
    roles: list[str]
    nickname: str | None = None
    display_name: str | None = None
    created_at: str = Field(description="ISO-8601 UTC")
