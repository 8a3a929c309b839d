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
of service lines, the team bonus job (``ops_extra.py``, ``ops_bonus.py``).

**How.** Each *wave* is a handful of operations drawn by a seeded ``random.Random``; all their
calls run at once on a thread pool. Operations meant to race (duplicate notifications, overlapping
settlements, concurrent withdrawals of one promoter, two binds of one customer) put several calls
in one wave. The model only keeps what the oracle needs and reads statuses back after each wave;
it never predicts production results it then checks.

**Oracle** (``check``): computed from the model's own facts and the pay sandbox's books — which
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from local.wechatpay_sandbox import SandboxError
from mall.dal.catalog import ProductRepository
from mall.dal.commissions import commission_from_item
from mall.dal.fulfilment import FulfilmentRepository
from mall.dal.identity import CustomerRepository
from mall.dal.ledger import LedgerRepository
from mall.dal.orders import OrderRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.refunds import RefundRepository, refund_key
from mall.dal.settings import SettingsRepository
from mall.dal.withdrawals import WithdrawalRepository, withdrawal_key
from mall.domain import ledger as L
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.commission_records import CommissionStatus
from mall.domain.refunds import LineRequest
from mall.domain.settings import BindingMode, DistributionSettings, WithdrawalRules
from mall.domain.settlement import refund_open_on_line
from mall.domain.withdrawals import DEBT_CANCEL_REASON
from mall.errors import DomainError
from mall.schemas.orders import AddressRequest, OrderLineRequest, PlaceOrderRequest, ShareSourceRequest
from mall.schemas.referral import ApplyRequest
from mall.schemas.withdrawals import BankAccountIn, WithdrawalRequest
from mall.services import commissions as commission_service
from mall.services import fulfilment as fulfilment_service
from mall.services import ledger as ledger_service
from mall.services import orders as order_service
from mall.services import payments as payment_service
from mall.services import referral as referral_service
from mall.services import refunds as refund_service
from mall.services import settlement as settlement_service
from mall.services.payouts.bank import mark_bank_failed, mark_bank_paid
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts
from mall.services.payouts.start import start_payout
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import approve_withdrawal, reject_withdrawal
from tests.integration.sim.ops_bonus import BonusOps, bonus_rules, check_bonuses
from tests.integration.sim.ops_extra import ExtraOps, check_extra, first_paid_orders, level_settings, voided
from tests.integration.sim.oracle import after_refunds, line_commission, scan
from tests.integration.sim.world import ADDRESS, NOTIFY_URL, PROFILE, Notification, World

# ---- the shop ------------------------------------------------------------------------------------

GLOBAL_BP = (1000, 500)
CATEGORIES = (Category("c_plain", "日用"), Category("c_rated", "精选", l1_rate_bp=1500, l2_rate_bp=500))


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    category_id: str
    price_fen: int
    mode: str  # inherit | ratio | fixed
    l1: int
    l2: int
    enabled: bool = True
    shipping_fen: int = 0
    kind: str = "physical"  # physical | service (its line is due after 核销)

    def fallback_bp(self) -> tuple[int, int]:
        """The rate an ``inherit`` product falls back to: its category's, else the global one."""
        category = next(c for c in CATEGORIES if c.category_id == self.category_id)
        return (category.l1_rate_bp if category.l1_rate_bp is not None else GLOBAL_BP[0],
                category.l2_rate_bp if category.l2_rate_bp is not None else GLOBAL_BP[1])


PRODUCTS = (
    ProductSpec("p_tea", "c_plain", 12_800, "inherit", 0, 0, shipping_fen=800),  # global 10% / 5%
    ProductSpec("p_book", "c_rated", 5_990, "inherit", 0, 0),  # category 15% / 5%
    ProductSpec("p_pot", "c_plain", 39_900, "ratio", 2000, 800),  # product 20% / 8%
    ProductSpec("p_cup", "c_rated", 1_999, "fixed", 300, 120, shipping_fen=500),  # fen per unit
    ProductSpec("p_gift", "c_plain", 8_800, "ratio", 1500, 500, enabled=False),  # not in distribution
    ProductSpec("p_pin", "c_plain", 7, "ratio", 1000, 500),  # floors to 0 fen: no record
    ProductSpec("p_spa", "c_rated", 19_900, "ratio", 1200, 400, kind="service"),  # 核销 completes its line
)
SPEC = {p.product_id: p for p in PRODUCTS}

#: Promoter chains (parent first): ``a3`` has three promoters above it, so a customer of ``a3`` has
#: four: only ``a3`` (L1) and ``a2`` (L2) may earn on their orders.
CHAINS = (("a0", "a1", "a2", "a3"), ("b0", "b1"), ("c0",))
ADMINS = ("admin:ann", "admin:bob")
BANK = BankAccountIn(bank_name="招商银行", account_name="王小二", account_no="6225880012345678")
ORDER_TERMINAL = frozenset({"EXPIRED", "CLOSED"})
WITHDRAWAL_TERMINAL = frozenset({"PAID", "FAILED", "REJECTED"})
REFUND_TERMINAL = frozenset({"SUCCEEDED", "CLOSED", "REJECTED"})
#: Exceptions a caller retries (queue redelivery, the next scheduled run): not failures.
RETRYABLE = (commission_service.SyncIncomplete, settlement_service.SettlementStuck)


