"""The merchant's customers (用户管理): how a nickname is searched, what a tag may be called, which
filters a customer matches and what a customer has spent. Pure: no storage, no I/O.

Search policy (docs/customers.md): a nickname is searched by **prefix** (case-folded, NFKC), served
by an index; an exact phone by its keyed hash (the plain number is never stored in clear, never
sent to the table as a key); the other filters (user id, bound promoter, tag, registration dates)
each by a key of their own. Whichever filter is the most selective reads the index; the others
are checked on the customers that index returns."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mall.domain.refund_ids import paid_after_expiry_refund_id, refund_id_for
from mall.errors import Conflict, FieldProblem, InvalidInput

#: Tag names are short labels (用户标签): 1 to this many characters.
TAG_NAME_MAX = 20
#: Tag definitions a merchant may keep: the list of tags is one read.
MAX_TAGS = 100
#: Tags one customer may carry: the profile keeps their ids.
MAX_TAGS_PER_CUSTOMER = 20
#: Shortest nickname prefix searched (one character spreads over one index partition).
NICKNAME_PREFIX_MIN = 1
#: Orders statuses whose amount was never kept by the merchant (paid after expiry: refunded at once).
_NOT_SPENT = frozenset({"PAID_AFTER_EXPIRY"})

Driver = Literal["user", "phone", "tag", "promoter", "nickname", "registered"]


def fold_nickname(nickname: str) -> str:
    """The searchable form of a nickname: NFKC (full-width → half-width), case-folded, no spaces
    around it. Two nicknames that look the same to a person fold to the same text."""
    return unicodedata.normalize("NFKC", nickname).casefold().strip()


def nickname_shard(folded: str) -> str:
    """The index partition of a folded nickname: its first character."""
    return folded[:1]


def check_nickname_query(text: str) -> str:
    folded = fold_nickname(text)
    if len(folded) < NICKNAME_PREFIX_MIN or "#" in folded:
        raise InvalidInput("nickname must be the start of a nickname (no '#')",
                           fields=[FieldProblem("query:nickname", "one character or more, without '#'")])
    return folded


def check_tag_name(name: str, field: str = "name") -> tuple[str, str]:
    """The tag's name as shown (stripped) and as reserved (folded); 422 naming ``field`` otherwise."""
    shown = name.strip()
    if not 1 <= len(shown) <= TAG_NAME_MAX:
        raise InvalidInput("a tag name is 1 to 20 characters",
                           fields=[FieldProblem(field, f"1 to {TAG_NAME_MAX} characters")])
    return shown, fold_nickname(shown)


def check_tag_room(existing: int) -> None:
    if existing >= MAX_TAGS:
        raise Conflict(f"at most {MAX_TAGS} tags; delete one first", code="too_many_tags",
                       details={"limit": MAX_TAGS})


def check_customer_tag_room(carried: int) -> None:
    if carried >= MAX_TAGS_PER_CUSTOMER:
        raise Conflict(f"a customer carries at most {MAX_TAGS_PER_CUSTOMER} tags", code="too_many_customer_tags",
                       details={"limit": MAX_TAGS_PER_CUSTOMER})


@dataclass(frozen=True)
class CustomerFilter:
    """What the merchant searches by; every field given must hold (AND)."""

    user_id: str | None = None
    phone_hash: str | None = None
    nickname_prefix: str | None = None  # folded
    promoter_id: str | None = None
    tag_id: str | None = None
    registered_from: datetime | None = None  # inclusive
    registered_before: datetime | None = None  # exclusive

    def driver(self) -> Driver:
        """The filter whose index reads the fewest customers: an exact id, then a phone, a tag's
        members, a promoter's team, a nickname prefix, and last the registration index (dates as
        its key condition)."""
        if self.user_id is not None:
            return "user"
        if self.phone_hash is not None:
            return "phone"
        if self.tag_id is not None:
            return "tag"
        if self.promoter_id is not None:
            return "promoter"
        if self.nickname_prefix is not None:
            return "nickname"
        return "registered"


@dataclass(frozen=True)
class CustomerFacts:
    """What the filters look at: the profile's fields and the customer's current parent."""

    user_id: str
    created_at: str
    nickname: str | None
    phone_hash: str | None
    tags: frozenset[str]
    parent_id: str | None


def matches(f: CustomerFilter, c: CustomerFacts) -> bool:
    checks = (
        f.user_id is None or c.user_id == f.user_id,
        f.phone_hash is None or c.phone_hash == f.phone_hash,
        f.nickname_prefix is None or fold_nickname(c.nickname or "").startswith(f.nickname_prefix),
        f.promoter_id is None or c.parent_id == f.promoter_id,
        f.tag_id is None or f.tag_id in c.tags,
        f.registered_from is None or c.created_at >= _iso(f.registered_from),
        f.registered_before is None or c.created_at < _iso(f.registered_before),
    )
    return all(checks)


def _iso(moment: datetime) -> str:
    from mall.clock import iso

    return iso(moment)


def order_spend_fen(order: Mapping[str, Any]) -> int:
    """What one order still brought the merchant: the amount paid less every refund that succeeded
    (lines and shipping); 0 for an order never paid or paid after it expired (refunded whole)."""
    if not order.get("paid_at") or order.get("status") in _NOT_SPENT:
        return 0
    refunded = sum(int(line.get("refunded_fen", 0)) for line in order.get("lines") or [])
    refunded += int(order.get("shipping_refunded_fen", 0))
    return max(int(order.get("amount_fen", 0)) - refunded, 0)


def lifetime_spend_fen(orders: Iterable[Mapping[str, Any]]) -> int:
    """消费总额: Σ of ``order_spend_fen`` over the customer's orders (integer fen)."""
    return sum(order_spend_fen(order) for order in orders)


def refund_ids_of(order: Mapping[str, Any]) -> list[str]:
    """The refund numbers an order can hold: ``<order_id>-r1..n`` from its counter, and ``rx<order_id>``
    when it was paid after it expired."""
    order_id = str(order["order_id"])
    found = [refund_id_for(order_id, n) for n in range(int(order.get("refund_count", 0)), 0, -1)]
    if order.get("status") == "PAID_AFTER_EXPIRY":
        found.append(paid_after_expiry_refund_id(order_id))
    return found
