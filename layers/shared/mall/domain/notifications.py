"""Subscribe-message notifications (订阅消息): the events, and what the merchant configures for each
(``settings.notifications``): template id, page, and which value fills each template keyword. Pure.

Template ids are per merchant (chosen in the WeChat admin console), so every event is disabled
until the merchant configures one. A template's keywords (``thing1``, ``amount2``, ``time3`` …) are
mapped to *sources* (what an event knows how to fill: ``amount``, ``order_no``, ``time`` …) or to a
fixed text (``"text:…"``); each must fit its keyword's type (``mall.domain.subscribe_values``).
Which change sends which event is ``mall.domain.notification_events``.

Import rule: this module is imported by ``mall.domain.settings``; it must not import it back
(nor anything that does, such as ``mall.domain.withdrawals``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.domain.subscribe_values import TEXT_PREFIX, VALUE_TYPES, keyword_type, text_fits


class NotificationKind(StrEnum):
    COMMISSION_EARNED = "commission_earned"  # 佣金入账
    COMMISSION_SETTLED = "commission_settled"  # 佣金结算
    WITHDRAWAL_STATUS = "withdrawal_status"  # 提现进度
    TEAM_MEMBER_JOINED = "team_member_joined"  # 新成员加入
    ORDER_SHIPPED = "order_shipped"  # 订单发货 (to the buyer)
    ORDER_DELIVERED = "order_delivered"  # 包裹签收 (to the buyer; from tracking)
    REFUND_RESULT = "refund_result"  # 退款结果 (to the buyer)
    WAKE_UP_BOOST = "wake_up_boost"  # 唤醒加成 (to a promoter the wake-up run boosted; from the run, not a change)


#: Events sent to the buyer of an order (the others go to a promoter).
BUYER_KINDS: frozenset[NotificationKind] = frozenset({
    NotificationKind.ORDER_SHIPPED, NotificationKind.ORDER_DELIVERED, NotificationKind.REFUND_RESULT})


MiniProgramState = Literal["formal", "trial", "developer"]


#: What fills a keyword. Per event the sources it has; per source the keyword types it may go in.
SOURCES: Mapping[NotificationKind, frozenset[str]] = {
    NotificationKind.COMMISSION_EARNED: frozenset({"amount", "order_no", "product", "level", "status", "time"}),
    NotificationKind.COMMISSION_SETTLED: frozenset({"amount", "order_no", "product", "level", "status", "time"}),
    NotificationKind.WITHDRAWAL_STATUS: frozenset({"amount", "net_amount", "fee", "status", "reason", "withdrawal_no",
                                                   "time"}),
    NotificationKind.TEAM_MEMBER_JOINED: frozenset({"nickname", "source", "time"}),
    NotificationKind.ORDER_SHIPPED: frozenset({"order_no", "product", "carrier", "tracking_no", "status", "time"}),
    NotificationKind.ORDER_DELIVERED: frozenset({"order_no", "product", "carrier", "tracking_no", "status", "time"}),
    NotificationKind.REFUND_RESULT: frozenset({"amount", "order_no", "status", "reason", "time"}),
    NotificationKind.WAKE_UP_BOOST: frozenset({"campaign", "boost", "status", "time"}),
}
SOURCE_TYPES: Mapping[str, frozenset[str]] = {
    "amount": frozenset({"amount", "thing"}),
    "net_amount": frozenset({"amount", "thing"}),
    "fee": frozenset({"amount", "thing"}),
    "order_no": frozenset({"character_string", "thing"}),
    "withdrawal_no": frozenset({"character_string", "thing"}),
    "product": frozenset({"thing"}),
    "level": frozenset({"phrase", "thing"}),
    "status": frozenset({"phrase", "thing"}),
    "reason": frozenset({"thing"}),
    "nickname": frozenset({"thing", "name"}),
    "source": frozenset({"thing", "phrase"}),
    "time": frozenset({"time", "date", "thing"}),
    "carrier": frozenset({"thing"}),
    "tracking_no": frozenset({"character_string", "thing"}),
    "campaign": frozenset({"thing"}),
    "boost": frozenset({"thing"}),
}
#: Page placeholders each event can fill (``{commission_id}`` in ``pages/x?id={commission_id}``).
PAGE_PLACEHOLDERS: Mapping[NotificationKind, frozenset[str]] = {
    NotificationKind.COMMISSION_EARNED: frozenset({"commission_id", "order_id"}),
    NotificationKind.COMMISSION_SETTLED: frozenset({"commission_id", "order_id"}),
    NotificationKind.WITHDRAWAL_STATUS: frozenset({"withdrawal_id", "status"}),
    NotificationKind.TEAM_MEMBER_JOINED: frozenset(),
    NotificationKind.ORDER_SHIPPED: frozenset({"order_id"}),
    NotificationKind.ORDER_DELIVERED: frozenset({"order_id"}),
    NotificationKind.REFUND_RESULT: frozenset({"order_id", "refund_id"}),
    NotificationKind.WAKE_UP_BOOST: frozenset({"campaign_id"}),
}
_PAGE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*(\?[A-Za-z0-9_\-=&{}.%]*)?$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

WithdrawalStatusName = Literal["APPROVED", "PAYING", "PAID", "FAILED", "REJECTED"]


def _errors(title: str, problems: list[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """A validation error located at the offending field (``commission_earned.fields.thing1``); the
    settings document prefixes ``notifications.`` (same technique as ``mall.domain.settings``)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("notification_rule", message.replace("{", "(").replace("}", ")")),
                         loc=loc, input=value)
        for loc, message, value in problems
    ])


