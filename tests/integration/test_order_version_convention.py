"""Every write that changes what decides an order's commission raises the order's ``version``.

The commission sync keeps an eventually consistent read of the order when it shows the version its
message names (``mall.dal.commission_sync``); the order stream names a version only when the change
raised it, so a writer that forgets costs a consistent read, not a wrong commission. This test keeps
today's writers to the convention, so that a new writer that forgets fails here rather than in the
stream's warning: the money simulator drives every order flow (payment, late and duplicate
notifications, expiry and paid-after-expiry, shipping, receipt, auto-confirmation, 核销, refunds of
every outcome, full refunds that close the order) through the services on a table with its stream,
and every stream record of an order item is compared, old image with new.

Which writers that covers is checked too, without a hand list of repository methods: every function of
the code that writes to the order item (it passes ``order_key(…)`` to a write, or spreads it into an
item) must have run during the simulation, or be driven below. Only one-off migrations, which no
flow runs, are listed, each with what it writes."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mall.clock import iso
from mall.dal import keys
from mall.dal.changes import Change
from mall.dal.commission_sync import order_image
from mall.dal.keys import AUTO_CONFIRM_PARTITION, order_key
from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.dal.tracking import TrackingRepository
from mall.domain.orders import Order
from tests.conftest import ROOT
from tests.integration.sim.simulator import run_simulation
from tests.integration.sim.world import World
from tests.integration.test_stats_pipeline import stream_changes

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 18, 2, 0, tzinfo=UTC)
OPERATIONS = 500
SEED = 20261207

#: Where the code that writes to the table lives (handlers, the shared layer, the operator tools).
SOURCES = ("layers/shared/mall", "functions", "tools")
#: Writers no order flow runs: one-off migrations, each run once per stack by ``make migrate``.
#: What each writes to the order item (none of it is what ``commission_trigger`` looks at).
ONE_OFF_WRITERS = {
    ("tools/migrations/order_addresses_apart.py", "apply"): "REMOVE address (moved to ORDER#<id>/ADDRESS)",
    ("tools/migrations/order_index_markers.py", "apply"): "gsi2pk, gsi2sk (the unpaid / auto-confirm entries)",
    ("tools/migrations/order_status_index_keys.py", "apply"): "gsi3pk, gsi1sk (the by-status list)",
    ("tools/migrations/shipped_order_parcels.py", "apply"): "parcel_count",
}
#: The calls that write what they are given: an ``order_key(…)`` among their arguments is written to.
WRITES = frozenset({"put", "update", "delete", "write", "write_one", "transact"})


def _refunded_by_line(order: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(line.get("line_id")), int(line.get("refunded_fen", 0) or 0))
                        for line in order.get("lines") or []))


def commission_view(order: Mapping[str, Any]) -> tuple[Any, ...]:
    """What ``mall.domain.commission_changes.commission_trigger`` looks at in an order image."""
    return (order.get("entity", "order"), order.get("status"), order.get("paid_at"), order.get("completed_at"),
            order.get("service_verified_at"), _refunded_by_line(order))


def what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    names = ("entity", "status", "paid_at", "completed_at", "service_verified_at", "refunded_fen")
    return {name for name, a, b in zip(names, commission_view(old), commission_view(new), strict=True) if a != b}


def version(order: Mapping[str, Any]) -> int:
    value = order.get("version")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def order_changes(table: Table) -> list[Change]:
    """The stream records of order items (not the other items of an order's partition)."""
    return [c for c in stream_changes(table) if order_image(c.new or c.old) is not None]


# ---- which functions write to the order item ------------------------------------------------------


def _qualname(node: ast.AST, parents: Mapping[ast.AST, ast.AST]) -> str:
    names: list[str] = []
    at = parents.get(node)
    while at is not None:
        if isinstance(at, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(at.name if not names else f"{at.name}.<locals>")
        elif isinstance(at, ast.ClassDef):
            names.append(at.name)
        at = parents.get(at)
    return ".".join(reversed(names)) or "<module>"


def _writes_it(call: ast.Call, parents: Mapping[ast.AST, ast.AST]) -> bool:
    """Whether this ``order_key(…)`` is written to: spread into an item (``{**order_key(…), …}``), or
    an argument of a write call (``table.update(order_key(…), …)``, ``Write.update(…)``, ``….write(…)``)."""
    child: ast.AST = call
    at = parents.get(call)
    while at is not None and not isinstance(at, ast.stmt):
        if isinstance(at, ast.Dict):
            return any(k is None and v is child for k, v in zip(at.keys, at.values, strict=True))
        if isinstance(at, ast.Call):
            name = at.func.attr if isinstance(at.func, ast.Attribute) else getattr(at.func, "id", "")
            return name in WRITES
        child, at = at, parents.get(at)
    return False


def order_writers() -> set[tuple[str, str]]:
    """(file, function) of every function that writes to an order item through ``order_key``."""
    found: set[tuple[str, str]] = set()
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "order_key"
                        and _writes_it(node, parents)):
                    found.add((path.relative_to(ROOT).as_posix(), _qualname(node, parents)))
    return found


def recording_order_key(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    """Every (file, function) that calls ``order_key`` from now on (the code imports it by name)."""
    called: set[tuple[str, str]] = set()
    real = keys.order_key

    def order_key(order_id: str) -> dict[str, str]:
        code = sys._getframe(1).f_code
        qualname = code.co_qualname.removesuffix(".<locals>.<genexpr>").removesuffix(".<locals>.<lambda>")
        path = Path(code.co_filename).resolve()
        if path.is_relative_to(ROOT):
            called.add((path.relative_to(ROOT).as_posix(), qualname))
        return real(order_id)

    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "").startswith("mall") and
                getattr(module, "order_key", None) is real):
            monkeypatch.setattr(module, "order_key", order_key)
    return called


