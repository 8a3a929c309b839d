"""The routes of the incentives (coupons, campaigns, targeted products, wake-up boosts, prizes, poster
templates), of parcel tracking and shipping uploads, and of the staff and commission adjustments, each
called once with valid input by ``bench.dynamo_work`` in the same way as the others: set-up requests
unmeasured, each route's first 2xx answer kept as its figure.

A promoter-bound coupon is claimed through a promoter's share first, so the claim's figure is the
costlier of the two claims (a share binds as the binding mode says)."""

from __future__ import annotations

import contextlib
import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._local import ADDRESS, Actor, expect
from bench._png import Canvas

if TYPE_CHECKING:
    from bench.dynamo_work import Bench

CHINA = timedelta(hours=8)
#: Where a poster template draws on its 750 × 1334 background (the layout the materials tests use).
POSTER_LAYOUT = {"qr": {"x": 470, "y": 1054, "width": 240, "height": 240},
                 "title": {"x": 40, "y": 900, "width": 670, "height": 96},
                 "price": {"x": 40, "y": 1000, "width": 400, "height": 64},
                 "nickname": {"x": 40, "y": 1100, "width": 400, "height": 48}, "text_color": "#222222"}
#: A permanent refusal of WeChat's shipping service (参数错误): the upload ends FAILED, for the retry route.
PERMANENT_UPLOAD_ERRCODE = 10060014
STAFF_PASSWORD = "bench-staff-password-1"