# ---- settings -------------------------------------------------------------------------------

Keyword = Annotated[str, Field(min_length=2, max_length=24, pattern=r"^[a-z_]+[0-9]{1,3}$")]
FieldSource = Annotated[str, Field(min_length=1, max_length=60)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TemplateConfig(_Document):
    """One event's subscribe-message template (模板), as the merchant set it up in WeChat."""

    enabled: bool = False
    template_id: Annotated[str | None, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$",
                                             description="the template id from the mini-program's console")] = None
    page: Annotated[str | None, Field(max_length=256, description="mini-program page opened from the message, no "
                                      "leading '/'; the query may use the event's placeholders, e.g. "
                                      "{withdrawal_id}")] = None
    miniprogram_state: MiniProgramState = "formal"
    long_term: bool = Field(default=False, description="a long-term template (长期订阅): one grant covers every "
                            "message until the user turns it off; otherwise each grant covers one message")
    fields: Annotated[dict[Keyword, FieldSource], Field(
        max_length=20,
        description="template keyword (thing1, amount2, time3 …) → a source of the event (amount, order_no, "
                    "time …) or a fixed text written 'text:…'")]


def _default_fields(kind: NotificationKind) -> dict[str, str]:
    return dict(_DEFAULT_FIELDS[kind])


_DEFAULT_FIELDS: Mapping[NotificationKind, Mapping[str, str]] = {
    NotificationKind.COMMISSION_EARNED: {"amount1": "amount", "character_string2": "order_no", "thing3": "product",
                                         "time4": "time"},
    NotificationKind.COMMISSION_SETTLED: {"amount1": "amount", "character_string2": "order_no",
                                          "phrase3": "status", "time4": "time"},
    NotificationKind.WITHDRAWAL_STATUS: {"amount1": "amount", "phrase2": "status", "thing3": "reason",
                                         "time4": "time"},
    NotificationKind.TEAM_MEMBER_JOINED: {"thing1": "nickname", "thing2": "source", "time3": "time"},
    NotificationKind.ORDER_SHIPPED: {"character_string1": "order_no", "thing2": "product", "thing3": "carrier",
                                     "character_string4": "tracking_no", "time5": "time"},
    NotificationKind.ORDER_DELIVERED: {"character_string1": "order_no", "thing2": "product", "phrase3": "status",
                                       "time4": "time"},
    NotificationKind.REFUND_RESULT: {"character_string1": "order_no", "amount2": "amount", "phrase3": "status",
                                     "thing4": "reason", "time5": "time"},
    # ``time`` of a wake-up boost is when it ends (有效期至).
    NotificationKind.WAKE_UP_BOOST: {"thing1": "campaign", "thing2": "boost", "time3": "time"},
}
_DEFAULT_PAGES: Mapping[NotificationKind, str] = {
    NotificationKind.COMMISSION_EARNED: "pages/promoter/commissions/index?commission_id={commission_id}",
    NotificationKind.COMMISSION_SETTLED: "pages/promoter/commissions/index?commission_id={commission_id}",
    NotificationKind.WITHDRAWAL_STATUS: "pages/promoter/withdrawals/detail?withdrawal_id={withdrawal_id}",
    NotificationKind.TEAM_MEMBER_JOINED: "pages/promoter/team/index",
    NotificationKind.ORDER_SHIPPED: "pages/orders/detail?order_id={order_id}",
    NotificationKind.ORDER_DELIVERED: "pages/orders/detail?order_id={order_id}",
    NotificationKind.REFUND_RESULT: "pages/orders/detail?order_id={order_id}",
    NotificationKind.WAKE_UP_BOOST: "pages/promoter/index",
}


def _default_template(kind: NotificationKind) -> TemplateConfig:
    return TemplateConfig(page=_DEFAULT_PAGES[kind], fields=_default_fields(kind))


def _default_statuses() -> list[WithdrawalStatusName]:
    return ["APPROVED", "PAYING", "PAID", "FAILED", "REJECTED"]


