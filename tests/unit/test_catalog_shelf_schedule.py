"""The shelf schedule's pure rules (定时上下架): what is due at a moment, what the product becomes, and
what customers see before the schedule has run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mall.domain.catalog import (
    Product,
    ShelfChange,
    apply_shelf_change,
    due_shelf_change,
    next_shelf_due,
    product_problems,
)

NOW = datetime(2026, 12, 12, 0, 0, tzinfo=UTC)
BEFORE, AFTER = NOW - timedelta(minutes=1), NOW + timedelta(minutes=1)


def product(*, on_shelf: bool = False, on_at: datetime | None = None, off_at: datetime | None = None) -> Product:
    return Product(product_id="p_1", name="茶", type="physical", category_id="c_1", price_fen=100, stock=1,
                   on_shelf=on_shelf, on_shelf_at=on_at, off_shelf_at=off_at)


@pytest.mark.parametrize(("on_at", "off_at", "expected"), [
    (None, None, None),
    (AFTER, None, None),
    (BEFORE, None, ShelfChange(on_shelf=True, clears_on=True, clears_off=False)),
    (None, BEFORE, ShelfChange(on_shelf=False, clears_on=False, clears_off=True)),
    (BEFORE, AFTER, ShelfChange(on_shelf=True, clears_on=True, clears_off=False)),
    (BEFORE - timedelta(hours=1), BEFORE, ShelfChange(on_shelf=False, clears_on=True, clears_off=True)),
    (NOW, None, ShelfChange(on_shelf=True, clears_on=True, clears_off=False)),  # due at the second itself
])
def test_what_is_due(on_at: datetime | None, off_at: datetime | None, expected: ShelfChange | None) -> None:
    assert due_shelf_change(product(on_at=on_at, off_at=off_at), NOW) == expected


def test_applying_clears_the_consumed_time_and_the_next_due_moves_on() -> None:
    planned = product(on_at=BEFORE, off_at=AFTER)
    assert next_shelf_due(planned) == BEFORE
    change = due_shelf_change(planned, NOW)
    assert change is not None
    after = apply_shelf_change(planned, change)
    assert (after.on_shelf, after.on_shelf_at, after.off_shelf_at) == (True, None, AFTER)
    assert next_shelf_due(after) == AFTER
    assert due_shelf_change(after, NOW) is None


def test_customers_see_a_product_off_from_its_off_time_on() -> None:
    assert product(on_shelf=True, off_at=AFTER).shown_on_shelf(NOW)
    assert not product(on_shelf=True, off_at=NOW).shown_on_shelf(NOW)
    assert not product(on_shelf=False).shown_on_shelf(NOW)


def test_an_off_time_not_after_the_on_time_is_a_problem_of_off_shelf_at() -> None:
    assert [p.field for p in product_problems(product(on_at=NOW, off_at=NOW))] == ["off_shelf_at"]
    assert product_problems(product(on_at=NOW, off_at=AFTER)) == []