def sim_settings(first_payment: bool = False) -> DistributionSettings:
    return DistributionSettings(
        binding_mode=BindingMode.INVITE_CODE, promoter_review="auto", levels=level_settings(first_payment),
        team_bonus=bonus_rules(),
        withdrawal=WithdrawalRules(min_fen=100, max_fen=199_999, daily_count=1000, daily_amount_fen=50_000_000,
                                   methods=["wechat", "bank"]))


# ---- the model -----------------------------------------------------------------------------------


@dataclass
class MLine:
    line_id: str
    spec: ProductSpec
    quantity: int
    paid_fen: int


@dataclass
class MOrder:
    index: int
    order_id: str
    buyer: str
    lines: list[MLine]
    amount_fen: int
    expected: tuple[str | None, str | None]  # (L1, L2) from the bindings the simulator made, once paid
    expires_at: datetime
    prepaid: bool
    status: str = "CREATED"  # as last read back
    paid_at_sandbox: bool = False
    payment: Notification | None = None
    payment_pending: bool = False
    refunds: list[str] = field(default_factory=list)
    expected_at_placing: tuple[str | None, str | None] | None = None  # what an unpaid order keeps
    recorded: bool = False  # its payment was recorded (read back)
    recorded_at: datetime | None = None
    levels: tuple[int, int] = (0, 0)  # the (L1, L2) earners' levels when its payment was recorded
    verified_at: datetime | None = None  # 核销 of its service lines
    sharer: str | None = None  # the promoter of its share source (first_payment)
    paid_at: datetime | None = None  # when the customer paid at WeChat Pay (its success_time)


@dataclass
class MRefund:
    refund_id: str
    order: int
    lines: dict[str, int]  # line_id → fen, as the simulator asked (or computed for "everything")
    amount_fen: int
    status: str = "REQUESTED"
    note: Notification | None = None
    pending: bool = False
    requested_at: datetime | None = None
    ended_at: datetime | None = None  # when the model read it back ended (rejected, closed, succeeded)
    open_at_settle: bool = False  # open on a completed order while a settlement ran


@dataclass
class MWithdrawal:
    withdrawal_id: str
    promoter: str
    method: str
    amount_fen: int
    status: str
    out_bill_no: str = ""
    required_approvals: int = 1
    approvals: int = 0
    note: Notification | None = None
    pending: bool = False


@dataclass
class Result:
    kind: str  # ok | refused | retry | error
    value: Any = None
    code: str = ""
    error: str = ""


@dataclass
class Op:
    name: str
    calls: list[Callable[[], Any]]
    apply: Callable[[list[Result]], None] = lambda results: None
    keys: frozenset[str] = frozenset()
    exclusive: bool = False
    #: "read": may record a payment (its earners' levels are read); "write": may change a level.
    #: The planner never puts both in one wave.
    levels: str = ""


class SimulationFailed(AssertionError):
    pass


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


