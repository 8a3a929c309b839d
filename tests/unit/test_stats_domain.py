"""What each table change adds to the stats (``mall.domain.stats``), metric by metric and
transition by transition, and the property that matters most: any reordering or duplication of
one stream of changes sums to the same totals, equal to a brute-force count of the final items."""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mall.dal.changes import Change, record_change
from mall.domain.changes import RecordChange
from mall.domain.stats import (
    BoardDelta,
    BuyerDelta,
    CounterDelta,
    Delta,
    DistinctDelta,
    Target,
    contributions,
    team_sales_by_month,
    team_sales_shard,
)
from mall.domain.stats_buyers import buyer_transition
from mall.domain.stats_figures import ranked
from mall.domain.stats_periods import period_bounds, split_range, week_of_day


def C(old: dict[str, Any] | None, new: dict[str, Any] | None, event_id: str = "e1") -> RecordChange:
    """A stream change of one item, as the data layer hands it to the domain."""
    return record_change(Change(event_id, "MODIFY", "1", old, new))


def counters(deltas: list[Delta]) -> dict[tuple[Target, str], int]:
    out: dict[tuple[Target, str], int] = defaultdict(int)
    for d in deltas:
        # The promoter funnel's counters are tested on their own (tests/unit/test_stats_funnel.py).
        if isinstance(d, CounterDelta) and d.target.kind != "funnel":
            for name, value in d.fields:
                out[(d.target, name)] += value
    return dict(out)


def boards(deltas: list[Delta]) -> dict[tuple[str, str, str], int]:
    return {(d.board, d.period_key, d.promoter_id): d.delta_fen for d in deltas if isinstance(d, BoardDelta)}


def order(status: str = "PAID", *, paid_at: str | None = "2026-11-03T02:00:00Z", refunded: tuple[int, ...] = (0, 0),
          shipping_refunded: int = 0, share: bool = True, l1: str | None = "u_p1", order_id: str = "o_1",
          buyer: str = "u_b1") -> dict[str, Any]:
    lines = [{"line_id": "1", "product_id": "p_tea", "name": "茶", "quantity": 2, "paid_fen": 2_000,
              "refunded_fen": refunded[0]},
             {"line_id": "2", "product_id": "p_cup", "name": "杯", "quantity": 1, "paid_fen": 500,
              "refunded_fen": refunded[1]}]
    return {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
            "status": status, "amount_fen": 3_000, "shipping_fen": 500, "shipping_refunded_fen": shipping_refunded,
            "lines": lines, "paid_at": paid_at if status != "CREATED" else None,
            "share_source": {"promoter_code": "ABC", "source": "link"} if share else None,
            "attribution": {"l1_promoter_id": l1, "l2_promoter_id": "u_p2"}}


DAY = "2026-11-03"
AGG = Target("agg", DAY)


# ---- orders ---------------------------------------------------------------------------------------


def test_an_order_becoming_paid_adds_gmv_orders_products_buyer_and_l1_sales() -> None:
    deltas = contributions(C(order("CREATED"), order("PAID")))
    got = counters(deltas)
    assert got[(AGG, "gmv_fen")] == 3_000 and got[(AGG, "paid_orders")] == 1
    assert got[(AGG, "shared_orders")] == 1 and got[(AGG, "shared_gmv_fen")] == 3_000
    assert got[(Target("buyer", DAY, "u_b1"), "orders")] == 1
    assert got[(Target("product", DAY, "p_tea"), "units")] == 2
    assert got[(Target("product", DAY, "p_tea"), "sales_fen")] == 2_000
    assert got[(Target("product", DAY, "p_cup"), "orders")] == 1
    assert got[(Target("promoter", DAY, "u_p1"), "sales_fen")] == 3_000
    assert got[(Target("promoter", DAY, "u_p1"), "sales_orders")] == 1
    assert (Target("promoter", DAY, "u_p2"), "sales_fen") not in got  # level 2 is not the seller
    assert boards(deltas) == {("sales", "2026-W45", "u_p1"): 3_000, ("sales", "2026-11", "u_p1"): 3_000}
    assert [d for d in deltas if isinstance(d, BuyerDelta)] == [BuyerDelta("u_b1", "o_1", "2026-11-03T02:00:00Z")]
    names = [d.labels for d in deltas if isinstance(d, CounterDelta) and d.target.kind == "product"]
    assert (("name", "茶"),) in names


