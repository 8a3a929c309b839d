"""The two migrations of the by-status order list's staged deploy (docs/runbook.md, "The by-status
order list onto gsi3"), on DynamoDB Local: the gsi3 keys backfilled on orders written before, the
``STATUS`` entries deleted at the end."""

from __future__ import annotations

import pytest

from mall.dal.orders import OrderRepository
from mall.dal.table import Table
from mall.services import fulfilment as service
from tests.integration.test_order_status_index import seed
from tests.unit.test_fulfilment_factory import order_item
from tools.migrations import order_status_entries_dropped, order_status_index_keys

pytestmark = pytest.mark.integration


def test_the_backfill_sets_gsi3_keys_on_orders_written_before_and_mends_a_stale_one(table: Table) -> None:
    old = order_item(status="PAID")
    del old["gsi3pk"]
    stale = order_item(status="SHIPPED")
    stale["gsi3pk"] = "ORDERS#PAID"  # the code before changed its status during the rollover
    done = order_item(status="COMPLETED")
    for item in (old, stale, done):
        table.put(item)
    assert [order_status_index_keys.apply(table, i, True) for i in (old, stale, done)] == [True, True, False]
    assert "gsi3pk" not in (table.get({"pk": old["pk"], "sk": "ORDER"}) or {})  # a dry run writes nothing
    assert [order_status_index_keys.apply(table, i, False) for i in (old, stale, done)] == [True, True, False]
    listed = service.admin_list_orders(repo=OrderRepository(table), status="PAID", limit=10, cursor=None)
    assert [o.order_id for o in listed.items] == [old["order_id"]]
    stored = table.get({"pk": stale["pk"], "sk": "ORDER"})
    assert stored is not None and stored["gsi3pk"] == "ORDERS#SHIPPED"
    # Again: nothing to do. An order whose status changed after it was read is left to the write
    # that changed it (conditional on the status read).
    again = [order_status_index_keys.apply(table, table.get({"pk": i["pk"], "sk": "ORDER"}) or {}, False)
             for i in (old, stale, done)]
    assert again == [False, False, False]
    moved = {**old, "gsi3pk": "ORDERS#X"}
    table.put({**old, "status": "SHIPPED", "gsi3pk": "ORDERS#SHIPPED"})
    assert order_status_index_keys.apply(table, moved, False) is False


def test_the_entries_migration_deletes_only_status_entries(table: Table) -> None:
    [first, *_] = seed(table)
    entry = table.get({"pk": first["pk"], "sk": "STATUS"})
    assert entry is not None
    assert order_status_entries_dropped.apply(table, first, False) is False  # the order itself is kept
    assert order_status_entries_dropped.apply(table, entry, True) is True
    assert table.get({"pk": first["pk"], "sk": "STATUS"}) is not None
    assert order_status_entries_dropped.apply(table, entry, False) is True
    assert order_status_entries_dropped.apply(table, entry, False) is False  # a page run again
    assert table.get({"pk": first["pk"], "sk": "STATUS"}) is None
    assert table.get({"pk": first["pk"], "sk": "ORDER"}) is not None
