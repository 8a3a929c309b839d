"""How the index-entry benchmark (bench/index_writes.py) tells an index entry's writes apart and
prices them again under a keys-only projection: the pure parts, without a local stack."""

from __future__ import annotations

from bench._meter import EntryWrite, Index, SeenWrite, entry_writes, price_item
from bench.index_writes import key_attributes, keys_only, summarise

GSI1 = Index("gsi1", "gsi1pk", "gsi1sk")
GSI2 = Index("gsi2", "gsi2pk", "gsi2sk")
GSI3 = Index("gsi3", "gsi3pk", "gsi1sk", projected=("status",))


def item(**attrs: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in attrs.items()}


ORDER = item(pk="ORDER#1", sk="ORDER", gsi1pk="BUYER#u", gsi1sk="t#1", gsi2pk="UNPAID", gsi2sk="e#1",
             gsi3pk="ORDERS#CREATED", status="CREATED")


def test_an_entry_enters_leaves_moves_or_is_rewritten_with_the_attributes_that_changed() -> None:
    assert entry_writes(None, ORDER, [GSI1, GSI2, GSI3]) == [
        EntryWrite("gsi1", "enter", 1), EntryWrite("gsi2", "enter", 1), EntryWrite("gsi3", "enter", 1)]
    paid = {k: v for k, v in ORDER.items() if not k.startswith("gsi2")} | item(
        status="PAID", gsi3pk="ORDERS#PAID", paid_at="t2")
    assert entry_writes(ORDER, paid, [GSI1, GSI2, GSI3]) == [
        # ALL: every attribute that changed rides along, other indexes' keys included.
        EntryWrite("gsi1", "rewrite", 1, ("gsi2pk", "gsi2sk", "gsi3pk", "paid_at", "status")),
        EntryWrite("gsi2", "leave", 1),
        EntryWrite("gsi3", "move", 2)]
    # INCLUDE: a change of an attribute it does not project leaves its entry alone.
    assert entry_writes(paid, paid | item(carrier="SF"), [GSI3]) == []


def test_the_entry_writes_add_up_to_what_the_write_is_priced() -> None:
    paid = {k: v for k, v in ORDER.items() if not k.startswith("gsi2")} | item(status="PAID", paid_at="t2")
    priced = price_item("Update", ORDER, paid, indexes=[GSI1, GSI2, GSI3], transactional=True, succeeded=True,
                        key="ORDER#1|ORDER", entity="ORDER#/ORDER")
    assert priced.indexes == {e.index: e.units for e in entry_writes(ORDER, paid, [GSI1, GSI2, GSI3])}
    assert priced.index_units == 3


def test_keys_only_saves_the_rewrites_and_nothing_else() -> None:
    narrowed = keys_only([GSI1, GSI2, GSI3])
    assert [ix.projected for ix in narrowed] == [(), (), ("status",)]  # gsi3 keeps its own projection
    changed = ORDER | item(status="PAID", paid_at="t2")
    # No key changed: nothing in a keys-only entry did; gsi3 projects the status.
    assert entry_writes(ORDER, changed, narrowed) == [EntryWrite("gsi3", "rewrite", 1, ("status",))]
    moved = ORDER | item(gsi1pk="BUYER#v")
    assert entry_writes(ORDER, moved, narrowed) == [EntryWrite("gsi1", "move", 2)]
    assert key_attributes([GSI1, GSI2, GSI3]) == {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk"}


def test_the_summary_counts_each_lifecycle_step_and_lists_its_rewrites() -> None:
    paid = {k: v for k, v in ORDER.items() if not k.startswith("gsi2")} | item(
        status="PAID", gsi3pk="ORDERS#PAID", paid_at="t2")
    profile = item(pk="USER#u", sk="PROFILE", gsi2pk="CUSTOMERS", gsi2sk="t#u", nickname="n")
    seen = [
        SeenWrite("lifecycle: place order", "PlaceOrderFunction", "Put", "ORDER#/ORDER", None, ORDER),
        SeenWrite("lifecycle: pay", "WeChatPayWebhookFunction", "Update", "ORDER#/ORDER", ORDER, paid),
        SeenWrite("lifecycle: pay", "WeChatPayWebhookFunction", "Update", "USER#/PROFILE", profile,
                  profile | item(paid_order_count="1")),
        SeenWrite("GET /products", "ProductsFunction", "Update", "USER#/PROFILE", profile, profile | item(x="1")),
    ]
    summary = summarise(seen, [GSI1, GSI2, GSI3])
    assert summary["steps"] == {
        "place order": {"index_units": {"gsi1": 1, "gsi2": 1, "gsi3": 1},
                        "by_how": {"gsi1 enter": 1, "gsi2 enter": 1, "gsi3 enter": 1},
                        "keys_only_units": {"gsi1": 1, "gsi2": 1, "gsi3": 1}},
        "pay": {"index_units": {"gsi1": 1, "gsi2": 2, "gsi3": 2},
                "by_how": {"gsi1 rewrite": 1, "gsi2 leave": 1, "gsi3 move": 2, "gsi2 rewrite": 1},
                "keys_only_units": {"gsi2": 1, "gsi3": 2}}}
    assert [(r["step"], r["entity"], r["index"], r["changed"]) for r in summary["rewrites"]] == [
        ("pay", "ORDER#/ORDER", "gsi1", ["gsi2pk", "gsi2sk", "gsi3pk", "paid_at", "status"]),
        ("pay", "USER#/PROFILE", "gsi2", ["paid_order_count"])]
    # gsi1 + gsi2: 2 + 3 units, 2 + 1 of them keys only: at most the two rewrites saved.
    assert (summary["index_units"], summary["index_units_keys_only"], summary["most_a_projection_saves"]) == (5, 3, 2)
    assert summary["attributes"]["gsi2"] == {"distinct": 3, "by_kind": {"ORDER#/ORDER": 1, "USER#/PROFILE": 2}}