def test_paid_day_is_china_time() -> None:
    got = counters(contributions(C(order("CREATED"), order("PAID", paid_at="2026-11-02T16:30:00Z"))))
    assert got[(Target("agg", "2026-11-03"), "gmv_fen")] == 3_000


def test_later_changes_of_a_paid_order_add_nothing_but_refunds_lower_net_sales() -> None:
    assert contributions(C(order("PAID"), order("SHIPPED"))) == []
    refunded = contributions(C(order("PAID"), order("PAID", refunded=(800, 0))))
    got = counters(refunded)
    assert (AGG, "gmv_fen") not in got  # GMV is what was paid; refunds are their own figure
    assert got[(Target("product", DAY, "p_tea"), "sales_fen")] == -800
    assert got[(Target("promoter", DAY, "u_p1"), "sales_fen")] == -800
    assert boards(refunded)[("sales", "2026-W45", "u_p1")] == -800
    assert not [d for d in refunded if isinstance(d, BuyerDelta)]
    closed = counters(contributions(C(order("PAID", refunded=(800, 0)),
                                      order("CLOSED", refunded=(2_000, 500), shipping_refunded=500))))
    assert closed[(Target("promoter", DAY, "u_p1"), "sales_fen")] == -2_200


def test_unpaid_expired_and_paid_after_expiry_orders_count_nothing() -> None:
    assert contributions(C(None, order("CREATED"))) == []
    assert contributions(C(order("CREATED"), order("EXPIRED", paid_at=None))) == []
    assert contributions(C(order("EXPIRED", paid_at=None), order("PAID_AFTER_EXPIRY"))) == []


def test_other_items_of_the_order_partition_are_ignored() -> None:
    status_entry = {**order("PAID"), "sk": "STATUS"}
    assert contributions(C(None, status_entry)) == []


# ---- commissions ----------------------------------------------------------------------------------


def commission(status: str = "FROZEN", *, level: int = 1, amount: int = 300, cancelled: int = 0, clawed: int = 0,
               refunded: int = 0, settled_at: str | None = None, history: list[dict[str, Any]] | None = None,
               buyer: str = "u_b1", beneficiary: str = "u_p1") -> dict[str, Any]:
    return {"pk": "ORDER#o_1", "sk": f"COMMISSION#1#{level}", "entity": "commission", "order_id": "o_1",
            "commission_id": f"cm_o_1_1_{level}", "level": level, "beneficiary_id": beneficiary, "buyer_id": buyer,
            "base_fen": 2_000, "amount_fen": amount, "cancelled_fen": cancelled, "clawed_back_fen": clawed,
            "refunded_base_fen": refunded, "status": status, "created_at": "2026-11-03T02:00:05Z",
            "settled_at": settled_at, "history": history or [{"at": "2026-11-03T02:00:05Z", "status": "FROZEN"}]}


SETTLED_HISTORY = [{"at": "2026-11-03T02:00:05Z", "status": "FROZEN"},
                   {"at": "2026-11-20T01:00:00Z", "status": "SETTLED", "settled_fen": 300}]


def test_a_created_commission_is_frozen_by_level_and_scores_its_beneficiary() -> None:
    deltas = contributions(C(None, commission(level=2)))
    got = counters(deltas)
    assert got[(AGG, "comm_l2_records")] == 1 and got[(AGG, "comm_l2_created_fen")] == 300
    assert got[(AGG, "comm_l2_frozen_fen")] == 300 and (AGG, "comm_l1_frozen_fen") not in got
    assert got[(Target("promoter", DAY, "u_p1"), "commission_fen")] == 300
    assert got[(Target("promoter", DAY, "u_p1"), "commission_records")] == 1
    assert boards(deltas) == {("commission", "2026-W45", "u_p1"): 300, ("commission", "2026-11", "u_p1"): 300}
    assert not [d for d in deltas if isinstance(d, DistinctDelta)]


def test_settling_moves_the_amount_from_frozen_to_settled_and_adds_team_sales() -> None:
    deltas = contributions(C(commission(), commission("SETTLED", settled_at="2026-11-20T01:00:00Z",
                                                      history=SETTLED_HISTORY)))
    got = counters(deltas)
    assert got == {(AGG, "comm_l1_frozen_fen"): -300, (AGG, "comm_l1_settled_fen"): 300,
                   (Target("team_sales", "2026-11", "u_p1"), "team_sales_fen"): 2_000}
    assert boards(deltas) == {}  # the commission earned did not change
    distinct = [d for d in deltas if isinstance(d, DistinctDelta)]
    assert distinct == [DistinctDelta(Target("team_sales", "2026-11", "u_p1"), "o_1",
                                      (CounterDelta(Target("team_sales", "2026-11", "u_p1"), (("orders", 1),)),))]


