"""The data-access wrapper against the real emulator and the template's table."""

from __future__ import annotations

import pytest

from mall.dal.table import ConditionFailed, Table, TransactionCancelled, Write


@pytest.mark.table_stream
def test_table_from_template_has_its_index_ttl_and_stream(table: Table) -> None:
    described = table.client.describe_table(TableName=table.name)["Table"]
    assert sorted(ix["IndexName"] for ix in described["GlobalSecondaryIndexes"]) == ["gsi1", "gsi2", "gsi3"]
    assert described["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = table.client.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_conditional_put_reports_the_current_item(table: Table) -> None:
    table.put({"pk": "X#1", "sk": "A", "amount_fen": 100}, condition="attribute_not_exists(pk)")
    with pytest.raises(ConditionFailed) as err:
        table.put({"pk": "X#1", "sk": "A", "amount_fen": 999}, condition="attribute_not_exists(pk)")
    assert err.value.item == {"pk": "X#1", "sk": "A", "amount_fen": 100}


def test_transaction_is_all_or_nothing_and_names_the_failed_operation(table: Table) -> None:
    table.put({"pk": "X#1", "sk": "A", "balance_fen": 50})
    writes = [
        Write.put(table.name, {"pk": "X#2", "sk": "A", "balance_fen": 10}),
        Write.update(table.name, {"pk": "X#1", "sk": "A"}, "SET balance_fen = balance_fen - :a",
                     condition="balance_fen >= :a", values={":a": 80}),
    ]
    with pytest.raises(TransactionCancelled) as err:
        table.transact(writes)
    assert err.value.conditional_failures == [1]
    assert err.value.items[1] == {"pk": "X#1", "sk": "A", "balance_fen": 50}
    assert table.get({"pk": "X#2", "sk": "A"}) is None


def test_numbers_come_back_as_int_and_fractions_are_refused(table: Table) -> None:
    table.put({"pk": "X#1", "sk": "A", "amount_fen": 12345})
    assert table.get({"pk": "X#1", "sk": "A"}) == {"pk": "X#1", "sk": "A", "amount_fen": 12345}
    table.client.put_item(TableName=table.name, Item={"pk": {"S": "X#2"}, "sk": {"S": "A"}, "v": {"N": "1.5"}})
    with pytest.raises(TypeError):
        table.get({"pk": "X#2", "sk": "A"})


def test_query_pages_newest_first(table: Table) -> None:
    for i in range(5):
        table.put({"pk": "P#1", "sk": f"E#{i}", "n": i})
    first = table.query(partition=("pk", "P#1"), sort_prefix=("sk", "E#"), limit=2, newest_first=True)
    assert [item["n"] for item in first.items] == [4, 3]
    second = table.query(partition=("pk", "P#1"), sort_prefix=("sk", "E#"), limit=2, newest_first=True,
                         start_key=first.last_key)
    assert [item["n"] for item in second.items] == [2, 1]