class Simulator(ExtraOps, BonusOps):
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
                view = referral_service.apply(table=self.table, user_id=uid,
                                              body=ApplyRequest(accepted_rules_version=version, nickname=name),
                                              now=self.clock.now)
                assert view.status == "active", view
                self.codes[uid] = view.code
                self.promoters.append(uid)
                self._new_promoter(uid)
                self.parent[uid] = None
                if previous is not None:
                    bound = referral_service.bind_with_code(table=self.table, customer_id=uid,
                                                            code=self.codes[previous], now=self.clock.now)
                    assert bound.binding is not None and bound.binding.parent_id == previous
                    self.parent[uid] = previous
                previous = uid
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

    # ---- operations: customers and binds --------------------------------------------------------

    def op_login(self) -> Op | None:
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

    def op_bind(self) -> Op | None:
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
            return lambda: referral_service.bind_with_code(table=self.table, customer_id=customer,
                                                           code=self.codes[promoter], now=now)

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

    def op_cycle_bind(self) -> Op | None:
        """A promoter tries to bind under their own downline: always refused, nothing written."""
        top, below = self.promoters[0], self.promoters[3]
        if not self._free(f"buyer:{top}"):
            return None
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            if results[0].kind != "refused" or results[0].code != "binding_cycle":
                self.fail(f"a cycle bind was not refused: {results[0]}")

        return Op("cycle_bind", [lambda: referral_service.bind_with_code(
            table=self.table, customer_id=top, code=self.codes[below], now=now)], apply, frozenset({f"buyer:{top}"}))

    # ---- operations: orders and payments --------------------------------------------------------

    def op_place(self) -> Op | None:
        buyers = self._buyers()
        if not buyers:
            return None
        promoters = [b for b in buyers if b in self.codes]
        buyer = self._pick(promoters) if promoters and self.rng.random() < 0.12 else self._pick(
            [b for b in buyers if b not in self.codes] or buyers)
        specs = self.rng.sample(PRODUCTS, self.rng.choice([1, 1, 2, 3]))
        wanted = [(s, self.rng.choice([1, 1, 2, 3])) for s in specs]
        expected = self.expected_attribution(buyer)
        now = self.clock.now
        sharer = self._pick(self.promoters) if self.first_payment and self.rng.random() < 0.8 else None
        share = ShareSourceRequest(promoter_code=self.codes[sharer], source="link") if sharer else None
        request = PlaceOrderRequest(lines=[OrderLineRequest(product_id=s.product_id, quantity=q) for s, q in wanted],
                                    address=AddressRequest(**ADDRESS), share_source=share)

        def call() -> Any:
            return order_service.place_order(
                request=request, buyer_id=buyer, orders=OrderRepository(self.table),
                products=ProductRepository(self.table), customers=CustomerRepository(self.table),
                settings=SettingsRepository(self.table), pay=self.world.pay_client,
                notify_url=NOTIFY_URL, now=now)

        def apply(results: list[Result]) -> None:
            r = results[0]
            if r.kind != "ok":
                self.fail(f"placing an order was refused: {r.code}")
            placed = r.value
            by_product = {line.product_id: line for line in placed.lines}
            lines = []
            for spec, quantity in wanted:
                line = by_product[spec.product_id]
                if line.paid_fen != spec.price_fen * quantity or line.quantity != quantity:
                    self.fail(f"line priced {line.paid_fen} for {quantity} × {spec.price_fen}")
                lines.append(MLine(line.line_id, spec, quantity, line.paid_fen))
            order = MOrder(len(self.orders), placed.order_id, buyer, lines, placed.amount_fen, expected,
                           datetime.fromisoformat(placed.expires_at.replace("Z", "+00:00")),
                           prepaid=placed.payment is not None, expected_at_placing=expected, sharer=sharer)
            self.orders.append(order)
            self.order_by_id[order.order_id] = order

        return Op("place", [call], apply, frozenset({f"buyer:{buyer}"}))

    def op_repay(self) -> Op | None:
        """An order whose prepay failed (WeChat Pay unavailable) fetches its payment again."""
        order = self._pick([o for o in self._orders("CREATED") if not o.prepaid and self.clock.now < o.expires_at])
        if order is None:
            return None
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            if results[0].kind == "ok" and results[0].value.payment is not None:
                order.prepaid = True
            self._touched_orders.add(order.index)

        return Op("repay", [lambda: order_service.payment_for_order(
            order_id=order.order_id, buyer_id=order.buyer, orders=OrderRepository(self.table),
            customers=CustomerRepository(self.table), pay=self.world.pay_client, notify_url=NOTIFY_URL, now=now)],
            apply, frozenset({f"order:{order.index}"}))

    def op_pay(self) -> Op | None:
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

    def _deliveries(self, name: str, note: Notification, copies: int, *, order: MOrder | None = None,
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

    def op_deliver_late(self) -> Op | None:
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

    def op_redeliver(self) -> Op | None:
        """WeChat Pay delivers an already-acknowledged payment again: 204, nothing changes."""
        order = self._pick([o for o in self.orders if o.payment is not None and not o.payment_pending
                            and self._free(f"order:{o.index}")])
        if order is None:
            return None
        assert order.payment is not None
        return self._deliveries("redeliver payment", self.world.resend(order.payment), 1, order=order)

    def op_sync(self) -> Op | None:
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
            lambda: commission_service.sync_order(table=self.table, order_id=order.order_id, now=now,
                                                  payouts=self.payout_queue)] * copies, apply)

    # ---- operations: fulfilment ----------------------------------------------------------------

    def op_ship(self) -> Op | None:
        order = self._pick(self._orders("PAID"))
        if order is None:
            return None
        self._parcels += 1
        parcel = f"SF{self._parcels:08d}"
        now = self.clock.now
        return Op("ship", [lambda: fulfilment_service.ship_order(
            repo=FulfilmentRepository(self.table), order_id=order.order_id, carrier="SF", tracking_no=parcel,
            admin=ADMINS[0], now=now)], lambda results: self._touched_orders.add(order.index),
            frozenset({f"order:{order.index}"}))

    def op_confirm(self) -> Op | None:
        order = self._pick(self._orders("SHIPPED"))
        if order is None:
            return None
        now = self.clock.now
        copies = 2 if self.rng.random() < 0.15 else 1  # a double tap
        return Op("confirm_receipt", [lambda: fulfilment_service.confirm_receipt(
            repo=FulfilmentRepository(self.table), buyer_id=order.buyer, order_id=order.order_id, now=now)] * copies,
            lambda results: self._touched_orders.add(order.index), frozenset({f"order:{order.index}"}))

    def op_auto_confirm(self) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("auto_confirm job", [lambda: fulfilment_service.auto_confirm(
            repo=FulfilmentRepository(self.table), settings=SettingsRepository(self.table), now=now)], apply,
            frozenset({"job:auto_confirm"}))

    def op_expiry(self) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("expiry job", [lambda: payment_service.expire_due_orders(
            orders=OrderRepository(self.table), products=ProductRepository(self.table), merchant=self.world.merchant,
            pay=self.world.pay_client, now=now)], apply,
            frozenset({"job:expiry"}), levels="read")

    def op_reconcile_unpaid(self) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_orders()

        return Op("payment reconcile job", [lambda: payment_service.reconcile_unpaid(
            orders=OrderRepository(self.table), merchant=self.world.merchant, pay=self.world.pay_client,
            min_age_seconds=60, now=now, horizon_until=now + timedelta(days=1))], apply,
            frozenset({"job:reconcile_unpaid"}), levels="read")

    # ---- operations: refunds -------------------------------------------------------------------

    def refundable(self, order: MOrder) -> dict[str, int]:
        """Per line: paid − refunded − held, from the refunds the model knows of."""
        left = {line.line_id: line.paid_fen for line in order.lines}
        for refund_id in order.refunds:
            refund = self.refunds[refund_id]
            if refund.status in {"REJECTED", "CLOSED"}:
                continue
            for line_id, amount in refund.lines.items():
                left[line_id] -= amount
        return {k: v for k, v in left.items() if v > 0}

    def op_refund_request(self) -> Op | None:
        candidates = [o for o in self._orders("PAID", "SHIPPED", "COMPLETED") if self.refundable(o)]
        # Often a completed order of a promoter with a withdrawal in flight: its settled commission,
        # clawed back, may leave a debt that cancels the withdrawal.
        in_flight = {w.promoter for w in self.withdrawals.values()
                     if w.status in {"PENDING_REVIEW", "APPROVED", "PAYING"}}
        debtors = [o for o in candidates if o.status == "COMPLETED" and set(o.expected) & in_flight]
        targeted = bool(debtors) and self.rng.random() < 0.4
        order = self._pick(debtors if targeted else candidates)
        if order is None:
            return None
        left = self.refundable(order)
        now = self.clock.now
        requests: list[dict[str, int]] = []
        racing = not targeted and self.rng.random() < 0.2  # two requests racing for the same money
        for _ in range(2 if racing else 1):
            if targeted or self.rng.random() < 0.25:
                requests.append(dict(left))  # everything left
            else:
                line_id = self.rng.choice(sorted(left))
                requests.append({line_id: self.rng.randint(1, left[line_id])})

        def call(lines: dict[str, int], everything: bool) -> Callable[[], Any]:
            asked = [LineRequest(k, None if everything else v) for k, v in lines.items()]
            return lambda: refund_service.request_refund(
                orders=FulfilmentRepository(self.table), refunds=RefundRepository(self.table), buyer_id=order.buyer,
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

    def _refund_candidates(self, *statuses: str) -> list[MRefund]:
        return [r for r in self.refunds.values() if r.status in statuses and self._free(f"refund:{r.refund_id}")]

    def op_refund_review(self) -> Op | None:
        refund = self._pick(self._refund_candidates("REQUESTED"))
        if refund is None:
            return None
        order = self.orders[refund.order]
        now = self.clock.now
        if self.rng.random() < 0.2:
            call: Callable[[], Any] = lambda: refund_service.reject_refund(  # noqa: E731
                orders=FulfilmentRepository(self.table), refunds=RefundRepository(self.table),
                refund_id=refund.refund_id, admin=ADMINS[1], reason="不符合退款条件", now=now)
            calls, name = [call], "refund_reject"
        else:
            approve = lambda: refund_service.approve_refund(  # noqa: E731
                orders=FulfilmentRepository(self.table), refunds=RefundRepository(self.table),
                refund_id=refund.refund_id, admin=ADMINS[0], now=now, gateway=self.world.client,
                notify_url=NOTIFY_URL)
            copies = 2 if self.rng.random() < 0.15 else 1  # two admins click at once
            calls, name = [approve] * copies, "refund_approve" + (" x2 concurrent" if copies > 1 else "")

        def apply(results: list[Result]) -> None:
            self._touched_refunds.add(refund.refund_id)
            self._touched_orders.add(order.index)

        return Op(name, calls, apply, frozenset({f"refund:{refund.refund_id}", f"order:{order.index}"}))

    def op_refund_reapprove(self) -> Op | None:
        """An approved refund WeChat Pay never got (it was unavailable): approve again."""
        bills = self.world.sandbox.snapshot()["refunds"]
        refund = self._pick([r for r in self._refund_candidates("PROCESSING") if r.refund_id not in bills])
        if refund is None:
            return None
        now = self.clock.now
        return Op("refund_reapprove", [lambda: refund_service.approve_refund(
            orders=FulfilmentRepository(self.table), refunds=RefundRepository(self.table), refund_id=refund.refund_id,
            admin=ADMINS[0], now=now, gateway=self.world.client, notify_url=NOTIFY_URL)],
            lambda results: self._touched_refunds.add(refund.refund_id), frozenset({f"refund:{refund.refund_id}"}))

    def op_refund_finish(self) -> Op | None:
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
            table=self.table, as_of=now, now=now, slice_size=slice_size)] * runs, apply, frozenset({"job:settle"}))

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

    # ---- operations: withdrawals and payouts -------------------------------------------------------

    def op_withdraw(self) -> Op | None:
        promoter = self._pick([p for p in self.promoters if self._free(f"promoter:{p}")])
        if promoter is None:
            return None
        balances = LedgerRepository(self.table).wallet(promoter).balances
        available = balances.available
        if balances.debt < 0:
            self.stats["debt seen (a promoter owed, when withdrawing)"] += 1
        if available < 100 and self.rng.random() < 0.8:
            return None
        method = "bank" if self.rng.random() < 0.2 else "wechat"
        roll = self.rng.random()
        if roll < 0.2:  # concurrent requests that cannot all fit
            amounts = [max(100, available * 6 // 10)] * self.rng.choice([2, 3])
        elif roll < 0.3:
            amounts = [available + self.rng.randint(1, 500)]  # more than there is
        elif roll < 0.45 and available >= 20_000:
            amounts = [self.rng.randint(20_000, min(available, 150_000))]  # reviewed (one or two admins)
        else:
            amounts = [self.rng.randint(100, max(100, min(available, 19_999)))]
        now = self.clock.now

        def call(amount: int) -> Callable[[], Any]:
            body = WithdrawalRequest(amount_fen=amount, method=method, bank=BANK if method == "bank" else None)  # type: ignore[arg-type]
            return lambda: request_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                              settings=SettingsRepository(self.table), promoter_id=promoter, body=body,
                                              now=now, queue=self.payout_queue)

        def apply(results: list[Result]) -> None:
            for r in results:
                if r.kind == "ok":
                    view = r.value
                    self.withdrawals[view.withdrawal_id] = MWithdrawal(
                        view.withdrawal_id, promoter, method, view.amount_fen, view.status.value,
                        out_bill_no=view.out_bill_no or "", required_approvals=view.required_approvals)

        name = f"withdraw {method}" + (f" x{len(amounts)} concurrent" if len(amounts) > 1 else "")
        return Op(name, [call(a) for a in amounts], apply, frozenset({f"promoter:{promoter}"}))

    def _withdrawal_candidates(self, *statuses: str, method: str | None = None) -> list[MWithdrawal]:
        return [w for w in self.withdrawals.values() if w.status in statuses and (method is None or w.method == method)
                and self._free(f"withdrawal:{w.withdrawal_id}")]

    def op_withdraw_review(self) -> Op | None:
        w = self._pick(self._withdrawal_candidates("PENDING_REVIEW"))
        if w is None:
            return None
        now = self.clock.now
        if self.rng.random() < 0.2:
            calls = [lambda: reject_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                               withdrawal_id=w.withdrawal_id, admin=ADMINS[1], reason="资料不全",
                                               now=now, source_ip=None)]
            name = "withdrawal_reject"
        else:
            admin = ADMINS[w.approvals % 2]  # the second approval comes from the other admin
            calls = [lambda: approve_withdrawal(withdrawals=WithdrawalRepository(self.table),
                                                withdrawal_id=w.withdrawal_id, admin=admin, now=now, source_ip=None,
                                                queue=self.payout_queue)]
            name = "withdrawal_approve"
        return Op(name, calls, lambda results: self._touched_withdrawals.add(w.withdrawal_id),
                  frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_start(self) -> Op | None:
        """The payout worker: an APPROVED withdrawal, or a PAYING one whose bill WeChat Pay never got."""
        bills = self.world.sandbox.snapshot()["bills"]
        w = self._pick(self._withdrawal_candidates("APPROVED", method="wechat") + [
            m for m in self._withdrawal_candidates("PAYING") if m.out_bill_no not in bills])
        if w is None:
            return None
        now = self.clock.now
        copies = 2 if self.rng.random() < 0.2 else 1  # the payout queue redelivers
        return Op("payout_start" + (" x2 concurrent" if copies > 1 else ""), [lambda: start_payout(
            payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id, now=now,
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))] * copies,
            lambda results: self._touched_withdrawals.add(w.withdrawal_id),
            frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_finish(self) -> Op | None:
        """The promoter confirms the transfer (SUCCESS), or it fails / is cancelled unconfirmed."""
        bills = self.world.sandbox.snapshot()["bills"]
        candidates = [w for w in self._withdrawal_candidates("PAYING") if not w.pending
                      and bills.get(w.out_bill_no, {}).get("state") in {"WAIT_USER_CONFIRM", "ACCEPTED", "PROCESSING"}]
        w = self._pick(candidates)
        if w is None:
            return None
        state = self.rng.choices(["SUCCESS", "FAIL", "CANCELLED"], weights=[7, 2, 1])[0]
        event = self.world.sandbox.finish_transfer(w.out_bill_no, state=state)
        w.note = self.world.notification(event)
        copies = self.rng.choices([0, 1, 2], weights=[2, 6, 2])[0]
        w.pending = copies == 0
        return self._deliveries(f"transfer {state}", w.note, copies, withdrawal=w)

    def op_bank_mark(self) -> Op | None:
        w = self._pick(self._withdrawal_candidates("APPROVED", method="bank"))
        if w is None:
            return None
        now = self.clock.now
        if self.rng.random() < 0.8:
            call: Callable[[], Any] = lambda: mark_bank_paid(  # noqa: E731
                payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id,
                reference=f"BANK{w.withdrawal_id[-8:]}", admin=ADMINS[0], now=now)
            name = "bank mark_paid"
        else:
            call = lambda: mark_bank_failed(  # noqa: E731
                payouts=PayoutRepository(self.table), withdrawal_id=w.withdrawal_id, reason="账户名不符",
                admin=ADMINS[0], now=now)
            name = "bank mark_failed"
        return Op(name, [call], lambda results: self._touched_withdrawals.add(w.withdrawal_id),
                  frozenset({f"withdrawal:{w.withdrawal_id}"}))

    def op_payout_reconcile(self) -> Op | None:
        now = self.clock.now

        def apply(results: list[Result]) -> None:
            self._touch_all_open_withdrawals()

        return Op("payout reconcile job", [lambda: reconcile_payouts(
            payouts=PayoutRepository(self.table), now=now, stuck_after=timedelta(minutes=30),
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))], apply,
            frozenset({"job:payout_reconcile"}))

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
            table=self.table, order_id=oid, now=now, payouts=self.payout_queue)]) for o in self.orders]
        for start in range(0, len(syncs), 16):
            self._wave(syncs[start:start + 16])
        # The payout worker and reconciler carry out every bill cancellation a debt asked for.
        later = now + timedelta(hours=1)
        self._wave([Op("drain payout reconcile", [lambda: reconcile_payouts(
            payouts=PayoutRepository(self.table), now=later, stuck_after=timedelta(minutes=30),
            transfers=Transfers(pay=self.world.pay_client, notify_url=NOTIFY_URL, profile=PROFILE))],
            lambda results: self._touch_all_open_withdrawals())])
        self._wave([Op("drain settle", [lambda: settlement_service.settle_due(table=self.table, as_of=now, now=now)])])
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
    "redeliver": 1.5, "sync": 12, "ship": 6, "confirm": 5, "auto_confirm": 0.5, "expiry": 0.5,
    "reconcile_unpaid": 0.5, "refund_request": 4, "refund_review": 4, "refund_reapprove": 0.5, "refund_finish": 4,
    "settle": 2, "wechatpay_failure": 0.4, "withdraw": 4, "withdraw_review": 2,
    "payout_start": 3, "payout_finish": 3, "bank_mark": 1, "payout_reconcile": 0.5,
    "referral_worker": 2.5, "promoter_status": 3, "become_promoter": 1, "verify": 2, "team_bonus": 3,
}


