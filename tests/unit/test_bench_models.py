"""The pure parts of the benchmarks: how a write is priced (bench/_meter.py), the read floor,
how often a schedule runs (bench/cost.py) and the latency percentile (bench/latency.py)."""

from __future__ import annotations

import pytest

from bench._meter import (
    MONEY,
    ORDER,
    REST,
    STAGES,
    STATISTICS,
    CallRecord,
    Index,
    Meter,
    Window,
    item_size,
    price_item,
    read_floor,
    stage_of,
    write_units,
)
from bench.cost import runs_per_month
from bench.dynamo_work import budget
from bench.latency import _percentile

MONTH_S = 30 * 86400
GSI1 = Index("gsi1", "gsi1pk", "gsi1sk")
GSI2 = Index("gsi2", "gsi2pk", "gsi2sk")


def item(**attrs: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in attrs.items()}


def test_item_size_counts_names_and_values() -> None:
    assert item_size(item(pk="ab")) == 4
    assert item_size({"n": {"N": "123"}}) == 1 + 3  # name + 2 bytes for 3 digits + 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size(None) == 0
    assert write_units(0) == 1 and write_units(1024) == 1 and write_units(1025) == 2


def test_a_transactional_put_costs_double_and_one_write_per_index_entry() -> None:
    new = item(pk="ORDER#1", sk="ORDER", gsi1pk="STATUS#PAID", gsi1sk="x")
    priced = price_item("Put", None, new, indexes=[GSI1, GSI2], transactional=True, succeeded=True,
                        key="ORDER#1|ORDER", entity="ORDER#/ORDER")
    assert (priced.table_units, priced.index_units, priced.indexes) == (2, 1, {"gsi1": 1})


def test_an_index_key_change_is_a_delete_and_a_put_and_no_change_touches_no_index() -> None:
    before = item(pk="a", sk="b", gsi1pk="STATUS#PAID", gsi1sk="x", gsi2pk="DUE", gsi2sk="y")
    after = {**before, "gsi1pk": {"S": "STATUS#SHIPPED"}}
    moved = price_item("Update", before, after, indexes=[GSI1, GSI2], transactional=False, succeeded=True,
                       key="a|b", entity="a/b")
    # gsi1 moves (delete + put); gsi2 keeps its key but its ALL-projected entry changes.
    assert (moved.table_units, moved.indexes) == (1, {"gsi1": 2, "gsi2": 1})
    same = price_item("Update", before, dict(before), indexes=[GSI1, GSI2], transactional=False, succeeded=True,
                      key="a|b", entity="a/b")
    assert (same.table_units, same.index_units) == (1, 0)
    left = price_item("Update", before, {k: v for k, v in before.items() if not k.startswith("gsi2")},
                      indexes=[GSI1, GSI2], transactional=False, succeeded=True, key="a|b", entity="a/b")
    assert left.indexes == {"gsi1": 1, "gsi2": 1}


