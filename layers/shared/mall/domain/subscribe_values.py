"""WeChat subscribe-message values (订阅消息的参数值): the keyword types of a template (``thing1``,
``amount2``, ``time3`` …), what a value of each type may hold (WeChat's "参数值内容限制"), and how an
event's raw values are formatted to fit: thing ≤ 20 characters, amount ``¥12.34`` from integer fen,
time ``YYYY-MM-DD HH:MM`` China time, phrase ≤ 5 Chinese characters … WeChat refuses the whole
message (47003) for one value out of range, so every value is cut to its type's limit. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mall.clock import CHINA
from mall.domain.money import yuan_ungrouped

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


@dataclass(frozen=True)
class Facts:
    """An event's raw values; ``render`` formats them into the template's keywords."""

    amounts: Mapping[str, int] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    moment: datetime | None = None


def _render_value(source: str, value_type: str, facts: Facts, now: datetime) -> str:
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


def render(fields: Mapping[str, str], facts: Facts, now: datetime) -> dict[str, str]:
    """Keyword → value, each within its type's limit (``now`` stands in for a missing time)."""
    data: dict[str, str] = {}
    for keyword, source in fields.items():
        value_type = keyword_type(keyword) or "thing"
        data[keyword] = _render_value(source, value_type, facts, now)
    return data

