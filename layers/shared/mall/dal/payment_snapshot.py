"""The commission basis of an order (``mall.domain.payment_snapshot``): its reads in the payment
path and its item.

Item ``ORDER#<order_id> / COMMISSION_BASIS`` (docs/commission-snapshot.md): written once, in the
transaction that marks the order PAID; later only ``binding_outcome`` is added (once, conditionally).
Its sort key starts with ``COMMISSION`` so the commission sync's one Query of the order's commission
items returns it with the records and the plan.

The payment path reads everything in at most three BatchGetItem calls (consistent), each round
needing only the keys the previous one revealed: (1) the settings in force, the book of commission
campaigns (those in force at payment are recorded on the basis), the buyer's profile,
binding and promoter record, the lines' categories and the share code; (2) the promoters that
revealed (the buyer's parent, the share's promoter, the promoter the buyer's first paid order
claims) with their bindings; (3) those promoters' parents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mall.clock import iso
from mall.config import function_environment
from mall.dal.campaigns import book_from_item
from mall.dal.catalog import category_from_item
from mall.dal.keys import (
    CAMPAIGNS_KEY,
    SETTINGS_CURRENT_KEY,
    basis_key,
    binding_key,
    category_key,
    code_key,
    customer_profile_key,
    promoter_key,
)
from mall.dal.referral import BOUND_PARENT, binding_from_item, promoter_from_item
from mall.dal.settings import current_from_item
from mall.dal.table import ConditionFailed, Item, Key, Table, Write
from mall.domain.catalog import Category
from mall.domain.orders import Order
from mall.domain.payment_snapshot import BindingOutcome, PaymentFactsRead, PaymentSnapshot
from mall.domain.referral import Promoter, is_valid_code
from mall.domain.settings_terms import BindingMode


def snapshot_from_item(item: Item) -> PaymentSnapshot:
    return PaymentSnapshot.from_dict(item)


def _by_key(items: Iterable[Item]) -> dict[tuple[str, str], Item]:
    return {(str(i["pk"]), str(i["sk"])): i for i in items}


def _k(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


class PaymentSnapshotStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read_facts(self, order: Order) -> tuple[PaymentFactsRead, Item | None, Item | None]:
        """What deciding the basis needs, plus the buyer's profile and binding items as read (the
        payment transaction is conditional on them)."""
        buyer = order.buyer_id
        share = order.share_source if isinstance(order.share_source, dict) else {}
        code = share.get("promoter_code")
        category_ids = sorted({line.category_id for line in order.lines if line.category_id})
        keys: list[Key] = [SETTINGS_CURRENT_KEY, CAMPAIGNS_KEY, customer_profile_key(buyer), binding_key(buyer),
                           promoter_key(buyer), *(category_key(cid) for cid in category_ids)]
        if isinstance(code, str) and is_valid_code(code):
            keys.append(code_key(code))
        first = _by_key(self._table.batch_get(keys, consistent=True))
        current = current_from_item(first.get(_k(SETTINGS_CURRENT_KEY)))
        profile = first.get(_k(customer_profile_key(buyer)))
        binding_item = first.get(_k(binding_key(buyer)))
        buyer_parent = binding_from_item(binding_item).parent_id if binding_item else None
        first_payment = current.settings.binding_mode == BindingMode.FIRST_PAYMENT
        sharer_id: str | None = None
        if first_payment and isinstance(code, str):
            link = first.get(_k(code_key(code))) if is_valid_code(code) else None
            sharer_id = str(link["user_id"]) if link else None
        claimed = str(profile.get("first_payment_sharer_id") or "") or None if profile else None
        promoters: dict[str, Promoter] = {}
        parent_of: dict[str, str | None] = {}
        if (item := first.get(_k(promoter_key(buyer)))) is not None:
            promoters[buyer] = promoter_from_item(item)
        wanted = [uid for uid in dict.fromkeys([buyer_parent, *((sharer_id, claimed) if first_payment else ())])
                  if uid is not None and uid != buyer]
        if wanted:
            second = _by_key(self._table.batch_get(
                [k for uid in wanted for k in (promoter_key(uid), binding_key(uid))], consistent=True))
            for uid in wanted:
                if (item := second.get(_k(promoter_key(uid)))) is not None:
                    promoters[uid] = promoter_from_item(item)
                parent = second.get(_k(binding_key(uid)))
                parent_of[uid] = str(parent["parent_id"]) if parent else None
            above = [p for p in dict.fromkeys(parent_of.values()) if p is not None and p not in promoters]
            if above:
                for item in self._table.batch_get([promoter_key(uid) for uid in above], consistent=True):
                    found = promoter_from_item(item)
                    promoters[found.user_id] = found
        categories: dict[str, Category | None] = dict.fromkeys(category_ids)
        for cid in category_ids:
            if (item := first.get(_k(category_key(cid)))) is not None:
                categories[cid] = category_from_item(item)
        facts = PaymentFactsRead(
            order_id=order.order_id, buyer_id=buyer, settings_version=current.version, settings=current.settings,
            placement=order.attribution or {}, buyer_parent=buyer_parent, parent_of=parent_of, promoters=promoters,
            first_paid_order_id=str(profile.get("first_paid_order_id") or "") or None if profile else None,
            first_payment_sharer_id=claimed, share_sharer_id=sharer_id, categories=categories,
            campaigns=book_from_item(first.get(_k(CAMPAIGNS_KEY))).campaigns)
        return facts, profile, binding_item

    # ---- the writes of the payment transaction ---------------------------------------------------

    def put_write(self, snapshot: PaymentSnapshot, *, now: datetime) -> Write:
        item: Item = {**basis_key(snapshot.order_id), "entity": "commission_basis", "created_at": iso(now),
                      **snapshot.as_dict()}
        return Write.put(self._table.name, item, condition="attribute_not_exists(pk)")

    def parent_guard(self, profile: Item | None, binding_item: Item | None) -> tuple[str | None] | None:
        """The buyer's parent as read, when the profile's ``bound_parent`` mirror agrees with the binding
        read: the payment's profile update then carries the guard (no check of the binding, 2 write units
        less). None (check the binding itself) while ``BINDING_ITEM_CHECKS=1``, and for a profile without
        an agreeing mirror (absent, created after the binding, or not yet migrated)."""
        if function_environment().binding_item_checks or profile is None:
            return None
        parent = str(binding_item["parent_id"]) if binding_item is not None else None
        return (parent,) if profile.get(BOUND_PARENT) == parent else None

    def binding_unchanged(self, buyer_id: str, binding_item: Item | None) -> Write:
        """The buyer's binding is still what the basis was decided from."""
        if binding_item is None:
            return Write.check(self._table.name, binding_key(buyer_id), "attribute_not_exists(pk)")
        if "version" not in binding_item:  # a binding written before versions: its parent stands in
            return Write.check(self._table.name, binding_key(buyer_id),
                               "attribute_not_exists(version) AND parent_id = :p",
                               values={":p": binding_item["parent_id"]})
        return Write.check(self._table.name, binding_key(buyer_id), "version = :v",
                           values={":v": binding_item["version"]})

    # ---- reads and the binding outcome ---------------------------------------------------------

    def get(self, order_id: str) -> PaymentSnapshot | None:
        item = self._table.get(basis_key(order_id), consistent=True)
        return snapshot_from_item(item) if item else None

    def record_outcome(self, order_id: str, outcome: BindingOutcome, *, detail: str, now: datetime) -> PaymentSnapshot:
        """Record the outcome of the ``first_payment`` binding once; the one recorded first stays."""
        try:
            item = self._table.update(basis_key(order_id),
                                      "SET binding_outcome = :o, binding_detail = :d, binding_decided_at = :now",
                                      condition="attribute_exists(pk) AND attribute_not_exists(binding_outcome)",
                                      values={":o": outcome, ":d": detail[:120], ":now": iso(now)})
        except ConditionFailed:
            stored = self.get(order_id)
            if stored is None:
                raise LookupError(f"order {order_id} has no commission basis") from None
            return stored
        return snapshot_from_item(item)