def test_an_include_index_stores_and_rewrites_only_its_attributes() -> None:
    gsi3 = Index.from_template({"IndexName": "gsi3", "KeySchema": [
        {"AttributeName": "gsi3pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]}}, ("pk", "sk"))
    before = item(pk="a", sk="b", gsi3pk="ORDERS#PAID", gsi1sk="x", status="PAID", blob="y" * 1100)
    untouched = price_item("Update", before, {**before, "carrier": {"S": "SF"}}, indexes=[gsi3], transactional=False,
                           succeeded=True, key="a|b", entity="a/b")
    assert (untouched.table_units, untouched.index_units) == (2, 0)  # a 2 KB item; its entry holds no carrier
    moved = price_item("Update", before, {**before, "gsi3pk": {"S": "ORDERS#SHIPPED"}, "status": {"S": "SHIPPED"}},
                       indexes=[gsi3], transactional=False, succeeded=True, key="a|b", entity="a/b")
    assert moved.indexes == {"gsi3": 2}  # a delete and a put of a small entry, not of the 2 KB item
    assert gsi3.entry(before) == {k: v for k, v in before.items() if k != "blob"}


def test_an_item_over_one_kilobyte_costs_two_units_and_four_in_a_transaction() -> None:
    big = item(pk="a", sk="b", blob="x" * 1100)
    priced = price_item("Update", big, big | {"n": {"S": "1"}}, indexes=[], transactional=True, succeeded=True,
                        key="a|b", entity="a/b")
    assert priced.table_units == 4


def test_condition_checks_and_failed_writes_cost_the_table_write_only() -> None:
    current = item(pk="a", sk="b", gsi1pk="p", gsi1sk="s")
    check = price_item("ConditionCheck", current, current, indexes=[GSI1], transactional=True, succeeded=True,
                       key="a|b", entity="a/b")
    failed = price_item("Put", current, item(pk="a", sk="b"), indexes=[GSI1], transactional=False,
                        succeeded=False, key="a|b", entity="a/b")
    assert (check.table_units, check.index_units) == (2, 0)
    assert (failed.table_units, failed.index_units) == (1, 0)


def test_every_read_request_costs_at_least_half_a_unit_per_key() -> None:
    assert read_floor("Query", {}) == 0.5
    assert read_floor("GetItem", {"ConsistentRead": True}) == 1.0
    assert read_floor("BatchGetItem", {"RequestItems": {"T": {"Keys": [{}, {}, {}]}}}) == 1.5
    assert read_floor("TransactGetItems", {"TransactItems": [{}, {}]}) == 4.0


@pytest.mark.parametrize(("expression", "runs"), [
    ("rate(1 minute)", 43_200), ("rate(5 minutes)", 8_640), ("rate(1 hour)", 720), ("rate(2 days)", 15),
    ("cron(30 3 * * ? *)", 30), ("cron(0/15 * * * ? *)", 2_880), ("cron(0 2 1 * ? *)", 1),
    ("cron(0 9 ? * 2 *)", 30 / 7), ("cron(0 9 ? * MON-FRI *)", 30),
])
def test_runs_per_month(expression: str, runs: float) -> None:
    assert runs_per_month(expression, MONTH_S) == pytest.approx(runs)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (_percentile(values, 50), _percentile(values, 99), _percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert _percentile([7.0], 99) == 7.0


def test_stages_follow_the_key_prefixes_of_the_items() -> None:
    assert [stage_of(pk, sk) for pk, sk in [
        ("ORDER#o_1", "COMMISSION#1#2"), ("ORDER#o_1", "COMMISSION_PLAN"), ("USER#u_1", "LEDGER#2026-12-06#p"),
        ("USER#u_1", "WALLET"), ("MERCHANT_ACCOUNT#merchant:commission#03", "BALANCE"), ("SETTLE_DUE#03", ""),
    ]] == [MONEY] * 6
    assert [stage_of(pk, sk) for pk, sk in [
        ("ORDER#o_1", "ORDER"), ("ORDER#o_1", "HISTORY#2026-12-06T00:00:00Z#PAID"), ("ORDER#o_1", "STATUS"),
        ("UNPAID#o_1", "UNPAID"), ("ORDERS#PAID", ""),
    ]] == [ORDER] * 5
    assert [stage_of(pk, sk) for pk, sk in [
        ("STATS_DAY#2026-12-06#3", "STATS"), ("STATS_APPLIED#ev", "PART#0"), ("BOARD#sales#2026-12", "USER#u_1"),
        ("TEAM_SALES#2026-12#04", "USER#u_1"), ("USER#u_1", "STATS_BUYER"), ("FUNNEL#u_1", "2026-12-06#qr#p_1"),
    ]] == [STATISTICS] * 6
    assert stage_of("USER#u_1", "PROMOTER") == stage_of("IDEMPOTENCY#fn", "k") == REST


def _meter() -> Meter:
    return Meter(lambda: None, key_names=("pk", "sk"), indexes=[Index("gsi2", "gsi2pk", "gsi2sk")])


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_a_batch_read_is_split_over_its_keys_by_what_each_costs() -> None:
    meter = _meter()
    big = {**_key("ORDER#o_1", "ORDER"), "blob": {"S": "x" * 5000}}  # 2 units of 4 KB, consistent
    params = {"RequestItems": {"t": {"ConsistentRead": True, "Keys": [
        _key("ORDER#o_1", "ORDER"), _key("USER#u_1", "WALLET"), _key("STATS_DAY#d#1", "STATS")]}}}
    plan = meter._read_plan("BatchGetItem", params)
    parsed = {"Responses": {"t": [big, _key("USER#u_1", "WALLET")]}}
    assert meter._read_stages(plan, parsed, 4.0) == {ORDER: 2.0, MONEY: 1.0, STATISTICS: 1.0}


def test_a_query_goes_to_the_items_it_returned_or_else_to_the_partition_it_names() -> None:
    meter = _meter()
    params = {"IndexName": "gsi2", "KeyConditionExpression": "#pk = :pk AND #sk <= :due",
              "ExpressionAttributeNames": {"#pk": "gsi2pk", "#sk": "gsi2sk"},
              "ExpressionAttributeValues": {":pk": {"S": "SETTLE_DUE#03"}, ":due": {"S": "2027"}}}
    plan = meter._read_plan("Query", params)
    assert meter._read_stages(plan, {"Items": []}, 0.5) == {MONEY: 0.5}
    returned = [_key("ORDER#o_1", "COMMISSION#1#1"), _key("ORDER#o_1", "HISTORY#2026#1")]  # by size
    assert meter._read_stages(plan, {"Items": returned}, 1.0) == {MONEY: 0.5, ORDER: 0.5}


def test_the_amortised_budget_replaces_the_settle_step_by_the_run_per_order() -> None:
    zero = {stage: {"rcu": 0.0, "wcu": 0.0} for stage in STAGES}
    run = {"order_id": "o_1", "totals": {"by_stage": {**zero, MONEY: {"rcu": 10.0, "wcu": 40.0},
                                                      ORDER: {"rcu": 2.0, "wcu": 20.0}}},
           "steps": [{"label": "lifecycle: settle", "by_stage": {**zero, MONEY: {"rcu": 8.0, "wcu": 30.0}}}]}
    amortised = {"orders": 20, "settle_per_order_by_stage": {MONEY: {"rcu": 0.5, "wcu": 12.0}}}
    plan = budget(run, amortised)
    assert plan["single_total"] == {"rcu": 12.0, "wcu": 60.0}
    assert plan["amortised"][MONEY] == {"rcu": 2.5, "wcu": 22.0}
    assert plan["amortised_total"] == {"rcu": 4.5, "wcu": 42.0}


def test_a_reads_units_are_split_by_the_kind_of_item_read() -> None:
    meter = _meter()
    # A consistent batch: a 5 KB settings document is 2 units, a found promoter 1, a missing key 1.
    settings = {**_key("SETTINGS", "CURRENT"), "doc": {"S": "x" * 5000}}
    params = {"RequestItems": {"t": {"ConsistentRead": True, "Keys": [
        _key("SETTINGS", "CURRENT"), _key("USER#u_1", "PROMOTER"), _key("USER#u_1", "BINDING")]}}}
    plan = meter._read_plan("BatchGetItem", params)
    parsed = {"Responses": {"t": [settings, _key("USER#u_1", "PROMOTER")]}}
    assert meter._read_kinds(plan, parsed, 4.0) == {"SETTINGS/CURRENT": 2.0, "USER#/PROMOTER": 1.0,
                                                    "USER#/BINDING": 1.0}
    # Eventually consistent: the same item costs half.
    plan = meter._read_plan("GetItem", {"Key": _key("SETTINGS", "CURRENT")})
    assert meter._read_kinds(plan, {"Item": settings}, 1.0) == {"SETTINGS/CURRENT": 1.0}
    # A Query is shared over the kinds it returned by size; one that found nothing goes to the
    # partition (and sort-key prefix) its key condition names, an index's named after it.
    query = {"KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :sk)",
             "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
             "ExpressionAttributeValues": {":pk": {"S": "ORDER#o_1"}, ":sk": {"S": "COMMISSION#"}}}
    plan = meter._read_plan("Query", query)
    assert meter._read_kinds(plan, {"Items": []}, 0.5) == {"ORDER#/COMMISSION#": 0.5}
    returned = [_key("ORDER#o_1", "COMMISSION#1#1"), _key("ORDER#o_1", "HISTORY#2026#1")]
    assert meter._read_kinds(plan, {"Items": returned}, 1.0) == {"ORDER#/COMMISSION#": 0.5, "ORDER#/HISTORY#": 0.5}
    due = {"IndexName": "gsi2", "KeyConditionExpression": "#pk = :pk AND #sk <= :due",
           "ExpressionAttributeNames": {"#pk": "gsi2pk", "#sk": "gsi2sk"},
           "ExpressionAttributeValues": {":pk": {"S": "SETTLE_DUE#03"}, ":due": {"S": "2027"}}}
    assert meter._read_kinds(meter._read_plan("Query", due), {"Items": []}, 0.5) == {"gsi2:SETTLE_DUE#": 0.5}


def test_a_windows_reads_add_up_by_kind_of_item() -> None:
    window = Window("w")
    window.calls = [CallRecord("GetItem", "f", "http", rcu=1.0, rcu_by_kind={"USER#/PROMOTER": 1.0}),
                    CallRecord("BatchGetItem", "f", "http", rcu=3.0,
                               rcu_by_kind={"USER#/PROMOTER": 1.0, "SETTINGS/CURRENT": 2.0})]
    assert window.summary()["rcu_by_item_kind"] == {"SETTINGS/CURRENT": 2.0, "USER#/PROMOTER": 2.0}