class NotificationSettings(_Document):
    """Subscribe messages per event. Every event is disabled by default (no template id yet)."""

    commission_earned: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.COMMISSION_EARNED))
    commission_settled: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.COMMISSION_SETTLED))
    withdrawal_status: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.WITHDRAWAL_STATUS))
    team_member_joined: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.TEAM_MEMBER_JOINED))
    order_shipped: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.ORDER_SHIPPED))
    order_delivered: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.ORDER_DELIVERED))
    refund_result: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.REFUND_RESULT))
    wake_up_boost: TemplateConfig = Field(
        default_factory=lambda: _default_template(NotificationKind.WAKE_UP_BOOST))
    withdrawal_statuses: Annotated[list[WithdrawalStatusName], Field(
        min_length=1, max_length=5, description="withdrawal statuses that send withdrawal_status")] = Field(
        default_factory=_default_statuses)

    @model_validator(mode="before")
    @classmethod
    def _event_defaults(cls, data: Any) -> Any:
        """An event given without ``fields`` (or ``page``) gets the event's defaults, so enabling one is
        ``{"enabled": true, "template_id": "…"}`` when the template has the default keywords."""
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for kind in NotificationKind:
            event = filled.get(kind.value)
            if isinstance(event, Mapping):
                event = dict(event)
                if not event.get("fields"):
                    event["fields"] = _default_fields(kind)
                event.setdefault("page", _DEFAULT_PAGES[kind])
                filled[kind.value] = event
        return filled

    def template(self, kind: NotificationKind) -> TemplateConfig:
        config: TemplateConfig = getattr(self, kind.value)
        return config

    def configured(self, template_id: str) -> TemplateConfig | None:
        """The configuration of an event using ``template_id`` (the first such event), if any."""
        for kind in NotificationKind:
            config = self.template(kind)
            if config.template_id == template_id:
                return config
        return None

    def texts(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Fixed promoter-facing texts (``text:`` values) with their locations, for the banned-phrase check."""
        return [((kind.value, "fields", keyword), source[len(TEXT_PREFIX):])
                for kind in NotificationKind for keyword, source in self.template(kind).fields.items()
                if source.startswith(TEXT_PREFIX)]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        for kind in NotificationKind:
            problems += _template_problems(kind, self.template(kind))
        if len(set(self.withdrawal_statuses)) != len(self.withdrawal_statuses):
            problems.append((("withdrawal_statuses",), "a status is listed twice", self.withdrawal_statuses))
        if not is_stored_document(info):
            problems += _banned_phrase_problems(self.texts())
        if problems:
            raise _errors("NotificationSettings", problems)
        return self


#: Validation context for a settings document read back from storage (``model_validate(..., context=...)``):
#: the promoter-facing text rules apply when a document is saved; one saved under an older rule still loads.
STORED_DOCUMENT: dict[str, bool] = {"stored": True}


def is_stored_document(info: ValidationInfo) -> bool:
    context = info.context
    return isinstance(context, dict) and bool(context.get("stored"))


def _banned_phrase_problems(texts: list[tuple[tuple[str | int, ...], str]]
                            ) -> list[tuple[tuple[str | int, ...], str, object]]:
    """Fixed texts are promoter-facing: the built-in banned phrases (which can never be removed) are
    refused here; the merchant's own list lives in the settings document (``texts()`` lets it check)."""
    if not texts:
        return []  # nothing to check (and mall.domain.settings may still be importing this module)
    # Imported here: mall.domain.settings imports this module.
    from mall.domain.promoter_text import banned_phrase_in
    from mall.domain.settings import DEFAULT_BANNED_PHRASES

    problems: list[tuple[tuple[str | int, ...], str, object]] = []
    for loc, text in texts:
        phrase = banned_phrase_in(text, DEFAULT_BANNED_PHRASES)
        if phrase is not None:
            problems.append((loc, f"contains the banned phrase {phrase!r}", text))
    return problems


def _template_problems(kind: NotificationKind, config: TemplateConfig) -> list[tuple[tuple[str | int, ...], str,
                                                                                        object]]:
    problems: list[tuple[tuple[str | int, ...], str, object]] = []
    if config.enabled and not config.template_id:
        problems.append(((kind.value, "template_id"), "template_id is required when the event is enabled", None))
    if config.page:
        if not _PAGE.match(config.page):
            problems.append(((kind.value, "page"), "page is a mini-program path without a leading '/' (an optional "
                             "query may follow '?')", config.page))
        unknown = sorted(set(PLACEHOLDER.findall(config.page)) - PAGE_PLACEHOLDERS[kind])
        if unknown:
            allowed = ", ".join(sorted(PAGE_PLACEHOLDERS[kind])) or "none"
            problems.append(((kind.value, "page"), f"unknown placeholder(s) {unknown}; allowed: {allowed}",
                             config.page))
    for keyword, source in config.fields.items():
        loc: tuple[str | int, ...] = (kind.value, "fields", keyword)
        value_type = keyword_type(keyword)
        if value_type is None:
            problems.append((loc, f"{keyword!r} is not a template keyword (a type among {', '.join(VALUE_TYPES)} "
                             "and a number, e.g. thing1)", keyword))
            continue
        if source.startswith(TEXT_PREFIX):
            reason = text_fits(value_type, source[len(TEXT_PREFIX):])
            if reason is not None:
                problems.append((loc, f"fixed text: {reason}", source))
            continue
        if source not in SOURCES[kind]:
            problems.append((loc, f"{kind.value} has no value {source!r}; use one of "
                             f"{', '.join(sorted(SOURCES[kind]))} or 'text:…'", source))
        elif value_type not in SOURCE_TYPES[source]:
            problems.append((loc, f"{source!r} cannot fill a {value_type} keyword (it fits "
                             f"{', '.join(sorted(SOURCE_TYPES[source]))})", source))
    return problems
