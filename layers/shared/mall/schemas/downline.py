"""Response model of a promoter's downline as a two-level tree (分销层级图谱), for the merchant."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

_MEMBER: JsonDict = {
    "user_id": "u_xpdiqcabym5dbw2glo3wnz2l", "nickname": "王**芳", "level": 1, "bound_at": "2026-10-20T11:42:05Z",
    "source": "qr", "sales_fen": 41400, "is_promoter": True, "members": 3, "leaf": False}
_LEAF: JsonDict = {
    "user_id": "u_yddqmfnx75j6mtsccnsr4l4d", "nickname": "李*", "level": 1, "bound_at": "2026-11-02T10:05:44Z",
    "source": "link", "sales_fen": 0, "is_promoter": False, "members": 0, "leaf": True}


class DownlineMember(BaseModel):
    user_id: str
    nickname: str = Field(description="masked (微**友)")
    level: Literal[1, 2] = Field(description="1: the promoter's own member; 2: a member's member")
    bound_at: str
    source: str | None = Field(default=None, description="link · qr · poster · invite_code · admin")
    sales_fen: int = Field(description="paid amount of their orders while bound to their current parent")
    is_promoter: bool
    members: int = Field(description="their own direct members (level 1 only: level 2 is never expanded)")
    leaf: bool = Field(description="nothing to expand: a level-2 member, or a level-1 member without members")


class DownlinePage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "promoter_id": "u_36botxbbbigbhenhtgo542dk", "parent_id": "u_36botxbbbigbhenhtgo542dk", "level": 1,
        "items": [_MEMBER, _LEAF], "next_cursor": None}]})

    promoter_id: str
    parent_id: str = Field(description="whose members these are: the promoter (level 1) or one of their members")
    level: Literal[1, 2]
    items: list[DownlineMember]
    next_cursor: str | None = None
