"""The promoter pages in headless Chromium: a customer applies through the API, the merchant
approves the application in the console, freezes and unfreezes the promoter, and is refused
own rates above the commission cap; a customer bound with a promoter's invite code is listed in the
promoter's team."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mall.dal.table import Table
from tests.e2e.console.conftest import admin_headers, log_in
from tests.e2e.seeding import make_promoter

pytestmark = pytest.mark.e2e

TIMEOUT = 15


def _save_review(api: str, http: requests.Session, admin: dict[str, str], review: str) -> int:
    """Saves the settings with ``promoter_review`` (others may save meanwhile: retry on 409)."""
    for _ in range(5):
        current = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()
        if current["settings"]["promoter_review"] == review:
            return int(current["version"])
        body = {**current["settings"], "promoter_review": review, "based_on_version": current["version"],
                "note": "console promoters test"}
        saved = http.put(f"{api}/admin/settings/distribution", json=body, headers=admin, timeout=TIMEOUT)
        if saved.status_code != 409:
            assert saved.status_code == 200, saved.text
            return int(saved.json()["version"])
    raise AssertionError("could not save the settings")


@pytest.fixture
def manual_review(api: str, http: requests.Session) -> Iterator[int]:
    """Applications wait for the merchant; the review mode found is put back afterwards."""
    admin = admin_headers(api, http)
    before = http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT).json()
    yield _save_review(api, http, admin, "manual")
    _save_review(api, http, admin, before["settings"]["promoter_review"])


def _promoter(api: str, http: requests.Session, user_id: str) -> dict[str, Any]:
    reply = http.get(f"{api}/admin/promoters/{user_id}", headers=admin_headers(api, http), timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return dict(reply.json()["promoter"])


def test_approve_an_application_then_freeze_and_unfreeze(api: str, console: str, http: requests.Session,
                                                         manual_review: int, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    login = http.post(f"{api}/auth/login", json={"code": f"console-applicant-{run}"}, timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    user_id = login.json()["user_id"]
    applied = http.post(f"{api}/promoter/apply", json={"accepted_rules_version": manual_review, "nickname": "待审小推"},
                        headers={"Authorization": f"Bearer {login.json()['access_token']}",
                                 "Idempotency-Key": f"apply-{run}"}, timeout=TIMEOUT)
    assert applied.status_code == 201 and applied.json()["status"] == "applied", applied.text

    log_in(page, console)
    page.goto(console + "promoters")  # the applications queue, newest first
    page.locator(f"[data-test=open-{user_id}]").click()
    page.wait_for_url(f"**/console/promoters/{user_id}")
    status = page.locator("[data-test=promoter-status]")
    assert status.inner_text() == "待审核"

    page.locator("[data-test=action-approve]").click()
    page.locator(".el-message-box").get_by_role("button", name="通过申请").click()
    page.locator(".el-message--success").wait_for()
    page.locator("[data-test=promoter-status]", has_text="正常").wait_for()
    assert _promoter(api, http, user_id)["status"] == "active"

    page.locator("[data-test=action-freeze]").click()
    box = page.locator(".el-message-box")
    box.get_by_role("button", name="冻结").click()  # no reason yet: the box refuses
    box.get_by_text("请填写原因").wait_for()
    box.locator("input").fill("疑似刷单，核查中")
    box.get_by_role("button", name="冻结").click()
    page.locator("[data-test=promoter-status]", has_text="已冻结").wait_for()
    frozen = _promoter(api, http, user_id)
    assert frozen["status"] == "frozen" and frozen["reason"] == "疑似刷单，核查中"
    assert "疑似刷单，核查中" in page.locator("[data-test=history]").inner_text()

    page.locator("[data-test=action-unfreeze]").click()
    page.locator(".el-message-box").get_by_role("button", name="解冻").click()
    page.locator("[data-test=promoter-status]", has_text="正常").wait_for()
    assert _promoter(api, http, user_id)["status"] == "active"
    assert page.locator("[data-test=action-freeze]").is_visible()

    # Own rates that could pay more than the cap are refused beside the form, and nothing is saved.
    page.locator("[data-test=override-l1]").fill("30")
    page.locator("[data-test=override-l2]").fill("30")  # 60% together: above any cap the settings allow
    page.locator("[data-test=save-override]").click()
    assert "cap" in page.locator("[data-test=override-error]").inner_text()
    page.locator(".el-form-item__error", has_text="超出佣金上限").first.wait_for()
    unchanged = _promoter(api, http, user_id)
    assert unchanged["l1_override_bp"] is None and unchanged["l2_override_bp"] is None


def test_a_bound_customer_is_listed_in_the_promoters_team(api: str, console: str, http: requests.Session,
                                                          table: Table, page: Any) -> None:
    run = uuid.uuid4().hex[:8]
    leader = http.post(f"{api}/auth/login", json={"code": f"console-leader-{run}"}, timeout=TIMEOUT).json()
    code = f"T{run.upper()}"
    make_promoter(table, leader["user_id"], code=code)
    member = http.post(f"{api}/auth/login", json={"code": f"console-member-{run}"}, timeout=TIMEOUT).json()
    bound = http.post(f"{api}/referral/bind", json={"code": code}, timeout=TIMEOUT,
                      headers={"Authorization": f"Bearer {member['access_token']}"})
    assert bound.status_code == 200 and bound.json()["outcome"] == "bound", bound.text
    admin = admin_headers(api, http)
    team = http.get(f"{api}/admin/promoters/{leader['user_id']}/team", headers=admin, timeout=TIMEOUT)
    assert team.status_code == 200, team.text
    assert [m["user_id"] for m in team.json()["items"]] == [member["user_id"]]

    log_in(page, console)
    page.goto(console + f"promoters/{leader['user_id']}")
    page.get_by_role("tab", name="团队").click()
    members = page.locator("[data-test=team-members]")
    members.get_by_text(member["user_id"]).wait_for()
    assert members.locator(".el-table__row").count() == 1
    assert page.locator("[data-test=team]").get_by_text("直推成员").is_visible()

    page.locator("[data-test=team-depth]").get_by_text("二级成员").click()  # nobody under the member
    members.get_by_text("暂无成员").wait_for()
    assert member["user_id"] not in members.inner_text()
