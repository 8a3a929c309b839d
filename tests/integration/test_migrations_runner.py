"""The migration runner resumes where a stopped run left off and does nothing once finished."""

from __future__ import annotations

import pytest

from mall.dal.table import Item, Table
from tools.migrations import Migration, available, run, state_key

pytestmark = pytest.mark.integration


class Stop(Exception):
    pass


def _mark(calls: list[str], stop_after: int | None = None):  # type: ignore[no-untyped-def]
    def apply(table: Table, item: Item, dry_run: bool) -> bool:
        if stop_after is not None and len(calls) >= stop_after:
            raise Stop
        calls.append(item["pk"])
        if item.get("migrated"):
            return False
        if not dry_run:
            table.update({"pk": item["pk"], "sk": item["sk"]}, "SET migrated = :t",
                         condition="attribute_not_exists(migrated)", values={":t": True})
        return True
    return apply


def _seed(table: Table, count: int) -> None:
    for n in range(count):
        table.put({"pk": f"THING#{n:03d}", "sk": "THING", "n": n})


def test_a_stopped_run_resumes_after_the_last_finished_page_and_a_finished_one_does_nothing(table: Table) -> None:
    _seed(table, 25)
    calls: list[str] = []
    with pytest.raises(Stop):
        run(table, Migration("mark", "test", _mark(calls, stop_after=12)), page_size=5)
    assert len(calls) == 12
    state = table.get(state_key("mark"), consistent=True)
    assert state is not None and "position" in state and "finished_at" not in state

    resumed: list[str] = []
    progress = run(table, Migration("mark", "test", _mark(resumed)), page_size=5)
    # Resumes at the page in flight (items 10-14), not from the start.
    assert len(resumed) == 15
    assert progress.changed == 13  # items 10 and 11 were changed by the stopped run
    everything = [table.get({"pk": f"THING#{n:03d}", "sk": "THING"}) for n in range(25)]
    assert all(item and item.get("migrated") for item in everything)

    again: list[str] = []
    assert run(table, Migration("mark", "test", _mark(again)), page_size=5).pages == 0
    assert again == []
    assert run(table, Migration("mark", "test", _mark(again)), page_size=5, restart=True).changed == 0


def test_a_dry_run_writes_nothing(table: Table) -> None:
    _seed(table, 4)
    progress = run(table, Migration("dry", "test", _mark([])), dry_run=True)
    assert progress.changed == 4
    assert table.get(state_key("dry")) is None
    assert not any((table.get({"pk": f"THING#{n:03d}", "sk": "THING"}) or {}).get("migrated") for n in range(4))


def test_every_listed_migration_has_a_runbook_line() -> None:
    from pathlib import Path

    runbook = (Path(__file__).parents[2] / "docs" / "runbook.md").read_text(encoding="utf-8")
    for name in available():
        assert f"`{name}`" in runbook, f"docs/runbook.md has no line for migration {name}"
