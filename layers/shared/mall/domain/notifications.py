"""Subscribe-message notifications (订阅消息): which table change sends which template, to whom,
with which values. Part of the settings document (``settings.notifications``); pure (no I/O).

Four events, each decided from a change's old → new image (``mall.dal.changes.Change``):

- ``commission_earned`` (佣金入账): a commission record is created FROZEN → its beneficiary.
- ``commission_settled`` (佣金结算): a record moves FROZEN → SETTLED → its beneficiary.
- ``withdrawal_status`` (提现进度): a withdrawal's status changes (to one of the configured
  statuses) → the promoter who asked.
- ``team_member_joined`` (新成员加入): a customer is bound to a promoter (first binding or a
  re-binding to another parent) → the new parent.

Template ids are per merchant (chosen in the WeChat admin console), so every event is disabled
until the merchant configures one. A template's keywords (``thing1``, ``amount2``, ``time3`` …) are
mapped to *sources* (what this module knows how to fill: ``amount``, ``order_no``, ``time`` …) or
to a fixed text (``"text:…"``); each value is formatted to its keyword type's limit (thing ≤ 20
characters, amount ``¥12.34`` from integer fen, time ``YYYY-MM-DD HH:MM`` China time, phrase ≤ 5
Chinese characters …), because WeChat refuses the whole message (47003) for one value out of range.

Import rule: this module is imported by ``mall.domain.settings``; it must not import it back
(nor anything that does, such as ``mall.domain.withdrawals``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.clock import parse_instant
from mall.domain.commission_records import CommissionStatus
from mall.domain.masking import mask_nickname  # a message masks a nickname as lists do
from mall.domain.money import yuan_ungrouped

CHINA = timezone(timedelta(hours=8))


class NotificationKind(StrEnum):
    COMMISSION_EARNED = "commission_earned"  # 佣金入账
    COMMISSION_SETTLED = "commission_settled"  # 佣金结算
    WITHDRAWAL_STATUS = "withdrawal_status"  # 提现进度
    TEAM_MEMBER_JOINED = "team_member_joined"  # 新成员加入


MiniProgramState = Literal["formal", "trial", "developer"]

# ---- WeChat's value types -------------------------------------------------------------------

#: The keyword types of subscribe-message templates and what a value of each may hold
#: (WeChat's "参数值内容限制"). Types without a source here (letter, symbol, phone_number,
#: car_number) can still carry a fixed ``text:``.
VALUE_TYPES: tuple[str, ...] = ("thing", "number", "letter", "symbol", "character_string", "time", "date", "amount",
                                "phone_number", "car_number", "name", "phrase")
KEYWORD = re.compile(r"^(" + "|".join(sorted(VALUE_TYPES, key=len, reverse=True)) + r")([0-9]{1,3})$")
THING_MAX = 20
CHARACTER_STRING_MAX = 32
NAME_MAX = 10
PHRASE_MAX = 5
AMOUNT_DIGITS_MAX = 10
TEXT_PREFIX = "text:"
_CHARACTER_STRING = re.compile(r"^[\x21-\x7e]{1,32}$")
_PHRASE = re.compile(r"^[\u4e00-\u9fff]{1,5}$")
_NUMBER = re.compile(r"^[0-9]{1,32}(\.[0-9]+)?$")
_LETTER = re.compile(r"^[A-Za-z]{1,32}$")
_SYMBOL = re.compile(r"^[^\w\s]{1,5}$")
_PHONE = re.compile(r"^[0-9+\-() ]{1,17}$")

#: What fills a keyword. Per event the sources it has; per source the keyword types it may go in.
SOURCES: Mapping[NotificationKind, frozenset[str]] = {
    NotificationKind.COMMISSION_EARNED: frozenset({"amount", "order_no", "product", "level", "status", "time"}),
    NotificationKind.COMMISSION_SETTLED: frozenset({"amount", "order_no", "product", "level", "status", "time"}),
    NotificationKind.WITHDRAWAL_STATUS: frozenset({"amount", "net_amount", "fee", "status", "reason", "withdrawal_no",
                                                   "time"}),
    NotificationKind.TEAM_MEMBER_JOINED: frozenset({"nickname", "source", "time"}),
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
}
#: Page placeholders each event can fill (``{commission_id}`` in ``pages/x?id={commission_id}``).
PAGE_PLACEHOLDERS: Mapping[NotificationKind, frozenset[str]] = {
    NotificationKind.COMMISSION_EARNED: frozenset({"commission_id", "order_id"}),
    NotificationKind.COMMISSION_SETTLED: frozenset({"commission_id", "order_id"}),
    NotificationKind.WITHDRAWAL_STATUS: frozenset({"withdrawal_id", "status"}),
    NotificationKind.TEAM_MEMBER_JOINED: frozenset(),
}
_PAGE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*(\?[A-Za-z0-9_\-=&{}.%]*)?$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

#: Withdrawal statuses in Chinese (phrase: ≤ 5 Chinese characters).
WITHDRAWAL_STATUS_TEXT: Mapping[str, str] = {
    "PENDING_REVIEW": "待审核", "APPROVED": "审核通过", "PAYING": "打款中", "PAID": "已到账", "FAILED": "打款失败",
    "REJECTED": "已驳回",
}
#: What the reason keyword says when the change itself gives none.
WITHDRAWAL_STATUS_NOTE: Mapping[str, str] = {
    "PENDING_REVIEW": "等待审核", "APPROVED": "审核通过，等待打款", "PAYING": "请在小程序内确认收款",
    "PAID": "提现已到账", "FAILED": "打款失败，金额已退回余额", "REJECTED": "已驳回，金额已退回余额",
}
_FAIL_REASONS: Mapping[str, str] = {
    "BILL_CANCELLED": "超时未确认收款，已退回", "BILL_FAILED": "转账失败，已退回",
    "payee_has_no_openid": "收款账户无效，已退回",
    "outstanding_debt": "有欠款，已取消并先抵扣欠款",  # mall.domain.withdrawals.DEBT_CANCEL_REASON
}
WithdrawalStatusName = Literal["APPROVED", "PAYING", "PAID", "FAILED", "REJECTED"]
BIND_SOURCE_TEXT: Mapping[str, str] = {"link": "分享链接", "qr": "扫码", "poster": "海报", "invite_code": "邀请码",
                                       "admin": "后台绑定"}
LEVEL_TEXT: Mapping[int, str] = {1: "一级", 2: "二级"}


def _errors(title: str, problems: list[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """A validation error located at the offending field (``commission_earned.fields.thing1``); the
    settings document prefixes ``notifications.`` (same technique as ``mall.domain.settings``)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("notification_rule", message.replace("{", "(").replace("}", ")")),
                         loc=loc, input=value)
        for loc, message, value in problems
    ])


