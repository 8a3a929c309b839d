"""The delivery address of an order as its views show it (masked), apart from the order views
(``mall.schemas.fulfilment``) so that placing an order and paying one do not load those, with the
refund and tracking views."""

from __future__ import annotations

from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

#: The delivery address as every order view shows it (王芳, 13812341234, 西湖区文三路 478 号…).
EXAMPLE_MASKED_ADDRESS: JsonDict = {"name": "王*", "phone": "138****1234", "province": "浙江省", "city": "杭州市",
                                    "detail": "西湖区文三路****"}


class AddressFields(ApiModel):
    name: str
    phone: str
    province: str | None = None
    city: str | None = None
    detail: str


class AddressView(AddressFields):
    """Always masked (张*, 138****1234, the first characters of the street address)."""
