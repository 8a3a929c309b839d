"""POST /me/phone through the real handler on DynamoDB Local, WeChat played by the sandbox over HTTP:
the number is stored sealed and shown masked (GET /me, the answer, the logs); WeChat's refusals are
4xx naming ``code`` or a clear 503, never a 500, and change nothing; a threshold that requires a phone
refuses the application until one is bound, and GET /rules says so; the erasure request removes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.sandbox import sandbox_phone
from mall.dal.erasure import ErasureRepository
from mall.dal.identity import phone_context
from mall.dal.keys import customer_profile_key
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.settings import DistributionSettings, PromoterThreshold
from mall.domain.tokens import Role
from mall.integrations import pii_crypto, wechat
from mall.services.erasure import erase_customer
from tests.conftest import bearer
from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips, call
from tests.unit.conftest import http_event
from tests.unit.test_orders_handlers import Mall, customer_token, make_mall

NUMBER = "13712345678"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def mall(table: Table, sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mall]:
    monkeypatch.setenv("WECHAT_API_BASE", f"{sandbox_url}/wechat")
    wechat._token_cache.clear()
    yield make_mall(monkeypatch)
    wechat._token_cache.clear()


def bind(mall: Mall, token: str, code: str) -> tuple[int, dict[str, Any]]:
    return call(mall, "me_contact", "POST /me/phone", token=token, body={"code": code})


def profile(table: Table, user_id: str) -> dict[str, Any]:
    return table.get(customer_profile_key(user_id), consistent=True) or {}


def test_a_bound_phone_is_sealed_at_rest_and_masked_everywhere(mall: Mall, table: Table,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    user_id, token = customer_token("phone-owner")
    trips = Trips()
    status, bound = trips.of(lambda: bind(mall, token, f"phone-{NUMBER}"))
    assert status == 200, bound
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert bound["phone"] == "137****5678" and bound["country_code"] == "86"
    stored = profile(table, user_id)
    assert NUMBER not in json.dumps(stored, default=str)
    assert pii_crypto.decrypt(stored["phone_enc"], context=phone_context(user_id)) == NUMBER
    status, me = mall.call("me", http_event("GET", "/me", headers={"authorization": f"Bearer {token}"}))
    assert status == 200 and me["phone"] == "137****5678", me
    assert NUMBER not in capsys.readouterr().out  # nor in any log line
    # Another code binds another number in its place.
    status, again = bind(mall, token, "another-phone-code")
    assert status == 200 and again["phone"] == "139****" + sandbox_phone("another-phone-code")[-4:]


@pytest.mark.parametrize(("code", "status", "error"), [
    ("invalid", 422, "invalid_phone_code"),
    ("busy", 503, "wechat_unavailable"),
    ("ratelimited", 429, "wechat_phone_rate_limited"),
])
def test_wechat_refusals_are_clear_errors_and_store_nothing(mall: Mall, table: Table, code: str, status: int,
                                                            error: str) -> None:
    user_id, token = customer_token(f"phone-refused-{code}")
    got, body = bind(mall, token, code)
    assert (got, body["error"]["code"]) == (status, error), body
    if status == 422:
        assert body["error"]["fields"][0]["field"] == "code"
    assert "phone_enc" not in profile(table, user_id)


def test_a_used_code_is_refused_naming_the_field(mall: Mall) -> None:
    _, token = customer_token("phone-reuser")
    assert bind(mall, token, "phone-once-only")[0] == 200
    status, body = bind(mall, token, "phone-once-only")
    assert status == 422
    assert body["error"]["fields"] == [{"field": "code", "reason": "invalid, expired or already used"}]


def test_wechat_unreachable_is_503_not_500(mall: Mall, table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id, token = customer_token("phone-offline")
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9/nothing")
    from mall.config import get_settings

    get_settings.cache_clear()
    try:
        status, body = bind(mall, token, "phone-offline-code")
    finally:
        get_settings.cache_clear()
    assert status == 503 and body["error"]["code"] == "wechat_unavailable", body
    assert "phone_enc" not in profile(table, user_id)


def test_a_threshold_requiring_a_phone_is_enforced_and_disclosed(mall: Mall, table: Table) -> None:
    settings = DistributionSettings(promoter_review="auto", promoter_threshold=PromoterThreshold(requires_phone=True))
    SettingsRepository(table).save(settings, based_on=0, saved_by="admin:test", now=NOW)
    status, rules = mall.call("rules_public", http_event("GET", "/rules"))
    assert status == 200
    promoter = next(s for s in rules["sections"] if s["key"] == "promoter")
    assert next(i for i in promoter["items"] if i["key"] == "phone")["value"] is True
    user_id, token = customer_token("phone-applicant")

    def apply(key: str) -> tuple[int, dict[str, Any]]:
        return call(mall, "promoter_apply", "POST /promoter/apply", token=token, body={"nickname": "茶友"}, key=key)

    status, refused = apply("apply-key-0001")
    assert status == 403 and refused["error"]["code"] == "phone_required", refused
    assert bind(mall, token, "phone-13687654321")[0] == 200
    status, applied = apply("apply-key-0002")
    assert status == 201 and applied["status"] == "active", applied
    # The admin's detail of the promoter (推广员管理) shows the phone, masked.
    event = http_event("GET", f"/admin/promoters/{user_id}", headers=bearer("admin:alice", Role.ADMIN))
    event["routeKey"], event["pathParameters"] = "GET /admin/promoters/{user_id}", {"user_id": user_id}
    status, detail = mall.call("admin_promoters", event)
    assert status == 200 and detail["phone"] == "136****4321", detail
    # The erasure request removes the number (and its mask and hash).
    erase_customer(repo=ErasureRepository(table), user_id=user_id, now=NOW)
    left = profile(table, user_id)
    assert not {"phone_enc", "phone_masked", "phone_fp", "phone_bound_at"} & set(left)
