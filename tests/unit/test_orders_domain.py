"""Pure order rules: pricing, shipping, refusals, and the payment decision table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mall.domain.catalog import CommissionSetting, Product
from mall.domain.orders import (
    LineRequest,
    OrderStatus,
    PaymentFacts,
    PaymentOutcome,
    decide_payment,
    order_expires_at,
    price_order,
    reconcile_due,
)
from mall.domain.refund_ids import paid_after_expiry_refund_id
from mall.errors import Conflict, InvalidInput

BOOK = Product(product_id="book", name="书", type="physical", category_id="c1", price_fen=3990, stock=5,
               shipping_fee_fen=800, on_shelf=True, commission=CommissionSetting("ratio", 1000, 500))
MUG = Product(product_id="mug", name="杯子", type="physical", category_id="c1", price_fen=2500, stock=5,
              shipping_fee_fen=1200, on_shelf=True)
CARD = Product(product_id="card", name="会员卡", type="virtual", category_id="c2", price_fen=9900, stock=100,
               on_shelf=True, per_user_limit=2)
CATALOG = {p.product_id: p for p in (BOOK, MUG, CARD)}


def test_prices_come_from_the_catalog_and_shipping_is_the_highest_physical_fee() -> None:
    priced = price_order([LineRequest("book", 2), LineRequest("mug", 1), LineRequest("card", 1)], CATALOG,
                         reserved={})
    assert [(x.line_id, x.unit_price_fen, x.paid_fen) for x in priced.lines] == [
        ("1", 3990, 7980), ("2", 2500, 2500), ("3", 9900, 9900)]
    assert priced.goods_fen == 7980 + 2500 + 9900
    assert priced.shipping_fen == 1200  # one parcel: the highest fee, not the sum
    assert priced.discount_fen == 0
    assert priced.amount_fen == priced.goods_fen + 1200
    assert priced.needs_address
    assert priced.lines[0].commission == {"mode": "ratio", "l1": 1000, "l2": 500}
    assert priced.lines[0].as_item()["refunded_fen"] == 0


def test_an_order_without_physical_goods_ships_nothing() -> None:
    priced = price_order([LineRequest("card", 2)], CATALOG, reserved={})
    assert priced.shipping_fen == 0 and not priced.needs_address and priced.amount_fen == 19800


@pytest.mark.parametrize(("lines", "field"), [
    ([LineRequest("book", 1), LineRequest("book", 1)], "lines.1.product_id"),
    ([LineRequest("ghost", 1)], "lines.0.product_id"),
    ([LineRequest("book", 0)], "lines.0.quantity"),
    ([LineRequest("book", 1000)], "lines.0.quantity"),
])
def test_bad_lines_are_refused_naming_the_field(lines: list[LineRequest], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        price_order(lines, CATALOG, reserved={})
    assert field in {f.field for f in info.value.fields}


def test_empty_and_oversized_orders_are_refused() -> None:
    with pytest.raises(InvalidInput):
        price_order([], CATALOG, reserved={})
    many = {f"p{i}": replace(CARD, product_id=f"p{i}", per_user_limit=None) for i in range(21)}
    with pytest.raises(InvalidInput) as info:
        price_order([LineRequest(pid, 1) for pid in many], many, reserved={})
    assert info.value.code == "too_many_lines"


def test_off_shelf_out_of_stock_and_limits_are_conflicts() -> None:
    off = {**CATALOG, "book": replace(BOOK, on_shelf=False)}
    with pytest.raises(Conflict) as info:
        price_order([LineRequest("book", 1)], off, reserved={})
    assert info.value.code == "product_unavailable"
    with pytest.raises(Conflict) as info:
        price_order([LineRequest("book", 6)], CATALOG, reserved={})
    assert info.value.code == "out_of_stock" and info.value.details == {"product_id": "book", "available": 5}
    with pytest.raises(Conflict) as info:
        price_order([LineRequest("card", 1)], CATALOG, reserved={"card": 2})
    assert info.value.code == "purchase_limit_exceeded" and info.value.details["limit"] == 2
    assert price_order([LineRequest("card", 1)], CATALOG, reserved={"card": 1}).amount_fen == 9900


def test_a_free_order_is_refused() -> None:
    free = {"gift": replace(CARD, product_id="gift", price_fen=0, per_user_limit=None)}
    with pytest.raises(InvalidInput):
        price_order([LineRequest("gift", 1)], free, reserved={})


def test_expiry_and_refund_numbers_are_deterministic() -> None:
    created = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert order_expires_at(created, 30) == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    assert paid_after_expiry_refund_id("o_abc") == "rxo_abc"
    assert not reconcile_due(created, datetime(2026, 1, 1, 12, 4, tzinfo=UTC), 300)
    assert reconcile_due(created, datetime(2026, 1, 1, 12, 5, tzinfo=UTC), 300)


def _facts(**overrides: object) -> PaymentFacts:
    base: dict[str, object] = {"mchid": "1900000001", "appid": "wx_app", "trade_state": "SUCCESS",
                               "amount_fen": 1000, "transaction_id": "4200000001"}
    base.update(overrides)
    return PaymentFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "recorded", "facts", "outcome"), [
    (OrderStatus.CREATED, None, _facts(), PaymentOutcome.MARK_PAID),
    (OrderStatus.EXPIRED, None, _facts(), PaymentOutcome.MARK_PAID_AFTER_EXPIRY),
    (OrderStatus.PAID, "4200000001", _facts(), PaymentOutcome.DUPLICATE),
    (OrderStatus.SHIPPED, "4200000001", _facts(), PaymentOutcome.DUPLICATE),
    (OrderStatus.PAID_AFTER_EXPIRY, "4200000001", _facts(), PaymentOutcome.DUPLICATE),
    (OrderStatus.PAID, "4200000999", _facts(), PaymentOutcome.CONFLICTING_TRANSACTION),
    (OrderStatus.CREATED, None, _facts(amount_fen=999), PaymentOutcome.AMOUNT_MISMATCH),
    (OrderStatus.PAID, "4200000001", _facts(amount_fen=1), PaymentOutcome.AMOUNT_MISMATCH),
    (OrderStatus.CREATED, None, _facts(amount_fen=None), PaymentOutcome.AMOUNT_MISMATCH),
    (OrderStatus.CREATED, None, _facts(mchid="1900000002"), PaymentOutcome.WRONG_MERCHANT),
    (OrderStatus.CREATED, None, _facts(appid="wx_other"), PaymentOutcome.WRONG_MERCHANT),
    (OrderStatus.CREATED, None, _facts(trade_state="NOTPAY"), PaymentOutcome.NOT_PAID),
    (OrderStatus.CREATED, None, _facts(transaction_id=None), PaymentOutcome.NOT_PAID),
])
def test_payment_decision_table(status: OrderStatus, recorded: str | None, facts: PaymentFacts,
                                outcome: PaymentOutcome) -> None:
    decision = decide_payment(status=status, order_amount_fen=1000, recorded_transaction_id=recorded, facts=facts,
                              our_mchid="1900000001", our_appid="wx_app")
    assert decision.outcome == outcome
    assert decision.acknowledged == (outcome in {PaymentOutcome.MARK_PAID, PaymentOutcome.MARK_PAID_AFTER_EXPIRY,
                                                 PaymentOutcome.DUPLICATE})