def incentive_endpoints(bench: Bench, money: dict[str, Any]) -> None:  # noqa: PLR0915
    """Each route of this module once, grouped like ``dynamo_work.endpoints``; a failing group is
    reported and the others still run."""
    api, call = bench.api, bench.call
    admin = api.admin()
    l1: Actor = money["l1"]
    l1_code: str = money["l1_code"]
    product_id: str = money["product_id"]
    now = datetime.now(UTC).replace(microsecond=0)

    def coupons() -> None:
        template = expect(call("POST /admin/coupon-templates", actor=admin, idempotent=True, json={
            "name": f"推广员专属券{bench.run_id}", "kind": "amount", "amount_off_fen": 500, "min_spend_fen": 0,
            "valid_days": 7, "total_quantity": 1_000, "per_user_limit": 2, "promoter_bound": True}),
            201, "create a coupon template")
        tid = str(template["template_id"])
        call("GET /admin/coupon-templates", actor=admin)
        got = expect(call("GET /admin/coupon-templates/{template_id}", f"/admin/coupon-templates/{tid}",
                          actor=admin), 200, "read the template")
        call("PUT /admin/coupon-templates/{template_id}", f"/admin/coupon-templates/{tid}", actor=admin, json={
            **{k: got[k] for k in ("name", "kind", "amount_off_fen", "min_spend_fen", "valid_days",
                                   "total_quantity", "per_user_limit", "promoter_bound")},
            "total_quantity": 2_000, "version": got["version"]})
        shopper = bench.customer("coupons")
        call("GET /coupons", actor=shopper)
        # Through the level-1 promoter's share first: the costlier claim is the one kept.
        shared = expect(call("POST /coupons/claim", actor=shopper, json={"template_id": tid, "share_code": l1_code}),
                        201, "claim through a share")
        bench.notes.append(f"POST /coupons/claim measured through a promoter's share (share_effect "
                           f"{shared.get('share_effect')})")
        call("POST /coupons/claim", actor=shopper, json={"template_id": tid})
        call("GET /me/coupons", actor=shopper)

    def campaigns() -> None:
        starts, ends = (now + CHINA).replace(tzinfo=None), (now + CHINA + timedelta(days=7)).replace(tzinfo=None)
        body = {"name": f"定向高佣{bench.run_id}", "starts_at": f"{starts.isoformat()}+08:00",
                "ends_at": f"{ends.isoformat()}+08:00", "boost": {"kind": "points", "l1_points_bp": 100},
                "scope": {"product_ids": [product_id], "promoter_ids": [l1.user_id]}}
        created = expect(call("POST /admin/campaigns", actor=admin, json=body), (200, 201), "create a campaign")
        cid = str(created["campaign_id"])
        call("GET /admin/campaigns", actor=admin)
        call("GET /promoter/boosted-products", actor=l1)
        updated = expect(call("PUT /admin/campaigns/{campaign_id}", f"/admin/campaigns/{cid}", actor=admin,
                              json={**body, "name": f"定向高佣改{bench.run_id}", "version": created["version"]}),
                         200, "update the campaign")
        call("POST /admin/campaigns/{campaign_id}/end", f"/admin/campaigns/{cid}/end", actor=admin,
             json={"version": updated["version"]})

    def wake_up() -> None:
        call("PUT /admin/settings/wake-up", actor=admin, json={
            "enabled": True, "inactive_days": 1, "boost_days": 3, "boost": {"kind": "points", "l1_points_bp": 100}})
        call("GET /admin/settings/wake-up", actor=admin)
        # A run days ahead: every promoter made by the bench has then slept a day.
        ran = bench.stack.fire_schedule(bench.function_id("wake_up"), now + timedelta(days=5))
        bench.drain()
        cid = ran.get("campaign_id") if isinstance(ran, dict) else None
        if not cid:
            listed = expect(api.request("GET", "/admin/campaigns", token=admin.token), 200, "campaigns")
            cid = next((c["campaign_id"] for c in listed["items"] if c.get("origin") == "wake_up"), None)
        if not cid:
            raise RuntimeError(f"the wake-up run made no campaign: {str(ran)[:200]}")
        call("GET /admin/campaigns/{campaign_id}/wake-up", f"/admin/campaigns/{cid}/wake-up", actor=admin)

    def prizes_and_posters() -> None:
        call("GET /admin/prizes", actor=admin, params={"month": (now + CHINA).strftime("%Y-%m")})
        form = expect(call("POST /admin/media/uploads", actor=admin, measure=False, json={"content_type": "image/png"}),
                      201, "upload form")
        sent = bench_upload(form, Canvas(750, 1334, (40, 90, 160)).png())
        if sent not in (200, 204):
            raise RuntimeError(f"the upload to the local S3 answered {sent}")
        expect(call("POST /admin/media/uploads/{upload_id}/verify", f"/admin/media/uploads/{form['upload_id']}/verify",
                    actor=admin, measure=False), (200, 201), "verify the background")
        background = expect(call("POST /admin/materials", actor=admin, measure=False,
                                 headers={"idempotency-key": f"bg-{bench.run_id}"},
                                 json={"kind": "background", "title": "秋日", "image_key": form["key"]}),
                            201, "a poster background")
        template = expect(call("POST /admin/materials", actor=admin, measure=False,
                               headers={"idempotency-key": f"tpl-{bench.run_id}"},
                               json={"kind": "template", "title": "秋日海报",
                                     "background_id": background["material_id"], "layout": POSTER_LAYOUT}),
                          201, "a poster template")
        label = "POST /promoter/posters (template)"
        with bench.meter.window(label, settle=bench.drain) as window:
            answer = api.request("POST", "/promoter/posters", token=l1.token,
                                 json={"product_id": product_id, "template_id": template["material_id"]})
        window.status = answer.status_code
        expect(answer, (200, 201), "a poster on a template")
        bench.notes.append(f"{label}: {window.summary()['round_trips']} round trips "
                           f"(the route's figure is the plain poster's)")

    def tracking_and_uploads() -> None:
        buyer = bench.customer("tracked")
        expect(api.request("POST", "/referral/bind", token=buyer.token, json={"code": l1_code}), (200, 201),
               "bind the tracked buyer to the level-1 promoter")
        placed = expect(api.request("POST", "/orders", token=buyer.token, idempotent=True, json={
            "lines": [{"product_id": product_id, "quantity": 1}], "address": ADDRESS}), 201, "place")
        oid = str(placed["order_id"])
        bench.pay(oid)
        bench.drain()
        call("GET /promoter/orders", actor=l1)
        _sandbox(bench, "fail-next", {"errcode": PERMANENT_UPLOAD_ERRCODE, "times": 1})
        number = f"SF{uuid.uuid4().hex[:10].upper()}"
        expect(api.request("POST", f"/admin/orders/{oid}/ship", token=admin.token,
                           json={"carrier": "SF", "tracking_no": number}), 200, "ship with a tracked parcel")
        bench.drain()
        call("POST /admin/shipping/uploads/{order_id}/retry", f"/admin/shipping/uploads/{oid}/retry", actor=admin)
        from local.logistics_sandbox import LogisticsSandbox

        logistics = LogisticsSandbox.beside(Path(bench.stack.data_dir) / "secrets.json")
        deliveries, window = bench.measured("POST /webhooks/tracking", lambda: logistics.advance(oid, "in_transit"))
        window.status = deliveries[0].status if deliveries else None
        if not deliveries:
            window.note = "no parcel of the order was subscribed at the logistics sandbox"
        bench._keep("POST /webhooks/tracking", window)
        call("GET /orders/{order_id}/tracking", f"/orders/{oid}/tracking", actor=buyer)
        call("GET /promoter/orders/{order_id}/tracking", f"/promoter/orders/{oid}/tracking", actor=l1)
        call("GET /admin/orders/{order_id}/tracking", f"/admin/orders/{oid}/tracking", actor=admin)
        call("POST /admin/orders/{order_id}/tracking/refresh", f"/admin/orders/{oid}/tracking/refresh", actor=admin)
        call("GET /admin/wechat-messages", actor=admin)

    def staff_and_adjustments() -> None:
        username = f"fin{bench.run_id}"
        expect(call("POST /admin/staff", actor=admin, json={"username": username, "password": STAFF_PASSWORD,
                                                           "roles": ["finance"], "display_name": "压测财务"}),
               201, "create a finance admin")
        call("GET /admin/staff", actor=admin)
        finance = _staff_login(bench, username, STAFF_PASSWORD)
        call("GET /admin/promoters/{user_id}/downline", f"/admin/promoters/{l1.user_id}/downline", actor=admin)
        # Above the dual-approval amount: a second admin approves; a second request is rejected.
        large = {"direction": "credit", "amount_fen": 150_000, "reason": "压测补发"}
        first = expect(call("POST /admin/promoters/{user_id}/adjustments", f"/admin/promoters/{l1.user_id}/adjustments",
                            actor=admin, idempotent=True, json=large), 201, "request an adjustment")
        call("GET /admin/adjustments", actor=admin, params={"status": "PENDING"})
        call("POST /admin/adjustments/{adjustment_id}/approve", f"/admin/adjustments/{first['adjustment_id']}/approve",
             actor=finance)
        second = expect(call("POST /admin/promoters/{user_id}/adjustments",
                             f"/admin/promoters/{l1.user_id}/adjustments", actor=admin, idempotent=True,
                             measure=False, json=large), 201, "request another adjustment")
        call("POST /admin/adjustments/{adjustment_id}/reject", f"/admin/adjustments/{second['adjustment_id']}/reject",
             actor=finance, json={"reason": "金额有误"})
        renewed = f"{STAFF_PASSWORD}-2"
        call("POST /admin/me/password", actor=finance,
             json={"current_password": STAFF_PASSWORD, "new_password": renewed})
        call("POST /admin/staff/{username}/password", f"/admin/staff/{username}/password", actor=admin,
             json={"password": f"{STAFF_PASSWORD}-3"})
        call("PUT /admin/staff/{username}/roles", f"/admin/staff/{username}/roles", actor=admin,
             json={"roles": ["finance", "auditor"]})
        call("PUT /admin/staff/{username}/status", f"/admin/staff/{username}/status", actor=admin,
             json={"disabled": True})

    for name, steps in [("coupons", coupons), ("campaigns and targeted products", campaigns), ("wake-up", wake_up),
                        ("prizes and poster templates", prizes_and_posters),
                        ("tracking and shipping uploads", tracking_and_uploads),
                        ("staff and adjustments", staff_and_adjustments)]:
        bench.group(name, steps)


def bench_upload(form: dict[str, Any], picture: bytes) -> int:
    import requests

    sent = requests.post(form["url"], data=form["fields"], files={"file": ("bench.png", picture)}, timeout=30)
    return sent.status_code


def _sandbox(bench: Bench, path: str, body: dict[str, Any]) -> None:
    """A control request to the WeChat shipping sandbox (``fail-next``: answer the next uploads with an errcode)."""
    request = urllib.request.Request(f"{bench.stack.sandbox_url}/wechat/sandbox/shipping/{path}", method="POST",  # noqa: S310
                                     data=json.dumps(body).encode())
    with contextlib.closing(urllib.request.urlopen(request, timeout=10)):  # noqa: S310 (the local sandbox)
        pass


def _staff_login(bench: Bench, username: str, password: str) -> Actor:
    answer = bench.api.request("POST", "/admin/auth/login", json={"username": username, "password": password})
    token = str(expect(answer, 200, f"log in as {username}")["access_token"])
    return Actor(code=username, user_id=f"admin:{username}", token=token, roles=["admin"])
