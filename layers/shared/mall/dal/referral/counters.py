"""The referral counters an order moves: a paid order's sales (once, with its counted marker), a
paying invitee (有效下线), and a succeeded refund taking back what its order added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.keys import binding_key, promoter_key, referral_counted_key, referral_refund_key
from mall.dal.referral.records import COUNTED_ORDER, activity_write, counters_condition, promoter_history_write
from mall.dal.table import Item, Table, TransactionCancelled, Write
from mall.domain.referral.model import Counters


@dataclass(frozen=True)
class SaleCount:
    """What one paid order adds (``REFERRAL_ORDER#<id>`` marks it counted, once)."""

    order_id: str
    amount_fen: int
    l1: str | None
    l2: str | None
    buyer_binding_parent: str | None  # add to the buyer's binding ``sales_fen`` when it is still this
    buyer_id: str
    #: The parent of the buyer's still unpaid binding: the order also makes the buyer their paying
    #: invitee (有效下线), in the same transaction (``count_paid_invitee`` does it alone).
    paid_invitee_of: str | None = None
    #: Promoters whose activity marker is already in today's partition (``PromoterRepository.active_today``):
    #: their sale updates ``last_active_at`` on the promoter item but does not put the marker again.
    active_today: frozenset[str] = frozenset()


class CounterRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def is_counted(self, order_id: str) -> bool:
        return self._table.get(referral_counted_key(order_id), consistent=True) is not None

    def count_sale(self, sale: SaleCount, now: datetime) -> bool:
        """Add the order to the promoters' sales, once. False when it was already counted."""
        t = self._table.name
        writes = [Write.put(t, {**referral_counted_key(sale.order_id), "entity": "referral_counted",
                                "order_id": sale.order_id, "l1_promoter_id": sale.l1, "l2_promoter_id": sale.l2,
                                "amount_fen": sale.amount_fen, "at": iso(now)},
                            condition="attribute_not_exists(pk)")]
        stamp = iso(now)
        invitee = sale.paid_invitee_of
        for uid, own in ((sale.l1, True), (sale.l2, False)):
            if uid is None:
                continue
            # One update per item: the paying invitee's count joins its parent's sales update.
            members = ", effective_members :one" if uid == invitee else ""
            # The order's id on the item says that a read showing it shows this sale (``after_sale``).
            stamps = f"SET last_active_at = :now, {COUNTED_ORDER} = :o"
            update = (f"ADD own_sales_fen :a, team_sales_fen :a{members} {stamps}" if own
                      else f"ADD team_sales_fen :a{members} {stamps}")
            values: dict[str, Any] = {":a": sale.amount_fen, ":now": stamp, ":o": sale.order_id,
                                      **({":one": 1} if members else {})}
            writes.append(Write.update(t, promoter_key(uid), update, condition="attribute_exists(pk)", values=values))
            if uid not in sale.active_today:
                writes.append(activity_write(t, uid, now))
        if invitee is not None and invitee not in (sale.l1, sale.l2):
            writes.append(Write.update(t, promoter_key(invitee), f"ADD effective_members :one SET {COUNTED_ORDER} = :o",
                                       condition="attribute_exists(pk)", values={":one": 1, ":o": sale.order_id}))
        if invitee is not None:
            if sale.buyer_binding_parent not in (None, invitee):
                raise ValueError("a binding has one parent: its sales and its paying invitee are the same parent's")
            # The binding flips to paid once, from unpaid, still under that parent (as count_paid_invitee).
            adds = " ADD sales_fen :a" if sale.buyer_binding_parent == invitee else ""
            writes.append(Write.update(
                t, binding_key(sale.buyer_id), "SET paid = :t, #v = #v + :one" + adds,
                condition="parent_id = :p AND (attribute_not_exists(paid) OR paid = :f)", names={"#v": "version"},
                values={":t": True, ":f": False, ":p": invitee, ":one": 1,
                        **({":a": sale.amount_fen} if adds else {})}))
        elif sale.buyer_binding_parent is not None:
            # No paying invitee: the binding was read paid; an unpaid one (bound again since) decides again.
            writes.append(Write.update(t, binding_key(sale.buyer_id), "ADD sales_fen :a",
                                       condition="parent_id = :p AND paid = :t",
                                       values={":a": sale.amount_fen, ":p": sale.buyer_binding_parent, ":t": True}))
        return _commit_unless_counted(self._table, writes)


    def counted(self, order_id: str) -> Item | None:
        """The order's counted marker: what its paid order added (and refunds took back)."""
        return self._table.get(referral_counted_key(order_id), consistent=True)

    def count_paid_invitee(self, buyer_id: str, parent_id: str) -> bool:
        """Flip the buyer's binding to ``paid`` (once, from unpaid) and count them as one 有效下线 of
        ``parent_id``, in one transaction. False when the binding was already paid; raises
        ``TransactionCancelled`` when the binding no longer points at ``parent_id`` (decide again)."""
        t = self._table.name
        writes = [
            # The version moves too: a re-bind decided on the unpaid binding must decide again.
            Write.update(t, binding_key(buyer_id), "SET paid = :t, #v = #v + :one",
                         condition="parent_id = :p AND (attribute_not_exists(paid) OR paid = :f)",
                         names={"#v": "version"}, values={":t": True, ":f": False, ":p": parent_id, ":one": 1}),
            Write.update(t, promoter_key(parent_id), "ADD effective_members :one", condition="attribute_exists(pk)",
                         values={":one": 1}),
        ]
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                binding = self._table.get(binding_key(buyer_id), consistent=True)
                if binding is not None and binding.get("parent_id") == parent_id and binding.get("paid"):
                    return False
            raise
        return True

    def count_refund(self, refund: RefundCount, now: datetime) -> bool:
        """Take a succeeded refund's distribution base off the promoters' sales counters, once
        (``REFERRAL_ORDER#<order>/REFUND#<refund>``), and move each level the refund no longer
        supports down, with its history entry, in the same transaction. Each promoter update is
        conditional on the counters the decision was made on. False when already counted; raises
        ``TransactionCancelled`` when something moved meanwhile (decide again)."""
        t = self._table.name
        at = iso(now)
        marker_values: dict[str, Any] = {":new": refund.refunded_before_fen + refund.base_fen,
                                         ":seen": refund.refunded_before_fen}
        marker_condition = "refunded_base_fen = :seen"
        if refund.refunded_before_fen == 0:
            marker_condition = ("attribute_exists(pk) AND "
                                f"(attribute_not_exists(refunded_base_fen) OR {marker_condition})")
        writes = [
            Write.put(t, {**referral_refund_key(refund.order_id, refund.refund_id),
                          "entity": "referral_refund_counted", "order_id": refund.order_id,
                          "refund_id": refund.refund_id, "base_fen": refund.base_fen, "at": at,
                          "l1_promoter_id": refund.l1, "l2_promoter_id": refund.l2},
                      condition="attribute_not_exists(pk)"),
            Write.update(t, referral_counted_key(refund.order_id),
                         "SET refunded_base_fen = :new", condition=marker_condition, values=marker_values),
        ]
        for change in refund.promoters:
            values: dict[str, Any] = {":a": -refund.base_fen}
            update = "ADD own_sales_fen :a, team_sales_fen :a" if change.own else "ADD team_sales_fen :a"
            if change.decided_on is None:
                condition = "attribute_exists(pk)"
            else:
                condition = counters_condition(change.decided_on, values)
            if change.to_level is not None:
                update += ", #v :one SET level_id = :to, level_source = :auto"
                condition += " AND level_id = :from AND level_source = :auto"
                values |= {":one": 1, ":to": change.to_level, ":from": change.from_level, ":auto": "auto"}
            writes.append(Write.update(t, promoter_key(change.user_id), update, condition=condition,
                                       names={"#v": "version"} if change.to_level is not None else None,
                                       values=values))
            if change.to_level is not None:
                writes.append(promoter_history_write(
                    t, change.user_id, now, action="downgrade", from_status=change.status, to_status=change.status,
                    by="system", reason="a refund took the sales below the level's conditions",
                    extra={"from_level": change.from_level, "to_level": change.to_level, "level_source": "auto",
                           "order_id": refund.order_id, "refund_id": refund.refund_id}))
        return _commit_unless_counted(self._table, writes)


@dataclass(frozen=True)
class RefundedPromoter:
    """One promoter a refund's base is taken from: ``own`` (L1: own and team sales) or team only
    (L2); ``decided_on`` the counters read (None: the level is not re-evaluated, so no condition);
    ``to_level`` the level it moves down to, if any."""

    user_id: str
    own: bool
    status: str
    from_level: str
    decided_on: Counters | None = None
    to_level: str | None = None


@dataclass(frozen=True)
class RefundCount:
    order_id: str
    refund_id: str
    base_fen: int
    refunded_before_fen: int  # the counted marker's ``refunded_base_fen`` as read
    l1: str | None
    l2: str | None
    promoters: tuple[RefundedPromoter, ...] = ()


def first_failure_index(exc: TransactionCancelled) -> int | None:
    failures = exc.conditional_failures
    return failures[0] if failures else None


def _commit_unless_counted(table: Table, writes: list[Write]) -> bool:
    """Commit ``writes``, whose first is the marker that the change was counted: False (nothing
    written) when that marker exists already, i.e. a redelivery."""
    try:
        table.transact(writes)
    except TransactionCancelled as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            return False
        raise
    return True
