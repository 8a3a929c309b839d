"""A seeded randomized simulator of the money loop on DynamoDB Local, with real parallelism.

**What runs.** Operations through the services the deployed functions call (no shortcut writes):
logins, invite-code binds (promoter chains four deep; only two levels may ever earn), orders
(``mall.services.orders.place_order`` with a JSAPI prepay at the pay sandbox), payments (the
customer pays at the sandbox, which signs a genuine TRANSACTION.SUCCESS; it reaches
``mall.services.payments.handle_notification`` once, twice at the same moment, late, or never —
then the expiry or reconciliation job finds it), commission syncs (duplicated, concurrent, late),
shipping, receipt and auto-confirmation, refunds (requested, concurrently too; approved through
the WeChat Pay client, rejected; finished at the sandbox as SUCCESS, ABNORMAL or CLOSED and
notified like payments), settlement runs (overlapping), withdrawals (concurrent requests of one
promoter, auto / manual / dual review), payouts (transfer bills created through the client and
finished SUCCESS / FAIL / CANCELLED with MCHTRANSFER notifications, bank transfers marked paid or
failed, the payout reconciler), injected WeChat Pay failures, and time passing; the referral worker
(sales counters and levels), admin freezes / unfreezes / disables, customers becoming promoters, 核销
of service lines, the team bonus job; coupons claimed and used at ``POST /orders``, commission campaigns
created and ended (``ops_incentives``). The operations live in the ``ops_*`` modules, mixed into
``Simulator``; the shop and the model in ``model.py``.

**How.** Each *wave* is a handful of operations drawn by a seeded ``random.Random``; all their
calls run at once on a thread pool. Operations meant to race (duplicate notifications, overlapping
settlements, concurrent withdrawals of one promoter, two binds of one customer) put several calls
in one wave. The model only keeps what the oracle needs and reads statuses back after each wave;
it never predicts production results it then checks.

**Oracle** (``checks.check``): computed from the model's own facts and the pay sandbox's books — which
orders were paid at WeChat Pay, each line's price × quantity, the bindings the simulator made,
the catalog's rates, the refunds WeChat Pay completed — never from the production calculator.

**Reproducing.** ``SIM_SEED`` fixes the plan's random choices; the threads' interleaving is not
reproducible (that is the point of running them), so a seed replays the same kind of run, and
``SIM_WORKERS=1`` runs each wave's calls one after the other for a deterministic replay.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from mall.dal.keys import refund_key, withdrawal_key
from mall.dal.ledger import LedgerRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.domain.catalog import CommissionSetting, Product
from mall.domain.settings import BindingMode
from mall.errors import DomainError
from mall.schemas.referral import ApplyRequest
from mall.services import commissions as commission_service
from mall.services import ledger as ledger_service
from mall.services import settlement as settlement_service
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts
from mall.services.referral import ReferralRepositories
from mall.services.referral import promoters as referral_promoters
from mall.services.referral.binding import BindWithCode, bind_with_code
from tests.integration.sim.checks import check
from tests.integration.sim.model import (
    CATEGORIES,
    CHAINS,
    ORDER_TERMINAL,
    PRODUCTS,
    REFUND_TERMINAL,
    RETRYABLE,
    WITHDRAWAL_TERMINAL,
    MOrder,
    MRefund,
    MWithdrawal,
    Op,
    Result,
    SimulationFailed,
    sim_settings,
)
from tests.integration.sim.ops_bonus import BonusOps
from tests.integration.sim.ops_extra import ExtraOps, first_paid_orders
from tests.integration.sim.ops_incentives import IncentiveOps
from tests.integration.sim.ops_orders import OrderOps
from tests.integration.sim.ops_payouts import PayoutOps
from tests.integration.sim.ops_refunds import RefundOps
from tests.integration.sim.world import NOTIFY_URL, PROFILE, World


class PayoutQueue:
    """``PayoutQueue`` as the withdrawal service sees it: approved withdrawals are sent here; the
    simulator's payout worker operation picks APPROVED withdrawals whether or not they were sent
    (a lost send is what the payout reconciler recovers)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, body: Any) -> None:
        with self._lock:
            self.sent.append(dict(body))


