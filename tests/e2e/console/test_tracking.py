"""The parcel trail in the admin's order detail, in headless Chromium: a shipped order's parcel is
subscribed at the logistics sandbox, its pushed trail is shown with the auto-confirm countdown, and
the refresh button finds a delivery whose push was lost (a real-time query at the sandbox)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from local.logistics_sandbox import LogisticsSandbox
from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.unit.test_fulfilment_factory import order_item

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def test_the_admin_sees_and_refreshes_a_parcels_trail(stack: Any, http: requests.Session, table: Table,
                                                       page: Any) -> None:
    api = str(stack.base_url).rstrip("/")
    order = order_item(buyer_id=f"u_console_track_{uuid.uuid4().hex[:8]}", with_address=False)
    table.put(order)
    order_id, tracking_no = order["order_id"], f"YT{uuid.uuid4().hex[:10].upper()}"
    admin = admin_headers(api, http)
    shipped = http.post(f"{api}/admin/orders/{order_id}/ship", headers=admin,
                        json={"carrier": "YTO", "tracking_no": tracking_no}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    stack.drain_streams()  # the stream sends it to the subscription worker, which subscribes at the sandbox
    logistics = LogisticsSandbox.beside(Path(stack.data_dir) / "secrets.json")
    [pushed] = logistics.advance(order_id, "in_transit")
    assert pushed.status == 200, pushed.response

    log_in(page, f"{api}/console/")
    page.goto(f"{api}/console/orders/{order_id}")
    card = page.locator("[data-test=tracking]")
    card.locator("[data-test=parcel-state]").wait_for()
    assert card.locator("[data-test=parcel-state]").inner_text() == "运输中"
    assert "上海转运中心" in card.locator("[data-test=parcel-event]").first.inner_text()
    assert "自发货起 10 天" in card.locator("[data-test=tracking-countdown]").inner_text()

    logistics.advance(order_id, "delivered", push=False)  # the push is lost: only asking finds it
    page.locator("[data-test=tracking-refresh]").click()
    page.get_by_text("物流信息已刷新").wait_for()
    assert card.locator("[data-test=parcel-state]").inner_text() == "已签收"
    assert "自签收起 10 天" in card.locator("[data-test=tracking-countdown]").inner_text()
    view = http.get(f"{api}/admin/orders/{order_id}/tracking", headers=admin, timeout=TIMEOUT).json()
    assert view["parcels"][0]["state"] == "delivered" and view["auto_confirm"]["runs_from"] == "delivery"
