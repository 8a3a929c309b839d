"""The referral worker's reads around a sale, eventually consistent where a stale answer is caught:
the buyer's binding before the sale's transaction (its writes are conditional on the binding's parent
and ``paid`` as read; one that would write nothing is read consistently), and each promoter evaluated
after it (trusted only when it shows the sale just counted, ``counted_order``). A stale replica costs
a consistent read, never a lost count or a missed upgrade, alone or with a concurrent sale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mall.dal.keys import binding_key, order_key, promoter_key
from mall.dal.referral.records import COUNTED_ORDER
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, Key, Table
from mall.domain.settings import CommissionRates, DistributionSettings
from mall.domain.settings_terms import BindingMode
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from tests.at_once import run_at_once
from tests.integration.test_payment_snapshot import BASIC, PRICE, SENIOR, T0, World, _chain

pytestmark = pytest.mark.integration


class StaleReplica:
    """Eventually consistent reads of the given keys answer the item as it was when frozen (a replica
    the later writes have not reached); consistent reads, and every other key, answer the truth."""

    def __init__(self, table: Table, monkeypatch: pytest.MonkeyPatch, keys: list[Key]) -> None:
        self.frozen: dict[tuple[str, str], Item | None] = {
            (str(k["pk"]), str(k["sk"])): table.get(k, consistent=True) for k in keys}
        self.eventual: list[tuple[str, str]] = []
        self.consistent: list[tuple[str, str]] = []
        real = Table.get

        def get(table_: Table, key: Key, *, consistent: bool = False) -> Item | None:
            at = (str(key["pk"]), str(key["sk"]))
            if at in self.frozen:
                (self.consistent if consistent else self.eventual).append(at)
                if not consistent:
                    return self.frozen[at]
            return real(table_, key, consistent=consistent)

        monkeypatch.setattr(Table, "get", get)


def _level(table: Table, uid: str) -> str:
    item = table.get(promoter_key(uid), consistent=True)
    assert item is not None
    return str(item["level_id"])


def _worker(table: Table, order_id: str) -> dict[str, Any]:
    image = table.get(order_key(order_id), consistent=True)
    assert image is not None
    return on_order_paid(repos=OrderPaidRepositories.on(table), order=image, now=T0 + timedelta(hours=1))


def test_a_sale_counted_marks_the_promoters_it_counted_on(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    assert _worker(table, order_id)["counted"]
    assert _level(table, b) == "senior"
    for uid in (a, b):
        item = table.get(promoter_key(uid), consistent=True)
        assert item is not None and item[COUNTED_ORDER] == order_id


def test_an_eventual_read_that_does_not_show_the_sale_is_read_again_consistently(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    # The replica still has B and A as they were before the sale: B's own sales 0, basic.
    replica = StaleReplica(table, monkeypatch, [promoter_key(a), promoter_key(b)])
    assert _worker(table, order_id)["counted"]
    # Each stale read was followed by a consistent one, which saw the sale: B reached senior.
    assert sorted(replica.eventual) == sorted(replica.consistent) == sorted(replica.frozen)
    assert _level(table, b) == "senior" and _level(table, a) == "basic"


def test_two_concurrent_sales_that_reach_an_upgrade_together_upgrade_on_stale_replicas(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two buyers under B pay at once; only both sales together lift B's own sales to senior. Whatever
    order the two workers commit and read in, the later read sees both: the upgrade happens."""
    world = World(table)
    repo = SettingsRepository(table)
    both = SENIOR.model_copy(update={"upgrade": SENIOR.upgrade.model_copy(
        update={"own_sales_at_least_fen": PRICE + 1})})
    repo.save(DistributionSettings(binding_mode=BindingMode.FIRST_CLICK, levels=[BASIC, both],
                                   commission=CommissionRates(l1_rate_bp=1000, l2_rate_bp=500)),
              based_on=repo.current(consistent=True).version, saved_by="test", now=T0)
    a, b, first = _chain(world)
    second = world.customer("second")
    world.bind(second, "CB")
    orders = [world.pay(world.place(first)), world.pay(world.place(second))]
    replica = StaleReplica(table, monkeypatch, [promoter_key(a), promoter_key(b)])
    results = run_at_once([lambda o=o: _worker(table, o) for o in orders])  # type: ignore[misc]
    assert all(r["counted"] for r in results)
    assert _level(table, b) == "senior"
    b_item = table.get(promoter_key(b), consistent=True)
    assert b_item is not None and int(b_item["own_sales_fen"]) == 2 * PRICE
    assert replica.consistent  # the stale replica was not trusted