class _QuietLogs:
    """The services log every payment, sync and settlement at INFO as Powertools JSON: thousands
    of lines that cost CPU and say nothing here. Warnings and errors still show."""

    def __init__(self) -> None:
        self._levels: dict[str, int] = {}
        for name in list(logging.root.manager.loggerDict):
            if name == "mall" or name.startswith("mall."):
                found = logging.getLogger(name)
                self._levels[name] = found.level
                found.setLevel(logging.WARNING)

    def restore(self) -> None:
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


def _guard(call: Callable[[], Any]) -> Result:
    try:
        return Result("ok", call())
    except DomainError as exc:  # a business refusal: the caller gets a 4xx
        return Result("refused", code=exc.code)
    except RETRYABLE as exc:  # the queue / the next run retries it
        return Result("retry", code=type(exc).__name__)
    except Exception as exc:  # reported with its traceback: it fails the run
        return Result("error", code=type(exc).__name__, error=traceback.format_exc())


# ---- the simulator -------------------------------------------------------------------------------


class Simulator(OrderOps, RefundOps, PayoutOps, ExtraOps, BonusOps, IncentiveOps):
    def __init__(self, world: World, *, seed: int, operations: int, workers: int = 8, wave_calls: int = 8,
                 first_payment: bool = False) -> None:
        self.world = world
        self.first_payment = first_payment
        self.settings_version = 0
        self.table = world.table
        self.seed = seed
        self.rng = random.Random(seed)
        self.target = operations
        self.workers = workers
        self.wave_calls = wave_calls
        self.clock = world.clock
        self.customers: list[str] = []
        self.codes: dict[str, str] = {}  # promoter user id → code
        self.parent: dict[str, str | None] = {}
        self.promoters: list[str] = []
        self.orders: list[MOrder] = []
        self.order_by_id: dict[str, MOrder] = {}
        self.refunds: dict[str, MRefund] = {}
        self.withdrawals: dict[str, MWithdrawal] = {}
        self.stats: Counter[str] = Counter()
        self.log: list[str] = []
        self.calls_run = 0
        self.waves = 0
        self.checkpoints = 0
        self._locked: set[str] = set()
        self._touched_orders: set[int] = set()
        self._touched_refunds: set[str] = set()
        self._touched_withdrawals: set[str] = set()
        self._logins = 0
        self._parcels = 0
        self._last_settle: datetime | None = None
        self.payout_queue = PayoutQueue()
        self._init_extra()
        self._init_bonus()
        self.by_name: dict[str, str] = {}  # the set-up promoters' names (CHAINS) → user id
        self._init_incentives()

    # ---- set-up -------------------------------------------------------------------------------

    def setup(self) -> None:
        world = self.world
        version = world.save_settings(sim_settings())
        world.add_catalog(CATEGORIES, [Product(
            product_id=p.product_id, name=f"商品{p.product_id}", type=p.kind,  # type: ignore[arg-type]
            category_id=p.category_id,
            price_fen=p.price_fen, stock=10_000_000, shipping_fee_fen=p.shipping_fen, on_shelf=True,
            distribution_enabled=p.enabled, commission=CommissionSetting(p.mode, p.l1, p.l2),  # type: ignore[arg-type]
        ) for p in PRODUCTS])
        for chain in CHAINS:
            previous: str | None = None
            for name in chain:
                uid = world.customer(f"promoter-{name}")
                view = referral_promoters.apply(network=ReferralRepositories.on(self.table), user_id=uid,
                             body=ApplyRequest(accepted_rules_version=version, nickname=name), now=self.clock.now)
                assert view.status == "active", view
                self.codes[uid] = view.code
                self.by_name[name] = uid
                self.activated[uid] = self.clock.now
                self.promoters.append(uid)
                self._new_promoter(uid)
                self.parent[uid] = None
                if previous is not None:
                    bound = bind_with_code(BindWithCode(customer_id=uid, code=self.codes[previous], now=self.clock.now),
                                           network=ReferralRepositories.on(self.table))
                    assert bound.binding is not None and bound.binding.parent_id == previous
                    self.parent[uid] = previous
                previous = uid
        self.setup_incentives()
        if self.first_payment:  # the chains were bound by invite code; customers bind by their first payment
            version = world.save_settings(sim_settings(True).model_copy(
                update={"binding_mode": BindingMode.FIRST_PAYMENT}))
        self.settings_version = version

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> None:
        self._install_metrics_lock()
        quiet = _QuietLogs()
        self.setup()
        try:
            with ThreadPoolExecutor(max_workers=max(self.workers, 1)) as pool:
                self._pool = pool
                while self.calls_run < self.target:
                    if self.waves % DAY_EVERY_WAVES == DAY_EVERY_WAVES - 1 or self.rng.random() < DAY_JUMP_PER_WAVE:
                        self._wave([self.time_passes()])
                        bonus = self.op_team_bonus()  # the daily schedule, when a month is due
                        if bonus is not None and self.rng.random() < 0.7:
                            self._wave([bonus])
                        # The stream worker keeps up in production; drawn only as the first op of a
                        # wave it ran too seldom for levels to change while orders were still placed.
                        catch_up = self.op_referral_worker()
                        if catch_up is not None and self.rng.random() < 0.7:
                            self._wave([catch_up])
                    self._wave(self.plan_wave())
                    if self.waves % 150 == 0:
                        self.checkpoint()
                self.drain()
        finally:
            quiet.restore()

    def _install_metrics_lock(self) -> None:
        """Powertools' EMF metrics keep one in-memory set per process and flush it from whichever
        thread reaches 100 values; the Lambda runtime never calls them from two threads, so the
        simulator serialises them (metrics are not under test here)."""
        provider = AmazonCloudWatchEMFProvider
        if getattr(provider.add_metric, "_sim_locked", False):
            return
        original = provider.add_metric
        lock = threading.Lock()

        def add_metric(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        add_metric._sim_locked = True  # type: ignore[attr-defined]
        provider.add_metric = add_metric  # type: ignore[method-assign]

    def plan_wave(self) -> list[Op]:
        self._locked = set()
        ops: list[Op] = []
        calls = 0
        for _ in range(40):
            if calls >= self.wave_calls:
                break
            kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            op: Op | None = getattr(self, f"op_{kind}")()
            if op is None:
                continue
            if op.exclusive:
                if ops:
                    continue
                return [op]
            if op.keys & self._locked:
                continue
            if op.levels and ("levels:" + ("write" if op.levels == "read" else "read")) in self._locked:
                continue
            if op.levels:
                self._locked.add("levels:" + op.levels)
            self._locked |= op.keys
            ops.append(op)
            calls += len(op.calls)
        return ops

    def _wave(self, ops: Sequence[Op]) -> None:
        self.waves += 1
        jobs = [(i, j, call) for i, op in enumerate(ops) for j, call in enumerate(op.calls)]
        self.rng.shuffle(jobs)
        results: dict[tuple[int, int], Result] = {}
        if self.workers <= 1:
            for i, j, call in jobs:
                results[(i, j)] = _guard(call)
        else:
            futures = {(i, j): self._pool.submit(_guard, call) for i, j, call in jobs}
            results = {key: future.result() for key, future in futures.items()}
        for i, op in enumerate(ops):
            got = [results[(i, j)] for j in range(len(op.calls))]
            self.calls_run += len(got)
            self.stats[f"op {op.name}"] += 1
            for r in got:
                self.stats[f"{r.kind} {op.name}{' ' + r.code if r.code else ''}"] += 1
            self.log.append(f"wave {self.waves} @{self.clock.now:%m-%d %H:%M:%S} {op.name}: "
                            + ", ".join(r.kind + (f"({r.code})" if r.code else "") for r in got))
            errors = [r for r in got if r.kind == "error"]
            if errors:
                self.fail(f"{op.name} raised {errors[0].code}", errors[0].error)
            op.apply(got)
        self._refresh()
        self.clock.advance(timedelta(seconds=20))

    def fail(self, what: str, detail: str = "") -> None:
        tail = "\n".join(self.log[-40:])
        raise SimulationFailed(f"SIM_SEED={self.seed}: {what} (wave {self.waves}, {self.calls_run} calls)\n"
                               f"{detail}\nlast operations:\n{tail}")

    # ---- reading back --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Statuses as stored, for the orders, refunds and withdrawals this wave touched."""
        table = self.table
        self._read_orders()
        # Every open refund is read back: when it ended decides which settlements it could block.
        self._touched_refunds |= {r for r, m in self.refunds.items() if m.status not in REFUND_TERMINAL}
        if self._touched_refunds:
            keys = [refund_key(self.orders[self.refunds[r].order].order_id, r) for r in self._touched_refunds]
            for item in table.batch_get(keys, consistent=True):
                refund = self.refunds[str(item["refund_id"])]
                status = str(item["status"])
                if status in REFUND_TERMINAL and refund.ended_at is None:
                    refund.ended_at = self.clock.now
                    self.changed_wave[refund.order] = self.waves
                    if status == "SUCCEEDED":
                        self.referral_refunds.append(refund.refund_id)
                refund.status = status
        if self._touched_withdrawals:
            keys = [withdrawal_key(w) for w in self._touched_withdrawals]
            for item in table.batch_get(keys, consistent=True):
                w = self.withdrawals[str(item["withdrawal_id"])]
                w.status = str(item["status"])
                w.out_bill_no = str(item.get("out_bill_no", ""))
                w.approvals = len(item.get("approvals", []))
        self._touched_refunds.clear()
        self._touched_withdrawals.clear()

    def _read_orders(self) -> None:
        """The touched orders' statuses; an order whose payment was recorded in this wave is noted
        with the earners and levels it was recorded for."""
        table = self.table
        recorded: list[MOrder] = []
        if self._touched_orders:
            keys = [{"pk": f"ORDER#{self.orders[i].order_id}", "sk": "ORDER"} for i in self._touched_orders]
            for item in table.batch_get(keys, consistent=True):
                order = self.order_by_id[str(item["order_id"])]
                order.status = str(item["status"])
                if order.coupon_id is not None:
                    self.coupon_follows(order, order.status)
                if not order.recorded and item.get("paid_at") and order.status not in {
                        "CREATED", "EXPIRED", "PAID_AFTER_EXPIRY"}:
                    order.recorded = True
                    recorded.append(order)
        if recorded:
            firsts = first_paid_orders(self, {o.buyer for o in recorded if self.first_payment
                                              and o.buyer not in self.codes and o.buyer not in self.first_sharer})
            for buyer, first in firsts.items():
                if first not in {o.order_id for o in recorded if o.buyer == buyer}:
                    self.fail(f"{buyer}'s first paid order is {first}, none of those recorded now")
            for order in sorted(recorded, key=lambda o: o.index):
                self._note_recorded(order, firsts)
        self._touched_orders.clear()

    def _touch_all_open_orders(self) -> None:
        self._touched_orders |= {o.index for o in self.orders if o.status not in ORDER_TERMINAL}

    def _touch_all_open_withdrawals(self) -> None:
        self._touched_withdrawals |= {w for w, m in self.withdrawals.items() if m.status not in WITHDRAWAL_TERMINAL}

    # ---- choosing ------------------------------------------------------------------------------

    def _free(self, key: str) -> bool:
        return key not in self._locked

    def _may_record_payments(self) -> bool:
        """No op of this wave may change a level (checked before an op has side effects: a payment
        made at WeChat Pay must be delivered by the op that made it)."""
        return "levels:write" not in self._locked

    def _pick(self, candidates: Sequence[Any]) -> Any:
        return self.rng.choice(candidates) if candidates else None

    def _orders(self, *statuses: str, key: bool = True) -> list[MOrder]:
        return [o for o in self.orders if o.status in statuses and (not key or self._free(f"order:{o.index}"))]

    def _buyers(self) -> list[str]:
        return [b for b in self.customers + self.promoters if self._free(f"buyer:{b}")]

    def expected_attribution(self, buyer: str) -> tuple[str | None, str | None]:
        """docs/business-rules.md: the buyer's parent earns L1 and the parent's parent L2; a promoter buying
        earns L1 on their own order (self-purchase ``rebate``, the default) and their parent L2.
        Only an active promoter earns (a frozen or disabled one's level is not paid, nor shifted
        up; a promoter who is not active buys as their parent's customer). In ``first_payment``
        mode an unbound buyer's orders go to the sharer of their first paid order."""
        active = self._active
        if buyer in self.codes and active(buyer):
            return buyer, active(self.parent.get(buyer))
        parent = self.parent.get(buyer)
        if parent is None and self.first_payment:
            parent = self.first_sharer.get(buyer)
            if parent == buyer:
                parent = None
        return (active(parent), active(self.parent.get(parent))) if parent else (None, None)

    # ---- operations: settlement ----------------------------------------------------------------

    def op_settle(self) -> Op | None:
        now = self.clock.now
        runs = 2 if self.rng.random() < 0.3 else 1  # overlapping runs
        slice_size = self.rng.choice([3, 10, 100])

        open_on_due = [r for r in self.refunds.values() if r.status not in REFUND_TERMINAL
                       and self.orders[r.order].status == "COMPLETED"]

        def apply(results: list[Result]) -> None:
            self._last_settle = now
            for refund in open_on_due:
                refund.open_at_settle = True

        return Op("settle" + (" x2 overlapping" if runs > 1 else ""), [lambda: settlement_service.settle_due(
            settlement_service.SettlementRepositories.on(self.table), as_of=now, now=now,
            slice_size=slice_size)] * runs, apply, frozenset({"job:settle"}))

    def time_passes(self) -> Op:
        """Days go by (between waves): orders left unpaid expire, shipped ones auto-confirm,
        completed ones become due for settlement."""
        delta = timedelta(days=self.rng.choice([1, 1, 2, 3]), hours=self.rng.randint(0, 23))

        def advance() -> None:
            self.clock.advance(delta)

        self.log.append(f"time passes: {delta}")
        return Op("time passes", [advance], exclusive=True)

    def op_ledger_check(self) -> Op | None:
        """The daily reconciliation while nothing else runs: it must find the ledger clean."""
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            report = results[0].value
            if results[0].kind != "ok" or report.mismatches or not report.run.clean:
                self.fail(f"reconciliation not clean: {results[0]}")

        return Op("ledger reconciliation", [lambda: ledger_service.reconcile(
            ledger=LedgerRepository(self.table), reports=ReconciliationRepository(self.table),
            promoters=PromoterRepository(self.table), as_of=now, now=now)], apply, exclusive=True)

    def op_wechatpay_failure(self) -> Op | None:
        """WeChat Pay answers the next API call (whoever makes it in this wave) with a 500."""
        def fail_next() -> None:
            self.world.sandbox.fail_next(500, "SYSTEM_ERROR")

        return Op("wechatpay fails next call", [fail_next], keys=frozenset({"job:failure"}))

    # ---- the end ---------------------------------------------------------------------------------

    def drain(self) -> None:
        """Let the at-least-once machinery finish: every lost notification is delivered, every
        order synced once more, one more settlement run. Then the books must agree."""
        pending: list[Op] = []
        for order in self.orders:
            if order.payment_pending and order.payment is not None:
                order.payment_pending = False
                pending.append(self._deliveries("drain payment", self.world.resend(order.payment), 1, order=order))
        for refund in self.refunds.values():
            if refund.pending and refund.note is not None:
                refund.pending = False
                pending.append(self._deliveries("drain refund", self.world.resend(refund.note), 1, refund=refund))
        for w in self.withdrawals.values():
            if w.pending and w.note is not None:
                w.pending = False
                pending.append(self._deliveries("drain transfer", self.world.resend(w.note), 1, withdrawal=w))
        for start in range(0, len(pending), 16):
            self._wave(pending[start:start + 16])
        now = self.clock.now
        syncs = [Op("drain sync", [lambda oid=o.order_id: commission_service.sync_order(  # type: ignore[misc]
            commission_service.CommissionRepositories.on(self.table), order_id=oid, now=now,
            payouts=self.payout_queue)]) for o in self.orders]
        for start in range(0, len(syncs), 16):
            self._wave(syncs[start:start + 16])
        # The payout worker and reconciler carry out every bill cancellation a debt asked for.
        later = now + timedelta(hours=1)
        self._wave([Op("drain payout reconcile", [lambda: reconcile_payouts(
            payouts=PayoutRepository(self.table), now=later, stuck_after=timedelta(minutes=30),
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))],
            lambda results: self._touch_all_open_withdrawals())])
        self._wave([Op("drain settle", [lambda: settlement_service.settle_due(
            settlement_service.SettlementRepositories.on(self.table), as_of=now, now=now)])])
        self._last_settle = now
        # The referral worker catches up: the levels and counters must then be the model's.
        while self.referral_orders or self.referral_refunds:
            op = self.op_referral_worker()
            if op is None:
                self.fail(f"the referral worker cannot finish: {self.referral_refunds}")
            self._wave([op])

    def checkpoint(self) -> None:
        self.checkpoints += 1
        self._wave([op for op in [self.op_ledger_check()] if op is not None])

    def summary(self) -> str:
        lines = [f"SIM_SEED={self.seed}: {self.calls_run} calls in {self.waves} waves, {len(self.orders)} orders, "
                 f"{len(self.refunds)} refunds, {len(self.withdrawals)} withdrawals, {len(self.customers)} customers, "
                 f"simulated {self.clock.now:%Y-%m-%d %H:%M}"]
        lines += [f"  {count:>6} {name}" for name, count in sorted(self.stats.items())]
        return "\n".join(lines)