# ---- the checks ----------------------------------------------------------------------------------


@dataclass
class Books:
    """What the run left, read once (a consistent scan: nothing runs any more)."""

    orders: dict[str, dict[str, Any]]
    records: list[Any]
    wallets: dict[str, L.Balances]
    postings: dict[str, list[dict[str, Any]]]
    merchant: dict[str, int]
    withdrawals: list[dict[str, Any]]
    raw_records: dict[tuple[str, str, int], dict[str, Any]]
    items: dict[tuple[str, str], dict[str, Any]]


def read_books(sim: Simulator) -> Books:
    items = scan(sim.table)
    orders = {str(i["order_id"]): i for i in items.values() if i.get("entity") == "order" and i["sk"] == "ORDER"}
    records = [commission_from_item(i) for i in items.values() if i.get("entity") == "commission"]
    ledger = LedgerRepository(sim.table)
    wallets = {uid: ledger.wallet(uid).balances for uid in sim.promoters}
    postings: dict[str, list[dict[str, Any]]] = {uid: [] for uid in sim.promoters}
    for item in items.values():
        if item.get("entity") == "posting":
            postings.setdefault(str(item["promoter_id"]), []).append(item)
    withdrawals = [i for i in items.values() if i.get("entity") == "withdrawal"]
    raw = {(str(i["order_id"]), str(i["line_id"]), int(i["level"])): i for i in items.values()
           if i.get("entity") == "commission"}
    return Books(orders, records, wallets, postings, ledger.merchant_balances(), withdrawals, raw, items)


