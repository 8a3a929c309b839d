"""The commission sync reads the order eventually consistent when its message names the order's
version after the change that sent it, and keeps that read only when it shows that version or a
later one: a replica behind the change is read again consistently, so no change is missed. A change
that did not raise the version names none, and the order is read consistently."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mall.dal.commission_sync import commission_message
from mall.dal.keys import order_key
from mall.dal.table import Item, Key, Table
from mall.services.commissions import CommissionRepositories, sync_order
from mall.workers import order_version_of
from tests.integration.test_commission_sync import complete, records, set_refunded
from tests.integration.test_lifecycle_read_units import read_units
from tests.integration.test_payment_snapshot import T0, World, _chain

pytestmark = pytest.mark.integration


def _image(table: Table, order_id: str) -> Item:
    item = table.get(order_key(order_id), consistent=True)
    assert item is not None
    return item


def _behind(monkeypatch: pytest.MonkeyPatch, order_id: str, frozen: Item) -> list[bool]:
    """Eventually consistent reads of the order answer ``frozen`` (a replica behind); the list
    records each read of the order (True: consistent)."""
    seen: list[bool] = []
    real = Table.get

    def get(table: Table, key: Key, *, consistent: bool = False) -> Item | None:
        if key == order_key(order_id):
            seen.append(consistent)
            if not consistent:
                return frozen
        return real(table, key, consistent=consistent)

    monkeypatch.setattr(Table, "get", get)
    return seen


def test_the_message_names_the_order_s_version_after_the_change(table: Table) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    image = _image(table, order_id)
    assert commission_message(image, None) == {"order_id": order_id, "version": image["version"]}
    assert commission_message({"order_id": order_id}, None) == {"order_id": order_id}  # none: read consistently


def test_a_paid_order_s_sync_reads_the_order_at_half_a_unit(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    version = commission_message(_image(table, order_id), None)["version"]
    repos = CommissionRepositories.on(table)
    seen = read_units(table, lambda: sync_order(repos, order_id=order_id, now=T0 + timedelta(minutes=1),
                                                seen_version=version))
    assert seen["rcu_by_item_kind"]["ORDER#/ORDER"] == 0.5  # was 1 (consistent)
    assert {(k[1], r.beneficiary_id) for k, r in records(table, order_id).items()} == {(1, b), (2, a)}


def test_a_replica_that_has_not_seen_the_payment_is_read_again_consistently(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken as read, the order would still be CREATED: "not paid", and the message consumed with no
    record created until the order's next change."""
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.place(buyer)
    unpaid = _image(table, order_id)
    world.pay(order_id)
    version = commission_message(_image(table, order_id), None)["version"]
    seen = _behind(monkeypatch, order_id, unpaid)
    result = sync_order(CommissionRepositories.on(table), order_id=order_id, now=T0 + timedelta(minutes=1),
                        seen_version=version)
    assert seen == [False, True]
    assert result.created == 2 and len(records(table, order_id)) == 2


def _completed_with_records(table: Table) -> tuple[str, Item]:
    """A paid order of a two-level chain, its commission records created, then completed and synced:
    its id and its image after the completion."""
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    complete(table, order_id)
    world.commission_worker(order_id, now=T0 + timedelta(days=1))
    return order_id, _image(table, order_id)


def test_a_replica_behind_a_refund_is_read_again_and_the_refund_reduces_the_records(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id, completed = _completed_with_records(table)
    set_refunded(table, order_id, 0, int(completed["lines"][0]["paid_fen"]) // 2)
    version = commission_message(_image(table, order_id), None)["version"]
    seen = _behind(monkeypatch, order_id, completed)  # the replica has the completion, not the refund
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=T0 + timedelta(days=2), seen_version=version)
    assert seen[:2] == [False, True]
    after = records(table, order_id)
    assert len(after) == 2 and all(0 < r.current_fen < r.amount_fen for r in after.values())


def test_a_replica_that_shows_the_change_is_kept(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _, _, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    paid = _image(table, order_id)
    seen = _behind(monkeypatch, order_id, paid)
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=T0 + timedelta(minutes=1),
               seen_version=int(paid["version"]))
    assert seen == [False] and len(records(table, order_id)) == 2


def test_a_refund_written_without_raising_the_version_is_decided_from_a_consistent_read(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that forgets the version: the replica from before the refund shows the same version,
    so a message naming it would let the sync keep that replica and leave the commission unreduced
    (and settle it later). The message names no version: the order is read consistently."""
    order_id, completed = _completed_with_records(table)
    table.update(order_key(order_id), "SET #lines[0].refunded_fen = :r", names={"#lines": "lines"},
                 values={":r": int(completed["lines"][0]["paid_fen"]) // 2})
    refunded = _image(table, order_id)
    assert refunded["version"] == completed["version"]
    message = commission_message(refunded, completed)
    assert message == {"order_id": order_id}
    seen = _behind(monkeypatch, order_id, completed)
    repos = CommissionRepositories.on(table)
    units = read_units(table, lambda: sync_order(repos, order_id=order_id, now=T0 + timedelta(days=2),
                                                 seen_version=order_version_of(json.dumps(message))))
    assert seen[0] is True  # no eventually consistent read of the order
    assert units["rcu_by_item_kind"]["ORDER#/ORDER"] == 1.0  # the price of the forgotten version: ½ unit
    after = records(table, order_id)
    assert len(after) == 2 and all(0 < r.current_fen < r.amount_fen for r in after.values())
