"""Subscribe-message grants as the mini-program reports and reads them (订阅授权)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from mall.domain.notifications import NotificationKind
from mall.domain.subscriptions import MAX_REPORTED, GrantResult, GrantScene
from mall.schemas.common import ApiModel

TemplateId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]


class GrantAnswer(ApiModel):
    template_id: TemplateId
    result: GrantResult = Field(description="wx.requestSubscribeMessage's answer for the template: accept, reject, "
                                            "ban (banned by WeChat) or filter (filtered by WeChat)")


class GrantReportRequest(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "scene": "checkout",
        "results": [{"template_id": "Ks9w0r8Y4tq1ZfXbL2mNcV7pD3hJ6uE5aG8iO0yR1sT", "result": "accept"},
                    {"template_id": "Zx8cV7bN6mQ5wE4rT3yU2iO1pA0sD9fG8hJ7kL6zX5c", "result": "reject"}]}]})

    scene: GrantScene = Field(description="where the mini-program asked: checkout, order, refund, apply, "
                                          "withdrawal, promoter_center, other")
    results: Annotated[list[GrantAnswer], Field(min_length=1, max_length=MAX_REPORTED)]


class TemplateGrant(ApiModel):
    kind: NotificationKind = Field(description="the notice the template is configured for")
    template_id: str
    long_term: bool = Field(description="a long-term template: one accept covers every message until turned off")
    granted: bool = Field(description="whether the next message of this notice would be sent")
    remaining: int = Field(description="unused one-time grants (0 for a long-term template)")


class GrantsResponse(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "templates": [
            {"kind": "order_shipped", "template_id": "Ks9w0r8Y4tq1ZfXbL2mNcV7pD3hJ6uE5aG8iO0yR1sT", "long_term": False,
             "granted": True, "remaining": 2},
            {"kind": "order_delivered", "template_id": "Zx8cV7bN6mQ5wE4rT3yU2iO1pA0sD9fG8hJ7kL6zX5c",
             "long_term": False, "granted": False, "remaining": 0}],
        "ignored": ["Unknown0Template1Id"]}]})

    templates: list[TemplateGrant] = Field(description="every enabled notice, with the caller's grants of its template")
    ignored: list[str] = Field(default_factory=list, description="reported template ids no notice uses (not recorded)")
