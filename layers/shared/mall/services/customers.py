"""The merchant's customers (用户管理): search and one customer's detail (docs/customers.md).

Search reads ONE index, chosen by the most selective filter given (``CustomerFilter.driver``): a
user id is a key, a phone its keyed hash's index entry, a tag its members, a promoter their team,
a nickname its prefix, and otherwise the registration index (dates as its key condition). The
other filters are checked on what that index returns, so a page may be short; ``next_cursor`` goes
on. Every page is at most three round trips: the index Query, one BatchGetItem of the page's
profiles and bindings, one of the tags they carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.customers import CustomerDirectory, Tag
from mall.dal.keys import customer_search_partition
from mall.domain.customers import (
    CustomerFacts,
    CustomerFilter,
    lifetime_spend_fen,
    matches,
    refund_ids_of,
)
from mall.domain.masking import is_erased, mask_nickname
from mall.domain.normalise import normalise_phone
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.integrations import pii_crypto
from mall.schemas.binding import BindingHistoryEntry, BindingView
from mall.schemas.customers import (
    CustomerDetail,
    CustomerOrderRow,
    CustomerPage,
    CustomerPromoterFacts,
    CustomerRefundRow,
    CustomerSummary,
    CustomerTagRef,
)

if TYPE_CHECKING:
    from mall.dal.table import Item, Page

#: Orders read for the detail's spend: two pages of the buyer index (~2,000 orders), so the detail
#: stays within the admin round-trip target; beyond it the total is marked incomplete.
SPEND_ORDER_PAGES = 2
DETAIL_ORDERS = 20
DETAIL_REFUNDS = 50
DETAIL_HISTORY = 20


def phone_hash(phone: str) -> str:
    """The keyed hash the profile's phone is searched by (the fraud scan's ``phone`` fingerprint:
    HMAC-SHA256 with the personal-data key over the normalised number). 422 for a non-number."""
    digits = normalise_phone(phone)
    if not 5 <= len(digits) <= 20 or any(not ch.isdigit() and ch not in " +-()" for ch in phone):
        raise InvalidInput("phone must be a phone number", fields=[FieldProblem("query:phone", "5 to 20 digits")])
    return pii_crypto.fingerprint(digits, kind="phone")


def _driver_value(f: CustomerFilter) -> str | None:
    return {"phone": f.phone_hash, "tag": f.tag_id, "promoter": f.promoter_id,
            "nickname": f.nickname_prefix}.get(f.driver())


def _within(f: CustomerFilter, start: Mapping[str, Any]) -> bool:
    """Whether a page position lies inside the driving index's key condition."""
    sort_key = str(start.get("gsi2sk", ""))
    driver = f.driver()
    if driver == "nickname" and f.nickname_prefix:
        return sort_key.startswith(f.nickname_prefix)
    if driver == "registered":
        return ((f.registered_from is None or sort_key >= iso(f.registered_from))
                and (f.registered_before is None or sort_key < iso(f.registered_before)))
    return True


def _read_driver(directory: CustomerDirectory, f: CustomerFilter, *, limit: int, start: Any) -> Page:
    driver = f.driver()
    if driver == "phone" and f.phone_hash:
        return directory.by_phone(f.phone_hash, limit=limit, start_key=start)
    if driver == "tag" and f.tag_id:
        return directory.by_tag(f.tag_id, limit=limit, start_key=start)
    if driver == "promoter" and f.promoter_id:
        return directory.by_promoter(f.promoter_id, limit=limit, start_key=start)
    if driver == "nickname" and f.nickname_prefix:
        return directory.by_nickname(f.nickname_prefix, limit=limit, start_key=start)
    return directory.registered(registered_from=f.registered_from, registered_before=f.registered_before,
                                limit=limit, start_key=start)


def _facts(profile: Item, binding: Item | None) -> CustomerFacts:
    return CustomerFacts(user_id=str(profile["user_id"]), created_at=str(profile.get("created_at", "")),
                         nickname=profile.get("nickname"),
                         phone_hash=None if is_erased(profile.get("phone_enc")) else profile.get("phone_fp"),
                         tags=frozenset(profile.get("tags") or ()),
                         parent_id=str(binding["parent_id"]) if binding else None)


def summary(profile: Item, binding: Item | None, tags: Mapping[str, Tag],
            promoter_status: str | None = None) -> CustomerSummary:
    erased = bool(profile.get("erased_at"))
    phone = profile.get("phone_masked") if profile.get("phone_enc") and not is_erased(profile.get("phone_enc")) \
        else None
    carried = sorted((tags[t] for t in profile.get("tags") or () if t in tags), key=lambda t: t.name)
    return CustomerSummary(
        user_id=str(profile["user_id"]), nickname=mask_nickname(profile.get("nickname")), phone=phone,
        registered_at=str(profile.get("created_at", "")), promoter_status=promoter_status,
        bound_promoter_id=str(binding["parent_id"]) if binding else None,
        tags=[CustomerTagRef(tag_id=t.tag_id, name=t.name) for t in carried],
        paid_order_count=int(profile.get("paid_order_count", 0)), erased=erased)