def test_a_refund_before_settlement_cancels_and_after_it_claws_back() -> None:
    cancelled = counters(contributions(C(commission(), commission(cancelled=120, refunded=800))))
    assert cancelled == {(AGG, "comm_l1_frozen_fen"): -120, (AGG, "comm_l1_cancelled_fen"): 120,
                         (Target("promoter", DAY, "u_p1"), "commission_fen"): -120}
    fully = counters(contributions(C(commission(cancelled=120, refunded=800),
                                     commission("CANCELLED", cancelled=300, refunded=2_000))))
    assert fully[(AGG, "comm_l1_frozen_fen")] == -180 and fully[(AGG, "comm_l1_cancelled_fen")] == 180
    settled = commission("SETTLED", settled_at="2026-11-20T01:00:00Z", history=SETTLED_HISTORY)
    claw_history = [*SETTLED_HISTORY, {"at": "2026-12-02T03:00:00Z", "refunded_base_fen": 500, "clawed_back_fen": 75}]
    clawed = contributions(C(settled, commission("SETTLED", clawed=75, refunded=500, settled_at="2026-11-20T01:00:00Z",
                                                 history=claw_history)))
    got = counters(clawed)
    assert got[(AGG, "comm_l1_settled_fen")] == -75 and got[(AGG, "comm_l1_clawed_back_fen")] == 75
    assert got[(Target("team_sales", "2026-12", "u_p1"), "team_sales_fen")] == -500  # the clawback's month
    assert (Target("team_sales", "2026-11", "u_p1"), "team_sales_fen") not in got
    assert boards(clawed)[("commission", "2026-W45", "u_p1")] == -75


def test_team_sales_count_only_settled_base_and_never_the_promoters_own_purchase() -> None:
    history = [{"at": "2026-11-03T02:00:05Z", "status": "FROZEN"},
               {"at": "2026-11-05T02:00:00Z", "refunded_base_fen": 400, "cancelled_fen": 60},
               {"at": "2026-11-20T01:00:00Z", "status": "SETTLED", "settled_fen": 240},
               {"at": "2026-12-01T02:00:00Z", "refunded_base_fen": 900, "clawed_back_fen": 75}]
    record = commission("SETTLED", settled_at="2026-11-20T01:00:00Z", history=history, refunded=900)
    assert team_sales_by_month(record) == {"2026-11": 1_600, "2026-12": -500}
    assert team_sales_by_month(commission()) == {}
    own = contributions(C(commission(buyer="u_p1"), commission("SETTLED", buyer="u_p1",
                                                               settled_at="2026-11-20T01:00:00Z",
                                                               history=SETTLED_HISTORY)))
    assert not [d for d in own if isinstance(d, DistinctDelta)]
    assert all(key[0].kind != "team_sales" for key in counters(own))


def test_team_sales_shard_is_stable() -> None:
    assert team_sales_shard("u_abc") == team_sales_shard("u_abc") == int(
        __import__("hashlib").sha256(b"u_abc").hexdigest(), 16) % 16


# ---- withdrawals, refunds, customers, promoters, visits ------------------------------------------------


def withdrawal(status: str, **times: str) -> dict[str, Any]:
    return {"pk": "WITHDRAWAL#w_1", "sk": "WITHDRAWAL", "entity": "withdrawal", "amount_fen": 10_000, "fee_fen": 100,
            "status": status, "created_at": "2026-11-03T02:00:00Z", **times}


def test_withdrawals_count_when_requested_and_when_paid_or_returned() -> None:
    assert counters(contributions(C(None, withdrawal("PENDING_REVIEW")))) == {
        (AGG, "withdrawals_requested"): 1, (AGG, "withdrawals_requested_fen"): 10_000}
    assert contributions(C(withdrawal("PENDING_REVIEW"), withdrawal("APPROVED"))) == []
    paid = counters(contributions(C(withdrawal("PAYING"), withdrawal("PAID", paid_at="2026-11-04T03:00:00Z"))))
    day4 = Target("agg", "2026-11-04")
    assert paid == {(day4, "withdrawals_paid"): 1, (day4, "withdrawals_paid_fen"): 10_000,
                    (day4, "withdrawals_fee_fen"): 100}
    rejected = counters(contributions(C(withdrawal("PENDING_REVIEW"),
                                        withdrawal("REJECTED", rejected_at="2026-11-04T03:00:00Z"))))
    assert rejected == {(day4, "withdrawals_returned"): 1, (day4, "withdrawals_returned_fen"): 10_000}


