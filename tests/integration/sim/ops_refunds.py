"""The simulator's refund operations: requests (racing too), reviews, approvals WeChat Pay never got,
and WeChat Pay finishing them (mixed into ``simulator.Simulator``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mall.dal.orders import OrderRepository
from mall.dal.refunds import RefundRepository
from mall.domain.refunds import LineRequest
from mall.services import refunds as refund_service
from tests.integration.sim.model import ADMINS, MOrder, MRefund, Op, Result
from tests.integration.sim.world import NOTIFY_URL

if TYPE_CHECKING:
    from tests.integration.sim.simulator import Simulator


class RefundOps:
    """Refund requests, reviews and WeChat Pay's outcomes."""

    # ---- operations: refunds -------------------------------------------------------------------

    def refundable(self: Simulator, order: MOrder) -> dict[str, int]:
        """Per line: paid − refunded − held, from the refunds the model knows of."""
        left = {line.line_id: line.paid_fen for line in order.lines}
        for refund_id in order.refunds:
            refund = self.refunds[refund_id]
            if refund.status in {"REJECTED", "CLOSED"}:
                continue
            for line_id, amount in refund.lines.items():
                left[line_id] -= amount
        return {k: v for k, v in left.items() if v > 0}

    def op_refund_request(self: Simulator) -> Op | None:
        candidates = [o for o in self._orders("PAID", "SHIPPED", "COMPLETED") if self.refundable(o)]
        # Often a completed order of a promoter with a withdrawal in flight: its settled commission,
        # clawed back, may leave a debt that cancels the withdrawal.
        in_flight = {w.promoter for w in self.withdrawals.values()
                     if w.status in {"PENDING_REVIEW", "APPROVED", "PAYING"}}
        debtors = [o for o in candidates if o.status == "COMPLETED" and set(o.expected) & in_flight]
        targeted = bool(debtors) and self.rng.random() < 0.4
        # Often everything of an order placed with a coupon: a full refund decides the coupon's fate.
        couponed = [o for o in candidates if o.coupon_id is not None]
        whole = not targeted and bool(couponed) and self.rng.random() < 0.3
        order = self._pick(debtors if targeted else couponed if whole else candidates)
        if order is None:
            return None
        left = self.refundable(order)
        now = self.clock.now
        requests: list[dict[str, int]] = []
        racing = not targeted and not whole and self.rng.random() < 0.2  # two requests racing for the same money
        for _ in range(2 if racing else 1):
            if targeted or whole or self.rng.random() < 0.25:
                requests.append(dict(left))  # everything left
            else:
                line_id = self.rng.choice(sorted(left))
                requests.append({line_id: self.rng.randint(1, left[line_id])})

        def call(lines: dict[str, int], everything: bool) -> Callable[[], Any]:
            asked = [LineRequest(k, None if everything else v) for k, v in lines.items()]
            return lambda: refund_service.request_refund(
                orders=OrderRepository(self.table), refunds=RefundRepository(self.table), buyer_id=order.buyer,
                order_id=order.order_id, reason="不想要了", lines=asked, now=now)

        # "Everything left" is sometimes asked without amounts (the service computes them); never in a
        # race, where the amount granted would depend on which request commits first.
        everything_flags = [not racing and lines == left and self.rng.random() < 0.5 for lines in requests]

        def apply(results: list[Result]) -> None:
            for lines, r in zip(requests, results, strict=True):
                if r.kind != "ok":
                    continue
                view = r.value
                granted = {line.line_id: line.amount_fen for line in view.lines}
                if granted != lines:
                    self.fail(f"refund {view.refund_id} holds {granted}, asked {lines}")
                self.refunds[view.refund_id] = MRefund(view.refund_id, order.index, granted, view.amount_fen,
                                                       view.status.value, requested_at=now)
                order.refunds.append(view.refund_id)
            self._touched_orders.add(order.index)

        calls = [call(lines, flag) for lines, flag in zip(requests, everything_flags, strict=True)]
        return Op("refund_request" + (" x2 concurrent" if len(calls) > 1 else ""), calls, apply,
                  frozenset({f"order:{order.index}"}))

    def _refund_candidates(self: Simulator, *statuses: str) -> list[MRefund]:
        return [r for r in self.refunds.values() if r.status in statuses and self._free(f"refund:{r.refund_id}")]

    def op_refund_review(self: Simulator) -> Op | None:
        refund = self._pick(self._refund_candidates("REQUESTED"))
        if refund is None:
            return None
        order = self.orders[refund.order]
        now = self.clock.now
        if self.rng.random() < 0.2:
            call: Callable[[], Any] = lambda: refund_service.reject_refund(  # noqa: E731
                orders=OrderRepository(self.table), refunds=RefundRepository(self.table),
                refund_id=refund.refund_id, admin=ADMINS[1], reason="不符合退款条件", now=now)
            calls, name = [call], "refund_reject"
        else:
            approve = lambda: refund_service.approve_refund(  # noqa: E731
                orders=OrderRepository(self.table), refunds=RefundRepository(self.table),
                refund_id=refund.refund_id, admin=ADMINS[0], now=now, gateway=self.world.client,
                notify_url=NOTIFY_URL)
            copies = 2 if self.rng.random() < 0.15 else 1  # two admins click at once
            calls, name = [approve] * copies, "refund_approve" + (" x2 concurrent" if copies > 1 else "")

        def apply(results: list[Result]) -> None:
            self._touched_refunds.add(refund.refund_id)
            self._touched_orders.add(order.index)

        return Op(name, calls, apply, frozenset({f"refund:{refund.refund_id}", f"order:{order.index}"}))

    def op_refund_reapprove(self: Simulator) -> Op | None:
        """An approved refund WeChat Pay never got (it was unavailable): approve again."""
        bills = self.world.sandbox.snapshot()["refunds"]
        refund = self._pick([r for r in self._refund_candidates("PROCESSING") if r.refund_id not in bills])
        if refund is None:
            return None
        now = self.clock.now
        return Op("refund_reapprove", [lambda: refund_service.approve_refund(
            orders=OrderRepository(self.table), refunds=RefundRepository(self.table), refund_id=refund.refund_id,
            admin=ADMINS[0], now=now, gateway=self.world.client, notify_url=NOTIFY_URL)],
            lambda results: self._touched_refunds.add(refund.refund_id), frozenset({f"refund:{refund.refund_id}"}))

    def op_refund_finish(self: Simulator) -> Op | None:
        """WeChat Pay finishes a refund (SUCCESS, ABNORMAL, CLOSED) and notifies."""
        at_sandbox = self.world.sandbox.snapshot()["refunds"]
        candidates = [r for r in self._refund_candidates("PROCESSING", "FAILED") if not r.pending
                      and at_sandbox.get(r.refund_id, {}).get("status") in {"PROCESSING", "ABNORMAL"}]
        refund = self._pick(candidates)
        if refund is None:
            return None
        current = at_sandbox[refund.refund_id]["status"]
        outcomes = ["SUCCESS", "CLOSED"] + (["ABNORMAL"] if current == "PROCESSING" else [])
        status = self.rng.choices(outcomes, weights=[8, 1, 2][:len(outcomes)])[0]
        event = self.world.sandbox.complete_refund(refund.refund_id, status=status)
        refund.note = self.world.notification(event)
        copies = self.rng.choices([0, 1, 2], weights=[2, 6, 2])[0]
        refund.pending = copies == 0
        return self._deliveries(f"refund {status}", refund.note, copies, refund=refund)
