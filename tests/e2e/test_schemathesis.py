"""Schemathesis over docs/openapi.json against the local stack's API: no input, valid or not,
gets a server error (5xx).

Every operation is called with generated path parameters, query strings, headers and bodies
(schema-valid and, in schemathesis's coverage phase, invalid ones), authenticated as a role the
operation declares in ``x-mall-roles`` (the same field the authorization matrix reads): the
anonymous operations without a token, the others with a customer's, the demo promoter's or the
demo admin's token. The only check is the status: < 500. A failure prints the request as a
curl command to replay it.

The fast variant (in ``make test``) draws a few examples per operation; the slow one
(``make test-long``) many more. The stack is the session's, shared with the other end-to-end
tests: the distribution settings, the one document an operation here could change for
everyone, are put back afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD, DEMO_PROMOTER_CODE
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

OPENAPI = ROOT / "docs" / "openapi.json"
FAST_EXAMPLES = 5
SLOW_EXAMPLES = 100
TIMEOUT_S = 30
# Preference when an operation admits several roles: the least privileged caller that may pass.
# Every admin route admits the owner (the demo admin is the first owner), so admin routes are called as one.
ROLE_ORDER = ("anonymous", "customer", "promoter", "owner")

# Loaded at collection (schemathesis 4.32's lazy ``from_fixture`` reads a pytest-internal attribute
# that pytest 9 no longer has); the stack's URL is given to each call instead.
schema = schemathesis.openapi.from_dict(json.loads(OPENAPI.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def tokens(api: str) -> dict[str, str]:
    """One bearer token per role, from the stack's real login routes."""
    with requests.Session() as http:
        customer = http.post(f"{api}/auth/login", json={"code": "schemathesis-buyer"}, timeout=TIMEOUT_S)
        promoter = http.post(f"{api}/auth/login", json={"code": DEMO_PROMOTER_CODE}, timeout=TIMEOUT_S)
        admin = http.post(f"{api}/admin/auth/login", json={"username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
                          timeout=TIMEOUT_S)
    for name, answer in (("customer", customer), ("promoter", promoter), ("owner", admin)):
        assert answer.status_code == 200, f"{name} login: {answer.status_code} {answer.text}"
    assert "promoter" in promoter.json()["roles"], promoter.json()
    assert admin.json()["roles"] == ["owner"], admin.json()
    return {"customer": customer.json()["access_token"], "promoter": promoter.json()["access_token"],
            "owner": admin.json()["access_token"]}


@pytest.fixture(scope="module", autouse=True)
def settings_put_back(api: str, tokens: dict[str, str]) -> Iterator[None]:
    """Generated bodies may save new distribution settings: save the old document again after."""
    admin = {"Authorization": f"Bearer {tokens['owner']}"}
    before = requests.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT_S).json()
    yield
    now = requests.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT_S).json()
    if now["version"] != before["version"]:
        restored = requests.put(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT_S, json={
            **before["settings"], "based_on_version": now["version"], "note": "schemathesis: put back"})
        assert restored.status_code == 200, restored.text


def caller_for(case: Any) -> str:
    roles = set(case.operation.definition.raw.get("x-mall-roles") or ["anonymous"])
    return next(role for role in ROLE_ORDER if role in roles)


def call(case: Any, api: str, tokens: dict[str, str]) -> None:
    role = caller_for(case)
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
    response = case.call(base_url=api, headers=headers, timeout=TIMEOUT_S)
    assert response.status_code < 500, (
        f"{case.operation.method.upper()} {case.operation.path} as {role} answered {response.status_code}: "
        f"{response.text[:500]}\nreplay: {case.as_curl_command(headers=headers)}")


_HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture,
           HealthCheck.data_too_large]


@schema.parametrize()
@settings(max_examples=FAST_EXAMPLES, deadline=None, suppress_health_check=_HEALTH, derandomize=True)
def test_no_server_error(case: Any, api: str, tokens: dict[str, str]) -> None:
    call(case, api, tokens)


UNREADABLE_BODIES = {
    # what is sent: (Content-Type, body) — each once answered 500 by every route with a body (found by
    # schemathesis); now 415 (not JSON) or 400 (not UTF-8 JSON).
    "JSON sent as text/plain": ("text/plain", json.dumps({"code": "schemathesis-buyer"}).encode()),
    "multipart/form-data without a boundary": ("multipart/form-data", b'{"code": "schemathesis-buyer"}'),
    "a body that is not UTF-8": ("application/json", b"\x80"),
}


@pytest.mark.parametrize("what", sorted(UNREADABLE_BODIES))
def test_a_body_the_route_cannot_read_is_a_clear_4xx(api: str, what: str) -> None:
    content_type, body = UNREADABLE_BODIES[what]
    answer = requests.post(f"{api}/auth/login", data=body, headers={"Content-Type": content_type},
                           timeout=TIMEOUT_S)
    assert answer.status_code == (400 if content_type == "application/json" else 415), answer.text
    assert answer.json()["error"]["code"] in {"malformed_json", "unsupported_media_type"}


HOSTILE_BODIES = {
    # each once answered 500 with a stack trace; now 400 malformed_json naming the reason
    "JSON nested 100000 levels deep": "[" * 100_000 + "]" * 100_000,
    "an integer of 5000 digits": '{"code": ' + "9" * 5000 + "}",
    "a duplicate object key": '{"code": "schemathesis-buyer", "code": "other"}',
}


@pytest.mark.parametrize("what", sorted(HOSTILE_BODIES))
def test_a_body_built_to_crash_the_parser_is_a_400(api: str, what: str) -> None:
    answer = requests.post(f"{api}/auth/login", data=HOSTILE_BODIES[what].encode(),
                           headers={"Content-Type": "application/json"}, timeout=TIMEOUT_S)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("token", ["令牌.令牌.令牌", "abc.def.ghé", "a.b.c.d", "...."])
def test_a_non_ascii_or_malformed_bearer_token_is_a_401(api: str, token: str) -> None:
    answer = requests.get(f"{api}/me", headers={"Authorization": f"Bearer {token}".encode()},  # type: ignore[dict-item]
                          timeout=TIMEOUT_S)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "invalid_token"


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=SLOW_EXAMPLES, deadline=None, suppress_health_check=_HEALTH)
def test_no_server_error_long(case: Any, api: str, tokens: dict[str, str]) -> None:
    call(case, api, tokens)