def list_customers(*, directory: CustomerDirectory, search: CustomerFilter, limit: int,
                   cursor: str | None) -> CustomerPage:
    """One page of customers matching every filter, in the driving index's order (newest first for
    registrations, tags and teams). A cursor of another search is a 422 ``invalid_cursor``."""
    if search.user_id is not None:
        return _one_customer(directory, search)
    pk_name, pk_value = customer_search_partition(search.driver(), _driver_value(search))
    start = cursors.decode(cursor, partition=(pk_name, pk_value))
    if start is not None and not _within(search, start):
        # DynamoDB refuses a start key outside the query's key condition: a cursor of another range
        # or prefix is the caller's mistake, not a server error.
        raise InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                           fields=[FieldProblem("query:cursor", "not a cursor returned by this search")])
    page = _read_driver(directory, search, limit=limit, start=start)
    driver = search.driver()
    if driver == "registered":
        user_ids = [str(i["user_id"]) for i in page.items]
        given = {str(i["user_id"]): i for i in page.items}
    else:
        user_ids = [str(i["user_id"]) for i in page.items if i.get("user_id")]
        given = {}
    profiles, bindings = directory.profiles_and_bindings(user_ids, with_profiles=not given)
    profiles |= given
    chosen = [(profiles[u], bindings.get(u)) for u in user_ids
              if u in profiles and matches(search, _facts(profiles[u], bindings.get(u)))]
    tags = directory.tags(t for p, _ in chosen for t in p.get("tags") or ())
    return CustomerPage(items=[summary(p, b, tags) for p, b in chosen], next_cursor=cursors.encode(page.last_key))


def _one_customer(directory: CustomerDirectory, search: CustomerFilter) -> CustomerPage:
    user_id = str(search.user_id)
    profiles, bindings = directory.profiles_and_bindings([user_id], with_profiles=True)
    profile = profiles.get(user_id)
    if profile is None or not matches(search, _facts(profile, bindings.get(user_id))):
        return CustomerPage(items=[], next_cursor=None)
    tags = directory.tags(profile.get("tags") or ())
    return CustomerPage(items=[summary(profile, bindings.get(user_id), tags)], next_cursor=None)


def customer_detail(*, directory: CustomerDirectory, user_id: str) -> CustomerDetail:
    """The masked profile, the latest orders and their refunds, the binding and its history, what
    the customer spent (from the buyer's order index) and their promoter record: four round trips
    (five when the customer has over ~1,000 orders)."""
    profile, promoter, binding = directory.customer_items(user_id)
    if profile is None:
        raise NotFound("no such customer", code="customer_not_found")
    history = directory.binding_history(user_id, limit=DETAIL_HISTORY)
    orders, complete = directory.buyer_orders(user_id, max_pages=SPEND_ORDER_PAGES)
    refund_keys = [(str(o["order_id"]), r) for o in orders for r in refund_ids_of(o)][:DETAIL_REFUNDS]
    refunds, tags = directory.refunds_and_tags(refund_keys, profile.get("tags") or ())
    order_rank = {str(o["order_id"]): n for n, o in enumerate(orders)}
    refunds.sort(key=lambda r: (order_rank.get(str(r.get("order_id")), 0), str(r.get("created_at", ""))))
    return CustomerDetail(
        customer=summary(profile, binding, tags, promoter_status=promoter.get("status") if promoter else None),
        lifetime_spend_fen=lifetime_spend_fen(orders), spend_complete=complete,
        orders=[CustomerOrderRow(order_id=str(o["order_id"]), status=str(o["status"]),
                                 amount_fen=int(o.get("amount_fen", 0)),
                                 refunded_fen=sum(int(line.get("refunded_fen", 0)) for line in o.get("lines") or [])
                                 + int(o.get("shipping_refunded_fen", 0)),
                                 created_at=str(o.get("created_at", "")), paid_at=o.get("paid_at"))
                for o in orders[:DETAIL_ORDERS]],
        refunds=[CustomerRefundRow(refund_id=str(r["refund_id"]), order_id=str(r["order_id"]),
                                   status=str(r["status"]), amount_fen=int(r.get("amount_fen", 0)),
                                   created_at=str(r.get("created_at", ""))) for r in refunds],
        binding=BindingView(parent_id=str(binding["parent_id"]), bound_at=str(binding["bound_at"]),
                            source=str(binding.get("source", "")), trigger=str(binding.get("trigger", "")),
                            promoter_code=binding.get("promoter_code")) if binding else None,
        binding_history=[BindingHistoryEntry(action=i["action"], from_parent=i.get("from_parent"),
                                             to_parent=i.get("to_parent"), source=i["source"], trigger=i["trigger"],
                                             promoter_code=i.get("promoter_code"), reason=i.get("reason"),
                                             by=i["by"], at=i["at"]) for i in history],
        promoter=CustomerPromoterFacts(code=str(promoter["code"]), status=str(promoter["status"]),
                                       level_id=str(promoter["level_id"]),
                                       agreement_pending=bool(promoter.get("agreement_pending", False)))
        if promoter else None,
    )
