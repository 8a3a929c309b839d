"""The monthly team bonus in the simulator (docs/team-bonus.md), mixed into ``simulator.Simulator``.

The daily job (``mall.services.team_bonus.run_due``, as ``functions/team_bonus`` calls it) runs in an
exclusive wave on the days after a China month's final date. Just before it, the commission sync
catches up on every order paid or refunded since its last sync (in production the order stream
runs within seconds of a change; the model cannot know the commission records a sync it lost
track of wrote). The oracle computes each promoter's team sales of a month from the model alone —
the lines of the orders paid at WeChat Pay in that month (its success time, which the order keeps as
``paid_at`` however late the payment is recorded) that pay the promoter at level 1
or 2, not on their own purchase, net of the refunds that succeeded — and the tier amount from the
rules below: the bonus paid must be that amount when it was paid (to an active promoter only), and
what is left of it after the refunds that followed must be what the final sales of the orders it
was paid on are worth (an order of the month recorded after the payment counts for nothing), never
more than what was paid.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mall.dal.keys import bonus_key
from mall.dal.team_bonus import bonus_from_item
from mall.domain.team_bonus import BonusTier, TeamBonusRules, china_month, final_by
from mall.services import commissions as commission_service
from mall.services import team_bonus as team_bonus_service
from tests.integration.sim.oracle import BASIS

if TYPE_CHECKING:
    from tests.integration.sim.model import Op
    from tests.integration.sim.simulator import Simulator

FINAL_AFTER_DAYS = 3
TIERS = ((150_000, 100), (600_000, 200))  # (team sales fen, bp): the highest reached pays on the whole


def bonus_rules() -> TeamBonusRules:
    return TeamBonusRules(enabled=True, final_after_days=FINAL_AFTER_DAYS,
                          tiers=[BonusTier(min_team_sales_fen=m, bonus_bp=bp) for m, bp in TIERS])


def tier_amount(sales: int) -> int:
    reached = [bp for minimum, bp in TIERS if sales >= minimum]
    return sales * reached[-1] // BASIS if sales > 0 and reached else 0


class BonusOps:
    def _init_bonus(self: Simulator) -> None:
        self.bonus_paid: dict[tuple[str, str], int] = {}  # (promoter, month) → what the oracle says was paid
        # (promoter, month) → the orders it was paid on: what a refund recomputes it over
        self.bonus_orders: dict[tuple[str, str], frozenset[int]] = {}
        self.bonus_runs: set[str] = set()  # China days the job ran
        self.synced_wave: dict[int, int] = {}  # order → the last wave a sync of it succeeded in
        self.changed_wave: dict[int, int] = {}  # order → the wave its payment or a refund was read back in

    def team_sales(self: Simulator, promoter: str, month: str, only: frozenset[int] | None = None) -> int:
        """From the model: the lines paying ``promoter`` at L1 or L2 (not on their own purchase) of the
        orders whose payment was recorded in ``month`` (of ``only`` those, when given), net of the
        refunds that succeeded."""
        total = 0
        for order in self.orders:
            if not order.recorded or order.paid_at is None or china_month(order.paid_at) != month \
                    or order.buyer == promoter or (only is not None and order.index not in only):
                continue
            l1, l2 = order.expected
            if l2 == l1:
                l2 = None
            if promoter not in (l1, l2):
                continue
            level = 1 if promoter == l1 else 2
            refunded: Counter[str] = Counter()
            for refund_id in order.refunds:
                if self.refunds[refund_id].status == "SUCCEEDED":
                    refunded.update(self.refunds[refund_id].lines)
            for line in order.lines:
                amounts = self.line_expectation(order, line).amounts
                if amounts[level - 1] > 0:
                    total += max(line.paid_fen - min(refunded[line.line_id], line.paid_fen), 0)
        return total

    def _months_due(self: Simulator, now: datetime) -> list[str]:
        months = {china_month(o.paid_at) for o in self.orders if o.recorded and o.paid_at is not None}
        return sorted(m for m in months if final_by(m, FINAL_AFTER_DAYS) <= now
                      <= final_by(m, FINAL_AFTER_DAYS) + timedelta(days=7))

    def op_team_bonus(self: Simulator) -> Op | None:
        from tests.integration.sim.model import Op
        now = self.clock.now
        day = now.strftime("%Y-%m-%d")
        if day in self.bonus_runs or not self._months_due(now):
            return None
        months = team_bonus_service.months_to_examine(now, FINAL_AFTER_DAYS)
        table = self.table
        stale = [o.order_id for o in self.orders if o.recorded
                 and self.synced_wave.get(o.index, -1) <= self.changed_wave.get(o.index, 0)]

        def call() -> Any:
            for order_id in stale:
                for attempt in range(5):  # the queue's redelivery
                    try:
                        commission_service.sync_order(commission_service.CommissionRepositories.on(table),
                                                      order_id=order_id, now=now,
                                                      payouts=self.payout_queue)
                        break
                    except commission_service.SyncIncomplete:
                        if attempt == 4:
                            raise
            return team_bonus_service.run_due(team_bonus_service.TeamBonusRepositories.on(table), now=now, threads=1)

        def apply(results: list[Any]) -> None:
            if results[0].kind != "ok":
                self.fail(f"the team bonus job: {results[0]}")
            self.bonus_runs.add(day)
            for index in range(len(self.orders)):
                self.synced_wave[index] = self.waves
            self._check_bonuses_paid(months, now)
            self._touch_all_open_withdrawals()

        return Op(f"team bonus job ({len(stale)} syncs first)", [call], apply, exclusive=True)

    def _check_bonuses_paid(self: Simulator, months: list[str], now: datetime) -> None:
        problems = []
        for month in months:
            for promoter in self.promoters:
                item = self.table.get(bonus_key(promoter, month), consistent=True)
                sales = self.team_sales(promoter, month)
                if item is None:
                    never_inactive = not self.frozen_periods.get(promoter) and promoter not in self.disabled_at
                    if never_inactive and tier_amount(sales) > 0 and now >= final_by(month, FINAL_AFTER_DAYS):
                        problems.append(f"{promoter} {month}: no bonus, though {sales} fen of team sales earn "
                                        f"{tier_amount(sales)}")
                    continue
                if (promoter, month) in self.bonus_paid:
                    continue
                record = bonus_from_item(item)
                self.stats["team bonus paid"] += 1
                if self.status.get(promoter) != "active":
                    problems.append(f"{promoter} {month}: a bonus paid to a {self.status.get(promoter)} promoter")
                if (record.amount_fen, record.team_sales_fen) != (tier_amount(sales), sales):
                    problems.append(f"{promoter} {month}: paid {record.amount_fen} on {record.team_sales_fen}, the "
                                    f"oracle says {tier_amount(sales)} on {sales}")
                self.bonus_paid[(promoter, month)] = tier_amount(sales)
                self.bonus_orders[(promoter, month)] = frozenset(
                    o.index for o in self.orders if o.recorded and o.paid_at is not None
                    and china_month(o.paid_at) == month)
        if problems:
            self.fail("team bonus", "\n".join(problems[:10]))


def check_bonuses(sim: Simulator, items: dict[Any, dict[str, Any]], problems: list[str],
                  counts: Counter[str]) -> list[Any]:
    """Every bonus record against the oracle after the run; the records (for the wallet sums)."""
    records = [bonus_from_item(i) for i in items.values() if i.get("entity") == "bonus"]
    for record in records:
        key = (record.beneficiary_id, record.month)
        paid = sim.bonus_paid.get(key)
        if paid is None:
            problems.append(f"bonus {key}: paid outside a job the simulator ran")
            continue
        if record.amount_fen != paid:
            problems.append(f"bonus {key}: {record.amount_fen}, the oracle paid {paid}")
        voided_ = record.status.value == "CANCELLED" and record.beneficiary_id in sim.disabled_at
        # Recomputed over the orders it was paid on: a later-recorded order of the month counts for nothing.
        final_sales = sim.team_sales(*key, only=sim.bonus_orders.get(key))
        want = 0 if voided_ else min(paid, tier_amount(final_sales))
        if record.current_fen != want:
            problems.append(f"bonus {key}: {record.current_fen} left of {record.amount_fen}, the final team sales "
                            f"of the orders it was paid on, {final_sales}, are worth {want}")
        counts["team bonus reduced by a later refund"] += record.current_fen < record.amount_fen and not voided_
    counts["team bonus records"] = len(records)
    return records