def expected_commission(sim: Simulator, paid: set[str]) -> dict[tuple[str, str, int], tuple[str, int, int]]:
    """(order, line, level) → (beneficiary, amount when paid, amount after the refunds WeChat Pay
    completed), for every order WeChat Pay says was paid, from first principles."""
    at_sandbox = sim.world.sandbox.snapshot()["refunds"]
    expected: dict[tuple[str, str, int], tuple[str, int, int]] = {}
    for order in sim.orders:
        if order.order_id not in paid:
            continue
        refunded = refunded_lines(sim, order, at_sandbox)
        points = (sim.levels_table[order.levels[0]].l1_points, sim.levels_table[order.levels[1]].l2_points)
        for line in order.lines:
            spec = line.spec
            amounts = line_commission(base_fen=line.paid_fen, quantity=line.quantity, mode=spec.mode, l1=spec.l1,
                                      l2=spec.l2, enabled=spec.enabled, fallback_bp=spec.fallback_bp(), points=points)
            l1, l2 = order.expected
            if l2 == l1:
                l2 = None
            for level, who in ((1, l1), (2, l2)):
                amount = amounts[level - 1]
                if who is None or amount <= 0:
                    continue
                expected[(order.order_id, line.line_id, level)] = (
                    who, amount, after_refunds(amount, line.paid_fen, refunded.get(line.line_id, 0)))
    return expected


