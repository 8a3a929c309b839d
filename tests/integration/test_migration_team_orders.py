"""The ``team_orders`` migration on DynamoDB Local: commission records written before the team order
items existed get them (the same items the commission sync writes now), once however often it runs, and
the team bonus then pays the month from them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mall.dal.table import Item, Table
from mall.dal.team_bonus import BonusRepository
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.team_bonus import TeamBonusRepositories, run_month
from tests.integration.test_team_bonus import ALL_SETTLED, OCT, PAID_RUN, october
from tools.migrations import available, run

pytestmark = pytest.mark.integration


def team_order_items(table: Table) -> dict[tuple[str, str], Item]:
    found: dict[tuple[str, str], Item] = {}
    start = None
    while True:
        body = {"TableName": table.name, "ConsistentRead": True, "FilterExpression": "#e = :e",
                "ExpressionAttributeNames": {"#e": "entity"}, "ExpressionAttributeValues": {":e": {"S": "team_order"}}}
        if start:
            body["ExclusiveStartKey"] = start
        page = table.client.scan(**body)  # type: ignore[arg-type]
        for raw in page.get("Items", []):
            item = table.get({"pk": raw["pk"]["S"], "sk": raw["sk"]["S"]}, consistent=True)
            assert item is not None
            found[(str(item["pk"]), str(item["sk"]))] = item
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def test_the_migration_backfills_the_team_orders_once_and_the_month_is_paid_from_them(table: Table) -> None:
    october(table)
    written = team_order_items(table)
    # u_mid: o_1, o_2, o_3 (November), o_5; u_lead: the same and u_mid's own purchase o_4.
    assert len(written) == 9
    for key in written:  # the data as it was before the items existed
        table.client.delete_item(TableName=table.name, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}})
    assert team_order_items(table) == {}

    migration = available()["team_orders"]
    dry = run(table, migration, dry_run=True)
    assert dry.changed == 9 and team_order_items(table) == {}
    first = run(table, migration)
    assert first.changed == 9
    backfilled = team_order_items(table)
    assert {k: (v["promoter_id"], v["month"], v["order_id"], v["commission_sks"]) for k, v in backfilled.items()} == \
        {k: (v["promoter_id"], v["month"], v["order_id"], v["commission_sks"]) for k, v in written.items()}
    assert run(table, migration, restart=True).changed == 0  # idempotent

    settle_due(SettlementRepositories.on(table), as_of=ALL_SETTLED, now=ALL_SETTLED)
    report = run_month(TeamBonusRepositories.on(table), month=OCT, now=PAID_RUN + timedelta(hours=1))
    assert report.paid == 2 and report.paid_fen == 2_550 + 4_050
    mid = BonusRepository(table).get("u_mid", OCT)
    assert mid is not None and mid.team_sales_fen == 85_000
