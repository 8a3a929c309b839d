"""Read units of one order's lifecycle that stay pinned, by the kind of item read: what a worker or a
route reads, billed by AWS's rules (4 KB units, half for an eventually consistent read, at least half a
unit per key asked for) as the bench's meter (``bench._meter``) counts them on DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from bench._meter import Index, Meter
from mall.dal.keys import order_key
from mall.dal.table import Table
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from tests.conftest import table_request
from tests.integration.test_payment_snapshot import T0, World, _chain

pytestmark = pytest.mark.integration


def read_units(table: Table, work: Callable[[], Any]) -> dict[str, Any]:
    """The window summary (``rcu``, ``rcu_by_item_kind``, ``calls`` …) of what ``work`` does through
    ``table``'s client, measured by the bench's own meter."""
    indexes = [Index.from_template(ix, ("pk", "sk")) for ix in table_request()["GlobalSecondaryIndexes"]]  # type: ignore[attr-defined]
    meta = table.client.meta
    meter = Meter(lambda: boto3.client("dynamodb", endpoint_url=meta.endpoint_url, region_name=meta.region_name),
                  key_names=("pk", "sk"), indexes=indexes)
    meter._register(meta.events)
    try:
        with meter.window("measured") as window:
            meter.in_process("work", work)
    finally:
        meter.uninstall()
    return window.summary()


def test_a_paid_order_s_referral_worker_reads_the_settings_and_each_promoter_once(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)  # the buyer's first paid order: B is both the L1 and the paying invitee's parent
    order_id = world.pay(world.place(buyer))
    image = table.get(order_key(order_id), consistent=True)
    assert image is not None
    repos = OrderPaidRepositories.on(table)
    seen = read_units(table, lambda: on_order_paid(repos=repos, order=image, now=T0 + timedelta(hours=1)))
    kinds = seen["rcu_by_item_kind"]
    # The settings once per invocation (was once, then again for each promoter evaluated); each
    # promoter's level once, consistent, after the sale's transaction (was B twice: as the L1 and as
    # the invitee's parent).
    assert kinds["SETTINGS#/CURRENT"] == 0.5
    assert kinds["USER#/PROMOTER"] == 2.0
    assert world.level(b) == "senior" and world.level(a) == "basic"  # the upgrade still happens