def refund(status: str, kind: str = "customer") -> dict[str, Any]:
    return {"pk": "ORDER#o_1", "sk": "REFUND#o_1-r1", "entity": "refund", "kind": kind, "status": status,
            "amount_fen": 800, "succeeded_at": "2026-11-03T05:00:00Z" if status == "SUCCEEDED" else None}


def test_refunds_count_when_they_succeed_except_paid_after_expiry() -> None:
    assert contributions(C(None, refund("REQUESTED"))) == []
    assert counters(contributions(C(refund("PROCESSING"), refund("SUCCEEDED")))) == {
        (AGG, "refunds"): 1, (AGG, "refund_fen"): 800}
    assert contributions(C(refund("PROCESSING", "paid_after_expiry"), refund("SUCCEEDED", "paid_after_expiry"))) == []


def test_customers_promoters_and_visits() -> None:
    customer = {"pk": "USER#u_1", "sk": "PROFILE", "entity": "customer", "created_at": "2026-11-03T01:00:00Z"}
    assert counters(contributions(C(None, customer))) == {(Target("totals"), "customers_total"): 1,
                                                          (AGG, "customers_new"): 1}
    assert contributions(C(customer, {**customer, "paid_order_count": 1})) == []
    applied = {"pk": "USER#u_1", "sk": "PROMOTER", "entity": "promoter", "status": "applied"}
    active = {**applied, "status": "active", "activated_at": "2026-11-03T01:00:00Z"}
    assert contributions(C(None, applied)) == []
    assert counters(contributions(C(applied, active))) == {(Target("totals"), "promoters_total"): 1,
                                                           (AGG, "promoters_new"): 1}
    assert contributions(C(active, {**active, "status": "frozen"})) == []
    assert counters(contributions(C(active, {**active, "status": "disabled"}))) == {
        (Target("totals"), "promoters_total"): -1}
    visit = {"pk": "PVISITS#u_p1", "sk": "VISIT#x", "entity": "share_visit", "promoter_id": "u_p1",
             "at": "2026-11-03T01:00:00Z"}
    assert counters(contributions(C(None, visit))) == {(AGG, "share_visits"): 1,
                                                       (Target("promoter", DAY, "u_p1"), "share_visits"): 1}
    assert contributions(C(None, {"pk": "USER#u_1", "sk": "BINDING", "entity": "binding"})) == []
    assert contributions(C(None, {"pk": "X", "sk": "Y", "entity": "something_else"})) == []


# ---- buyers -------------------------------------------------------------------------------------------


def test_first_and_repeat_buyers_follow_the_earliest_two_paid_orders_in_any_arrival_order() -> None:
    a, b, c = ("2026-11-03T02:00:00Z", "o_a"), ("2026-11-05T02:00:00Z", "o_b"), ("2026-11-07T02:00:00Z", "o_c")
    state, deltas = buyer_transition((), *b)
    assert state == (b,) and counters(list(deltas)) == {(Target("agg", "2026-11-05"), "first_time_buyers"): 1,
                                                        (Target("totals"), "buyers_total"): 1}
    state, deltas = buyer_transition(state, *c)
    assert counters(list(deltas)) == {(Target("agg", "2026-11-07"), "repeat_buyers"): 1,
                                      (Target("totals"), "repeat_buyers_total"): 1}
    state, deltas = buyer_transition(state, *a)  # arrives last, paid first: everything shifts by one
    assert state == (a, b)
    assert counters(list(deltas)) == {(Target("agg", "2026-11-05"), "first_time_buyers"): -1,
                                      (Target("agg", "2026-11-03"), "first_time_buyers"): 1,
                                      (Target("agg", "2026-11-07"), "repeat_buyers"): -1,
                                      (Target("agg", "2026-11-05"), "repeat_buyers"): 1}
    assert buyer_transition(state, *a) == (state, [])  # a duplicate changes nothing
    assert buyer_transition(state, *c) == (state, [])  # a third order never matters


