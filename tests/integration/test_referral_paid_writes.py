"""The referral worker's reaction to a buyer's first paid order on DynamoDB Local: the sale and the
paying invitee (有效下线) are counted in one transaction, so the buyer's binding and the parent's
counters are written once, and a redelivery counts neither again."""

from __future__ import annotations

from typing import Any

import pytest

from mall.dal.keys import binding_key, promoter_key
from mall.dal.referral import BindingRepository
from mall.dal.table import Table, deserialize
from tests.integration.test_payment_snapshot import PRICE, T0, World, _chain

pytestmark = pytest.mark.integration


def written_keys(params: dict[str, Any], operation: str) -> list[tuple[str, str]]:
    if operation == "TransactWriteItems":
        bodies = [next(iter(op.values())) for op in params["TransactItems"]]
        bodies = [b for b, op in zip(bodies, params["TransactItems"], strict=True) if "ConditionCheck" not in op]
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        bodies = [params]
    else:
        return []
    keys = [deserialize(b["Key"]) if "Key" in b else deserialize(b["Item"]) for b in bodies]
    return [(str(k["pk"]), str(k["sk"])) for k in keys]


def test_a_first_paid_order_writes_the_binding_once_and_counts_the_invitee_with_the_sale(table: Table) -> None:
    world = World(table)
    a, b, buyer = _chain(world)
    order_id = world.pay(world.place(buyer))
    writes: list[tuple[str, str]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        writes.extend(written_keys(params, model.name))

    table.client.meta.events.register("before-parameter-build.dynamodb", seen, unique_id="referral-writes")
    try:
        world.referral_worker(order_id, now=T0)
    finally:
        table.client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="referral-writes")
    binding = binding_key(buyer)
    assert writes.count((binding["pk"], binding["sk"])) == 1, writes
    counted = BindingRepository(table).get(buyer)
    assert counted is not None and counted.paid
    parent = table.get(promoter_key(b), consistent=True)
    assert parent is not None and parent["effective_members"] == 1 and parent["own_sales_fen"] == PRICE
    assert table.get(promoter_key(a), consistent=True)["team_sales_fen"] == PRICE  # type: ignore[index]

    world.referral_worker(order_id, now=T0)  # a redelivery
    again = table.get(promoter_key(b), consistent=True)
    assert again is not None and again["effective_members"] == 1 and again["own_sales_fen"] == PRICE
