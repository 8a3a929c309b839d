"""Over HTTP against the local stack: the admin saves settings, a customer applies, the admin
approves, a second customer opens the share link and is bound, the team shows them masked."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: str, http: requests.Session, code: str) -> dict[str, Any]:
    response = http.post(f"{api}/auth/login", json={"code": code}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def admin_token(api: str, http: requests.Session) -> str:
    response = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                         timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def save_settings(api: str, http: requests.Session, admin: dict[str, str], **changes: Any) -> int:
    """Save the current document with ``changes`` (other tests may save too: retry on 409)."""
    for _ in range(5):
        current = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=10).json()
        body = {**current["settings"], **changes, "based_on_version": current["version"], "note": "e2e referral"}
        saved = http.put(f"{api}/admin/settings/distribution", json=body, headers=admin, timeout=10)
        if saved.status_code == 409:
            continue
        assert saved.status_code == 200, saved.text
        assert saved.json()["saved_by"] == f"admin:{DEMO_ADMIN}"
        return int(saved.json()["version"])
    raise AssertionError("could not save the settings")


def test_apply_approve_share_bind_and_see_the_team(api: str, http: requests.Session) -> None:
    admin = bearer(admin_token(api, http))
    version = save_settings(api, http, admin, promoter_review="manual", binding_mode="first_click",
                            only_new_customers=False)
    bad = http.put(f"{api}/admin/settings/distribution", headers=admin, timeout=10,
                   json={"based_on_version": version, "commission": {"l1_rate_bp": 1000, "l3_rate_bp": 100}})
    assert bad.status_code == 422 and "commission.l3_rate_bp" in {f["field"] for f in bad.json()["error"]["fields"]}

    run = uuid.uuid4().hex[:8]
    sharer = login(api, http, f"e2e-sharer-{run}")
    applied = http.post(f"{api}/promoter/apply", json={"accepted_rules_version": version, "nickname": "小推"},
                        headers={**bearer(sharer["access_token"]), "Idempotency-Key": f"apply-{run}"}, timeout=10)
    assert applied.status_code == 201, applied.text
    assert applied.json()["status"] == "applied"
    listed = http.get(f"{api}/admin/promoters", params={"status": "applied", "limit": "100"}, headers=admin, timeout=10)
    assert sharer["user_id"] in [p["user_id"] for p in listed.json()["items"]]
    approved = http.post(f"{api}/admin/promoters/{sharer['user_id']}/approve", json={}, headers=admin, timeout=10)
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text

    # the promoter role is in the token of the next login
    promoter = login(api, http, f"e2e-sharer-{run}")
    assert "promoter" in promoter["roles"]
    profile = http.get(f"{api}/promoter/profile", headers=bearer(promoter["access_token"]), timeout=10)
    assert profile.status_code == 200, profile.text
    code = profile.json()["code"]
    assert profile.json()["share_link"].endswith(f"scene={code}") and profile.json()["direct_members"] == 0

    visitor = login(api, http, f"e2e-visitor-{run}")
    visit = http.post(f"{api}/share/visits", json={"code": code, "source": "link", "product_id": "p_e2e"},
                      headers={**bearer(visitor["access_token"]), "x-device-id": f"dev-{run}"}, timeout=10)
    assert visit.status_code == 201, visit.text
    assert visit.json()["outcome"] == "bound" and visit.json()["binding"]["parent_id"] == sharer["user_id"]
    again = http.post(f"{api}/referral/bind", json={"code": code}, headers=bearer(visitor["access_token"]),
                      timeout=10)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    own = http.post(f"{api}/referral/bind", json={"code": code}, headers=bearer(promoter["access_token"]), timeout=10)
    assert own.status_code == 422 and own.json()["error"]["code"] == "self_binding"

    team = http.get(f"{api}/promoter/team", params={"depth": 1}, headers=bearer(promoter["access_token"]),
                    timeout=10)
    assert team.status_code == 200, team.text
    members = team.json()["items"]
    assert len(members) == 1 and members[0]["nickname"] == "微信用户" and members[0]["depth"] == 1
    assert visitor["user_id"] not in team.text
    level2 = http.get(f"{api}/promoter/team", params={"depth": 2}, headers=bearer(promoter["access_token"]),
                      timeout=10)
    assert level2.status_code == 200 and level2.json()["items"] == []
    # a customer without the promoter role cannot look at any team
    assert http.get(f"{api}/promoter/team", headers=bearer(visitor["access_token"]), timeout=10).status_code == 403
    binding = http.get(f"{api}/admin/customers/{visitor['user_id']}/binding", headers=admin, timeout=10)
    assert binding.status_code == 200 and binding.json()["history"][0]["source"] == "link"


def test_an_order_becoming_paid_reaches_the_stream_worker_once(stack: Any, api: str, http: requests.Session) -> None:
    """The template's FilterCriteria and stream wiring: CREATED → PAID counts the sale; later
    changes of the same order (PAID → SHIPPED) are filtered out and count nothing more."""
    import time

    import boto3

    from mall.dal.referral import PromoterRepository
    from mall.dal.table import Table

    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    table = Table(stack.env["TABLE_NAME"], client)
    admin = bearer(admin_token(api, http))
    version = save_settings(api, http, admin, promoter_review="auto")
    run = uuid.uuid4().hex[:8]
    seller = login(api, http, f"e2e-seller-{run}")
    applied = http.post(f"{api}/promoter/apply", json={"accepted_rules_version": version},
                        headers={**bearer(seller["access_token"]), "Idempotency-Key": f"apply-{run}"}, timeout=10)
    assert applied.status_code == 201 and applied.json()["status"] == "active", applied.text
    order_id = f"o_e2e{run}"
    key = {"pk": f"ORDER#{order_id}", "sk": "ORDER"}
    table.put({**key, "entity": "order", "order_id": order_id, "buyer_id": f"u_buyer{run}", "status": "CREATED",
               "amount_fen": 5_000, "goods_fen": 5_000, "shipping_fen": 0, "version": 1,
               "lines": [{"line_id": "1", "product_id": "p_e2e", "paid_fen": 5_000, "refunded_fen": 0,
                          "distribution_enabled": True}],
               "created_at": "2026-11-22T08:00:00Z",
               "attribution": {"l1_promoter_id": seller["user_id"], "l2_promoter_id": None, "settings_version": version,
                               "basis": "binding", "self_purchase": False}})
    table.update(key, "SET #s = :paid, #v = :two", names={"#s": "status", "#v": "version"},
                 values={":paid": "PAID", ":two": 2})
    repo = PromoterRepository(table)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = repo.get(seller["user_id"])
        if found is not None and found.own_sales_fen:
            break
        time.sleep(0.2)
    table.update(key, "SET #s = :shipped, #v = :three", names={"#s": "status", "#v": "version"},
                 values={":shipped": "SHIPPED", ":three": 3})
    stack.drain_streams(timeout=60)  # every worker the SHIPPED change could reach has run
    found = repo.get(seller["user_id"])
    assert found is not None and (found.own_sales_fen, found.team_sales_fen) == (5_000, 5_000)
