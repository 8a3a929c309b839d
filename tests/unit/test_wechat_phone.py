"""``WeChatServerClient.phone_number`` (getuserphonenumber) against the sandbox over real HTTP: the
number, each of WeChat's refusals as the error the API answers, a revoked token replaced once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.sandbox import sandbox_phone
from mall.errors import InvalidInput, TooManyRequests, UpstreamUnavailable
from mall.integrations import wechat
from mall.integrations.wechat import WeChatServerClient
from tests.unit.test_wechat_qr import _force_elsewhere


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    wechat._token_cache.clear()
    yield
    wechat._token_cache.clear()


def client(base: str, app_id: str = "wx_phone_app") -> WeChatServerClient:
    return WeChatServerClient(base_url=f"{base}/wechat", app_id=app_id, app_secret="s3cret", timeout=5)


def test_a_code_gives_the_pure_number_and_its_country_code(sandbox_url: str) -> None:
    number = client(sandbox_url).phone_number("phone-13512345678")
    assert (number.pure, number.country_code) == ("13512345678", "86")
    assert client(sandbox_url).phone_number("derived-code-1").pure == sandbox_phone("derived-code-1")


def test_an_invalid_or_reused_code_names_the_field(sandbox_url: str) -> None:
    wx = client(sandbox_url)
    wx.phone_number("phone-reused-1")
    for code in ("invalid", "invalid-expired", "phone-reused-1"):
        with pytest.raises(InvalidInput) as refused:
            wx.phone_number(code)
        assert refused.value.code == "invalid_phone_code" and refused.value.fields[0].field == "code"


def test_busy_rate_limited_and_unreachable_wechat_are_clear_errors(sandbox_url: str) -> None:
    with pytest.raises(UpstreamUnavailable) as busy:
        client(sandbox_url).phone_number("busy")
    assert busy.value.code == "wechat_unavailable"
    with pytest.raises(TooManyRequests) as limited:
        client(sandbox_url).phone_number("ratelimited")
    assert limited.value.retry_after_seconds == 60
    with pytest.raises(UpstreamUnavailable):
        client("http://127.0.0.1:9").phone_number("phone-13512345679")


def test_a_revoked_token_is_replaced_once_and_the_code_still_used(sandbox_url: str) -> None:
    wx = client(sandbox_url, app_id="wx_phone_revoked")
    stale = wx.access_token()
    fresh = _force_elsewhere(sandbox_url, "wx_phone_revoked")
    assert wx.phone_number("phone-13512345670").pure == "13512345670"
    assert wx.access_token() == fresh != stale
