"""Rules disclosure over HTTP on the local stack: GET /rules is public, briefly cacheable, shows what
the admin's settings say (same version, same numbers), and applying as a promoter records the version
that was shown — or is refused with 409 ``rules_changed`` when it is not the current one."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD
from mall.domain.settings import DEFAULT_BANNED_PHRASES

TIMEOUT = 15


def test_rules_are_public_and_match_the_settings_in_force(api: str, http: requests.Session) -> None:
    shown = http.get(f"{api}/rules", timeout=TIMEOUT)
    assert shown.status_code == 200, shown.text
    assert shown.headers["Cache-Control"] == "public, max-age=60"
    rules: dict[str, Any] = shown.json()
    admin = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                      timeout=TIMEOUT).json()["access_token"]
    current = http.get(f"{api}/admin/settings/distribution", headers={"Authorization": f"Bearer {admin}"},
                       timeout=TIMEOUT).json()
    assert rules["version"] == current["version"]
    settings = current["settings"]
    assert [(e["level"], e["name"], e["rate_bp"]) for e in rules["earning_levels"]] == [
        (1, "一级", settings["commission"]["l1_rate_bp"]), (2, "二级", settings["commission"]["l2_rate_bp"])]
    items = {f"{s['key']}.{i['key']}": i for s in rules["sections"] for i in s["items"]}
    assert items["withdrawal.min_fen"]["value"] == settings["withdrawal"]["min_fen"]
    assert items["settlement.settlement_days"]["value"] == settings["commission"]["settlement_days"]
    assert items["binding.mode"]["value"] == settings["binding_mode"]
    assert [level["id"] for level in rules["levels"]] == [level["id"] for level in settings["levels"]]
    text = shown.content.decode("utf-8")
    assert not [p for p in DEFAULT_BANNED_PHRASES if p in text]


def test_applying_records_the_rules_version_that_was_shown(api: str, http: requests.Session) -> None:
    version = http.get(f"{api}/rules", timeout=TIMEOUT).json()["version"]
    login = http.post(f"{api}/auth/login", json={"code": f"rules-e2e-{uuid.uuid4().hex[:10]}"}, timeout=TIMEOUT)
    me = {"Authorization": f"Bearer {login.json()['access_token']}"}

    stale = http.post(f"{api}/promoter/apply", json={"rules_version": version + 1000}, timeout=TIMEOUT,
                      headers={**me, "Idempotency-Key": uuid.uuid4().hex})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "rules_changed"
    assert stale.json()["error"]["details"]["current_version"] == version

    applied = http.post(f"{api}/promoter/apply", json={"rules_version": version}, timeout=TIMEOUT,
                        headers={**me, "Idempotency-Key": uuid.uuid4().hex})
    assert applied.status_code == 201, applied.text
    assert applied.json()["accepted_rules_version"] == version and applied.json()["accepted_rules_at"]
