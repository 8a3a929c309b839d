"""Money conservation (docs/performance.md, "Reliability suites"): a seeded randomized run of the whole money
loop on DynamoDB Local with real parallelism, then every invariant of the books.

The simulator (``tests/integration/sim/simulator.py``) drives orders, genuinely signed payment,
refund and transfer notifications through the webhook service (duplicated, concurrent, late,
lost), commission syncs, completions, overlapping settlements, partial and full refunds before and
after settlement, concurrent withdrawals and payouts that succeed, fail or are cancelled. After it
(``check``): each order is attributed as the bindings imply and paid exactly when WeChat Pay took
the money; every commission record is its first-principles amount (an oracle in the test, not the
production calculator); every wallet and merchant account is the sum of its ledger legs and all of
them sum to 0; no account is negative except debt; what the merchant granted is exactly the
commission owed, its fees those of paid withdrawals, and what left is what WeChat Pay transferred;
the production reconciliation reports no mismatch; no promoter has money available while owing, and
every transfer bill a debt asked to cancel was cancelled (or confirmed first).

The plan also produces (``tests/integration/sim/ops_extra.py``, ``ops_bonus.py``): promoter levels with
rate points, earned and lost by the referral worker's sales counters (refunds take a promoter back
below a threshold), each order priced at the levels its payment saw; admin freezes, unfreezes and
disables (a frozen promoter's records never settle while frozen, a disabled one's unsettled records
are voided and never settle); orders mixing a physical and a service line, the service line settling
only after its 核销; settlement runs while refunds are open (never settling such a line); the monthly
team bonus, paid at the tier of the month's net team sales and reduced by later refunds; and, in a
second variant, ``first_payment`` binding: customers' orders carry share sources of different
promoters and every order of a buyer pays the sharer of their first recorded payment. The long run
asserts that each of these happened.

Coupons and campaigns (``tests/integration/sim/ops_incentives.py``): coupon templates (amount off,
percent off with a ceiling, minimum spend; all products, a category, some products; a window or days
after claiming; limited quantities; returned or kept on a full refund) are claimed and named at
``POST /orders``, refused exactly where the model says (out of scope, minimum spend, sold out, per-user
limit), given back by an expired order or, per their setting, a full refund, and used again; commission
campaigns (points and multipliers; by product, category, chosen promoters — a targeted high-commission
product —, level, new promoters; weekends only; windows typed in China time that open and close during
the run, some ended early, one refused at save for the cap) and one promoter's override. The oracle
prices every line from its catalog amount less its share of the coupon (largest remainder, computed
independently), the rate source, level points, the campaign in force at payment (the simulator's
clock) and the cap, and each record's rule snapshot must name the campaign, the coupon's share, the
source and whether the cap clamped it (a coupon on a ``fixed`` product makes the clamp bite). Each
variant asserts that coupons were used on paid orders and campaigns boosted records; the main one also
that the cap clamped some, the long one that every coupon and campaign situation above happened.

Every run prints its seed. ``SIM_SEED=<n>`` replays a seed, ``SIM_OPS=<n>`` sets the number of
operations (calls), ``SIM_WORKERS=<n>`` the threads (1: deterministic replay of a seed). The fast
variant runs in ``make test``; the long one (``@pytest.mark.slow``) in ``make test-long``.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import pytest

from mall.dal.table import Table
from tests.integration.sim.simulator import run_simulation
from tests.integration.sim.world import World

pytestmark = pytest.mark.integration

FAST_OPS = 900
LONG_OPS = 10_000
#: The ``first_payment`` variant: customers bound by their first paid order's share source.
FAST_FIRST_PAYMENT_OPS = 450
LONG_FIRST_PAYMENT_OPS = 3_000
#: Late in a month, so that even the fast run sees a month end, its final date and the team bonus job.
START = datetime(2026, 10, 18, 2, 0, tzinfo=UTC)


def _seed() -> int:
    value = os.environ.get("SIM_SEED")
    return int(value) if value else secrets.randbelow(2**31)


def _workers() -> int:
    return int(os.environ.get("SIM_WORKERS", "8"))


def _run(table: Table, default_ops: int, *, first_payment: bool = False) -> dict[str, int]:
    seed = _seed()
    operations = int(os.environ.get("SIM_FIRST_PAYMENT_OPS" if first_payment else "SIM_OPS", default_ops))
    print(f"\nmoney conservation{' (first_payment)' if first_payment else ''}: SIM_SEED={seed} "
          f"SIM_OPS={operations} SIM_WORKERS={_workers()}")
    _, totals = run_simulation(World.build(table, start=START), seed=seed, operations=operations, workers=_workers(),
                               first_payment=first_payment)
    return totals


def test_money_is_conserved_over_a_randomized_concurrent_run(table: Table) -> None:
    totals = _run(table, FAST_OPS)
    # The run must have moved money through every path, or the invariants proved little.
    assert totals["paid orders"] > 40 and totals["records"] > 40, totals
    assert totals["settled"] > 0 and totals["withdrawn fen"] > 0, totals
    assert totals.get("cancelled", 0) > 0, totals
    assert totals.get("orders paid at a level above the entry", 0) > 0, totals
    _assert_incentives(totals)
    assert totals.get("records clamped by the cap", 0) > 0, totals


INCENTIVE_SITUATIONS = ("paid orders with a coupon", "records on a line with a coupon", "records boosted by a campaign",
                       "records at a promoter's override", "campaign refused over the cap")
#: The shorter ``first_payment`` run pays only orders with a share source: a coupon may be used only on
#: orders that earn nobody, so its coupon lines are checked when they occur but not required.
FIRST_PAYMENT_SITUATIONS = ("order placed with a coupon", "records boosted by a campaign",
                            "campaign refused over the cap")


def _assert_incentives(totals: dict[str, int], situations: tuple[str, ...] = INCENTIVE_SITUATIONS) -> None:
    """Coupons and campaigns took part, or the oracle's coupon and campaign arithmetic proved nothing."""
    for situation in situations:
        assert totals.get(situation, 0) > 0, (situation, totals)