# ---- what the simulation does not reach ------------------------------------------------------------


def drive_the_rest(table: Table, now: datetime) -> None:
    """The order writes a simulated run may not make: a parcel's delivery seen by tracking (on
    shipped orders set up here, copies of a simulated one), a wrong 核销 code and the lock after too
    many, and the auto-confirm entry left by an order that is no longer shipped."""
    orders = OrderRepository(table)
    tracking = TrackingRepository(table)
    paid = next(c.new for c in order_changes(table) if c.new is not None and c.new.get("paid_at"))

    def copy(n: int, **attributes: Any) -> Order:
        order_id = f"{paid['order_id']}_{n}"
        item = {**paid, **order_key(order_id), "order_id": order_id, **attributes}
        table.put({k: v for k, v in item.items() if k != "delivered_at"})
        order = orders.get(order_id)
        assert order is not None
        return order

    first, second = (copy(n, status="SHIPPED", shipped_at=iso(now)) for n in (1, 2))
    assert tracking.restart_countdown(first, delivered_at=iso(now))
    assert tracking.record_delivery(second.order_id, delivered_at=iso(now))
    orders.record_wrong_code(first.order_id)
    orders.lock_verify(first.order_id, now + timedelta(minutes=15))
    moved_on = copy(3, status="COMPLETED", completed_at=iso(now), gsi2pk=AUTO_CONFIRM_PARTITION,
                    gsi2sk=f"{iso(now)}#x")
    orders.drop_auto_confirm_entry(moved_on.order_id)
    left = table.get(order_key(moved_on.order_id), consistent=True)
    assert left is not None and "gsi2pk" not in left


# ---- the test ----------------------------------------------------------------------------------------


@pytest.mark.table_stream
def test_every_write_that_changes_an_order_s_commission_facts_raises_its_version(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    called = recording_order_key(monkeypatch)
    sim, _ = run_simulation(World.build(table, start=START), seed=SEED,
                            operations=OPERATIONS, workers=4)
    drive_the_rest(table, sim.clock.now)

    changed: Counter[str] = Counter()
    became: Counter[str] = Counter()
    forgot: list[tuple[str, int, set[str]]] = []
    lowered: list[tuple[str, int, int]] = []
    for change in order_changes(table):
        old, new = change.old, change.new
        if old is None or new is None:
            continue
        if version(new) < version(old):
            lowered.append((str(new["order_id"]), version(old), version(new)))
        facts = what_changed(old, new)
        changed.update(facts)
        if "status" in facts:
            became[str(new.get("status"))] += 1
        if facts and version(new) <= version(old):
            forgot.append((str(new["order_id"]), version(new), facts))
    assert forgot == [], "writes that changed commission facts without raising the order's version"
    assert lowered == [], "an order's version must never go down"
    # The run changed every fact the commission follows, or it proved little.
    assert {"status", "paid_at", "completed_at", "service_verified_at", "refunded_fen"} <= set(changed), changed
    assert {"PAID", "COMPLETED", "CLOSED"} <= set(became), became

    writers = order_writers()
    assert set(ONE_OFF_WRITERS) <= writers, "a listed one-off writer no longer writes the order item"
    missed = writers - called - set(ONE_OFF_WRITERS)
    assert missed == set(), ("functions that write the order item and ran neither in the simulation nor in "
                             "drive_the_rest: drive them here (or list a one-off migration with what it writes)")


def test_the_scan_finds_a_write_to_the_order_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan itself: a new repository method writing the order item is found, a read is not."""
    source = tmp_path / "layers" / "shared" / "mall" / "dal"
    source.mkdir(parents=True)
    (source / "sample.py").write_text(
        "class Sample:\n"
        "    def refund_quietly(self, order_id):\n"
        "        self._table.update(order_key(order_id), 'SET #lines[0].refunded_fen = :r')\n"
        "    def add(self, order_id):\n"
        "        item = {**order_key(order_id), 'entity': 'order'}\n"
        "        return item\n"
        "    def read(self, order_id):\n"
        "        return self._table.get(order_key(order_id), consistent=True)\n"
        "    def reads(self, ids):\n"
        "        return self._table.batch_get([order_key(i) for i in ids])\n", "utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert order_writers() == {("layers/shared/mall/dal/sample.py", "Sample.refund_quietly"),
                               ("layers/shared/mall/dal/sample.py", "Sample.add")}

