"""Over HTTP against the local stack: an admin changes the settings, and GET /admin/audit shows who
changed what (before/after), when and from where; a failed admin login is there too."""

from __future__ import annotations

import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD


def admin_headers(api: str, http: requests.Session) -> dict[str, str]:
    login = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=10)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_settings_change_over_http_is_in_the_audit_trail(api: str, http: requests.Session) -> None:
    headers = admin_headers(api, http)
    current = http.get(f"{api}/admin/settings/distribution", headers=headers, timeout=10).json()
    old_title = current["settings"]["promoter_title"]
    new_title = "推客" if old_title != "推客" else "合伙人"
    saved = http.put(f"{api}/admin/settings/distribution", headers=headers, timeout=10,
                     json={**current["settings"], "promoter_title": new_title,
                           "based_on_version": current["version"], "note": "e2e audit"})
    assert saved.status_code == 200, saved.text
    version = saved.json()["version"]

    found = http.get(f"{api}/admin/audit", headers=headers, timeout=10,
                     params={"entity_type": "settings", "entity_id": "distribution", "limit": "5"})
    assert found.status_code == 200, found.text
    newest = found.json()["items"][0]
    assert newest["action"] == "settings.save" and newest["actor"] == f"admin:{DEMO_ADMIN}"
    assert newest["before"] == {"promoter_title": old_title} and newest["after"] == {"promoter_title": new_title}
    assert newest["details"]["version"] == version and newest["details"]["note"] == "e2e audit"
    assert newest["source_ip"] and newest["at"].endswith("Z")

    # The same entry by actor and by time alone (today's partition).
    mine = http.get(f"{api}/admin/audit", headers=headers, timeout=10,
                    params={"actor": f"admin:{DEMO_ADMIN}", "action": "settings.save"}).json()
    assert newest["audit_id"] in [i["audit_id"] for i in mine["items"]]
    today = http.get(f"{api}/admin/audit", headers=headers, timeout=10, params={"limit": "100"}).json()
    assert newest["audit_id"] in [i["audit_id"] for i in today["items"]]


def test_a_failed_admin_login_is_audited_without_the_password(api: str, http: requests.Session) -> None:
    refused = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": "not-the-password-1"},
                        timeout=10)
    assert refused.status_code == 401
    headers = admin_headers(api, http)
    page = http.get(f"{api}/admin/audit", headers=headers, timeout=10,
                    params={"entity_type": "admin", "entity_id": DEMO_ADMIN, "action": "admin.login_failed"})
    assert page.status_code == 200, page.text
    assert page.json()["items"] and "not-the-password-1" not in page.text


def test_a_promoter_reads_only_their_own_history(api: str, http: requests.Session) -> None:
    login = http.post(f"{api}/auth/login", json={"code": "demo-promoter"}, timeout=10)
    assert login.status_code == 200, login.text
    token = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for kind in ("binding", "commission", "withdrawal"):
        response = http.get(f"{api}/promoter/history", headers=token, params={"kind": kind}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == kind
    customer = http.post(f"{api}/auth/login", json={"code": "e2e-audit-customer"}, timeout=10).json()
    refused = http.get(f"{api}/promoter/history", params={"kind": "binding"}, timeout=10,
                       headers={"Authorization": f"Bearer {customer['access_token']}"})
    assert refused.status_code == 403
