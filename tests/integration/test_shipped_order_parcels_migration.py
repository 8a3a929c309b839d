"""The ``shipped_order_parcels`` migration on DynamoDB Local: an order shipped before parcels were kept
gets its one parcel (the carrier as WeChat's id), once however often it runs; other orders are left alone."""

from __future__ import annotations

import pytest

from mall.dal.keys import order_key
from mall.dal.shipping import ShippingRepository
from mall.dal.table import Table
from tests.unit.test_fulfilment_factory import Line, put_order
from tools.migrations import available, run

pytestmark = pytest.mark.integration


def test_old_shipments_get_their_parcel_once(table: Table) -> None:
    old = put_order(table, status="SHIPPED", lines=(Line(), Line(type="service")), carrier="顺丰速运",
                    tracking_no="SF123456", shipped_at="2026-11-21T00:00:00Z")
    paid = put_order(table, status="PAID")
    migration = available()["shipped_order_parcels"]
    assert run(table, migration, dry_run=True).changed == 1
    assert ShippingRepository(table).parcels(old["order_id"]) == ()
    assert run(table, migration).changed == 1
    (parcel,) = ShippingRepository(table).parcels(old["order_id"])
    assert (parcel.index, parcel.carrier_id, parcel.tracking_no, parcel.line_ids) == (0, "SF", "SF123456", ("1",))
    stored = table.get(order_key(old["order_id"]))
    assert stored is not None and stored["parcel_count"] == 1 and stored["carrier"] == "顺丰速运"
    assert run(table, migration, restart=True).changed == 0
    assert "parcel_count" not in (table.get(order_key(paid["order_id"])) or {})
