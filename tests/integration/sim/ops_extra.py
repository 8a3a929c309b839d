"""The simulator's operations and checks for promoter levels, admin status changes, service lines
and ``first_payment`` attribution (mixed into ``simulator.Simulator``).

**Levels from first principles.** The model keeps each promoter's counters as the referral worker
(``referral_order_paid``) keeps them by the rules of docs/levels.md — own and team sales on the
distribution base of each counted paid order, less the base of its refunds that succeeded, and the
有效下线 (bound members with a recorded paid order) — and a promoter's level is the highest one whose
conditions hold (the levels' conditions are nested, so upgrades after a sale and re-evaluations after
a refund both land there). Every order records the levels its earners had when its payment was
recorded (docs/commission-snapshot.md), and the oracle prices it with those levels' points.

**Knowing the moment.** Levels change only in a referral worker wave (exclusive) or a bind of a
customer who has already paid (an ``levels="write"`` op); payments are recorded only in
``levels="read"`` ops; the planner never puts a reader and a writer in one wave. Admin freezes,
unfreezes and disables are exclusive waves. So the state an order's payment saw is the model's state
in the wave its payment was recorded (``_note_recorded``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mall.dal.keys import refund_key
from mall.dal.orders import OrderRepository
from mall.dal.referral import BindingRepository, PromoterRepository
from mall.domain.settings import LevelUpgrade, PromoterLevel
from mall.schemas.referral import ApplyRequest
from mall.services import fulfilment as fulfilment_service
from mall.services import settlement as settlement_service
from mall.services.referral import ReferralRepositories
from mall.services.referral import promoters as referral_promoters
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.referral.promoters import change_status
from mall.services.referral.refunds import RefundRepositories, on_refund_succeeded

if TYPE_CHECKING:
    from tests.integration.sim.model import MOrder, Op
    from tests.integration.sim.simulator import Simulator

ADMIN = "admin:ann"


@dataclass(frozen=True)
class Level:
    """A level as the oracle reads it: its points, and what it takes (None: not a condition)."""

    level_id: str
    l1_points: int
    l2_points: int
    own: int | None = None
    team: int | None = None
    members: int | None = None

    def holds(self, counters: list[int]) -> bool:
        """Every condition set holds; a level without a sales condition is never earned."""
        members, own, team = counters
        if self.own is None and self.team is None:
            return False
        wanted = ((self.members, members), (self.own, own), (self.team, team))
        return all(have >= need for need, have in wanted if need is not None)

    def setting(self, name: str) -> PromoterLevel:
        return PromoterLevel(id=self.level_id, name=name, l1_points_bp=self.l1_points, l2_points_bp=self.l2_points,
                             upgrade=LevelUpgrade(direct_members_at_least=self.members, own_sales_at_least_fen=self.own,
                                                  team_sales_at_least_fen=self.team))


#: Nested conditions (each level's imply the one below), low enough that refunds cross them. The
#: highest points (L1 100 + L2 50 bp) keep every product within the cap (p_pot: 2000 + 800 bp).
LEVELS = (
    Level("basic", 0, 0),
    Level("silver", 50, 0, own=60_000),
    Level("gold", 100, 50, own=200_000, team=400_000, members=2),
)
#: ``first_payment`` binds in the workers (the commission sync too, which counts a paying invitee
#: at once): its gold level is earned on sales alone, so levels change only where the model knows.
LEVELS_NO_MEMBERS = (LEVELS[0], LEVELS[1], Level("gold", 100, 50, own=200_000, team=400_000))


def level_settings(first_payment: bool) -> list[PromoterLevel]:
    levels = LEVELS_NO_MEMBERS if first_payment else LEVELS
    return [lv.setting(name) for lv, name in zip(levels, ("普通", "白银", "黄金"), strict=True)]


class ExtraOps:
    """Model state and operations; ``self`` is the ``Simulator``."""

    def _init_extra(self: Simulator) -> None:
        self.levels_table = LEVELS_NO_MEMBERS if self.first_payment else LEVELS
        self.status: dict[str, str] = {}
        self.frozen_periods: dict[str, list[list[datetime | None]]] = {}
        self.disabled_at: dict[str, datetime] = {}
        self.level: dict[str, int] = {}
        self.counters: dict[str, list[int]] = {}  # [有效下线, own sales, team sales]
        self.invitee_counted: set[str] = set()  # buyers whose binding counts as a paying member
        self.paid_buyers: set[str] = set()  # buyers with a recorded paid order
        self.first_sharer: dict[str, str | None] = {}  # first_payment: whom a buyer's first paid order claimed
        self.counted: dict[int, tuple[str | None, str | None, int]] = {}  # order → (L1, L2, base counted)
        self.refunded_base: Counter[int] = Counter()
        self.referral_orders: list[int] = []  # recorded, not yet through the referral worker
        self.referral_refunds: list[str] = []  # SUCCEEDED, not yet through the referral worker
        self.referral_refunds_done: set[str] = set()

    def _new_promoter(self: Simulator, uid: str) -> None:
        self.status[uid] = "active"
        self.level[uid] = 0
        self.counters.setdefault(uid, [0, 0, 0])
        self.frozen_periods[uid] = []

    def _active(self: Simulator, uid: str | None) -> str | None:
        return uid if uid is not None and self.status.get(uid) == "active" else None

    # ---- the level model -----------------------------------------------------------------------

    def _relevel(self: Simulator) -> None:
        """Every promoter at the highest level whose (nested) conditions hold."""
        for uid in self.promoters:
            counters = self.counters.setdefault(uid, [0, 0, 0])
            target = 0
            for index, lv in enumerate(self.levels_table):
                if index and lv.holds(counters):
                    target = index
            if target != self.level[uid]:
                self.stats["level " + ("upgrade" if target > self.level[uid] else "downgrade (a refund)")] += 1
            self.level[uid] = target

    def _count_invitee(self: Simulator, buyer: str) -> None:
        parent = self.parent.get(buyer)
        if parent is not None and buyer not in self.invitee_counted and buyer in self.paid_buyers:
            self.invitee_counted.add(buyer)
            self.counters.setdefault(parent, [0, 0, 0])[0] += 1

    def _distribution_base(self: Simulator, order: MOrder) -> int:
        return sum(line.paid_fen for line in order.lines if line.spec.enabled)

    def _note_recorded(self: Simulator, order: MOrder, first_of_buyer: dict[str, str | None]) -> None:
        """The order's payment was recorded in this wave: who earns, at which level, as the model
        stands now (nothing that changes them ran in this wave)."""
        if self.first_payment and order.buyer not in self.codes and order.buyer not in self.first_sharer:
            first_id = first_of_buyer.get(order.buyer, order.order_id)
            first = self.order_by_id[first_id] if first_id else order
            self.first_sharer[order.buyer] = first.sharer
        order.expected = self.expected_attribution(order.buyer)
        order.levels = tuple(self.level.get(uid, 0) if uid else 0 for uid in order.expected)  # type: ignore[assignment]
        order.recorded_at = self.clock.now
        self.changed_wave[order.index] = self.waves
        self.paid_buyers.add(order.buyer)
        self.referral_orders.append(order.index)

    def check_levels(self) -> list[str]:
        """The stored levels and counters against the model's."""
        sim: Simulator = self  # type: ignore[assignment]
        repo = PromoterRepository(sim.table)
        problems = []
        for uid in sim.promoters:
            stored = repo.get(uid, consistent=True)
            assert stored is not None
            c = stored.counters
            have = [c.effective_members, c.own_sales_fen, c.team_sales_fen]
            want = sim.counters[uid]
            if sim.first_payment:
                have, want = have[1:], want[1:]
            if have != want or stored.level_id != sim.levels_table[sim.level[uid]].level_id:
                problems.append(f"{uid}: level {stored.level_id} counters {have}, the model says "
                                f"{sim.levels_table[sim.level[uid]].level_id} {want}")
        return problems

    # ---- operations ---------------------------------------------------------------------------

    def op_referral_worker(self: Simulator) -> Op | None:
        """The ``referral_order_paid`` stream worker: a batch of paid orders and succeeded refunds,
        one after the other (a redelivered one changes nothing)."""
        from tests.integration.sim.model import Op
        orders = self.rng.sample(self.referral_orders, min(len(self.referral_orders), 8))
        refunds = [r for r in self.referral_refunds if self.refunds[r].order in self.counted][:4]
        if not orders and not refunds:
            return None
        now = self.clock.now
        table = self.table
        order_ids = [self.orders[i].order_id for i in orders]
        refund_keys = [refund_key(self.orders[self.refunds[r].order].order_id, r) for r in refunds]
        again = self.rng.random() < 0.15

        def batch() -> None:
            for order_id in order_ids + (order_ids[:1] if again else []):
                item = table.get({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, consistent=True)
                on_order_paid(repos=OrderPaidRepositories.on(table), order=item or {}, now=now)
            for key in refund_keys + (refund_keys[:1] if again else []):
                item = table.get(key, consistent=True)
                on_refund_succeeded(repos=RefundRepositories.on(table), refund=item or {}, now=now)

        def apply(results: list[Any]) -> None:
            if results[0].kind != "ok":
                self.fail(f"the referral worker failed: {results[0]}")
            for index in orders:
                self.referral_orders.remove(index)
                order = self.orders[index]
                l1, l2 = order.expected
                base = self._distribution_base(order)
                self.counted[index] = (l1, l2, base if (l1 or l2) and base > 0 else 0)
                if (l1 or l2) and base > 0:
                    for uid, own in ((l1, True), (l2, False)):
                        if uid is not None:
                            c = self.counters.setdefault(uid, [0, 0, 0])
                            c[1] += base if own else 0
                            c[2] += base
                self._count_invitee(order.buyer)
            for refund_id in refunds:
                self.referral_refunds.remove(refund_id)
                self.referral_refunds_done.add(refund_id)
                refund = self.refunds[refund_id]
                l1, l2, counted = self.counted[refund.order]
                enabled = {line.line_id for line in self.orders[refund.order].lines if line.spec.enabled}
                base = sum(v for k, v in refund.lines.items() if k in enabled)
                take = min(base, counted - self.refunded_base[refund.order])
                if take <= 0:
                    continue
                self.refunded_base[refund.order] += take
                for uid, own in ((l1, True), (l2, False)):
                    if uid is not None:
                        c = self.counters[uid]
                        c[1] -= take if own else 0
                        c[2] -= take
            before = dict(self.level)
            self._relevel()
            crossed = [uid for uid in self.promoters if self.level[uid] < before[uid]]
            self.stats["refund took a promoter below a level threshold"] += len(crossed)
            problems = self.check_levels()
            if problems:
                self.fail("levels or counters differ from the model", "\n".join(problems[:10]))

        return Op(f"referral worker ({len(orders)} orders, {len(refunds)} refunds)", [batch], apply, exclusive=True)

    def op_promoter_status(self: Simulator) -> Op | None:
        """An admin freezes, unfreezes or disables a promoter (as ``admin_promoters`` does, the
        disable followed by the voiding of what is unsettled)."""
        from tests.integration.sim.model import Op
        if self.first_payment:
            return None
        frozen = [p for p in self.promoters if self.status[p] == "frozen"]
        active = [p for p in self.promoters if self.status[p] == "active"]
        disabled = len(self.disabled_at)
        roll = self.rng.random()
        # The promoter with an override is never disabled nor frozen: the runs must see records at an override.
        disposable = [p for p in active + frozen if p not in self.overrides]
        freezable = [p for p in active if p not in self.overrides]
        if roll < 0.25 and disabled < max(1, len(self.promoters) // 6) and active and disposable:
            action, uid = "disable", self._pick(disposable)
        elif frozen and roll < 0.55:
            action, uid = "unfreeze", self._pick(frozen)
        elif freezable and len(frozen) < 3:
            action, uid = "freeze", self._pick(freezable)
        else:
            return None
        now = self.clock.now
        table = self.table

        def call() -> Any:
            view = change_status(promoters=PromoterRepository(table), user_id=uid,
                                 action=action,  # type: ignore[arg-type]
                                 reason=None if action == "unfreeze" else "风控核查", by=ADMIN, now=now)
            if action == "disable":
                settlement_service.void_disabled_promoter(settlement_service.SettlementRepositories.on(table),
                                                          promoter_id=uid, by=ADMIN, now=now)
            return view

        def apply(results: list[Any]) -> None:
            if results[0].kind != "ok":
                self.fail(f"{action} of {uid} failed: {results[0]}")
            periods = self.frozen_periods[uid]
            if periods and periods[-1][1] is None:
                periods[-1][1] = now
            if action == "freeze":
                periods.append([now, None])
            self.status[uid] = {"freeze": "frozen", "unfreeze": "active", "disable": "disabled"}[action]
            if action == "disable":
                self.disabled_at[uid] = now
            self.stats["promoter " + {"freeze": "frozen", "unfreeze": "unfrozen", "disable": "disabled"}[action]] += 1
            self._touch_all_open_withdrawals()

        return Op(f"promoter {action}", [call], apply, exclusive=True)

    def op_become_promoter(self: Simulator) -> Op | None:
        """A customer applies and becomes a promoter (auto review): their later orders are
        self-purchases, and their counters start at nothing."""
        from tests.integration.sim.model import Op
        if self.first_payment or len(self.promoters) >= 8 + self.target // 250:
            return None
        waiting = {o.buyer for o in self.orders if o.paid_at_sandbox and not o.recorded}
        candidates = [c for c in self.customers if c not in self.codes and c not in waiting
                      and self._free(f"buyer:{c}")]
        uid = self._pick(candidates)
        if uid is None:
            return None
        now = self.clock.now
        version = self.settings_version

        def apply(results: list[Any]) -> None:
            if results[0].kind != "ok" or results[0].value.status != "active":
                self.fail(f"applying as a promoter: {results[0]}")
            self.codes[uid] = results[0].value.code
            self.activated[uid] = now
            self.promoters.append(uid)
            self._new_promoter(uid)

        return Op("become promoter", [lambda: referral_promoters.apply(
            network=ReferralRepositories.on(self.table), user_id=uid,
            body=ApplyRequest(accepted_rules_version=version, nickname="新推广员"), now=now)],
            apply, frozenset({f"buyer:{uid}"}), levels="write")

    def op_verify(self: Simulator) -> Op | None:
        """核销: an admin verifies the buyer's code of an order with a service line."""
        from tests.integration.sim.model import Op
        order = self._pick([o for o in self._orders("PAID", "SHIPPED", "COMPLETED") if o.verified_at is None
                            and any(line.spec.kind == "service" for line in o.lines)])
        if order is None:
            return None
        now = self.clock.now
        repo = OrderRepository(self.table)

        def call() -> Any:
            code = fulfilment_service.my_order(repo=repo, buyer_id=order.buyer, order_id=order.order_id).verify_code
            if code is None:
                return None
            return fulfilment_service.verify_service_order(repo=repo, order_id=order.order_id, code=code,
                                                           admin=ADMIN, now=now)

        def apply(results: list[Any]) -> None:
            if results[0].kind == "ok" and results[0].value is not None:
                order.verified_at = now
                self.stats["service line verified (核销)"] += 1
            self._touched_orders.add(order.index)

        return Op("verify service", [call], apply, frozenset({f"order:{order.index}"}))


# ---- the checks ------------------------------------------------------------------------------------


def check_extra(sim: Simulator, books: Any, *, settlement_days: int,  # noqa: PLR0912 - one list, in order
                problems: list[str], counts: Counter[str]) -> None:
    """Statuses, service lines and open refunds against every record (after ``check``'s own)."""
    line_kind = {(o.order_id, line.line_id): line.spec.kind for o in sim.orders for line in o.lines}
    for record in books.records:
        key = (record.order_id, record.line_id, int(record.level))
        raw = books.raw_records[key]
        who = record.beneficiary_id
        order = sim.order_by_id[record.order_id]
        settled_at: datetime | None = record.settled_at if record.status.value == "SETTLED" else None
        if settled_at is not None:
            for start, end in sim.frozen_periods.get(who, []):
                if start is not None and start <= settled_at and (end is None or settled_at < end):
                    problems.append(f"{key}: settled at {settled_at} while {who} was frozen ({start} – {end})")
            counts["settled while checked against freezes"] += bool(sim.frozen_periods.get(who))
            disabled = sim.disabled_at.get(who)
            if disabled is not None and settled_at >= disabled:
                problems.append(f"{key}: settled at {settled_at}, after {who} was disabled at {disabled}")
            if line_kind[(record.order_id, record.line_id)] == "service":
                counts["service line settled"] += 1
                if order.verified_at is None or settled_at < order.verified_at + timedelta(days=settlement_days):
                    problems.append(f"{key}: a service line settled at {settled_at}, verified {order.verified_at}")
            for refund_id in order.refunds:
                refund = sim.refunds[refund_id]
                if record.line_id in refund.lines and refund.requested_at < settled_at \
                        and (refund.ended_at is None or settled_at < refund.ended_at):
                    problems.append(f"{key}: settled at {settled_at} while refund {refund_id} was open "
                                    f"({refund.requested_at} – {refund.ended_at})")
        if raw.get("voided_by"):
            counts["voided (promoter disabled)"] += 1
            if who not in sim.disabled_at:
                problems.append(f"{key}: voided, but {who} was never disabled")
        if who in sim.disabled_at and record.status.value == "FROZEN" and record.due_at is not None \
                and sim._last_settle is not None and record.due_at <= sim._last_settle:
            problems.append(f"{key}: {who} is disabled and the record is due, yet FROZEN")
    counts["refunds open during a settlement run"] = sum(r.open_at_settle for r in sim.refunds.values())
    for name, count in sim.stats.items():
        if name.startswith(("promoter ", "level ", "refund took", "service line verified")):
            counts[name] = count
    if sim.first_payment:
        bindings = BindingRepository(sim.table)
        for buyer, sharer in sim.first_sharer.items():
            binding = bindings.get(buyer)
            parent = binding.parent_id if binding is not None else None
            if parent != sharer:
                problems.append(f"{buyer}: bound to {parent}, its first paid order was shared by {sharer}")
            counts["first_payment bindings"] += sharer is not None
        counts["orders following a first payment"] = sum(
            1 for o in sim.orders if o.recorded and o.buyer in sim.first_sharer and o.sharer is not None
            and o.sharer != sim.first_sharer[o.buyer])
    counts["orders paid at a level above the entry"] = sum(any(o.levels) for o in sim.orders if o.recorded)


def voided(raw: dict[str, Any] | None) -> bool:
    return bool(raw and raw.get("voided_by"))


def first_paid_orders(sim: Simulator, buyers: set[str]) -> dict[str, str | None]:
    repo = PromoterRepository(sim.table)
    return {b: repo.customer(b).first_paid_order_id for b in buyers}