def refunded_lines(sim: Simulator, order: MOrder, at_sandbox: dict[str, Any]) -> dict[str, int]:
    refunded: dict[str, int] = {}
    for refund_id in order.refunds:
        if at_sandbox.get(refund_id, {}).get("status") == "SUCCESS":
            for line_id, amount in sim.refunds[refund_id].lines.items():
                refunded[line_id] = refunded.get(line_id, 0) + amount
    return refunded


def _refund_open(order: dict[str, Any] | None, line_id: str) -> bool:
    """A refund request still open on the line: its commission waits, even when due."""
    lines = (order or {}).get("lines") or []
    return refund_open_on_line(next((li for li in lines if str(li.get("line_id")) == line_id), None))


def check(sim: Simulator) -> dict[str, int]:  # noqa: PLR0912 - one list of the invariants, in order
    """Every invariant of the money loop after ``sim.run()``; raises ``SimulationFailed``.
    Returns a few totals for the report."""
    books = read_books(sim)
    sandbox = sim.world.sandbox.snapshot()
    problems: list[str] = []

    # 1. Orders: the attribution the bindings imply; paid exactly when WeChat Pay took the money;
    #    every line refunded by what WeChat Pay refunded.
    paid = {oid for oid, o in sandbox["orders"].items() if o["trade_state"] in {"SUCCESS", "REFUND"}}
    for order in sim.orders:
        stored = books.orders[order.order_id]
        attribution = stored.get("attribution") or {}
        recorded_paid = bool(stored.get("paid_at")) and stored["status"] not in {"CREATED", "EXPIRED",
                                                                                  "PAID_AFTER_EXPIRY"}
        want = order.expected if recorded_paid else order.expected_at_placing
        # In first_payment mode an unpaid order's attribution is only a preview (decided at payment).
        if (recorded_paid or not sim.first_payment) and \
                (attribution.get("l1_promoter_id"), attribution.get("l2_promoter_id")) != want:
            problems.append(f"{order.order_id} attributed {attribution}, expected {want}")
        ever_paid = bool(stored.get("paid_at")) and stored["status"] not in {"CREATED", "EXPIRED"}
        if ever_paid != (order.order_id in paid):
            problems.append(f"{order.order_id} is {stored['status']} but WeChat Pay says paid={order.order_id in paid}")
        refunded = refunded_lines(sim, order, sandbox["refunds"])
        for line in stored["lines"]:
            if int(line.get("refunded_fen", 0)) != refunded.get(str(line["line_id"]), 0):
                problems.append(f"{order.order_id} line {line['line_id']} refunded {line.get('refunded_fen')}, "
                                f"WeChat Pay refunded {refunded.get(str(line['line_id']), 0)}")
        at_wechat = sum(r["refund"] for r in sandbox["refunds"].values()
                        if r["out_trade_no"] == order.order_id and r["status"] == "SUCCESS")
        ours = (sum(int(li.get("refunded_fen", 0)) for li in stored["lines"])
                + int(stored.get("shipping_refunded_fen", 0)))
        if at_wechat != ours:
            problems.append(f"{order.order_id}: WeChat Pay refunded {at_wechat}, the order says {ours}")

    # 2. Commission records: exactly the expected ones, each at its first-principles amount.
    expected = expected_commission(sim, paid)
    stored_records = {(r.order_id, r.line_id, int(r.level)): r for r in books.records}
    # A disabled promoter's unsettled commission was voided (checked below: only theirs, never settled
    # after the disable): it owes them nothing more.
    for key, (who, amount, _current) in list(expected.items()):
        if voided(books.raw_records.get(key)) and who in sim.disabled_at:
            expected[key] = (who, amount, 0)
    if set(stored_records) != set(expected):
        problems.append(f"records missing {sorted(set(expected) - set(stored_records))[:5]}, "
                        f"unexpected {sorted(set(stored_records) - set(expected))[:5]}")
    frozen: Counter[str] = Counter()
    settled: Counter[str] = Counter()
    owed_total: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for key, (who, amount, current) in expected.items():
        owed_total[who] += current
        record = stored_records.get(key)
        if record is None:
            continue
        if (record.beneficiary_id, record.amount_fen, record.current_fen) != (who, amount, current):
            problems.append(f"{key}: {record.beneficiary_id} {record.amount_fen} → {record.current_fen}, expected "
                            f"{who} {amount} → {current}")
        if min(record.cancelled_fen, record.clawed_back_fen, record.current_fen) < 0:
            problems.append(f"{key}: negative amounts {record}")
        if record.status == CommissionStatus.FROZEN:
            frozen[who] += record.current_fen
            if record.due_at is not None and sim._last_settle is not None and record.due_at <= sim._last_settle \
                    and not record.hold and not _refund_open(books.orders.get(record.order_id), record.line_id) \
                    and sim.status.get(who) != "frozen":
                problems.append(f"{key}: FROZEN though due at {record.due_at}, settled up to {sim._last_settle}")
        elif record.status == CommissionStatus.SETTLED:
            settled[who] += record.current_fen
            counts["settled"] += 1
        elif record.current_fen != 0:
            problems.append(f"{key}: CANCELLED with {record.current_fen} fen left")
        counts["clawed_back"] += bool(record.clawed_back_fen)
        counts["cancelled"] += bool(record.cancelled_fen)
    for bonus in check_bonuses(sim, books.items, problems, counts):  # checked against the oracle there
        owed_total[bonus.beneficiary_id] += bonus.current_fen
        if bonus.status == CommissionStatus.FROZEN:
            frozen[bonus.beneficiary_id] += bonus.current_fen
        elif bonus.status == CommissionStatus.SETTLED:
            settled[bonus.beneficiary_id] += bonus.current_fen

    check_extra(sim, books, settlement_days=sim_settings().commission.settlement_days, problems=problems,
                counts=counts)

    # 3. The ledger balances: wallets and merchant accounts are the sums of their legs; Σ = 0.
    merchant_legs: Counter[str] = Counter()
    for uid, balances in books.wallets.items():
        legs = L.sum_legs(books.postings.get(uid, []))
        for account in L.Account:
            if balances.get(account.value) != legs.get(account.value, 0):
                problems.append(f"{uid} {account.value}: wallet {balances.get(account.value)}, legs "
                                f"{legs.get(account.value, 0)}")
            value = balances.get(account.value)
            if (value > 0) if account == L.Account.DEBT else (value < 0):
                problems.append(f"{uid} {account.value} is {value}")
        for m in L.MerchantAccount:
            merchant_legs[m.value] += legs.get(m.value, 0)
        counts["debt"] += balances.debt < 0
        if balances.debt < 0 and balances.available > 0:
            problems.append(f"{uid}: {balances.available} available while owing {-balances.debt}")
    for m in L.MerchantAccount:
        if books.merchant.get(m.value, 0) != merchant_legs[m.value]:
            problems.append(f"{m.value}: {books.merchant.get(m.value)} but its legs sum to {merchant_legs[m.value]}")
    total = sum(sum(b.as_dict().values()) for b in books.wallets.values()) + sum(books.merchant.values())
    if total != 0:
        problems.append(f"promoter + merchant accounts sum to {total}, not 0")

    # 4. Withdrawals: held, paid and returned money against the wallets and WeChat Pay's transfers.
    by_promoter: dict[str, Counter[str]] = {uid: Counter() for uid in sim.promoters}
    transferred = {b["out_bill_no"]: b for b in sandbox["bills"].values() if b["state"] == "SUCCESS"}
    for w in books.withdrawals:
        tally = by_promoter[str(w["promoter_id"])]
        status = str(w["status"])
        if status in {"PENDING_REVIEW", "APPROVED", "PAYING"}:
            tally["withdrawing"] += int(w["amount_fen"])
        elif status == "PAID":
            tally["withdrawn"] += int(w["net_fen"])
            tally["fees"] += int(w["fee_fen"])
            counts[f"paid {w['method']}"] += 1
            if w["method"] == "wechat":
                bill = transferred.get(str(w["out_bill_no"]))
                if bill is None or bill["transfer_amount"] != int(w["net_fen"]):
                    problems.append(f"{w['withdrawal_id']} PAID but WeChat Pay transferred {bill}")
        counts[f"withdrawal {status}"] += 1
        if DEBT_CANCEL_REASON in (w.get("reason"), w.get("fail_reason")):
            counts["withdrawal cancelled for debt"] += 1
        if status == "PAYING" and w.get("cancel_reason"):
            bill = sandbox["bills"].get(str(w["out_bill_no"]), {})
            if bill.get("state") in {"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM"}:
                problems.append(f"{w['withdrawal_id']}: its bill's cancellation (a debt) was never carried out")
    paid_bills = {str(w["out_bill_no"]) for w in books.withdrawals if w["status"] == "PAID"}
    for out_bill_no, bill in transferred.items():
        if out_bill_no not in paid_bills:
            problems.append(f"WeChat Pay transferred {bill['transfer_amount']} on {out_bill_no}, not PAID here")
    for uid, b in books.wallets.items():
        tally = by_promoter[uid]
        if b.frozen != frozen[uid]:
            problems.append(f"{uid}: frozen {b.frozen}, FROZEN records {frozen[uid]}")
        if b.withdrawing != tally["withdrawing"] or b.withdrawn != tally["withdrawn"]:
            problems.append(f"{uid}: withdrawing {b.withdrawing} / withdrawn {b.withdrawn}, withdrawals say "
                            f"{tally['withdrawing']} / {tally['withdrawn']}")
        if b.available + b.withdrawing + b.withdrawn + b.debt + tally["fees"] != settled[uid]:
            problems.append(f"{uid}: {b} + fees {tally['fees']} != SETTLED records {settled[uid]}")
        if b.frozen + b.available + b.withdrawing + b.withdrawn + b.debt + tally["fees"] != owed_total[uid]:
            problems.append(f"{uid}: the wallet holds {b} + fees {tally['fees']}, first principles owe "
                            f"{owed_total[uid]}")

    # 5. No money created or lost: the merchant granted exactly the commission owed; the fees it
    #    kept are the fees of paid withdrawals; what left is what WeChat Pay transferred (+ bank).
    fees = sum(t["fees"] for t in by_promoter.values())
    if -books.merchant.get(L.MerchantAccount.COMMISSION.value, 0) != sum(owed_total.values()):
        problems.append(f"merchant:commission {books.merchant.get(L.MerchantAccount.COMMISSION.value)}, "
                        f"commission owed {sum(owed_total.values())}")
    if books.merchant.get(L.MerchantAccount.FEES.value, 0) != fees:
        problems.append(f"merchant:fees {books.merchant.get(L.MerchantAccount.FEES.value)}, fees {fees}")

    # 6. The production reconciliation agrees.
    report = ledger_service.reconcile(ledger=LedgerRepository(sim.table), reports=ReconciliationRepository(sim.table),
                                      promoters=PromoterRepository(sim.table), as_of=sim.clock.now, now=sim.clock.now)
    if report.mismatches or not report.run.clean:
        problems.append(f"reconciliation: {report.run} {report.mismatches[:5]}")

    if problems:
        sim.fail(f"{len(problems)} invariant(s) broken", "\n".join(problems[:25]))
    counts["records"] = len(stored_records)
    counts["paid orders"] = len(paid & {o.order_id for o in sim.orders})
    counts["commission fen"] = sum(owed_total.values())
    counts["withdrawn fen"] = sum(t["withdrawn"] for t in by_promoter.values())
    return dict(counts)


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
