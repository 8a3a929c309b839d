"""What a bind or a share visit reads, in at most two consistent BatchGetItem calls, the second
asking only for the keys the first revealed:

1. the settings in force, the customer's binding, profile and promoter record, the invite code's
   link (and the promoter's records when the caller already knows who it is), the rate counter of
   the visit's source;
2. the promoter's record and binding (its parent: the new grandparent), the old parent's binding
   (the old grandparent), today's "seen" markers of the visit's sources.

The rest of the promoter's upline is walked only when the customer has a team of their own: a
customer nobody is bound to cannot be anyone's ancestor, so no binding of theirs can close a cycle
(the bind transaction checks that this still holds: ``BindPlan.customer_not_a_promoter`` and
``BindPlan.customer_direct_members``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mall.dal.keys import (
    SETTINGS_CURRENT_KEY,
    binding_key,
    code_key,
    customer_profile_key,
    promoter_key,
    purchase_key,
    visit_rate_key,
    visit_seen_key,
)
from mall.dal.referral.promoters import CustomerFacts, customer_facts
from mall.dal.referral.records import binding_from_item, promoter_from_item
from mall.dal.request_markers import MarkedRequest, MarkerState
from mall.dal.settings import SettingsVersion, current_from_item
from mall.dal.table import Item, Key, Table
from mall.domain.referral.model import Binding, Promoter


@dataclass(frozen=True)
class BindFacts:
    """Everything deciding a bind needs, as stored when read (consistent reads)."""

    settings: SettingsVersion
    customer: CustomerFacts
    current: Binding | None  # the customer's binding
    own: Promoter | None  # the customer's own promoter record (their team's counters)
    promoter_id: str | None  # None: no promoter has this code
    promoter: Promoter | None
    promoter_parent: str | None  # the promoter's own parent: the new grandparent
    old_grandparent: str | None  # the parent of the customer's current parent

    @property
    def customer_has_team(self) -> bool:
        """Someone is bound to the customer: a bind of theirs must walk the promoter's upline."""
        return self.own is not None and self.own.direct_members > 0


@dataclass(frozen=True)
class VisitFacts:
    """What recording a share visit needs: the code's promoter, the source's rate counter, which
    of the visit's sources were already seen today, and, for a logged-in visitor, the bind facts."""

    promoter_id: str | None
    promoter: Promoter | None
    settings: SettingsVersion
    rate_hits: int
    seen: frozenset[str] = field(default_factory=frozenset)
    bind: BindFacts | None = None
    also: tuple[Item, ...] = ()  # the items of ``for_visit``'s ``also`` that exist


_Found = dict[tuple[str, str], Item]


