"""Property tests of the commission calculator (``mall.domain.commission``): never above the cap,
never negative, floored to the fen, rate precedence, the three self-purchase modes, an inactive
beneficiary not shifted up; and of the record adjustments (refunds in any steps end at the same
amount) and the stream trigger."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from mall.dal.commission_sync import applied_record, order_image
from mall.domain.catalog import Category
from mall.domain.commission import (
    LevelDecision,
    apply_line_discounts,
    cap_amount,
    decide_order_commissions,
    explain_rule,
    product_from_line,
    resolve_rates,
    self_purchase_discount,
)
from mall.domain.commission_changes import commission_trigger, plan_record_change
from mall.domain.commission_records import CommissionRecord, CommissionStatus, remaining_after_refund
from mall.domain.orders import LineRequest, price_order
from mall.domain.referral import Promoter, attribute
from mall.domain.settings import COMMISSION_CAP_LIMIT_BP, CommissionRates, DistributionSettings, PromoterLevel

AT = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class P:
    """A promoter as commission reads them."""

    user_id: str
    level_id: str | None = None
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    is_active: bool = True


# ---- strategies --------------------------------------------------------------------------------

bp = st.integers(min_value=0, max_value=3000)


@st.composite
def rules(draw: st.DrawFn) -> DistributionSettings:
    cap = draw(st.integers(min_value=0, max_value=COMMISSION_CAP_LIMIT_BP))
    l1 = draw(st.integers(min_value=0, max_value=cap))
    l2 = draw(st.integers(min_value=0, max_value=cap - l1))
    room = cap - l1 - l2
    p1 = draw(st.integers(min_value=0, max_value=room))
    p2 = draw(st.integers(min_value=0, max_value=room - p1))
    mode: Literal["rebate", "none", "discount"] = draw(st.sampled_from(["rebate", "none", "discount"]))
    return DistributionSettings(
        levels=[PromoterLevel(id="basic", name="普通"), PromoterLevel(id="senior", name="高级", l1_points_bp=p1,
                                                                      l2_points_bp=p2)],
        commission=CommissionRates(l1_rate_bp=l1, l2_rate_bp=l2, cap_bp=cap, self_purchase=mode))


@st.composite
def order_lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Order lines with any product setting — even one that the save-time checks would refuse, as
    after the merchant raised level points: the computation must clamp whatever it gets."""
    out = []
    for index in range(draw(st.integers(min_value=1, max_value=4))):
        quantity = draw(st.integers(min_value=1, max_value=20))
        unit = draw(st.integers(min_value=1, max_value=200_000))
        discount = draw(st.integers(min_value=0, max_value=unit * quantity - 1))
        mode = draw(st.sampled_from(["inherit", "ratio", "fixed"]))
        values = (0, 0) if mode == "inherit" else (draw(st.integers(0, 5000)), draw(st.integers(0, 5000)))
        out.append({"line_id": str(index + 1), "product_id": f"p{index}", "name": "x", "type": "physical",
                    "category_id": draw(st.sampled_from(["c_set", "c_half", "c_none", None])), "quantity": quantity,
                    "unit_price_fen": unit, "paid_fen": unit * quantity - discount,
                    "commission": {"mode": mode, "l1": values[0], "l2": values[1]},
                    "distribution_enabled": draw(st.sampled_from([True, True, True, False])), "refunded_fen": 0})
    return out


CATEGORIES = {"c_set": Category(category_id="c_set", name="a", l1_rate_bp=1200, l2_rate_bp=600),
              "c_half": Category(category_id="c_half", name="b", l1_rate_bp=800, l2_rate_bp=None)}
promoters = st.builds(P, user_id=st.sampled_from(["u_1"]), level_id=st.sampled_from(["basic", "senior", None]),
                      l1_override_bp=st.none() | bp, l2_override_bp=st.none() | bp)


def decide(lines: list[dict[str, Any]], settings_: DistributionSettings, l1: P | None,
           l2: P | None) -> list[LevelDecision]:
    return decide_order_commissions(lines=lines, l1=l1, l2=l2, l1_id=l1.user_id if l1 else None,
                                    l2_id=l2.user_id if l2 else None, settings=settings_, categories=CATEGORIES,
                                    context={"settings_version": 3, "basis": "binding", "self_purchase": False})


# ---- the calculator ----------------------------------------------------------------------------


