"""Parcel tracking over HTTP against the local stack and its logistics sandbox: shipping an order
subscribes its parcel (stream → TrackingQueue → worker → sandbox), the sandbox's signed pushes reach
the webhook and the buyer, the attributed promoter and the admin see the trail; a forged push is
refused; the delivery moves the auto-confirm countdown; the admin's refresh is rate-limited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.logistics_sandbox import LogisticsSandbox, deliver, push_form
from mall.domain.tokens import Role, issue_token
from tests.e2e.test_fulfilment_e2e import TIMEOUT, Ctx, admin, buyer, ctx, put_paid_order, sandbox, secrets_json, table  # noqa: F401 (fixtures)


def promoter_headers(secrets: dict[str, str], user_id: str) -> dict[str, str]:
    """A promoter's token signed with the stack's own key (the promoter's route checks only the role)."""
    token = issue_token(user_id, frozenset({Role.CUSTOMER, Role.PROMOTER}), key=secrets["token_signing_key"].encode(),
                        now=datetime.now(UTC), ttl_seconds=600)
    return {"Authorization": f"Bearer {token}"}


def test_a_shipped_parcel_is_tracked_to_delivery(ctx: Ctx, buyer: tuple[str, dict[str, str]]) -> None:  # noqa: F811
    api, http, stack, admin_headers = ctx.api, ctx.http, ctx.stack, ctx.admin
    buyer_id, customer = buyer
    promoter = "u_e2etrackpromoter00000001"
    order = put_paid_order(ctx.table, ctx.secrets, buyer_id,
                           attribution={"l1_promoter_id": promoter, "l2_promoter_id": None, "basis": "binding"})
    oid = order["order_id"]
    shipped = http.post(f"{api}/admin/orders/{oid}/ship", headers=admin_headers,
                        json={"carrier": "SF", "tracking_no": "SF7700112233"}, timeout=TIMEOUT)
    assert shipped.status_code == 200, shipped.text
    stack.drain_streams()

    subscribed = http.get(f"{stack.sandbox_url}/kuaidi100/sandbox/subscriptions",
                          params={"number": "SF7700112233"}, timeout=TIMEOUT).json()["items"]
    assert [(s["company"], s["callbackurl"].endswith(f"order_id={oid}")) for s in subscribed] == [("shunfeng", True)]

    logistics = LogisticsSandbox.beside(Path(stack.data_dir) / "secrets.json")
    forged = push_form(salt="not-our-salt", company="shunfeng", number="SF7700112233", state=3, signed=True,
                       events=[{"time": "2026-12-01 10:00:00", "ftime": "2026-12-01 10:00:00", "context": "已签收"}])
    refused = deliver(subscribed[0]["callbackurl"], "SF7700112233", forged)
    assert refused.status == 401

    for state in ("in_transit", "delivered"):
        [pushed] = logistics.advance(oid, state)
        assert pushed.status == 200 and b'"returnCode": "200"' in pushed.response.replace(b'":"', b'": "'), pushed

    mine = http.get(f"{api}/orders/{oid}/tracking", headers=customer, timeout=TIMEOUT)
    assert mine.status_code == 200, mine.text
    view: dict[str, Any] = mine.json()
    parcel = view["parcels"][0]
    assert parcel["state"] == "delivered" and parcel["tracked"] and len(parcel["events"]) == 2
    assert "张三" in parcel["events"][0]["context"]
    assert view["delivered_at"] and view["auto_confirm"]["runs_from"] == "delivery"
    assert view["auto_confirm"]["started_at"] == view["delivered_at"]

    theirs = http.get(f"{api}/promoter/orders/{oid}/tracking", headers=promoter_headers(ctx.secrets, promoter),
                      timeout=TIMEOUT)
    assert theirs.status_code == 200, theirs.text
    shown = json.dumps(theirs.json(), ensure_ascii=False)
    assert "张三" not in shown and "签收人：张*" in shown and theirs.json()["buyer"] != buyer_id
    stranger = http.get(f"{api}/promoter/orders/{oid}/tracking",
                        headers=promoter_headers(ctx.secrets, "u_e2eotherpromoter0000001"), timeout=TIMEOUT)
    assert stranger.status_code == 404

    refreshed = http.post(f"{api}/admin/orders/{oid}/tracking/refresh", headers=admin_headers, timeout=TIMEOUT)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["parcels"][0]["state"] == "delivered"
    again = http.post(f"{api}/admin/orders/{oid}/tracking/refresh", headers=admin_headers, timeout=TIMEOUT)
    assert again.status_code == 429 and again.json()["error"]["code"] == "tracking_refresh_too_soon"
