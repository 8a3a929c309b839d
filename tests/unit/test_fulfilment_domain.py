"""Pure rules after payment: which road an order takes, shipping, receipt, 核销."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mall.domain import fulfilment as rules
from mall.domain.orders import Order, fulfilment_of
from mall.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from tests.unit.test_fulfilment_factory import Line, domain_order

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("types", "road"), [
    (["physical"], "physical"), (["service", "physical"], "physical"), (["virtual", "service"], "service"),
    (["virtual"], "virtual"), (["service"], "service"),
])
def test_the_lines_decide_the_road(types: list[str], road: str) -> None:
    assert fulfilment_of(types) == road


def test_a_paid_physical_order_ships_and_a_retry_with_the_same_parcel_is_harmless() -> None:
    order = domain_order(status="PAID")
    assert rules.check_ship(order, carrier="SF", tracking_no="SF1") is True
    shipped = domain_order(status="SHIPPED", carrier="SF", tracking_no="SF1")
    assert rules.check_ship(shipped, carrier="SF", tracking_no="SF1") is False
    with pytest.raises(Conflict) as err:
        rules.check_ship(shipped, carrier="SF", tracking_no="OTHER")
    assert err.value.code == "order_not_shippable" and err.value.details["status"] == "SHIPPED"


@pytest.mark.parametrize("status", ["CREATED", "EXPIRED", "COMPLETED", "CLOSED", "PAID_AFTER_EXPIRY"])
def test_only_paid_orders_ship(status: str) -> None:
    with pytest.raises(Conflict):
        rules.check_ship(domain_order(status=status), carrier="SF", tracking_no="SF1")


def test_service_orders_do_not_ship_and_fully_refunded_ones_neither() -> None:
    with pytest.raises(Conflict) as err:
        rules.check_ship(domain_order(lines=[Line(type="service")]), carrier="SF", tracking_no="1234")
    assert err.value.code == "order_not_physical"
    held = domain_order()
    order = replace(held, lines=tuple(replace(line, refund_held_fen=line.paid_fen) for line in held.lines))
    with pytest.raises(Conflict) as err2:
        rules.check_ship(order, carrier="SF", tracking_no="1234")
    assert err2.value.code == "nothing_to_ship"


def test_receipt_only_for_shipped_orders_and_repeats_are_harmless() -> None:
    assert rules.check_confirm_receipt(domain_order(status="SHIPPED")) is True
    assert rules.check_confirm_receipt(domain_order(status="COMPLETED", completed_by="buyer")) is False
    with pytest.raises(Conflict) as err:
        rules.check_confirm_receipt(domain_order(status="PAID"))
    assert err.value.code == "order_not_shipped"


def test_someone_elses_order_is_not_found() -> None:
    order = domain_order(buyer_id="u_alice")
    assert rules.ensure_owner(order, "u_alice") is order
    with pytest.raises(NotFound):
        rules.ensure_owner(order, "u_bob")
    with pytest.raises(NotFound):
        rules.ensure_owner(None, "u_bob")


def test_auto_confirm_cutoff() -> None:
    assert rules.auto_confirm_cutoff(NOW, 10) == NOW - timedelta(days=10)


def _service_order(code: str, **kwargs: object) -> Order:
    order = domain_order(lines=[Line(type="service")], **kwargs)
    return domain_order(order_id=order.order_id, lines=[Line(type="service")],
                        verify_code_hash=rules.verify_code_hash(order.order_id, code), **kwargs)


def test_the_right_code_verifies_with_any_spacing() -> None:
    order = _service_order("123456789012")
    rules.check_verify(order, "1234 5678 9012", NOW)
    rules.check_verify(order, "1234-5678-9012", NOW)
    assert rules.format_code("123456789012") == "1234 5678 9012"
    assert rules.shows_verify_code(order)


def test_a_wrong_code_is_422_and_a_code_of_another_order_too() -> None:
    order = _service_order("123456789012")
    with pytest.raises(InvalidInput) as err:
        rules.check_verify(order, "123456789013", NOW)
    assert err.value.code == "wrong_verify_code"
    other = _service_order("999999999999")
    with pytest.raises(InvalidInput):
        rules.check_verify(order, "999999999999", NOW)
    assert other.verify_code_hash != rules.verify_code_hash(order.order_id, "999999999999")


def test_locked_orders_refuse_even_the_right_code_until_the_lock_ends() -> None:
    until = NOW + timedelta(minutes=rules.VERIFY_LOCK_MINUTES)
    order = _service_order("123456789012", verify_locked_until=until.isoformat())
    with pytest.raises(TooManyRequests) as err:
        rules.check_verify(order, "123456789012", NOW)
    assert err.value.code == "verify_locked"
    rules.check_verify(order, "123456789012", until + timedelta(seconds=1))
    assert rules.lock_after_wrong_code(rules.MAX_VERIFY_ATTEMPTS - 1, NOW) is None
    assert rules.lock_after_wrong_code(rules.MAX_VERIFY_ATTEMPTS, NOW) == until


@pytest.mark.parametrize(("status", "code"), [("SHIPPED", "order_not_verifiable"), ("CREATED", "order_not_verifiable")])
def test_only_paid_service_orders_verify(status: str, code: str) -> None:
    with pytest.raises(Conflict) as err:
        rules.check_verify(_service_order("123456789012", status=status), "123456789012", NOW)
    assert err.value.code == code
    with pytest.raises(Conflict) as err2:
        rules.check_verify(domain_order(status="PAID"), "123456789012", NOW)
    assert err2.value.code == "order_not_verifiable"
    done = _service_order("123456789012", status="COMPLETED", completed_by="verify")
    with pytest.raises(Conflict) as err3:
        rules.check_verify(done, "123456789012", NOW)
    assert err3.value.code == "order_already_verified"