def _counted_invitee(table: Table, buyer: str, b: str) -> tuple[bool, int, int]:
    binding = table.get(binding_key(buyer), consistent=True)
    promoter = table.get(promoter_key(b), consistent=True)
    assert binding is not None and promoter is not None
    return bool(binding.get("paid")), int(binding.get("sales_fen", 0)), int(promoter.get("effective_members", 0))


def test_a_binding_an_eventual_read_does_not_show_yet_is_read_consistently(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """A binding made a moment ago (the worker's own first-payment binding, or a share just before):
    a replica without it would count neither the binding's sales nor the paying invitee, and no
    condition would catch it; it is read again consistently."""
    world = World(table)
    _, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    replica = StaleReplica(table, monkeypatch, [binding_key(buyer)])
    replica.frozen[(str(binding_key(buyer)["pk"]), str(binding_key(buyer)["sk"]))] = None  # not replicated yet
    assert _worker(table, order_id)["counted"]
    assert len(replica.eventual) == len(replica.consistent) == 1
    assert _counted_invitee(table, buyer, b) == (True, PRICE, 1)


def test_a_stale_paid_binding_under_the_same_parent_is_refused_by_the_sale_s_condition(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica still holding the buyer's earlier binding under B, already paid (the buyer was unbound
    and bound to B again since: the new binding is unpaid). Taken as read, the sale would add to the
    binding's sales and never count the buyer as B's paying invitee; the sales write holds only for a
    paid binding, so it is refused and the binding read again consistently."""
    world = World(table)
    _, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    replica = StaleReplica(table, monkeypatch, [binding_key(buyer)])
    at = (str(binding_key(buyer)["pk"]), str(binding_key(buyer)["sk"]))
    unpaid = replica.frozen[at]
    assert unpaid is not None and not unpaid.get("paid")
    replica.frozen[at] = {**unpaid, "paid": True}
    assert _worker(table, order_id)["counted"]
    assert replica.consistent == [at]  # after the refusal
    assert _counted_invitee(table, buyer, b) == (True, PRICE, 1)


def test_a_binding_read_eventually_that_is_current_counts_the_sale_and_the_paying_invitee(table: Table) -> None:
    world = World(table)
    _, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    assert _worker(table, order_id)["counted"]
    assert _counted_invitee(table, buyer, b) == (True, PRICE, 1)


def test_two_first_sales_of_one_buyer_at_once_on_a_stale_binding_count_both_and_the_invitee_once(
        table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both workers read the binding unpaid from a replica (both take the paying-invitee path); the
    later transaction is refused on ``paid``, reads the binding again consistently, finds it paid under
    the L1 and adds its sale under ``paid = true``: both sales counted, the invitee once."""
    world = World(table)
    _, b, buyer = _chain(world)
    orders = [world.pay(world.place(buyer)), world.pay(world.place(buyer))]
    StaleReplica(table, monkeypatch, [binding_key(buyer)])  # unpaid, as both first reads see it
    results = run_at_once([lambda o=o: _worker(table, o) for o in orders])  # type: ignore[misc]
    assert all(r["counted"] for r in results)
    assert _counted_invitee(table, buyer, b) == (True, 2 * PRICE, 1)
    promoter = table.get(promoter_key(b), consistent=True)
    assert promoter is not None and int(promoter["own_sales_fen"]) == 2 * PRICE
