"""The commission basis of an order (``mall.domain.payment_snapshot``, docs/commission-snapshot.md):
taken in the payment path, and the ``first_payment`` binding it may wait for.

``prepare_basis`` reads and decides just before the payment transaction (at most three
BatchGetItem calls) and returns what that transaction adds. ``resolve_binding`` is called by both
workers that react to a paid order (commission sync, referral): the first to run makes the
``first_payment`` binding and records its outcome once; the other reads that outcome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools import Logger

from mall.dal.orders import OrderRepository, PaymentBasisWrites
from mall.dal.payment_snapshot import PaymentSnapshotStore
from mall.dal.referral import BindingRepository
from mall.domain.orders import Order
from mall.domain.payment_snapshot import BindingOutcome, PaymentSnapshot, build_snapshot, decide_basis
from mall.domain.referral import BindRefused, BindSource
from mall.errors import Conflict

if TYPE_CHECKING:
    from mall.dal.table import Table
    from mall.services.referral import ReferralRepositories

logger = Logger(child=True)

_CHANNELS = ("link", "qr", "poster")


def prepare_basis(store: PaymentSnapshotStore, order: Order, *,
                  now: datetime) -> tuple[PaymentSnapshot, PaymentBasisWrites]:
    """The order's commission basis as of now, and the writes that record it with the payment."""
    facts, profile, binding_item = store.read_facts(order)
    decision = decide_basis(facts)
    snapshot = build_snapshot(facts, decision, taken_at=now)
    guard = store.parent_guard(profile, binding_item)
    writes = [store.put_write(snapshot, now=now)]
    if guard is None:
        writes.append(store.binding_unchanged(order.buyer_id, binding_item))
    return snapshot, PaymentBasisWrites(
        writes=writes, first_paid_seen=facts.first_paid_order_id,
        claims_sharer_id=decision.sharer_id if decision.claims_first_payment else None,
        attribution=asdict(decision.attribution), parent_guard=guard)


@dataclass(frozen=True)
class BasisRepositories:
    """What resolving an order's ``first_payment`` binding reads and writes: the bases, the order
    (its share source and device), the bindings, and the referral network a claim binds in."""

    store: PaymentSnapshotStore
    orders: OrderRepository
    bindings: BindingRepository
    network: ReferralRepositories

    @classmethod
    def on(cls, table: Table) -> BasisRepositories:
        from mall.services.referral import ReferralRepositories  # referral's stream use case imports this module

        return cls(store=PaymentSnapshotStore(table), orders=OrderRepository(table),
                   bindings=BindingRepository(table), network=ReferralRepositories.on(table))


def _bound_to(repos: BasisRepositories, buyer_id: str, sharer_id: str) -> bool:
    binding = repos.bindings.get(buyer_id)
    return binding is not None and binding.parent_id == sharer_id


def _claim(repos: BasisRepositories, snapshot: PaymentSnapshot, *, now: datetime) -> tuple[BindingOutcome, str]:
    """Bind the buyer to the promoter their first paid order claims; bound when the buyer ends up
    bound there (by this call or a concurrent one)."""
    from mall.services.referral.binding import Bind, bind  # referral's stream use case imports this module

    sharer = snapshot.sharer_id
    assert sharer is not None  # noqa: S101 (a claim always names its promoter)
    order = repos.orders.get_item(snapshot.order_id, consistent=True) or {}
    share = order.get("share_source") if isinstance(order.get("share_source"), dict) else {}
    source = share.get("source") if share and share.get("source") in _CHANNELS else "link"
    code = share.get("promoter_code") if share else None
    detail = "bound"
    try:
        bind(Bind(customer_id=snapshot.buyer_id, promoter_id=sharer, trigger="first_payment",
                  source=cast(BindSource, source), now=now, by="system", paid_orders_before=0,
                  promoter_code=code if isinstance(code, str) else None,
                  device_id=order.get("device_id") or None, client_ip=order.get("source_ip") or None),
             network=repos.network)
    except BindRefused as refused:
        detail = f"refused:{refused.error.code}"
    except Conflict as lost:
        if lost.code != "binding_conflict":
            raise  # the team kept changing: the worker's redelivery tries again
        detail = f"refused:{lost.code}"
    return ("bound" if _bound_to(repos, snapshot.buyer_id, sharer) else "refused"), detail


def resolve_binding(repos: BasisRepositories, snapshot: PaymentSnapshot, *, now: datetime) -> PaymentSnapshot:
    """The basis with its ``first_payment`` binding outcome (made and recorded now if not yet)."""
    if not snapshot.waits_for_binding:
        return snapshot
    store = repos.store
    if snapshot.binding == "claims":
        outcome, detail = _claim(repos, snapshot, now=now)
    else:
        first = store.get(snapshot.first_order_id or "")
        if first is not None and first.binding == "claims":
            first = resolve_binding(repos, first, now=now)
            outcome, detail = first.binding_outcome or "refused", f"follows {first.order_id}"
        else:  # the first paid order was recorded before bases existed: follow the binding it made
            bound = snapshot.sharer_id is not None and _bound_to(repos, snapshot.buyer_id, snapshot.sharer_id)
            outcome, detail = ("bound" if bound else "refused"), "follows the binding as stored"
    resolved = store.record_outcome(snapshot.order_id, outcome, detail=detail, now=now)
    logger.info("first_payment binding decided", extra={"order_id": snapshot.order_id,
                                                        "outcome": resolved.binding_outcome})
    return resolved


def earning_basis(repos: BasisRepositories, order_id: str, *, now: datetime) -> PaymentSnapshot | None:
    """The order's basis with its binding outcome; None for an order paid before bases existed."""
    snapshot = repos.store.get(order_id)
    return resolve_binding(repos, snapshot, now=now) if snapshot is not None else None