def keyword_type(keyword: str) -> str | None:
    """``thing`` for ``thing12``; None when the keyword names no WeChat value type."""
    match = KEYWORD.match(keyword)
    return match.group(1) if match else None


_AMOUNT = re.compile(r"^-?[¥￥$]?[0-9]{1,10}(\.[0-9]{1,2})?元?$")
#: Per type: does a text fit, and what to say when it does not.
_FITS: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "thing": (lambda t: len(t) <= THING_MAX, f"a thing holds at most {THING_MAX} characters"),
    "character_string": (lambda t: bool(_CHARACTER_STRING.match(t)),
                         f"a character_string holds 1-{CHARACTER_STRING_MAX} letters, digits or symbols"),
    "phrase": (lambda t: bool(_PHRASE.match(t)), f"a phrase holds 1-{PHRASE_MAX} Chinese characters"),
    "name": (lambda t: len(t) <= NAME_MAX, f"a name holds at most {NAME_MAX} characters"),
    "number": (lambda t: bool(_NUMBER.match(t)), "a number holds digits (a decimal point allowed)"),
    "letter": (lambda t: bool(_LETTER.match(t)), "a letter value holds 1-32 letters"),
    "symbol": (lambda t: bool(_SYMBOL.match(t)), "a symbol value holds 1-5 symbols"),
    "phone_number": (lambda t: bool(_PHONE.match(t)), "a phone_number holds up to 17 digits and symbols"),
    "car_number": (lambda t: len(t) <= 8, "a car_number holds at most 8 characters"),
    "amount": (lambda t: bool(_AMOUNT.match(t)), "an amount is a currency sign and up to 10 digits (¥12.34)"),
}