@settings(max_examples=300)
@given(rules(), order_lines(), promoters, promoters)
def test_never_negative_never_above_the_cap_and_floored(settings_: DistributionSettings, lines: list[dict[str, Any]],
                                                        first: P, second: P) -> None:
    l1, l2 = replace(first, user_id="u_l1"), replace(second, user_id="u_l2")
    decisions = decide(lines, settings_, l1, l2)
    assert len(decisions) == 2 * len(lines)
    for line in lines:
        mine = [d for d in decisions if d.line_id == line["line_id"]]
        base = line["paid_fen"]
        assert all(d.amount_fen >= 0 for d in mine)
        assert sum(d.amount_fen for d in mine) <= cap_amount(base, settings_.commission.cap_bp)
        assert sum(d.amount_fen for d in mine) * 10_000 <= base * settings_.commission.cap_bp
        for d in mine:
            rule = d.rule
            exact = Fraction(base * rule["ratio_bp"], 10_000) + rule["fixed_fen"] * line["quantity"]
            assert rule["wanted_fen"] <= exact < rule["wanted_fen"] + 1  # floor to the fen
            assert d.amount_fen <= rule["wanted_fen"]
            assert rule["capped"] == (d.amount_fen != rule["wanted_fen"]) or d.outcome != "earn"
            assert (d.outcome == "earn") == (d.amount_fen > 0)
            assert type(d.amount_fen) is int and rule["settings_version"] == 3


@settings(max_examples=200)
@given(rules(), order_lines(), promoters)
def test_rate_precedence_override_then_product_then_category_then_global(
        settings_: DistributionSettings, lines: list[dict[str, Any]], who: P) -> None:
    for line in lines:
        product = product_from_line(line)
        rates = resolve_rates(settings=settings_, product=product, category=CATEGORIES.get(product.category_id),
                              promoter=who)
        if not line["distribution_enabled"]:
            assert not rates.enabled and rates.l1.amount(line["paid_fen"], line["quantity"]) == 0
            continue
        for level, rate, override in ((1, rates.l1, who.l1_override_bp), (2, rates.l2, who.l2_override_bp)):
            category = CATEGORIES.get(product.category_id)
            category_rate = None if category is None else (category.l1_rate_bp if level == 1 else category.l2_rate_bp)
            if override is not None:
                expected = "override"
            elif line["commission"]["mode"] != "inherit":
                expected = "product"
            elif category_rate is not None:
                expected = "category"
            else:
                expected = "global"
            assert rate.source == expected
            points = settings_.level(who.level_id)
            assert rate.level_points_bp == (points.l1_points_bp if level == 1 else points.l2_points_bp)


@settings(max_examples=200)
@given(rules(), order_lines(), promoters, promoters)
def test_an_inactive_beneficiary_is_not_paid_and_nobody_moves_up(settings_: DistributionSettings,
                                                                 lines: list[dict[str, Any]], first: P,
                                                                 second: P) -> None:
    l1, l2 = replace(first, user_id="u_l1"), replace(second, user_id="u_l2")
    active = decide(lines, settings_, l1, l2)
    without_l1 = decide(lines, settings_, replace(l1, is_active=False), l2)
    without_l2 = decide(lines, settings_, l1, replace(l2, is_active=False))

    def by(found: list[LevelDecision], level: int) -> list[int]:
        return [d.amount_fen for d in found if d.level == level]

    assert by(without_l1, 1) == [0] * len(lines) and by(without_l1, 2) == by(active, 2)
    assert by(without_l2, 2) == [0] * len(lines) and by(without_l2, 1) == by(active, 1)
    assert {d.outcome for d in without_l1 if d.level == 1} <= {"inactive", "disabled"}
    # The promoters above them never appear: only the two beneficiaries given.
    assert {d.beneficiary_id for d in active} <= {"u_l1", "u_l2"}


