"""The simulator's operations on customers, binds, orders, payments and fulfilment (mixed into
``simulator.Simulator``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from local.wechatpay_sandbox.common import SandboxError
from mall.dal.catalog import ProductRepository
from mall.dal.identity import CustomerRepository
from mall.dal.orders import OrderRepository
from mall.dal.settings import SettingsRepository
from mall.schemas.orders import AddressRequest, OrderLineRequest, PlaceOrderRequest, ShareSourceRequest
from mall.services import commission_batch, payment_jobs
from mall.services import commissions as commission_service
from mall.services import fulfilment as fulfilment_service
from mall.services import orders as order_service
from mall.services.order_payment import payment_for_order
from mall.services.payments import PaymentRepositories
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code
from tests.integration.sim.model import ADMINS, PRODUCTS, SPEC, MLine, MOrder, MRefund, MWithdrawal, Op, Result
from tests.integration.sim.world import ADDRESS, NOTIFY_URL, Notification

if TYPE_CHECKING:
    from tests.integration.sim.simulator import Simulator


class OrderOps:
    """Logins, binds, orders and their payments, commission syncs, shipping and receipt."""

    # ---- operations: customers and binds --------------------------------------------------------

    def op_login(self: Simulator) -> Op | None:
        if len(self.customers) >= 12 + self.target // 40:
            return None
        self._logins += 1
        code = f"buyer-{self._logins:05d}"
        copies = 2 if self.rng.random() < 0.2 else 1  # two logins of one new customer at once

        def apply(results: list[Result]) -> None:
            ids = {r.value for r in results if r.kind == "ok"}
            if len(ids) != 1:
                self.fail(f"concurrent logins of {code} gave {ids}")
            uid = ids.pop()
            self.customers.append(uid)
            self.parent[uid] = None

        return Op("login", [lambda: self.world.customer(code)] * copies, apply, frozenset({f"login:{code}"}))

    def op_bind(self: Simulator) -> Op | None:
        # Attribution is decided when a payment is recorded: a customer whose payment WeChat Pay took
        # but we have not recorded yet is not bound meanwhile, so the model knows which chain it gets.
        if self.first_payment:  # customers are bound by their first payment's share source
            return None
        waiting = {o.buyer for o in self.orders if o.paid_at_sandbox and o.status in {"CREATED", "EXPIRED"}}
        unbound = [c for c in self.customers if self.parent.get(c) is None and self._free(f"buyer:{c}")
                   and c not in waiting]
        customer = self._pick(unbound)
        if customer is None:
            return None
        targets = self.rng.sample(self.promoters, 2 if self.rng.random() < 0.25 else 1)  # racing binds
        now = self.clock.now

        def bind(promoter: str) -> Callable[[], Any]:
            return lambda: bind_with_code(BindWithCode(customer_id=customer, code=self.codes[promoter], now=now),
                                          network=ReferralRepositories.on(self.table))

        def apply(results: list[Result]) -> None:
            winners = {r.value.binding.parent_id for r in results if r.kind == "ok" and r.value.binding}
            if len(winners) > 1:
                self.fail(f"customer {customer} bound to {winners} at once")
            if winners:
                self.parent[customer] = winners.pop()
                # A customer who has paid is a 有效下线 at once: the new parent may move up a level.
                self._count_invitee(customer)
                self._relevel()

        # Binding a customer who has paid may change a level: never in a wave that records a payment.
        return Op("bind", [bind(p) for p in targets], apply, frozenset({f"buyer:{customer}"}),
                  levels="write" if customer in self.paid_buyers else "")

    def op_cycle_bind(self: Simulator) -> Op | None:
        """A promoter tries to bind under their own downline: always refused, nothing written."""
        top, below = self.promoters[0], self.promoters[3]
        if not self._free(f"buyer:{top}"):
            return None
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            if results[0].kind != "refused" or results[0].code != "binding_cycle":
                self.fail(f"a cycle bind was not refused: {results[0]}")

        return Op("cycle_bind", [lambda: bind_with_code(BindWithCode(customer_id=top, code=self.codes[below], now=now),
                                                        network=ReferralRepositories.on(self.table))],
                  apply, frozenset({f"buyer:{top}"}))

    # ---- operations: orders and payments --------------------------------------------------------

    def op_place(self: Simulator) -> Op | None:
        buyers = self._buyers()
        if not buyers:
            return None
        promoters = [b for b in buyers if b in self.codes]
        buyer = self._pick(promoters) if promoters and self.rng.random() < 0.12 else self._pick(
            [b for b in buyers if b not in self.codes] or buyers)
        specs = self.rng.sample(PRODUCTS, self.rng.choice([1, 1, 2, 3]))
        wished = self.coupon_product(buyer)  # before the coupon is chosen (it remembers which)
        if wished is not None and wished not in {s.product_id for s in specs}:
            specs[0] = SPEC[wished]
        wanted = [(s, self.rng.choice([1, 1, 2, 3])) for s in specs]
        expected = self.expected_attribution(buyer)
        now = self.clock.now
        sharer = self._pick(self.promoters) if self.first_payment and self.rng.random() < 0.8 else None
        share = ShareSourceRequest(promoter_code=self.codes[sharer], source="link") if sharer else None
        coupon, parts = self.choose_coupon(buyer, [(str(i), s, s.price_fen * q) for i, (s, q) in enumerate(wanted)])
        refusal = parts if isinstance(parts, str) else ""
        request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=s.product_id, quantity=q) for s, q in wanted],
                                    address=AddressRequest(**ADDRESS), share_source=share,
                                    coupon_id=coupon.coupon_id if coupon else None)

        def call() -> Any:
            return order_service.place_order(
                order_service.PlaceOrder(request=request, buyer_id=buyer, now=now),
                repos=order_service.PlacementRepositories.on(self.table), pay=self.world.pay_client,
                notify_url=NOTIFY_URL)

        def apply(results: list[Result]) -> None:
            r = results[0]
            if refusal:  # the model says this coupon cannot be used on these lines: refused, nothing placed
                if r.kind != "refused" or r.code != refusal:
                    self.fail(f"placing with coupon {coupon} expected {refusal}, got {r.kind} {r.code}")
                self.stats[f"order refused {refusal}"] += 1
                return
            if r.kind != "ok":
                self.fail(f"placing an order was refused: {r.code}")
            placed = r.value
            by_product = {line.product_id: line for line in placed.lines}
            lines = []
            for index, (spec, quantity) in enumerate(wanted):
                line = by_product[spec.product_id]
                off = parts.get(str(index), 0) if isinstance(parts, dict) else 0
                if line.paid_fen != spec.price_fen * quantity - off or line.quantity != quantity:
                    self.fail(f"line priced {line.paid_fen} for {quantity} × {spec.price_fen} less {off} of a coupon")
                lines.append(MLine(line.line_id, spec, quantity, line.paid_fen, off))
            order = MOrder(len(self.orders), placed.order_id, buyer, lines, placed.amount_fen, expected,
                           datetime.fromisoformat(placed.expires_at.replace("Z", "+00:00")),
                           prepaid=placed.payment is not None, expected_at_placing=expected, sharer=sharer,
                           coupon_id=coupon.coupon_id if coupon else None)
            self.orders.append(order)
            self.order_by_id[order.order_id] = order
            if coupon is not None:
                coupon.status, coupon.order_id = "used", order.order_id
                coupon.used_by.append(order.order_id)
                self.stats["order placed with a coupon"] += 1
                self.stats["order placed with a returned coupon"] += len(coupon.used_by) > 1

        return Op("place", [call], apply, frozenset({f"buyer:{buyer}"}))

    def op_repay(self: Simulator) -> Op | None:
        """An order whose prepay failed (WeChat Pay unavailable) fetches its payment again."""
        order = self._pick([o for o in self._orders("CREATED") if not o.prepaid and self.clock.now < o.expires_at])
        if order is None:
            return None
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            if results[0].kind == "ok" and results[0].value.payment is not None:
                order.prepaid = True
            self._touched_orders.add(order.index)

        return Op("repay", [lambda: payment_for_order(
            order_id=order.order_id, buyer_id=order.buyer, orders=OrderRepository(self.table),
            customers=CustomerRepository(self.table), pay=self.world.pay_client, notify_url=NOTIFY_URL, now=now)],
            apply, frozenset({f"order:{order.index}"}))

    def op_pay(self: Simulator) -> Op | None:
        """The customer pays at WeChat Pay; its notification arrives now, twice at once, or later."""
        if not self._may_record_payments():
            return None
        order = self._pick([o for o in self._orders("CREATED") if o.prepaid and not o.paid_at_sandbox
                            and self.clock.now < o.expires_at - timedelta(minutes=1)
                            and self._free(f"buyer:{o.buyer}")])
        if order is None:
            return None
        try:
            event = self.world.sandbox.pay(order.order_id)
        except SandboxError:  # closed at WeChat Pay by the expiry job meanwhile
            self._touched_orders.add(order.index)
            return None
        order.paid_at_sandbox = True
        order.paid_at = self.clock.now
        order.expected = self.expected_attribution(order.buyer)  # the bindings when it is recorded
        order.payment = self.world.notification(event)
        copies = self.rng.choices([0, 1, 2], weights=[2, 6, 2])[0]
        order.payment_pending = copies == 0
        op = self._deliveries("pay", order.payment, copies, order=order)
        return Op(op.name, op.calls, op.apply, op.keys | {f"buyer:{order.buyer}"}, levels="read")

    def _deliveries(self: Simulator, name: str, note: Notification, copies: int, *, order: MOrder | None = None,
                    refund: MRefund | None = None, withdrawal: MWithdrawal | None = None) -> Op:
        """``copies`` deliveries of ``note`` at once (0: it was lost; the caller marked it pending)."""
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            for r in results:
                if r.kind == "ok" and r.value.status != 204:
                    self.fail(f"a genuine {note.event_type} was answered {r.value.status} {r.value.outcome}")
            if order is not None:
                self._touched_orders.add(order.index)
            if refund is not None:
                self._touched_refunds.add(refund.refund_id)
                self._touched_orders.add(refund.order)
            if withdrawal is not None:
                self._touched_withdrawals.add(withdrawal.withdrawal_id)

        label = f"{name}{'' if copies == 1 else ' x2 concurrent' if copies == 2 else ' (notification lost)'}"
        keys = {f"order:{order.index}" if order else "", f"refund:{refund.refund_id}" if refund else "",
                f"withdrawal:{withdrawal.withdrawal_id}" if withdrawal else ""} - {""}
        return Op(label, [lambda: self.world.deliver(note, now=now)] * copies, apply, frozenset(keys),
                  levels="read" if order is not None else "")

    def op_deliver_late(self: Simulator) -> Op | None:
        """A notification that was lost arrives late (WeChat Pay's retry: same id, new signature)."""
        if not self._may_record_payments():
            return None
        pending: list[tuple[str, Any]] = [("order", o) for o in self.orders if o.payment_pending
                                          and self._free(f"order:{o.index}")]
        pending += [("refund", r) for r in self.refunds.values() if r.pending and self._free(f"refund:{r.refund_id}")]
        pending += [("withdrawal", w) for w in self.withdrawals.values()
                    if w.pending and self._free(f"withdrawal:{w.withdrawal_id}")]
        chosen = self._pick(pending)
        if chosen is None:
            return None
        kind, target = chosen
        copies = self.rng.choice([1, 1, 2])
        if kind == "order":
            assert target.payment is not None
            target.payment_pending = False
            return self._deliveries("deliver_late payment", self.world.resend(target.payment), copies, order=target)
        assert target.note is not None
        target.pending = False
        if kind == "refund":
            return self._deliveries("deliver_late refund", self.world.resend(target.note), copies, refund=target)
        return self._deliveries("deliver_late transfer", self.world.resend(target.note), copies, withdrawal=target)

    def op_redeliver(self: Simulator) -> Op | None:
        """WeChat Pay delivers an already-acknowledged payment again: 204, nothing changes."""
        order = self._pick([o for o in self.orders if o.payment is not None and not o.payment_pending
                            and self._free(f"order:{o.index}")])
        if order is None:
            return None
        assert order.payment is not None
        return self._deliveries("redeliver payment", self.world.resend(order.payment), 1, order=order)

    def op_sync(self: Simulator) -> Op | None:
        """The order stream's commission sync: late, duplicated, concurrent (never locked)."""
        paid = [o for o in self.orders if o.paid_at_sandbox]
        order = self._pick(paid if paid and self.rng.random() < 0.9 else self.orders)
        if order is None:
            return None
        now = self.clock.now
        copies = self.rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
        def apply(results: list[Result]) -> None:
            # A clawback (of commission, or of a team bonus) that left a debt cancels the promoter's
            # withdrawals in flight.
            if any(r.kind == "ok" for r in results):
                self.synced_wave[order.index] = self.waves
                self._touch_all_open_withdrawals()

        return Op("sync" if copies == 1 else f"sync x{copies} concurrent", [
            lambda: commission_service.sync_order(commission_service.CommissionRepositories.on(self.table),
                                                  order_id=order.order_id, now=now,
                                                  payouts=self.payout_queue)] * copies, apply)

    def op_sync_batch(self: Simulator) -> Op | None:
        """The commission worker on a batch of messages (up to ten, duplicates and unpaid orders
        among them): the batch's new credits in shared transactions, then each message's own sync;
        sometimes two workers at once on overlapping batches."""
        paid = [o for o in self.orders if o.paid_at_sandbox]
        if not paid:
            return None
        picked = [self._pick(paid if self.rng.random() < 0.9 else self.orders) for _ in range(self.rng.randint(2, 10))]
        batch = [o for o in picked if o is not None]
        now = self.clock.now

        def worker(order_ids: list[str]) -> Callable[[], Any]:
            def run() -> Any:
                repos = commission_service.CommissionRepositories.on(self.table)
                report = commission_batch.credit_orders(repos, order_ids=order_ids, now=now)
                for order_id in order_ids:
                    commission_service.sync_order(repos, order_id=order_id, now=now, payouts=self.payout_queue)
                return report
            return run

        ids = [o.order_id for o in batch]
        copies = [ids] if self.rng.random() < 0.7 else [ids, ids[::-1][: max(2, len(ids) // 2)]]

        by_id = {o.order_id: o for o in batch}

        def apply(results: list[Result]) -> None:
            done = [copy for copy, r in zip(copies, results, strict=True) if r.kind == "ok"]
            for order_id in {oid for copy in done for oid in copy}:  # each message's sync ran to the end
                self.synced_wave[by_id[order_id].index] = self.waves
            if done:
                self._touch_all_open_withdrawals()

        return Op("sync batch" if len(copies) == 1 else "sync batch x2 concurrent", [worker(c) for c in copies],
                  apply)

    # ---- operations: fulfilment ----------------------------------------------------------------

    def op_ship(self: Simulator) -> Op | None:
        order = self._pick(self._orders("PAID"))
        if order is None:
            return None
        self._parcels += 1
        parcel = f"SF{self._parcels:08d}"
        now = self.clock.now
        return Op("ship", [lambda: fulfilment_service.ship_order(
            repo=OrderRepository(self.table), order_id=order.order_id, carrier="SF", tracking_no=parcel,
            admin=ADMINS[0], now=now)], lambda results: self._touched_orders.add(order.index),
            frozenset({f"order:{order.index}"}))

    def op_confirm(self: Simulator) -> Op | None:
        order = self._pick(self._orders("SHIPPED"))
        if order is None:
            return None
        now = self.clock.now
        copies = 2 if self.rng.random() < 0.15 else 1  # a double tap
        return Op("confirm_receipt", [lambda: fulfilment_service.confirm_receipt(
            repo=OrderRepository(self.table), buyer_id=order.buyer, order_id=order.order_id, now=now)] * copies,
            lambda results: self._touched_orders.add(order.index), frozenset({f"order:{order.index}"}))

    def op_auto_confirm(self: Simulator) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("auto_confirm job", [lambda: fulfilment_service.auto_confirm(
            repo=OrderRepository(self.table), settings=SettingsRepository(self.table), now=now)], apply,
            frozenset({"job:auto_confirm"}))

    def op_expiry(self: Simulator) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("expiry job", [lambda: payment_jobs.expire_due_orders(
            repos=PaymentRepositories.on(self.table), products=ProductRepository(self.table),
            merchant=self.world.merchant, pay=self.world.pay_client, now=now)], apply,
            frozenset({"job:expiry"}), levels="read")

    def op_reconcile_unpaid(self: Simulator) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("payment reconcile job", [lambda: payment_jobs.reconcile_unpaid(
            repos=PaymentRepositories.on(self.table), merchant=self.world.merchant, pay=self.world.pay_client,
            min_age_seconds=60, now=now, horizon_until=now + timedelta(days=1))], apply,
            frozenset({"job:reconcile_unpaid"}), levels="read")
