"""An order became PAID (the stream consumer): the first_payment binding, the sales counters, the
paying invitee (有效下线) and the level upgrades they lead to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mall.dal.referral import CounterRepository, SaleCount, TransactionCancelled
from mall.domain import referral as rules
from mall.domain.referral import Binding, BindRefused, ShareSource
from mall.domain.settings_terms import BindingMode
from mall.errors import Conflict
from mall.services.payment_snapshot import BasisRepositories, earning_basis
from mall.services.referral import ATTEMPTS, ReferralRepositories
from mall.services.referral.binding import Bind, bind
from mall.services.referral.levels import evaluate_levels, evaluate_upgrade

if TYPE_CHECKING:
    from mall.dal.table import Table
    from mall.domain.settings import DistributionSettings


@dataclass(frozen=True)
class OrderPaidRepositories:
    """What reacting to a paid order reads and writes: the network, its counters, and the order's
    commission basis with its first_payment binding outcome (``mall.services.payment_snapshot``)."""

    network: ReferralRepositories
    counters: CounterRepository
    basis: BasisRepositories

    @classmethod
    def on(cls, table: Table) -> OrderPaidRepositories:
        return cls(network=ReferralRepositories.on(table), counters=CounterRepository(table),
                   basis=BasisRepositories.on(table))


def _share_from(raw: Any) -> ShareSource | None:
    if not isinstance(raw, Mapping):
        return None
    code, source = raw.get("promoter_code"), raw.get("source")
    if not isinstance(code, str) or source not in ("link", "qr", "poster"):
        return None
    product = raw.get("product_id")
    return ShareSource(promoter_code=code, source=source, product_id=product if isinstance(product, str) else None)


def _text(value: Any) -> str | None:
    """A stored device id / IP as text (the order's, when a first payment binds its buyer)."""
    return value if isinstance(value, str) and value else None


#: The attribution bases a payment decides with no ``first_payment`` binding to wait for
#: (``mall.domain.payment_snapshot.decide_basis``: only ``share_first_payment`` claims or follows one).
_FINAL_BASES = frozenset({"binding", "self_purchase", "none"})


def _final_attribution(order: Mapping[str, Any]) -> bool:
    """Whether the paid order's own attribution already says who earns. The payment writes the basis's
    attribution onto the order in the transaction that marks it PAID, so for these bases the basis adds
    nothing the image lacks: its earners are the attribution's and it has no binding outcome."""
    attribution = order.get("attribution")
    return isinstance(attribution, Mapping) and attribution.get("basis") in _FINAL_BASES


def on_order_paid(*, repos: OrderPaidRepositories, order: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """React once to an order that became PAID (at-least-once delivery: a redelivery changes nothing).

    1. first_payment mode: the order's share source binds the buyer if this is their first paid order
       (profile ``first_paid_order_id``) and the rules allow (a binding is itself idempotent). An order
       with a commission basis (taken at payment) makes the binding it claims and records its outcome
       once (``mall.services.payment_snapshot``); the commission sync follows the same outcome.
    2. Sales counters of the L1 (own + team sales) and L2 (team sales) that earn on the order (from
       its basis; the basis is not read when the attribution the payment wrote on the order waits for
       no binding, see ``_final_attribution``), and the buyer's binding sales, with a
       ``REFERRAL_ORDER#<id>`` marker in the same transaction.
    3. Level upgrades of those promoters: the order's own commission was fixed at payment, so an
       upgrade it triggers applies from the next order."""
    order_id = str(order["order_id"])
    buyer_id = str(order["buyer_id"])
    raw_lines = order.get("lines")
    amount = rules.distribution_base(line for line in raw_lines if isinstance(line, Mapping)) \
        if isinstance(raw_lines, list) else 0
    network = repos.network
    settings = network.settings.current().settings
    result: dict[str, Any] = {"order_id": order_id, "bound": None, "counted": False}
    share = _share_from(order.get("share_source"))
    first_payment_share = settings.binding_mode == BindingMode.FIRST_PAYMENT and share is not None \
        and rules.is_valid_code(share.promoter_code)
    basis = None if _final_attribution(order) and not first_payment_share \
        else earning_basis(repos.basis, order_id, now=now)
    if basis is not None:
        result["bound"] = basis.binding_outcome
    elif first_payment_share and share is not None:
        facts = network.promoters.customer(buyer_id)
        sharer = network.promoters.get_by_code(share.promoter_code)
        if facts.first_paid_order_id == order_id and sharer is not None:
            try:
                outcome = bind(Bind(customer_id=buyer_id, promoter_id=sharer.user_id, trigger="first_payment",
                                    source=share.source, now=now, by="system", paid_orders_before=0,
                                    promoter_code=share.promoter_code, device_id=_text(order.get("device_id")),
                                    client_ip=_text(order.get("source_ip"))), network=network)
                result["bound"] = outcome.outcome
            except (BindRefused, Conflict) as refused:
                code = refused.error.code if isinstance(refused, BindRefused) else refused.code
                result["bound"] = f"refused:{code}"
    raw_attribution = order.get("attribution")
    attribution: Mapping[str, Any] = raw_attribution if isinstance(raw_attribution, Mapping) else {}
    l1 = attribution.get("l1_promoter_id") or None
    l2 = attribution.get("l2_promoter_id") or None
    if basis is not None:
        l1, l2 = basis.earning()
    counters = repos.counters
    result["effective_member_of"] = None
    if (l1 is None and l2 is None) or amount <= 0:
        result["effective_member_of"] = _count_paid_invitee(network, counters, buyer_id, now, settings)
        return result
    invitee: str | None = None
    for attempt in range(ATTEMPTS):
        # The buyer's first paid order also makes them a paying invitee of their parent: counted in
        # the sale's transaction, so the binding and the parent's counters are written once.
        binding = _binding_for_sale(network, buyer_id, l1) if attempt == 0 else network.bindings.get(buyer_id)
        parent = binding.parent_id if binding is not None and binding.parent_id == l1 else None
        invitee = binding.parent_id if binding is not None and not binding.paid else None
        sale = SaleCount(order_id=order_id, amount_fen=amount, l1=l1, l2=l2, buyer_binding_parent=parent,
                         buyer_id=buyer_id, paid_invitee_of=invitee,
                         active_today=network.promoters.active_today(rules.unique([l1, l2]), now))
        try:
            result["counted"] = counters.count_sale(sale, now)
            break
        except TransactionCancelled:
            continue  # re-bound, unbound or counted as a paying invitee meanwhile: read the binding again
    else:
        raise RuntimeError(f"could not count order {order_id} after {ATTEMPTS} attempts")
    if result["counted"]:
        # The paying invitee's parent is usually the L1 itself: one evaluation after the sale's
        # transaction sees both counts (an upgrade goes straight to the highest level that holds).
        # Each of them carries this order as the last sale counted on it: a read showing that is
        # as good as a consistent one (two concurrent sales: the later one's read shows both).
        result["effective_member_of"] = invitee
        evaluate_levels(network, rules.unique([invitee, l1, l2]), now, settings=settings, after_sale=order_id)
    else:  # a redelivery: the invitee was counted with the sale (or is counted now)
        result["effective_member_of"] = _count_paid_invitee(network, counters, buyer_id, now, settings)
    return result


def _binding_for_sale(network: ReferralRepositories, buyer_id: str, l1: str | None) -> Binding | None:
    """The buyer's binding for counting a sale: eventually consistent (half the units) when what it
    shows leads to a write whose condition holds only for what was read (``count_sale``: the binding's
    ``parent_id`` and ``paid``), so a stale one is refused and read again consistently. A binding that
    would write nothing (none, or a paid one under another parent than the L1) is read consistently:
    no condition would catch a binding made a moment ago (this worker's own first-payment binding)."""
    binding = network.bindings.get(buyer_id, consistent=False)
    if binding is None or (binding.paid and binding.parent_id != l1):
        return network.bindings.get(buyer_id)
    return binding


def _count_paid_invitee(network: ReferralRepositories, counters: CounterRepository, buyer_id: str,
                        now: datetime, settings: DistributionSettings) -> str | None:
    """The buyer's first paid order makes them a 有效下线 of their parent, once (the binding's
    ``paid`` flag is flipped conditionally with the parent's count); the parent's level is then
    evaluated. Returns the parent counted now, or None (unbound, or counted before)."""
    bindings = network.bindings
    for _ in range(ATTEMPTS):
        binding = bindings.get(buyer_id)
        if binding is None or binding.paid:
            return None
        try:
            counted = counters.count_paid_invitee(buyer_id, binding.parent_id)
        except TransactionCancelled:
            continue  # re-bound or unbound meanwhile (the bind itself counts a paying customer)
        if not counted:
            return None
        evaluate_upgrade(network=network, user_id=binding.parent_id, now=now, settings=settings)
        return binding.parent_id
    raise RuntimeError(f"could not count the paid invitee {buyer_id} after {ATTEMPTS} attempts")