def test_a_promoter_is_never_paid_twice_on_a_line() -> None:
    lines = [{"line_id": "1", "product_id": "p", "quantity": 1, "unit_price_fen": 10_000, "paid_fen": 10_000,
              "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True}]
    same = P("u_same")
    decisions = decide_order_commissions(lines=lines, l1=same, l2=same, l1_id="u_same", l2_id="u_same",
                                         settings=DistributionSettings(), categories={}, context={})
    assert [(d.level, d.amount_fen) for d in decisions] == [(1, 1_000)]


def test_a_disabled_product_earns_nothing() -> None:
    lines = [{"line_id": "1", "product_id": "p", "quantity": 1, "unit_price_fen": 10_000, "paid_fen": 10_000,
              "commission": {"mode": "ratio", "l1": 2000, "l2": 500}, "distribution_enabled": False}]
    decisions = decide_order_commissions(lines=lines, l1=P("a"), l2=P("b"), l1_id="a", l2_id="b",
                                         settings=DistributionSettings(), categories={}, context={})
    assert [(d.outcome, d.amount_fen) for d in decisions] == [("disabled", 0), ("disabled", 0)]


# ---- self-purchase -----------------------------------------------------------------------------


def _promoter(uid: str, status: str = "active", level: str = "basic") -> Promoter:
    return Promoter(user_id=uid, code=uid.upper(), status=status, level_id=level)  # type: ignore[arg-type]


@settings(max_examples=150)
@given(rules(), order_lines())
def test_the_three_self_purchase_modes(settings_: DistributionSettings, lines: list[dict[str, Any]]) -> None:
    """The buyer is an active promoter with a parent and a grandparent (binding chain)."""
    people = {uid: _promoter(uid, level="senior" if uid == "u_buyer" else "basic")
              for uid in ("u_buyer", "u_parent", "u_grand")}
    attribution = attribute(buyer_id="u_buyer", buyer_parent="u_parent", parent_of={"u_parent": "u_grand"},
                            promoters=people, sharer=None, sharer_bindable=False, settings=settings_,
                            settings_version=1)
    mode = settings_.commission.self_purchase
    l1 = people.get(attribution.l1_promoter_id or "")
    l2 = people.get(attribution.l2_promoter_id or "")
    decisions = decide_order_commissions(lines=lines, l1=l1, l2=l2, l1_id=attribution.l1_promoter_id,
                                         l2_id=attribution.l2_promoter_id, settings=settings_, categories=CATEGORIES,
                                         context={})
    earners = {d.beneficiary_id for d in decisions if d.outcome == "earn"}
    if mode == "rebate":
        assert (attribution.l1_promoter_id, attribution.l2_promoter_id) == ("u_buyer", "u_parent")
        assert earners <= {"u_buyer", "u_parent"}
    elif mode == "none":
        assert (attribution.l1_promoter_id, attribution.l2_promoter_id) == ("u_parent", "u_grand")
        assert earners <= {"u_parent", "u_grand"}
    else:
        assert (attribution.l1_promoter_id, attribution.l2_promoter_id, attribution.basis) == (None, None,
                                                                                               "self_purchase")
        assert decisions == []
    # discount: the buyer's would-be L1 (rebate's L1 amount) comes off each line, capped.
    rebate = decide_order_commissions(lines=lines, l1=people["u_buyer"], l2=None, l1_id="u_buyer", l2_id=None,
                                      settings=settings_, categories=CATEGORIES, context={})
    for line, as_rebate in zip(lines, rebate, strict=True):
        product = product_from_line(line)
        rates = resolve_rates(settings=settings_, product=product, category=CATEGORIES.get(product.category_id),
                              promoter=people["u_buyer"])
        off = self_purchase_discount(base_fen=line["paid_fen"], quantity=line["quantity"], rates=rates,
                                     cap_bp=settings_.commission.cap_bp)
        assert 0 <= off <= cap_amount(line["paid_fen"], settings_.commission.cap_bp)
        assert off == as_rebate.rule["wanted_fen"] if not as_rebate.rule["capped"] else off <= as_rebate.rule["cap_fen"]


@dataclass(frozen=True)
class Item:
    product_id: str
    name: str = "Tea"
    type: str = "physical"
    category_id: str | None = "c_set"
    price_fen: int = 9_999
    stock: int = 100
    shipping_fee_fen: int = 800
    per_user_limit: int | None = None
    on_shelf: bool = True
    distribution_enabled: bool = True
    commission: Any = None


@dataclass(frozen=True)
class Setting:
    mode: str = "inherit"
    l1: int = 0
    l2: int = 0


def test_discounts_come_off_the_lines_and_the_order_total() -> None:
    products = {"a": Item("a", commission=Setting()), "b": Item("b", price_fen=500, commission=Setting("fixed", 40, 0))}
    priced = price_order([LineRequest("a", 2), LineRequest("b", 3)], products, reserved={})
    discounted = apply_line_discounts(priced, {"1": 2_399, "2": 120})
    assert [x.paid_fen for x in discounted.lines] == [19_998 - 2_399, 1_500 - 120]
    assert discounted.discount_fen == 2_519 and discounted.goods_fen == priced.goods_fen
    assert discounted.amount_fen == priced.amount_fen - 2_519 and discounted.shipping_fen == 800
    assert apply_line_discounts(priced, {"1": 10**9}).lines[0].paid_fen == 0  # never below zero


# ---- record adjustments ------------------------------------------------------------------------


def _record(amount: int, base: int) -> CommissionRecord:
    return CommissionRecord(commission_id="cm_o_1_1", order_id="o", line_id="1", level=1, beneficiary_id="u",
                            buyer_id="b", product_id="p", product_name="x", quantity=1, base_fen=base,
                            amount_fen=amount, status=CommissionStatus.FROZEN, rule={}, created_at=AT)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=1_000_000), st.data())
