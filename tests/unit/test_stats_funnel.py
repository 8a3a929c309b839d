"""The promoter funnel's counters (pure): what a change adds, under which source and product."""

from __future__ import annotations

from datetime import UTC, datetime

from mall.clock import iso
from mall.dal.commissions import commission_from_item, commission_item
from mall.domain.changes import RecordChange
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.stats_funnel import funnel_changes, group_funnel, order_channel

AT = datetime(2026, 11, 3, 2, tzinfo=UTC)


def test_an_order_takes_its_share_channel_and_direct_without_one() -> None:
    assert order_channel({"share_source": {"source": "qr", "promoter_code": "X"}}) == "qr"
    assert order_channel({"share_source": None}) == "direct"
    assert order_channel({"share_source": {"source": "smoke-signal"}}) == "unknown"


def test_a_commission_record_keeps_its_channel_through_storage() -> None:
    record = CommissionRecord(commission_id="c1", order_id="o1", line_id="1", level=1, beneficiary_id="u_p",
                              buyer_id="u_b", product_id="p_tea", product_name="茶", quantity=1, base_fen=1000,
                              amount_fen=100, status=CommissionStatus.FROZEN, rule={}, created_at=AT,
                              share_channel="poster")
    assert commission_item(record)["share_channel"] == "poster"
    assert commission_from_item(commission_item(record)).share_channel == "poster"


def test_an_old_record_without_a_channel_counts_as_unknown_and_settling_moves_nothing() -> None:
    item = {"entity": "commission", "level": 1, "beneficiary_id": "u_p", "product_id": "p_tea", "amount_fen": 100,
            "cancelled_fen": 0, "clawed_back_fen": 0, "status": "FROZEN", "created_at": iso(AT)}
    created = funnel_changes(RecordChange("e1", "commission", None, item))
    assert [(c.day, c.subject, c.fields) for c in created] == [("2026-11-03", "u_p|unknown|p_tea",
                                                                 (("commission_fen", 100),))]
    assert funnel_changes(RecordChange("e2", "commission", item, {**item, "status": "SETTLED"})) == []


def test_a_binding_counts_when_made_not_when_it_changes_otherwise() -> None:
    bound = {"entity": "binding", "parent_id": "u_p", "bound_at": iso(AT), "source": "qr", "paid": False}
    assert len(funnel_changes(RecordChange("e1", "binding", None, bound))) == 1
    assert funnel_changes(RecordChange("e2", "binding", bound, {**bound, "paid": True})) == []
    assert funnel_changes(RecordChange("e3", "binding", bound, None)) == []


def test_grouped_by_product_an_order_counts_in_each_of_its_products_and_once_in_the_totals() -> None:
    items = [{"day": "2026-11-03", "source": "qr", "product_id": "p_a", "orders": 1, "paid_fen": 900,
              "product_orders": 1, "product_paid_fen": 500},
             {"day": "2026-11-03", "source": "qr", "product_id": "p_b", "product_orders": 1, "product_paid_fen": 400}]
    rows, totals = group_funnel(items, "product")
    assert [(r.key, r.orders, r.paid_fen) for r in rows] == [("p_a", 1, 500), ("p_b", 1, 400)]
    assert (totals["orders"], totals["paid_fen"]) == (1, 900)
    rows, _ = group_funnel(items, "source")
    assert [(r.key, r.orders, r.paid_fen) for r in rows] == [("qr", 1, 900)]