# ---- reading helpers ------------------------------------------------------------------------------------


def test_periods_weeks_ranks_and_ranges() -> None:
    assert week_of_day("2026-11-02") == "2026-W45" == week_of_day("2026-11-08")  # Monday … Sunday
    assert week_of_day("2026-11-09") == "2026-W46"
    assert period_bounds("week", "2026-11-04") == ("2026-11-02", "2026-11-08")
    assert period_bounds("month", "2024-02-10") == ("2024-02-01", "2024-02-29")
    assert ranked([("b", 5), ("a", 5), ("c", 9), ("d", 1)]) == [(1, "c", 9), (2, "a", 5), (2, "b", 5), (4, "d", 1)]
    months, days = split_range(date(2026, 10, 30), date(2026, 12, 2))
    assert months == ["2026-11"] and days == ["2026-10-30", "2026-10-31", "2026-12-01", "2026-12-02"]
    assert split_range(date(2026, 1, 1), date(2026, 12, 31)) == ([f"2026-{m:02d}" for m in range(1, 13)], [])


# ---- the property: any order, any duplication, same totals, equal to brute force ------------------------


def fold(messages: list[tuple[str, list[Delta]]]) -> dict[str, Any]:
    """What the data layer does with the deltas (dedupe by event id, ADD, read-modify-write)."""
    seen: set[str] = set()
    totals: dict[tuple[Target, str], int] = defaultdict(int)
    scores: dict[tuple[str, str, str], int] = defaultdict(int)
    buyers: dict[str, tuple[tuple[str, str], ...]] = defaultdict(tuple)
    distinct: set[tuple[str, str]] = set()

    def add(delta: CounterDelta) -> None:
        for name, value in delta.fields:
            totals[(delta.target, name)] += value

    for event_id, deltas in messages:
        if event_id in seen:
            continue
        seen.add(event_id)
        for d in deltas:
            if isinstance(d, CounterDelta):
                add(d)
            elif isinstance(d, BoardDelta):
                scores[(d.board, d.period_key, d.promoter_id)] += d.delta_fen
            elif isinstance(d, BuyerDelta):
                buyers[d.buyer_id], more = buyer_transition(buyers[d.buyer_id], d.paid_at, d.order_id)
                for m in more:
                    add(m)
            elif (d.scope, d.member) not in distinct:
                distinct.add((d.scope, d.member))
                for m in d.then:
                    add(m)
    return {"counters": {k: v for k, v in totals.items() if v}, "scores": {k: v for k, v in scores.items() if v}}