def test_money_is_conserved_when_customers_bind_by_their_first_payment(table: Table) -> None:
    totals = _run(table, FAST_FIRST_PAYMENT_OPS, first_payment=True)
    assert totals["paid orders"] > 20 and totals.get("first_payment bindings", 0) > 0, totals
    _assert_incentives(totals, FIRST_PAYMENT_SITUATIONS)


@pytest.mark.slow
def test_money_is_conserved_over_a_long_randomized_concurrent_run(table: Table) -> None:
    totals = _run(table, LONG_OPS)
    assert totals["paid orders"] > 500 and totals["settled"] > 100, totals
    assert totals.get("clawed_back", 0) > 0 and totals.get("withdrawal PAID", 0) > 0, totals
    assert totals.get("withdrawal cancelled for debt", 0) > 0, totals  # debts with withdrawals in flight
    # Every situation the money rules decide must have happened, or the run proved nothing about it.
    for situation in ("refund took a promoter below a level threshold", "orders paid at a level above the entry",
                      "promoter frozen", "promoter disabled", "voided (promoter disabled)",
                      "settled while checked against freezes", "service line settled",
                      "refunds open during a settlement run", "team bonus records",
                      "team bonus reduced by a later refund", "records clamped with a campaign",
                      "coupon given back (expired order)", "coupon given back (full refund)",
                      "coupon kept used after a full refund", "order placed with a returned coupon",
                      "campaign ended early", "coupons claimed"):
        assert totals.get(situation, 0) > 0, (situation, totals)
    _assert_incentives(totals)


@pytest.mark.slow
def test_money_is_conserved_over_a_long_run_binding_by_first_payment(table: Table) -> None:
    totals = _run(table, LONG_FIRST_PAYMENT_OPS, first_payment=True)
    assert totals["paid orders"] > 150 and totals["settled"] > 20, totals
    assert totals.get("first_payment bindings", 0) > 5 and totals.get("orders following a first payment", 0) > 0, \
        totals
    _assert_incentives(totals)
