"""Login and profile models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mall.schemas.common import ApiModel


class CustomerLoginRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "0c3Xk2000sVqWT1Fa9100m7bAf4Xk20b", "device_id": "a8f0c2d4-5e61-4b7a-9c3e-2d1f0e9b8a76"}]})

    code: Annotated[str, Field(min_length=1, max_length=128, description="the code from `wx.login()`")]
    device_id: Annotated[
        str | None, Field(max_length=128, description="device fingerprint from the mini-program")
    ] = None


class AdminLoginRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"username": "li.na", "password": "correct horse battery"}]})

    username: Annotated[str, Field(min_length=3, max_length=32)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJtYWxsIiwic3ViIjoiYWRtaW46bGkubmEiLCJyb2xlcyI6"
                        "WyJhZG1pbiJdLCJpYXQiOjE3OTUxMzY0MDAsImV4cCI6MTc5NTE2NTIwMCwidmVyIjozfQ."
                        "gUrSyK02NT79DD8Ub8UxcM6DglID1nqBGi1mkVqMwAs",
        "token_type": "Bearer", "expires_in": 28800, "roles": ["owner"]}]})

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the token expires")
    roles: list[str]


class CustomerLoginResponse(TokenResponse):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJtYWxsIiwic3ViIjoidV94cGRpcWNhYnltNWRidzJnbG8z"
                        "d256MmwiLCJyb2xlcyI6WyJjdXN0b21lciJdLCJpYXQiOjE3OTM3MDc4MDIsImV4cCI6MTc5MzcxNTAwMn0."
                        "D7Too18jG2tc3kRs7GeIJimVDQsQSkqjHm9Tm7bwhHo",
        "token_type": "Bearer", "expires_in": 7200, "roles": ["customer"],
        "user_id": "u_xpdiqcabym5dbw2glo3wnz2l", "is_new_user": False}]})

    user_id: str
    is_new_user: bool


class PhoneBindRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144"}]})

    code: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$",
                               description="the `code` of the mini-program's `getPhoneNumber` button "
                                           "(single use, valid 5 minutes; not the `wx.login` code)")]


class PhoneView(BaseModel):
    """The bound phone, masked: the number itself is stored sealed and never answered."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"phone": "138****1234", "country_code": "86", "bound_at": "2026-11-03T12:15:08Z"}]})

    phone: str = Field(description="masked, e.g. 138****1234")
    country_code: str
    bound_at: str = Field(description="ISO-8601 UTC")


class MeResponse(BaseModel):
    """The caller's own profile."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "customer", "id": "u_36botxbbbigbhenhtgo542dk", "roles": ["customer", "promoter"],
         "nickname": "茶香小筑", "display_name": None, "created_at": "2026-09-27T08:14:51Z",
         "phone": "138****1234"},
        {"kind": "admin", "id": "li.na", "roles": ["finance", "support"], "nickname": None, "display_name": "李娜",
         "created_at": "2026-09-01T02:00:00Z", "phone": None}]})

    kind: Literal["customer", "admin"]
    id: str
    roles: list[str]
    nickname: str | None = None
    display_name: str | None = None
    created_at: str = Field(description="ISO-8601 UTC")
    phone: str | None = Field(default=None, description="the bound phone, masked (`POST /me/phone`); "
                                                        "null when none is bound")