def text_fits(value_type: str, text: str) -> str | None:
    """Why ``text`` cannot be a value of ``value_type`` (None when it can)."""
    if not text:
        return "must not be empty"
    check = _FITS.get(value_type)
    if check is None or check[0](text):
        return None
    return check[1]


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
}
_DEFAULT_PAGES: Mapping[NotificationKind, str] = {
    NotificationKind.COMMISSION_EARNED: "pages/promoter/commissions/index?commission_id={commission_id}",
    NotificationKind.COMMISSION_SETTLED: "pages/promoter/commissions/index?commission_id={commission_id}",
    NotificationKind.WITHDRAWAL_STATUS: "pages/promoter/withdrawals/detail?withdrawal_id={withdrawal_id}",
    NotificationKind.TEAM_MEMBER_JOINED: "pages/promoter/team/index",
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
        unknown = sorted(set(_PLACEHOLDER.findall(config.page)) - PAGE_PLACEHOLDERS[kind])
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


# ---- formatting -----------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM`` in China time (the promoter's clock)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def format_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d")


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis replacing the cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def mask_order_no(order_id: str) -> str:
    """``o_01hx****k3zq``: the promoter recognises the order, the message does not carry its id."""
    if len(order_id) <= 10:
        return order_id[:2] + "****"
    return f"{order_id[:6]}****{order_id[-4:]}"


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Facts:
    """An event's raw values; ``render`` formats them into the template's keywords."""

    amounts: Mapping[str, int] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    moment: datetime | None = None


def _render_value(source: str, value_type: str, facts: _Facts, now: datetime) -> str:
    if source.startswith(TEXT_PREFIX):
        text = source[len(TEXT_PREFIX):]
    elif source in facts.amounts:
        text = yuan_ungrouped(facts.amounts[source])  # a template value allows no thousands separator
        if value_type == "amount" and len(text.lstrip("-¥").split(".")[0]) > AMOUNT_DIGITS_MAX:
            text = "¥9999999999.99"  # cannot happen with real amounts; never send an invalid value
    elif source == "time":
        moment = facts.moment or now
        text = format_date(moment) if value_type == "date" else format_time(moment)
    else:
        text = facts.texts.get(source) or "无"
    if value_type in {"thing"}:
        return truncate(text, THING_MAX)
    if value_type == "name":
        return truncate(text, NAME_MAX)
    if value_type == "phrase":
        chinese = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
        return (chinese or "无")[:PHRASE_MAX]
    if value_type == "character_string":
        ascii_only = "".join(ch for ch in text if "\x21" <= ch <= "\x7e")
        return (ascii_only or "-")[:CHARACTER_STRING_MAX]
    return text


def render(fields: Mapping[str, str], facts: _Facts, now: datetime) -> dict[str, str]:
    """Keyword → value, each within its type's limit (``now`` stands in for a missing time)."""
    data: dict[str, str] = {}
    for keyword, source in fields.items():
        value_type = keyword_type(keyword) or "thing"
        data[keyword] = _render_value(source, value_type, facts, now)
    return data


# ---- deciding -------------------------------------------------------------------------------


class ChangeLike(Protocol):
    """What ``mall.dal.changes.Change`` carries (the domain does not import the data layer)."""

    @property
    def event_id(self) -> str: ...

    @property
    def old(self) -> Mapping[str, Any] | None: ...

    @property
    def new(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Notification:
    """One subscribe message to send: to ``recipient_id`` (a user id; the openid is looked up)."""

    kind: NotificationKind
    event_id: str
    recipient_id: str
    template_id: str
    page: str | None
    miniprogram_state: MiniProgramState
    data: Mapping[str, str]
    subject: Mapping[str, str]

    @property
    def notification_id(self) -> str:
        """Stable across redeliveries of the change: the dedupe key."""
        return f"{self.event_id}#{self.kind.value}"


def _entity(image: Mapping[str, Any] | None) -> str | None:
    value = (image or {}).get("entity")
    return str(value) if value is not None else None


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return default


def _page(template: str | None, values: Mapping[str, str]) -> str | None:
    if not template:
        return None
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


Decision = tuple[NotificationKind, str, _Facts, dict[str, str]]


def _commission(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    beneficiary = str(new.get("beneficiary_id") or "")
    subject = {"commission_id": str(new.get("commission_id") or ""), "order_id": str(new.get("order_id") or "")}
    texts = {"order_no": mask_order_no(subject["order_id"]), "product": str(new.get("product_name") or ""),
             "level": LEVEL_TEXT.get(_int(new.get("level")), "")}
    if old is None and new.get("status") == CommissionStatus.FROZEN.value:
        facts = _Facts(amounts={"amount": _int(new.get("amount_fen"))}, texts={**texts, "status": "待结算"},
                       moment=_when(new.get("created_at")))
        return NotificationKind.COMMISSION_EARNED, beneficiary, facts, subject
    if (old is not None and _entity(old) == "commission" and old.get("status") == CommissionStatus.FROZEN.value
            and new.get("status") == CommissionStatus.SETTLED.value):
        settled = new.get("settled_fen")
        amount = _int(settled) if settled is not None else (
            _int(new.get("amount_fen")) - _int(new.get("cancelled_fen")) - _int(new.get("clawed_back_fen")))
        facts = _Facts(amounts={"amount": amount}, texts={**texts, "status": "已结算"},
                       moment=_when(new.get("settled_at")))
        return NotificationKind.COMMISSION_SETTLED, beneficiary, facts, subject
    return None


def _withdrawal(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                settings: NotificationSettings) -> Decision | None:
    if old is None or _entity(old) != "withdrawal":
        return None  # a new request is not a change of status
    status = str(new.get("status") or "")
    if status == old.get("status") or status not in settings.withdrawal_statuses:
        return None
    given = new.get("reason") if status == "REJECTED" else new.get("fail_reason") if status == "FAILED" else None
    reason = _FAIL_REASONS.get(str(given), str(given)) if given else WITHDRAWAL_STATUS_NOTE.get(status, "")
    moment = (_when(new.get(f"{status.lower()}_at")) or _when(_last_timeline_at(new))
              or _when(new.get("updated_at")))
    withdrawal_id = str(new.get("withdrawal_id") or "")
    facts = _Facts(amounts={"amount": _int(new.get("amount_fen")), "net_amount": _int(new.get("net_fen")),
                            "fee": _int(new.get("fee_fen"))},
                   texts={"status": WITHDRAWAL_STATUS_TEXT.get(status, status), "reason": reason,
                          "withdrawal_no": withdrawal_id}, moment=moment)
    return (NotificationKind.WITHDRAWAL_STATUS, str(new.get("promoter_id") or ""), facts,
            {"withdrawal_id": withdrawal_id, "status": status})


def _binding(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    parent = new.get("parent_id")
    if not parent or (old is not None and _entity(old) == "binding" and old.get("parent_id") == parent):
        return None  # unbound, or the same parent (a counter moved)
    facts = _Facts(texts={"nickname": mask_nickname(_str_or_none(new.get("nickname"))),
                          "source": BIND_SOURCE_TEXT.get(str(new.get("source") or ""), "推广")},
                   moment=_when(new.get("bound_at")))
    return NotificationKind.TEAM_MEMBER_JOINED, str(parent), facts, {"member_id": str(new.get("user_id") or "")}


def _decide(change: ChangeLike, settings: NotificationSettings) -> Decision | None:
    """(kind, recipient, facts, subject) of the one notification ``change`` causes, if any."""
    new = change.new
    if new is None:
        return None
    entity = _entity(new)
    if entity == "commission":
        return _commission(change.old, new)
    if entity == "withdrawal":
        return _withdrawal(change.old, new, settings)
    if entity == "binding":
        return _binding(change.old, new)
    return None


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None


def _last_timeline_at(image: Mapping[str, Any]) -> object:
    timeline = image.get("timeline")
    if isinstance(timeline, list) and timeline and isinstance(timeline[-1], Mapping):
        return timeline[-1].get("at")
    return None


def notifications_for(change: ChangeLike, settings: NotificationSettings, *,
                      now: datetime | None = None) -> list[Notification]:
    """The subscribe messages ``change`` causes under ``settings`` (none for most changes). ``now``
    only fills a time the change's image lacks (images always carry theirs)."""
    decided = _decide(change, settings)
    if decided is None:
        return []
    kind, recipient, facts, subject = decided
    config = settings.template(kind)
    if not config.enabled or not config.template_id or not recipient:
        return []
    return [Notification(kind=kind, event_id=change.event_id, recipient_id=recipient, template_id=config.template_id,
                         page=_page(config.page, subject), miniprogram_state=config.miniprogram_state,
                         data=render(config.fields, facts, now or datetime.now(UTC)), subject=subject)]