#: Days pass (one to three) every ``DAY_EVERY_WAVES`` waves, and by chance before any wave: completed
#: orders become due, settled money gets withdrawn, unpaid orders expire, shipped ones auto-confirm.
DAY_EVERY_WAVES = 10
DAY_JUMP_PER_WAVE = 0.03
#: How often each kind of operation is drawn (relative).
WEIGHTS: dict[str, float] = {
    "login": 3, "bind": 4, "cycle_bind": 0.2, "place": 14, "repay": 1, "pay": 12, "deliver_late": 3,
    "redeliver": 1.5, "sync": 12, "sync_batch": 4, "ship": 6, "confirm": 5, "auto_confirm": 0.5, "expiry": 0.5,
    "reconcile_unpaid": 0.5, "refund_request": 4, "refund_review": 4, "refund_reapprove": 0.5, "refund_finish": 4,
    "settle": 2, "wechatpay_failure": 0.4, "withdraw": 4, "withdraw_review": 2,
    "payout_start": 3, "payout_finish": 3, "bank_mark": 1, "payout_reconcile": 0.5,
    "referral_worker": 2.5, "promoter_status": 3, "become_promoter": 1, "verify": 2, "team_bonus": 3,
    "claim": 6, "campaign": 2,
}




def run_simulation(world: World, *, seed: int, operations: int, workers: int = 8,
                   first_payment: bool = False) -> tuple[Simulator, dict[str, int]]:
    started = time.perf_counter()
    sim = Simulator(world, seed=seed, operations=operations, workers=workers, first_payment=first_payment)
    try:
        sim.run()
        totals = check(sim)
    finally:
        print(sim.summary())
    print(f"SIM_SEED={seed}: checked in {time.perf_counter() - started:.1f} s: {totals}")
    return sim, totals
