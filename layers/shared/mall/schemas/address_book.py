"""The customer's address book (收货地址): request and response models. Responses are always masked."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.domain.address_book import MAX_ADDRESSES
from mall.schemas.orders import AddressRequest

_SAVE_EXAMPLE: JsonDict = {"name": "王芳", "phone": "13812341234", "province": "浙江省", "city": "杭州市",
                 "detail": "西湖区文三路 478 号华星时代广场 A 座 1201", "is_default": True}
_VIEW_EXAMPLE: JsonDict = {"address_id": "a_01m6gnbah4xat2qntjhtks", "name": "王*", "phone": "138****1234",
                 "province": "浙江省", "city": "杭州市", "detail": "西湖区文三路****", "is_default": True,
                 "version": 1, "created_at": "2026-11-03T12:15:08Z", "updated_at": "2026-11-03T12:15:08Z"}


class SaveAddressRequest(AddressRequest):
    """A new address; saving one equal to an address already in the book returns that one."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [_SAVE_EXAMPLE]})

    is_default: bool = Field(default=False, description="make it the default (the first address always is)")


class UpdateAddressRequest(SaveAddressRequest):
    """The whole address again, with the ``version`` last read (409 ``address_changed`` when stale)."""

    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [{**_SAVE_EXAMPLE, "version": 1}]})

    version: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]


class SavedAddressView(BaseModel):
    """A saved address, masked (王*, 138****1234, the first characters of the street)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_VIEW_EXAMPLE]})

    address_id: str
    name: str
    phone: str
    province: str
    city: str
    detail: str
    is_default: bool
    version: int
    created_at: str
    updated_at: str


class AddressBookView(BaseModel):
    model_config = ConfigDict(defer_build=True, json_schema_extra={"examples": [
        {"items": [_VIEW_EXAMPLE], "default_id": "a_01m6gnbah4xat2qntjhtks", "limit": MAX_ADDRESSES}]})

    items: list[SavedAddressView] = Field(description="the default first, then the most recently changed")
    default_id: str | None
    limit: int = Field(description="the most addresses the book may hold")
