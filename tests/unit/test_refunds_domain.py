"""Pure refund rules: what may be asked, shipping only with a full refund, the outcomes, and (with
hypothesis) that no sequence of requests and outcomes ever refunds more than was paid."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mall.domain import refunds as rules
from mall.domain.orders import Order
from mall.domain.refund_ids import order_id_of_refund, refund_id_for
from mall.domain.refunds import LineRequest, Outcome, RefundPlan, RefundStatus
from mall.errors import Conflict, InvalidInput
from tests.unit.test_fulfilment_factory import Line, domain_order


def two_lines(**kwargs: object) -> Order:
    return domain_order(lines=[Line(unit_price_fen=1000, quantity=2), Line(unit_price_fen=500)], shipping_fen=800,
                        **kwargs)


def test_created_order_is_refused_with_a_clear_code() -> None:
    with pytest.raises(Conflict) as err:
        rules.plan_refund(two_lines(status="CREATED"), [LineRequest("1")])
    assert err.value.code == "order_not_paid"


@pytest.mark.parametrize("status", ["EXPIRED", "PAID_AFTER_EXPIRY", "CLOSED"])
def test_orders_that_are_not_paid_shipped_or_completed_are_not_refundable(status: str) -> None:
    with pytest.raises(Conflict) as err:
        rules.plan_refund(two_lines(status=status), [LineRequest("1")])
    assert err.value.code == "order_not_refundable"


@pytest.mark.parametrize("status", ["PAID", "SHIPPED", "COMPLETED"])
def test_a_partial_refund_of_one_line(status: str) -> None:
    plan = rules.plan_refund(two_lines(status=status), [LineRequest("1", 700)])
    assert plan.lines == (rules.PlannedLine("1", 0, 700),) and plan.shipping_fen == 0 and plan.amount_fen == 700


def test_a_whole_line_by_omitting_the_amount() -> None:
    plan = rules.plan_refund(two_lines(), [LineRequest("2")])
    assert plan.amount_fen == 500 and plan.shipping_fen == 0


def test_the_refund_taking_everything_carries_the_shipping() -> None:
    plan = rules.plan_refund(two_lines(), [LineRequest("1"), LineRequest("2")])
    assert plan.shipping_fen == 800 and plan.amount_fen == 2000 + 500 + 800


def test_shipping_goes_with_the_last_refund_and_only_once() -> None:
    order = two_lines()
    first = rules.plan_refund(order, [LineRequest("1")])
    held = _hold(order, first)
    # The first request only holds its amount (it may still be rejected): the second does not carry it.
    assert first.shipping_fen == 0 and rules.plan_refund(held, [LineRequest("2")]).shipping_fen == 0
    succeeded = _succeed(held, first)
    last = rules.plan_refund(succeeded, [LineRequest("2")])
    assert last.shipping_fen == 800
    already = replace(_hold(succeeded, last))
    assert already.shipping_refund_held_fen == 800
    reopened = replace(_release(already, first), shipping_refund_held_fen=800)
    assert rules.plan_refund(reopened, [LineRequest("1")]).shipping_fen == 0


def test_when_no_request_carried_the_shipping_the_success_completing_the_lines_owes_it() -> None:
    order = two_lines()
    first = rules.plan_refund(order, [LineRequest("1")])
    second = rules.plan_refund(_hold(order, first), [LineRequest("2")])
    both = _hold(_hold(order, first), second)
    assert rules.shipping_due_after(both, first) == 0  # line 2 is only held
    after_second = _succeed(both, second)
    assert rules.shipping_due_after(after_second, first) == 800
    assert not rules.closes_order(after_second, first)  # the shipping is still paid


def test_more_than_refundable_is_422_naming_the_line() -> None:
    with pytest.raises(InvalidInput) as err:
        rules.plan_refund(two_lines(), [LineRequest("1", 2001)])
    assert err.value.code == "refund_exceeds_refundable"
    assert err.value.fields[0].field == "lines.0.amount_fen" and "2000" in err.value.fields[0].reason


def test_pending_refunds_count_against_the_line() -> None:
    order = two_lines()
    held = _hold(order, rules.plan_refund(order, [LineRequest("1", 1500)]))
    with pytest.raises(InvalidInput):
        rules.plan_refund(held, [LineRequest("1", 501)])
    assert rules.plan_refund(held, [LineRequest("1", 500)]).amount_fen == 500


def test_unknown_or_repeated_lines_are_422_and_nothing_left_is_409() -> None:
    with pytest.raises(InvalidInput) as err:
        rules.plan_refund(two_lines(), [LineRequest("9"), LineRequest("1"), LineRequest("1")])
    assert {f.field for f in err.value.fields} == {"lines.0.line_id", "lines.2.line_id"}
    order = two_lines()
    everything = _hold(order, rules.plan_refund(order, [LineRequest("1"), LineRequest("2")]))
    with pytest.raises(Conflict) as conflict:
        rules.plan_refund(everything, [LineRequest("1")])
    assert conflict.value.code == "nothing_to_refund"


def test_refund_ids_name_their_order() -> None:
    assert refund_id_for("o_abc123", 3) == "o_abc123-r3"
    assert order_id_of_refund("o_abc123-r3") == "o_abc123"
    assert order_id_of_refund("rxo_abc123") == "o_abc123"  # the paid-after-expiry refund
    assert order_id_of_refund("nonsense") is None


@pytest.mark.parametrize(("current", "wechat", "outcome"), [
    (RefundStatus.PROCESSING, "SUCCESS", Outcome.SUCCEED),
    (RefundStatus.FAILED, "SUCCESS", Outcome.SUCCEED),
    (RefundStatus.PROCESSING, "ABNORMAL", Outcome.FAIL),
    (RefundStatus.PROCESSING, "CLOSED", Outcome.CLOSE),
    (RefundStatus.FAILED, "CLOSED", Outcome.CLOSE),
    (RefundStatus.SUCCEEDED, "SUCCESS", Outcome.NOTHING),
    (RefundStatus.SUCCEEDED, "CLOSED", Outcome.NOTHING),
    (RefundStatus.FAILED, "ABNORMAL", Outcome.NOTHING),
    (RefundStatus.CLOSED, "SUCCESS", Outcome.NOTHING),
    (RefundStatus.REQUESTED, "SUCCESS", Outcome.NOTHING),
    (RefundStatus.PROCESSING, "PROCESSING", Outcome.NOTHING),
])
def test_outcomes(current: RefundStatus, wechat: str, outcome: Outcome) -> None:
    assert rules.outcome_of(current, wechat) == outcome


def test_approve_and_reject_need_the_right_status() -> None:
    assert rules.check_approvable(RefundStatus.REQUESTED, "r") is True
    assert rules.check_approvable(RefundStatus.PROCESSING, "r") is False
    for status in (RefundStatus.REJECTED, RefundStatus.SUCCEEDED, RefundStatus.CLOSED, RefundStatus.FAILED):
        with pytest.raises(Conflict):
            rules.check_approvable(status, "r")
    rules.check_rejectable(RefundStatus.REQUESTED, "r")
    with pytest.raises(Conflict):
        rules.check_rejectable(RefundStatus.PROCESSING, "r")


def test_a_refund_that_leaves_nothing_paid_closes_the_order() -> None:
    order = two_lines(status="COMPLETED")
    full = rules.plan_refund(order, [LineRequest("1"), LineRequest("2")])
    assert rules.closes_order(order, full)
    assert not rules.closes_order(order, rules.plan_refund(order, [LineRequest("1")]))


# ---- the arithmetic, as the repository applies it ---------------------------------------------

def _move(order: Order, plan: RefundPlan, *, held: int, refunded: int) -> Order:
    lines = list(order.lines)
    for p in plan.lines:
        line = lines[p.index]
        lines[p.index] = replace(line, refund_held_fen=line.refund_held_fen + held * p.amount_fen,
                                 refunded_fen=line.refunded_fen + refunded * p.amount_fen)
    return replace(order, lines=tuple(lines),
                   shipping_refund_held_fen=order.shipping_refund_held_fen + held * plan.shipping_fen,
                   shipping_refunded_fen=order.shipping_refunded_fen + refunded * plan.shipping_fen)


def _hold(order: Order, plan: RefundPlan) -> Order:
    return _move(order, plan, held=1, refunded=0)


def _release(order: Order, plan: RefundPlan) -> Order:
    return _move(order, plan, held=-1, refunded=0)


def _succeed(order: Order, plan: RefundPlan) -> Order:
    return _move(order, plan, held=-1, refunded=1)


line_strategy = st.builds(Line, type=st.sampled_from(["physical", "service", "virtual"]),
                          unit_price_fen=st.integers(1, 5000), quantity=st.integers(1, 3))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(line_strategy, min_size=1, max_size=4), shipping=st.integers(0, 1500), data=st.data())
def test_no_sequence_of_requests_and_outcomes_refunds_more_than_was_paid(
        lines: list[Line], shipping: int, data: st.DataObject) -> None:
    order = domain_order(lines=lines, shipping_fen=shipping, status="SHIPPED")
    open_refunds: list[tuple[RefundPlan, RefundStatus]] = []
    for _ in range(data.draw(st.integers(1, 12))):
        action = data.draw(st.sampled_from(["request", "request", "succeed", "reject", "close", "fail"]))
        if action == "request":
            chosen = data.draw(st.lists(st.sampled_from([li.line_id for li in order.lines]), min_size=1, unique=True))
            asks = [LineRequest(lid, data.draw(st.one_of(st.none(), st.integers(-5, 16000)))) for lid in chosen]
            try:
                plan = rules.plan_refund(order, asks)
            except (InvalidInput, Conflict):
                continue
            assert plan.amount_fen > 0
            order = _hold(order, plan)
            open_refunds.append((plan, RefundStatus.REQUESTED))
        elif open_refunds:
            index = data.draw(st.integers(0, len(open_refunds) - 1))
            plan, status = open_refunds[index]
            if action == "reject" and status == RefundStatus.REQUESTED:
                order = _release(order, plan)
                open_refunds.pop(index)
                continue
            if status == RefundStatus.REQUESTED:
                status = RefundStatus.PROCESSING  # approved
            wechat = {"succeed": "SUCCESS", "close": "CLOSED", "fail": "ABNORMAL", "reject": "SUCCESS"}[action]
            outcome = rules.outcome_of(status, wechat)
            if outcome == Outcome.SUCCEED:
                order = _succeed(order, plan)
                open_refunds.pop(index)
            elif outcome == Outcome.CLOSE:
                order = _release(order, plan)
                open_refunds.pop(index)
            elif outcome == Outcome.FAIL:
                open_refunds[index] = (plan, RefundStatus.FAILED)
            else:
                open_refunds[index] = (plan, status)
        for line in order.lines:
            assert line.refunded_fen >= 0 and line.refund_held_fen >= 0
            assert line.refunded_fen + line.refund_held_fen <= line.paid_fen
        assert 0 <= order.shipping_refunded_fen + order.shipping_refund_held_fen <= order.shipping_fen
        refunded = sum(line.refunded_fen for line in order.lines) + order.shipping_refunded_fen
        assert refunded <= order.amount_fen
    if all(line.refunded_fen == line.paid_fen for line in order.lines) and not open_refunds:
        assert order.shipping_refunded_fen in {0, order.shipping_fen}