def _k(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


@dataclass(frozen=True)
class ApplicationFacts:
    """What deciding a promoter application needs: the settings in force, the applicant's promoter
    record and profile, and the live marker of the request's Idempotency-Key."""

    settings: SettingsVersion
    existing: Promoter | None
    customer: CustomerFacts
    marker: MarkerState | None


class ReferralReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _batch(self, keys: Iterable[Key]) -> dict[tuple[str, str], Item]:
        wanted = list({_k(k): k for k in keys}.values())
        if not wanted:
            return {}
        return {(str(i["pk"]), str(i["sk"])): i for i in self._table.batch_get(wanted, consistent=True)}

    def for_bind(self, customer_id: str, *, promoter_id: str | None = None, code: str | None = None) -> BindFacts:
        """The bind facts of ``customer_id`` under ``promoter_id`` (or the promoter of ``code``)."""
        facts, _, _ = self._read(customer_id, promoter_id=promoter_id, code=code)
        if facts is None:  # only a read without a customer has none
            raise TypeError("a bind needs a customer")
        return facts

    def for_bind_with(self, customer_id: str, *, code: str, also: Sequence[Key]) -> tuple[BindFacts, list[Item]]:
        """``for_bind`` by ``code``, with ``also`` (another use case's own items, e.g. the coupon
        template a claim through a share takes) read in its first BatchGetItem: still two
        BatchGetItems. Returns the facts and the items of ``also`` that exist."""
        facts, first, _ = self._read(customer_id, code=code, first_extra=also)
        if facts is None:  # only a read without a customer has none
            raise TypeError("a bind needs a customer")
        return facts, [first[_k(k)] for k in also if _k(k) in first]

    def for_application(self, user_id: str, marked: MarkedRequest | None) -> ApplicationFacts:
        keys = [SETTINGS_CURRENT_KEY, promoter_key(user_id), customer_profile_key(user_id)]
        items = self._table.batch_get([*keys, *([marked.marker.key] if marked else [])], consistent=True)
        found = {(str(i["pk"]), str(i["sk"])): i for i in items}
        existing = found.get(_k(promoter_key(user_id)))
        return ApplicationFacts(settings=current_from_item(found.get(_k(SETTINGS_CURRENT_KEY))),
                                existing=promoter_from_item(existing) if existing else None,
                                customer=customer_facts(user_id, found.get(_k(customer_profile_key(user_id)))),
                                marker=marked.found(items) if marked else None)

    def paid_quantities(self, user_id: str, product_ids: Sequence[str]) -> dict[str, int]:
        """How many of each product the customer has paid for (one BatchGetItem; 0 when never)."""
        found = self._batch(purchase_key(user_id, pid) for pid in product_ids)
        return {pid: int(found.get(_k(purchase_key(user_id, pid)), {}).get("paid_quantity", 0))
                for pid in product_ids}

    def for_visit(self, *, code: str, visitor_id: str | None, rate_source: str | None, rate_window: int,
                  day: str, sources: Sequence[str], with_bind: bool, also: Sequence[Key] = ()) -> VisitFacts:
        """``with_bind``: read the visitor's bind facts too (a logged-in visitor; the settings decide
        whether the visit binds). ``also``: another use case's own items, read in the first
        BatchGetItem (a coupon template claimed through the share)."""
        rate = visit_rate_key(rate_source, rate_window) if rate_source else None
        promoter: Promoter | None = None
        bind, first, second = self._read(visitor_id if with_bind else None, code=code,
                                         first_extra=[*([rate] if rate else []), *also],
                                         second_extra=lambda uid: [visit_seen_key(uid, day, fp) for fp in sources])
        settings = bind.settings if bind is not None else current_from_item(first.get(_k(SETTINGS_CURRENT_KEY)))
        link = first.get(_k(code_key(code)))
        promoter_id = str(link["user_id"]) if link else None
        if promoter_id is not None and (item := second.get(_k(promoter_key(promoter_id)))) is not None:
            promoter = promoter_from_item(item)
        hits = int(first[_k(rate)].get("hits", 0)) if rate and _k(rate) in first else 0
        seen = frozenset(fp for fp in sources
                         if promoter_id is not None and _k(visit_seen_key(promoter_id, day, fp)) in second)
        return VisitFacts(promoter_id=promoter_id, promoter=promoter, settings=settings, rate_hits=hits, seen=seen,
                          bind=bind, also=tuple(first[_k(k)] for k in also if _k(k) in first))

    def _read(self, customer_id: str | None, *, promoter_id: str | None = None, code: str | None = None,
              first_extra: Sequence[Key] = (),
              second_extra: Callable[[str], Sequence[Key]] | None = None) -> tuple[BindFacts | None, _Found, _Found]:
        keys: list[Key] = [SETTINGS_CURRENT_KEY, *first_extra]
        if customer_id is not None:
            keys += [binding_key(customer_id), customer_profile_key(customer_id), promoter_key(customer_id)]
        if code is not None:
            keys.append(code_key(code))
        if promoter_id is not None:
            keys += [promoter_key(promoter_id), binding_key(promoter_id)]
        first = self._batch(keys)
        if promoter_id is None and code is not None and (link := first.get(_k(code_key(code)))) is not None:
            promoter_id = str(link["user_id"])
        current_item = first.get(_k(binding_key(customer_id))) if customer_id is not None else None
        current = binding_from_item(current_item) if current_item else None
        later: list[Key] = []
        if promoter_id is not None and _k(promoter_key(promoter_id)) not in first:
            later += [promoter_key(promoter_id), binding_key(promoter_id)]
        if current is not None and current.parent_id != customer_id:
            later.append(binding_key(current.parent_id))
        if promoter_id is not None and second_extra is not None:
            later += second_extra(promoter_id)
        second = {**first, **self._batch(k for k in later if _k(k) not in first)}
        if customer_id is None:
            return None, first, second
        promoter_item = second.get(_k(promoter_key(promoter_id))) if promoter_id else None
        parent_item = second.get(_k(binding_key(promoter_id))) if promoter_id else None
        old_parent_item = second.get(_k(binding_key(current.parent_id))) if current else None
        own_item = first.get(_k(promoter_key(customer_id)))
        facts = BindFacts(
            settings=current_from_item(first.get(_k(SETTINGS_CURRENT_KEY))),
            customer=customer_facts(customer_id, first.get(_k(customer_profile_key(customer_id)))),
            current=current, own=promoter_from_item(own_item) if own_item else None, promoter_id=promoter_id,
            promoter=promoter_from_item(promoter_item) if promoter_item else None,
            promoter_parent=str(parent_item["parent_id"]) if parent_item else None,
            old_grandparent=str(old_parent_item["parent_id"]) if old_parent_item else None)
        return facts, first, second

