"""POST /admin/promoters/{id}/disable through the real handler (moto): the disable voids the
promoter's unsettled commission through the ledger, audited, and leaves settled money alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mall.clock import utc_now
from mall.dal.commissions import commission_item
from mall.dal.keys import commission_key
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Write, main_table
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.tokens import Role
from tests.conftest import bearer
from tests.unit.test_audit_handlers import Api, approve

pytestmark = pytest.mark.usefixtures("moto_table")


def frozen_commission(uid: str, order_id: str, amount: int) -> None:
    table = main_table()
    now = utc_now() - timedelta(days=1)
    cid = commission_id(order_id, "1", 1)
    record = CommissionRecord(
        commission_id=cid, order_id=order_id, line_id="1", level=1, beneficiary_id=uid, buyer_id="u_buyer",
        product_id="p1", product_name="Tea", quantity=1, base_fen=amount * 10, amount_fen=amount,
        status=CommissionStatus.FROZEN, rule={}, created_at=now)
    LedgerRepository(table).post(
        [L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=amount, at=now,
                             ref={"commission_id": cid, "order_id": order_id})],
        also=[Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])


def test_disabling_a_promoter_voids_their_unsettled_commission() -> None:
    api = Api()
    approve(api, "u_gone")
    frozen_commission("u_gone", "o_1", 300)
    frozen_commission("u_gone", "o_2", 200)
    status, body = api.call("admin_promoters", "POST", "/admin/promoters/u_gone/disable", body={"reason": "违规"},
                            headers=bearer("admin:alice", Role.ADMIN))
    assert status == 200, body
    assert body["status"] == "disabled"
    table = main_table()
    assert LedgerRepository(table).wallet("u_gone").balances == L.Balances()
    for order_id in ("o_1", "o_2"):
        item = table.get(commission_key(order_id, "1", 1), consistent=True)
        assert item is not None and item["status"] == "CANCELLED" and item["voided_by"] == "promoter_disabled"
    kinds = [p["kind"] for p in LedgerRepository(table).all_postings("u_gone")]
    assert kinds.count("commission_voided") == 2
