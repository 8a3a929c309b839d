"""The buyer's binding parent mirrored on their profile (``bound_parent``), and the payment's guard on it
(DynamoDB Local). Every bind, re-bind and unbind writes the mirror in its own transaction; the payment
puts "the parent is still the one the basis read" on the profile update it makes anyway instead of a
ConditionCheck of the binding (2 write units less), and a bind, re-bind or unbind committed on another
thread between the payment's read and its commit still makes it decide the basis again. The races run
in both deploy settings: the mirror checked, and the binding item checked (``BINDING_ITEM_CHECKS=1``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mall.dal.keys import binding_key, customer_profile_key
from mall.dal.referral import BOUND_PARENT
from mall.dal.table import Table
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import admin_remove_binding, admin_set_binding
from tests.integration.test_payment_snapshot import T0, World, _chain
from tests.integration.test_risk_hold_wallet_flag import transaction_units  # noqa: F401 (a fixture)
from tools.migrations import run
from tools.migrations.profile_bound_parent import MIGRATION

pytestmark = pytest.mark.integration


@pytest.fixture(params=["mirror", "items"])
def setting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "items":
        monkeypatch.setenv("BINDING_ITEM_CHECKS", "1")
    yield str(request.param)


def mirror(table: Table, uid: str) -> str | None:
    profile = table.get(customer_profile_key(uid), consistent=True) or {}
    return profile.get(BOUND_PARENT)


def parent(table: Table, uid: str) -> str | None:
    binding = table.get(binding_key(uid), consistent=True)
    return str(binding["parent_id"]) if binding else None


def rebind(world: World, uid: str, code: str) -> None:
    admin_set_binding(network=ReferralRepositories.on(world.table), customer_id=uid, promoter_code=code,
                      reason="moved", by="admin:t", now=T0)


def unbind(world: World, uid: str) -> None:
    admin_remove_binding(network=ReferralRepositories.on(world.table), customer_id=uid, reason="left",
                         by="admin:t", now=T0)


def l1_of(world: World, order_id: str) -> str | None:
    order = world.orders.get(order_id)
    assert order is not None and order.attribution is not None
    return order.attribution.get("l1_promoter_id")


def committed_before_the_payment(table: Table, change: Callable[[], None]) -> list[int]:
    """Run ``change`` on another thread, committed after the payment's reads and before its first
    ``TransactWriteItems`` is sent; returns how many payment transactions were sent (a list to read later)."""
    main, sent = threading.current_thread(), [0]

    def hook(**_: Any) -> None:
        if threading.current_thread() is not main:
            return
        sent[0] += 1
        if sent[0] == 1:
            worker = threading.Thread(target=change)
            worker.start()
            worker.join()

    table.client.meta.events.register("before-send.dynamodb.TransactWriteItems", hook, unique_id="mirror-race")
    return sent


def stop_races(table: Table) -> None:
    table.client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", unique_id="mirror-race")


# ---- the mirror's writers -------------------------------------------------------------------------

def test_every_bind_rebind_and_unbind_keeps_the_profiles_mirror_in_step(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    assert (mirror(table, buyer), mirror(table, b), mirror(table, a)) == (b, a, None)
    rebind(world, buyer, "CA")
    assert mirror(table, buyer) == parent(table, buyer) == a
    unbind(world, buyer)
    assert mirror(table, buyer) is None and parent(table, buyer) is None
    world.bind(buyer, "CB")
    assert mirror(table, buyer) == parent(table, buyer) == b


# ---- the payment's write units --------------------------------------------------------------------

def test_a_payment_guards_its_basis_on_the_profile_it_updates_two_units_less(
        table: Table, transaction_units: Callable[[], dict[str, int]],  # noqa: F811 (the fixture)
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    _, b, buyer = _chain(world)
    first, second = world.place(buyer), world.place(buyer)
    before = dict(transaction_units())
    world.pay(first)
    after_mirror = dict(transaction_units())
    monkeypatch.setenv("BINDING_ITEM_CHECKS", "1")  # the first deploy's setting: the binding checked
    world.pay(second)
    after_items = dict(transaction_units())
    guarded = {k: v - before.get(k, 0) for k, v in after_mirror.items() if v - before.get(k, 0)}
    checked = {k: v - after_mirror.get(k, 0) for k, v in after_items.items() if v - after_mirror.get(k, 0)}
    assert "USER#/BINDING" not in guarded
    assert checked["USER#/BINDING"] == 2
    assert guarded["USER#/PROFILE"] == checked["USER#/PROFILE"]
    assert sum(checked.values()) - sum(guarded.values()) == 2
    assert l1_of(world, first) == l1_of(world, second) == b


def test_a_profile_without_an_agreeing_mirror_makes_the_payment_check_the_binding(
        table: Table, transaction_units: Callable[[], dict[str, int]]) -> None:  # noqa: F811 (the fixture)
    world = World(table)
    _, b, buyer = _chain(world)
    table.update(customer_profile_key(buyer), "REMOVE bound_parent")  # as a binding made before the mirror
    order = world.place(buyer)
    before = dict(transaction_units())
    world.pay(order)
    assert transaction_units()["USER#/BINDING"] - before.get("USER#/BINDING", 0) == 2
    assert l1_of(world, order) == b


# ---- races: a change of the binding between the payment's read and its commit ---------------------

@pytest.mark.parametrize("change", ["rebind", "unbind", "bind"])
def test_a_binding_changed_after_the_payments_read_makes_it_decide_the_basis_again(
        table: Table, setting: str, change: str) -> None:
    world = World(table)
    a, _, buyer = _chain(world)
    if change == "bind":
        unbind(world, buyer)
    order = world.place(buyer)
    act = {"rebind": lambda: rebind(world, buyer, "CA"), "unbind": lambda: unbind(world, buyer),
           "bind": lambda: world.bind(buyer, "CA")}[change]
    sent = committed_before_the_payment(table, act)
    try:
        world.pay(order)
    finally:
        stop_races(table)
    assert sent[0] == 2  # the first commit was refused; the basis was read and decided again
    assert l1_of(world, order) == (None if change == "unbind" else a)
    assert mirror(table, buyer) == parent(table, buyer)


def test_a_payment_whose_binding_did_not_change_commits_at_once(table: Table, setting: str) -> None:
    world = World(table)
    _, b, buyer = _chain(world)
    order = world.place(buyer)
    sent = committed_before_the_payment(table, lambda: None)
    try:
        world.pay(order)
    finally:
        stop_races(table)
    assert sent[0] == 1 and l1_of(world, order) == b


# ---- the migration --------------------------------------------------------------------------------

def test_the_migration_mirrors_every_binding_and_clears_stale_mirrors(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    loner = world.customer("loner")
    # As code before the mirror left them: no mirror, a stale one, one on a profile with no binding.
    table.update(customer_profile_key(buyer), "REMOVE bound_parent")
    table.update(customer_profile_key(b), "SET bound_parent = :x", values={":x": "u_someone_else"})
    table.update(customer_profile_key(loner), "SET bound_parent = :x", values={":x": a})
    no_profile = "u_bound_before_login"
    table.put({**binding_key(no_profile), "entity": "binding", "user_id": no_profile, "parent_id": b})

    dry = run(table, MIGRATION, dry_run=True)
    assert dry.changed == 3 and mirror(table, buyer) is None
    assert run(table, MIGRATION).changed == 3
    for uid in (a, b, buyer, loner):
        assert mirror(table, uid) == parent(table, uid)
    assert table.get(customer_profile_key(no_profile), consistent=True) is None  # no profile is created
    assert run(table, MIGRATION, restart=True).changed == 0


def test_the_migration_never_undoes_a_binding_changed_after_its_read(table: Table) -> None:
    world = World(table)
    a, _, buyer = _chain(world)
    table.update(customer_profile_key(buyer), "REMOVE bound_parent")
    # The re-bind commits after the migration read the binding, before its transaction: the
    # migration's check of the binding as read refuses it, and the re-bind's own mirror stays.
    sent = committed_before_the_payment(table, lambda: rebind(world, buyer, "CA"))
    try:
        assert run(table, MIGRATION).changed == 0
    finally:
        stop_races(table)
    assert sent[0] >= 1
    assert mirror(table, buyer) == parent(table, buyer) == a
