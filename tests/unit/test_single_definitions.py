"""One definition per concept: no module looked up by name, each constant and formatter in one place."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime

import pytest

from mall.clock import parse_instant
from tests.conftest import ROOT

SOURCES = sorted([*(ROOT / "layers" / "shared" / "mall").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")])


def _matches(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return [f"{path.relative_to(ROOT)}:{number}" for path in SOURCES
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if found.search(line)]


def _only_in(pattern: str, *allowed: str) -> list[str]:
    return [hit for hit in _matches(pattern) if not hit.startswith(tuple(allowed))]


def test_no_module_is_looked_up_by_name() -> None:
    # Except Powertools' own submodules, which the lean packages import as their __init__ would (by the
    # names in its import lines), and the layer's build step that imports every module to compile what
    # they create (mall.runtime.dataclass_code; both it and mall.runtime.pattern_code read the bytecode
    # magic number from importlib.util), and the stand-in that imports a dependency's standard-library module
    # on first use (mall.runtime.lazy_modules, which refuses first-party names): no first-party module hides
    # behind a name looked up at run time.
    assert _only_in(r"\bimportlib\b|\bimport_module\b", "layers/shared/mall/api/lean_powertools.py",
                    "layers/shared/mall/runtime/dataclass_code.py", "layers/shared/mall/runtime/pattern_code.py",
                    "layers/shared/mall/runtime/lazy_modules.py") == []


def test_team_sales_shards_are_counted_in_one_place() -> None:
    assert [hit.split(":")[0] for hit in _matches(r"^TEAM_SALES_SHARDS\s*=")] == ["layers/shared/mall/domain/stats.py"]


def test_team_orders_use_the_stats_shard_of_the_promoter() -> None:
    from mall.dal.keys import team_order_key
    from mall.domain.stats import team_sales_shard

    for uid in ("u_a", "u_b", "u_0123456789abcdef", "u_zz"):
        assert team_order_key(uid, "2026-03", "o_1")["pk"] == f"TEAM_ORDERS#2026-03#{team_sales_shard(uid):02d}"


def test_amounts_are_formatted_in_one_module() -> None:
    assert _only_in(r"def (yuan|_yuan|_plain_yuan|fmt_fen|format_amount)\b", "layers/shared/mall/domain/money.py") == []


def test_instants_are_parsed_in_one_place() -> None:
    assert _only_in(r"datetime\.fromisoformat|\.replace\(\"Z\"", "layers/shared/mall/clock.py") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    (" 2026-03-01T12:00:00z ", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ("2026-03-01T20:00:00+08:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ("2026-03-01T12:00:00.250000+00:00", datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_parse_instant_reads_z_offsets_and_a_missing_zone_as_utc(text: str, expected: datetime) -> None:
    moment = parse_instant(text)
    assert moment == expected and moment.tzinfo is not None


def test_parse_instant_refuses_what_is_not_an_instant() -> None:
    for text in ("", "nonsense", "2026-13-01T00:00:00Z", "2026-03-01T12:00:00+25:00"):
        with pytest.raises(ValueError):
            parse_instant(text)
    with pytest.raises(ValueError, match="no time zone"):
        parse_instant("2026-03-01T12:00:00", assume_utc=False)
    assert parse_instant("2026-03-01T12:00:00Z", assume_utc=False) == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_use_cases_call_the_services_they_need_instead_of_taking_them_as_arguments() -> None:
    from mall.services.orders import place_order
    from mall.services.payment_jobs import expire_due_orders
    from mall.services.payments import handle_notification

    injected = {"attribute", "note_stock_levels", "refunds", "payouts"}
    for use_case in (place_order, expire_due_orders, handle_notification):
        assert injected.isdisjoint(inspect.signature(use_case).parameters), use_case.__name__


def test_a_buyer_is_masked_by_one_rule_on_every_page() -> None:
    # A promoter matches a buyer across their commissions, orders, tracking and audit pages by the masked
    # id: two rules would show one buyer as two.
    from mall.domain.masking import mask_user_id

    assert [hit.split(":")[0] for hit in _matches(r"def mask_user_id\b")] == ["layers/shared/mall/domain/masking.py"]
    assert mask_user_id("u_xpdiqcabym5dbw2glo3wnz2l") == "u_xp****nz2l"
    assert mask_user_id("u_short") == "u_****"