def test_refunds_in_any_steps_end_at_the_same_amount(base: int, data: st.DataObject) -> None:
    amount = data.draw(st.integers(min_value=1, max_value=max(base * 3 // 10, 1)))
    steps = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=base), max_size=6)))
    settle_after = data.draw(st.integers(min_value=-1, max_value=len(steps)))
    record = _record(amount, base)
    cancelled = clawed = 0
    for index, refunded in enumerate(steps):
        if index == settle_after and record.status == CommissionStatus.FROZEN:
            record = replace(record, status=CommissionStatus.SETTLED)
        for _ in range(2):  # a redelivery finds nothing more to do
            change = plan_record_change(record, line_refunded_fen=refunded, completed_at=None, settlement_days=7)
            if change is None:
                continue
            assert change.cancel_fen >= 0 and change.claw_back_fen >= 0
            cancelled += change.cancel_fen
            clawed += change.claw_back_fen
            record = applied_record(record, change)
    final = steps[-1] if steps else 0
    assert record.current_fen == remaining_after_refund(amount, base, final)
    assert cancelled + clawed == amount - record.current_fen
    assert (record.cancelled_fen, record.clawed_back_fen) == (cancelled, clawed)
    assert record.status != CommissionStatus.CANCELLED or record.current_fen == 0
    if final == base and record.status != CommissionStatus.SETTLED:
        assert record.status == CommissionStatus.CANCELLED or not steps


def test_due_date_is_set_once_from_completion() -> None:
    record = _record(100, 1000)
    done = AT + timedelta(days=2)
    change = plan_record_change(record, line_refunded_fen=0, completed_at=done, settlement_days=7)
    assert change is not None and change.due_at == done + timedelta(days=7) and change.refunded_base_fen is None
    after = applied_record(record, change)
    assert plan_record_change(after, line_refunded_fen=0, completed_at=done, settlement_days=7) is None
    settled = replace(after, status=CommissionStatus.SETTLED)
    claw = plan_record_change(settled, line_refunded_fen=500, completed_at=done, settlement_days=7)
    assert claw is not None and (claw.claw_back_fen, claw.cancel_fen, claw.due_at, claw.step) == (50, 0, None, "500")


# ---- the stream trigger -------------------------------------------------------------------------


def _order(**fields: Any) -> dict[str, Any]:
    return {"pk": "ORDER#o", "sk": "ORDER", "entity": "order", "order_id": "o", "status": "PAID",
            "paid_at": "2026-11-01T00:00:00Z", "lines": [{"line_id": "1", "refunded_fen": 0}], **fields}


def test_the_stream_asks_for_a_sync_only_when_commission_can_change() -> None:
    created = _order(status="CREATED", paid_at=None)
    paid = _order()
    assert commission_trigger(created, paid) and commission_trigger(None, paid)
    assert not commission_trigger(None, created) and not commission_trigger(paid, paid)
    assert not commission_trigger(_order(status="EXPIRED", paid_at=None), _order(status="PAID_AFTER_EXPIRY"))
    shipped = _order(status="SHIPPED")
    assert not commission_trigger(paid, shipped)
    completed = _order(status="COMPLETED", completed_at="2026-11-03T00:00:00Z")
    assert commission_trigger(shipped, completed)
    refunded = _order(status="COMPLETED", completed_at="2026-11-03T00:00:00Z",
                      lines=[{"line_id": "1", "refunded_fen": 300}])
    assert commission_trigger(completed, refunded)
    held = _order(status="COMPLETED", completed_at="2026-11-03T00:00:00Z",
                  lines=[{"line_id": "1", "refunded_fen": 0, "refund_held_fen": 300}])
    assert not commission_trigger(completed, held)  # a refund asked for is not a refund made
    assert commission_trigger(refunded, {**refunded, "status": "CLOSED"})
    assert not commission_trigger(order_image(paid), order_image({**paid, "sk": "STATUS"}))
    assert not commission_trigger(paid, None)


def test_the_explanation_says_how_the_amount_was_computed() -> None:
    text = explain_rule({"level": 1, "base_fen": 30_000, "quantity": 3, "mode": "fixed", "fixed_fen": 500,
                         "ratio_bp": 300, "level_points_bp": 300, "source": "product", "wanted_fen": 2_400,
                         "capped": True, "cap_bp": 700}, 2_100)
    assert text == ("L1: 3 × 500 fen + 3% of 30000 fen = 2400 fen (product rate, 3% of it from your level); "
                    "2100 fen after the 7% cap on L1 + L2")
