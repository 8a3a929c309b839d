"""Integer fen written as yuan: every shape the mall shows (mall.domain.money)."""

from __future__ import annotations

import pytest

from mall.domain.money import yuan, yuan_compact, yuan_decimal, yuan_ungrouped


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0.00"), (5, "¥0.05"), (5000, "¥50.00"), (12990, "¥129.90"),
                                           (123456, "¥1,234.56"), (100_000_000, "¥1,000,000.00"),
                                           (-123, "-¥1.23"), (-123456, "-¥1,234.56")])
def test_yuan_has_two_decimals_and_thousands_separators(fen: int, text: str) -> None:
    assert yuan(fen) == text


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0"), (5000, "¥50"), (5050, "¥50.50"), (150050, "¥1,500.50"),
                                           (199_999, "¥1,999.99"), (-5000, "-¥50"), (-5, "-¥0.05")])
def test_yuan_compact_drops_needless_decimals(fen: int, text: str) -> None:
    assert yuan_compact(fen) == text


@pytest.mark.parametrize(("fen", "text"), [(0, "¥0.00"), (1234, "¥12.34"), (123456, "¥1234.56"), (-123, "-¥1.23")])
def test_yuan_ungrouped_has_no_separators(fen: int, text: str) -> None:
    assert yuan_ungrouped(fen) == text


@pytest.mark.parametrize(("fen", "text"), [(0, "0.00"), (5, "0.05"), (123456, "1234.56"), (-123, "-1.23"),
                                           (-100, "-1.00")])
def test_yuan_decimal_is_the_bare_number(fen: int, text: str) -> None:
    assert yuan_decimal(fen) == text
