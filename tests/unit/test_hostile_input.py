"""Input meant to crash the parser or the token check is the client's mistake: a 4xx in the
error shape, never a 500 (through the real handlers, on moto)."""

from __future__ import annotations

import pytest

from mall.api.strict_json import MAX_DEPTH, MAX_INTEGER_DIGITS
from tests.unit.conftest import Invoke

pytestmark = pytest.mark.usefixtures("moto_table")


@pytest.fixture(autouse=True)
def _sandbox(sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", f"{sandbox_url}/wechat")


@pytest.mark.parametrize("authorization", [
    "Bearer 令牌.令牌.令牌",
    "Bearer abc.def.ghé",
    "Bearer a.b.c.d",
    "Bearer ....",
    "Bearer " + "a" * 5000 + ".b.c",
    "Bearer \x00.\x00.\x00",
])
def test_a_non_ascii_or_malformed_bearer_token_is_a_401(invoke: Invoke, authorization: str) -> None:
    status, body, _ = invoke("me", "GET", "/me", headers={"authorization": authorization})
    assert status == 401, body
    assert body["error"]["code"] == "invalid_token"


HOSTILE_BODIES = {
    "nested far beyond any real body": "[" * 100_000 + "]" * 100_000,
    "nested just past the limit": '{"code": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
    "an integer past the digit limit": '{"code": "x", "n": ' + "9" * 5000 + "}",
    "a long integer under Python's limit": '{"code": "x", "n": ' + "1" * (MAX_INTEGER_DIGITS + 1) + "}",
    "a duplicate key": '{"code": "alice", "code": "mallory"}',
    "NaN": '{"code": "x", "n": NaN}',
}


@pytest.mark.parametrize("what", sorted(HOSTILE_BODIES))
def test_hostile_json_is_a_400_in_the_error_shape(invoke: Invoke, what: str) -> None:
    status, body, _ = invoke("auth_login", "POST", "/auth/login", raw_body=HOSTILE_BODIES[what])
    assert status == 400, body
    assert body["error"]["code"] == "malformed_json"
    assert body["error"]["fields"][0]["field"] == "body" and body["error"]["fields"][0]["reason"]


def test_ordinary_json_still_passes(invoke: Invoke) -> None:
    nested_ok = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    status, body, _ = invoke("auth_login", "POST", "/auth/login",
                             raw_body='{"code": "dora", "extra": ' + nested_ok + "}")
    assert status in {200, 422}, body  # whatever the model says about the extra field, not a parser refusal
    status, body, _ = invoke("auth_login", "POST", "/auth/login", raw_body='{"code": "dora"}')
    assert status == 200, body