def order_story(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """An order's life: CREATED, PAID (or EXPIRED), maybe refunds, maybe CLOSED."""
    day = rng.randint(1, 20)
    paid_at = f"2026-11-{day:02d}T{rng.randint(0, 23):02d}:00:00Z"
    base = order("CREATED", order_id=f"o_{n}", buyer=f"u_b{rng.randint(1, 3)}", l1=rng.choice(["u_p1", "u_p2", None]),
                 share=rng.random() < 0.5, paid_at=paid_at)
    states = [base]
    if rng.random() < 0.2:
        states.append({**base, "status": "EXPIRED"})
        return states
    paid = {**copy.deepcopy(base), "status": "PAID", "paid_at": paid_at}
    states.append(paid)
    refunded = 0
    for _ in range(rng.randint(0, 2)):
        refunded = min(2_000, refunded + rng.randint(100, 900))
        nxt = copy.deepcopy(states[-1])
        nxt["lines"][0]["refunded_fen"] = refunded
        states.append(nxt)
    return states


def commission_story(rng: random.Random, n: int) -> list[dict[str, Any]]:
    level = rng.choice([1, 2])
    who = rng.choice(["u_p1", "u_p2"])
    first = commission(level=level, beneficiary=who, buyer=rng.choice(["u_b1", who]))
    first["order_id"] = f"o_c{n}"
    states = [first]
    if rng.random() < 0.3:
        states.append({**first, "cancelled_fen": 300, "refunded_base_fen": 2_000, "status": "CANCELLED"})
        return states
    settled = {**first, "status": "SETTLED", "settled_at": "2026-11-25T01:00:00Z",
               "history": [*first["history"], {"at": "2026-11-25T01:00:00Z", "status": "SETTLED"}]}
    states.append(settled)
    if rng.random() < 0.5:
        states.append({**settled, "clawed_back_fen": 150, "refunded_base_fen": 1_000,
                       "history": [*settled["history"], {"at": "2026-12-03T01:00:00Z", "refunded_base_fen": 1_000}]})
    return states


def brute_force(final_orders: list[dict[str, Any]], final_commissions: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures from first principles, from the items as they finally are."""
    paid_by_buyer: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for o in final_orders:
        if o["status"] not in ("CREATED", "EXPIRED"):
            paid_by_buyer[o["buyer_id"]].append((o["paid_at"], o["order_id"]))
    first = sum(1 for v in paid_by_buyer.values() if v)
    repeat = sum(1 for v in paid_by_buyer.values() if len(v) >= 2)
    team: dict[tuple[str, str], int] = defaultdict(int)
    team_orders: dict[str, set[str]] = defaultdict(set)
    settled_l1 = 0
    for c in final_commissions:
        if c["status"] == "SETTLED" and c["buyer_id"] != c["beneficiary_id"]:
            team[(c["beneficiary_id"], "2026-11")] += c["base_fen"]
            team[(c["beneficiary_id"], "2026-12")] -= c["refunded_base_fen"]
            team_orders[c["beneficiary_id"]].add(c["order_id"])
        if c["status"] == "SETTLED" and c["level"] == 1:
            settled_l1 += c["amount_fen"] - c["clawed_back_fen"]
    return {"first": first, "repeat": repeat, "team": {k: v for k, v in team.items() if v},
            "team_orders": {k: len(v) for k, v in team_orders.items()}, "settled_l1": settled_l1}


def china(day_or_iso: str) -> str:
    from mall.domain.stats_periods import day_of

    value = day_of(day_or_iso)
    assert value is not None
    return value


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 6), st.integers(1, 6))
def test_any_order_and_duplication_of_the_changes_sums_to_the_brute_force_figures(seed: int, n_orders: int,
                                                                                  n_commissions: int) -> None:
    rng = random.Random(seed)
    stories = [order_story(rng, i) for i in range(n_orders)] + [commission_story(rng, i) for i in range(n_commissions)]
    messages: list[tuple[str, list[Delta]]] = []
    for s, states in enumerate(stories):
        chain: list[dict[str, Any] | None] = [None, *states]
        for i in range(1, len(chain)):
            change = C(chain[i - 1], chain[i], event_id=f"{s}-{i}")
            messages.append((change.event_id, contributions(change)))
    in_order = fold(messages)
    shuffled = messages + [rng.choice(messages) for _ in range(len(messages))]
    rng.shuffle(shuffled)
    assert fold(shuffled) == in_order

    finals = [states[-1] for states in stories]
    expected = brute_force([f for f in finals if f["entity"] == "order"],
                           [f for f in finals if f["entity"] == "commission"])
    got = in_order["counters"]
    gmv: dict[str, int] = defaultdict(int)
    for o in (f for f in finals if f["entity"] == "order" and f["status"] not in ("CREATED", "EXPIRED")):
        gmv[china(o["paid_at"])] += o["amount_fen"]
    assert {t.period: v for (t, name), v in got.items() if name == "gmv_fen"} == dict(gmv)
    assert sum(v for (t, name), v in got.items() if name == "first_time_buyers") == expected["first"]
    assert sum(v for (t, name), v in got.items() if name == "repeat_buyers") == expected["repeat"]
    assert got.get((Target("totals"), "buyers_total"), 0) == expected["first"]
    assert {(t.subject, t.period): v for (t, name), v in got.items() if name == "team_sales_fen"} == expected["team"]
    assert {t.subject: v for (t, name), v in got.items()
            if t.kind == "team_sales" and name == "orders"} == expected["team_orders"]
    assert sum(v for (t, name), v in got.items() if name == "comm_l1_settled_fen") == expected["settled_l1"]
    month_scores = {uid: v for (board, key, uid), v in in_order["scores"].items()
                    if board == "sales" and key == "2026-11"}
    assert month_scores == {k: v for k, v in expected_sales_by_l1(finals).items() if v}


def expected_sales_by_l1(finals: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for o in finals:
        if (o["entity"] == "order" and o["status"] not in ("CREATED", "EXPIRED")
                and o["attribution"]["l1_promoter_id"] and china(o["paid_at"])[:7] == "2026-11"):
            out[o["attribution"]["l1_promoter_id"]] += o["amount_fen"] - sum(x["refunded_fen"] for x in o["lines"])
    return dict(out)
