"""One definition per concept: no module looked up by name, each constant and formatter in one place."""

from __future__ import annotations

import re

from tests.conftest import ROOT

SOURCES = sorted([*(ROOT / "layers" / "shared" / "mall").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")])


def _matches(pattern: str) -> list[str]:
    found = re.compile(pattern)
    return [f"{path.relative_to(ROOT)}:{number}" for path in SOURCES
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if found.search(line)]


def _only_in(pattern: str, *allowed: str) -> list[str]:
    return [hit for hit in _matches(pattern) if not hit.startswith(tuple(allowed))]


def test_no_module_is_looked_up_by_name() -> None:
    assert _matches(r"\bimportlib\b|\bimport_module\b") == []


def test_team_sales_shards_are_counted_in_one_place() -> None:
    assert [hit.split(":")[0] for hit in _matches(r"^TEAM_SALES_SHARDS\s*=")] == ["layers/shared/mall/domain/stats.py"]


def test_team_orders_use_the_stats_shard_of_the_promoter() -> None:
    from mall.dal.team_bonus import team_order_key
    from mall.domain.stats import team_sales_shard

    for uid in ("u_a", "u_b", "u_0123456789abcdef", "u_zz"):
        assert team_order_key(uid, "2026-03", "o_1")["pk"] == f"TEAM_ORDERS#2026-03#{team_sales_shard(uid):02d}"


def test_amounts_are_formatted_in_one_module() -> None:
    assert _only_in(r"def (yuan|_yuan|_plain_yuan|fmt_fen|format_amount)\b", "layers/shared/mall/domain/money.py") == []
