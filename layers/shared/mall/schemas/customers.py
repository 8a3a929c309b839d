"""The merchant's customers (用户管理): the list, one customer's detail, tags (用户标签)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.binding import BindingHistoryEntry, BindingView
from mall.schemas.common import ApiModel

_TAG: JsonDict = {"tag_id": "tg_01jd7k2m3q4r5s6t7v8w9x", "name": "高复购"}
_SUMMARY: JsonDict = {
    "user_id": "u_xpdiqcabym5dbw2glo3wnz2l", "nickname": "茶**筑", "phone": "138****1234",
    "registered_at": "2026-10-20T11:40:02Z", "promoter_status": None, "bound_promoter_id": "u_36botxbbbigbhenhtgo542dk",
    "tags": [_TAG], "paid_order_count": 3, "erased": False}


class CustomerTagRef(BaseModel):
    tag_id: str
    name: str


class CustomerSummary(BaseModel):
    """A customer in the merchant's list: personal data masked."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY]})

    user_id: str
    nickname: str = Field(description="masked (茶**筑); 微信用户 when none")
    phone: str | None = Field(default=None, description="the bound phone, masked (138****1234)")
    registered_at: str
    promoter_status: str | None = Field(default=None, description="the customer's own promoter status, if any")
    bound_promoter_id: str | None = Field(default=None, description="the promoter the customer is bound to (上级)")
    tags: list[CustomerTagRef]
    paid_order_count: int
    erased: bool = Field(description="the customer erased their personal data")


class CustomerPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_SUMMARY], "next_cursor": None}]})

    items: list[CustomerSummary] = Field(description="a page may hold fewer than `limit` items when several "
                                                     "filters are combined; follow `next_cursor`")
    next_cursor: str | None = None


class CustomerOrderRow(BaseModel):
    order_id: str
    status: str
    amount_fen: int
    refunded_fen: int
    created_at: str
    paid_at: str | None = None


class CustomerRefundRow(BaseModel):
    refund_id: str
    order_id: str
    status: str
    amount_fen: int
    created_at: str


class CustomerPromoterFacts(BaseModel):
    code: str
    status: str
    level_id: str
    agreement_pending: bool


_DETAIL: JsonDict = {
    "customer": _SUMMARY, "lifetime_spend_fen": 41400, "spend_complete": True,
    "orders": [{"order_id": "o_01jd7k2m3q4r5s6t7v8w9x", "status": "COMPLETED", "amount_fen": 19800,
                "refunded_fen": 0, "created_at": "2026-11-02T10:05:44Z", "paid_at": "2026-11-02T10:06:10Z"}],
    "refunds": [{"refund_id": "o_01jd7k2m3q4r5s6t7v8w9x-r1", "order_id": "o_01jd7k2m3q4r5s6t7v8w9x",
                 "status": "SUCCEEDED", "amount_fen": 3000, "created_at": "2026-11-05T08:00:00Z"}],
    "binding": {"parent_id": "u_36botxbbbigbhenhtgo542dk", "bound_at": "2026-10-20T11:42:05Z", "source": "link",
                "trigger": "visit", "promoter_code": "JXZtwULX"},
    "binding_history": [{"action": "bind", "from_parent": None, "to_parent": "u_36botxbbbigbhenhtgo542dk",
                         "source": "link", "trigger": "visit", "promoter_code": "JXZtwULX", "reason": None,
                         "by": "u_xpdiqcabym5dbw2glo3wnz2l", "at": "2026-10-20T11:42:05Z"}],
    "promoter": None}


class CustomerDetail(BaseModel):
    """One customer for the merchant: the masked profile, orders, refunds, binding and what they spent."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DETAIL]})

    customer: CustomerSummary
    lifetime_spend_fen: int = Field(description="消费总额: paid amounts less succeeded refunds, over every order read")
    spend_complete: bool = Field(description="false when the customer has more orders than one read covers "
                                             "(about 2,000): the total is then a lower bound")
    orders: list[CustomerOrderRow] = Field(description="the 20 latest orders")
    refunds: list[CustomerRefundRow] = Field(description="refunds of the customer's orders, newest order first "
                                                         "(at most 50)")
    binding: BindingView | None = None
    binding_history: list[BindingHistoryEntry] = Field(description="the 20 latest changes, newest first")
    promoter: CustomerPromoterFacts | None = None


class TagView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_TAG, "customers": 42, "version": 1, "created_at": "2026-11-01T02:00:00Z"}]})

    tag_id: str
    name: str
    customers: int = Field(description="customers carrying the tag")
    version: int
    created_at: str


class TagList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {**_TAG, "customers": 42, "version": 1, "created_at": "2026-11-01T02:00:00Z"}]}]})

    items: list[TagView]


TagName = Annotated[str, Field(min_length=1, max_length=20, description="1 to 20 characters, unique")]


class TagCreate(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "高复购"}]})

    name: TagName


class TagRename(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "高复购客户", "version": 1}]})

    name: TagName
    version: Annotated[int, Field(ge=1, description="the version you read")]


class TagAssign(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tag_id": "tg_01jd7k2m3q4r5s6t7v8w9x"}]})

    tag_id: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class CustomerTags(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "u_xpdiqcabym5dbw2glo3wnz2l",
                                                               "tags": [_TAG], "changed": True}]})

    user_id: str
    tags: list[CustomerTagRef]
    changed: bool = Field(description="false: the customer already carried (or did not carry) the tag")


class MakePromoterRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "门店店长，线下签约"}]})

    note: Annotated[str | None, Field(max_length=200, description="why, for the audit trail")] = None
