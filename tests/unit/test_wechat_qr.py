"""The WeChat access token and getwxacodeunlimit client, against the sandbox over real HTTP."""

from __future__ import annotations

import io
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from local import sandbox
from local.sandbox import sandbox_qr_link
from mall.errors import TooManyRequests, UpstreamUnavailable
from mall.integrations import wechat
from mall.integrations.wechat import WeChatApiError, WeChatServerClient, image_content_type


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    wechat._token_cache.clear()
    yield
    wechat._token_cache.clear()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each WeChat path was called (through the real urlopen)."""
    seen: Counter[str] = Counter()
    real = urllib.request.urlopen

    def counting(request: Any, *args: Any, **kwargs: Any) -> Any:
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        seen[url.split("?")[0].rsplit("/wechat", 1)[-1]] += 1
        return real(request, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting)
    return seen


def client(sandbox_url: str, app_id: str = "wx_test_app", secret: str = "s3cret") -> WeChatServerClient:  # noqa: S107
    return WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id=app_id, app_secret=secret, timeout=5)


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_qr_is_a_png_that_decodes_to_the_share_link(sandbox_url: str) -> None:
    png = client(sandbox_url).get_unlimited_qr(scene="P7K2M9QX", page="pages/index/index", width=430)
    assert image_content_type(png) == "image/png"
    image = Image.open(io.BytesIO(png))
    assert image.size == (430, 430)
    assert decode(png) == [sandbox_qr_link("pages/index/index", "P7K2M9QX")]


def test_the_access_token_is_fetched_once_and_reused(sandbox_url: str, calls: Counter[str]) -> None:
    wx = client(sandbox_url)
    for _ in range(3):
        wx.get_unlimited_qr(scene="A1", page="pages/index/index")
    assert calls["/cgi-bin/stable_token"] == 1
    assert calls["/wxa/getwxacodeunlimit"] == 3
    client(sandbox_url).access_token()  # another client in the same process shares the cache
    assert calls["/cgi-bin/stable_token"] == 1


def test_a_revoked_token_is_refreshed_once_and_the_call_retried(sandbox_url: str, calls: Counter[str]) -> None:
    wx = client(sandbox_url, app_id="wx_revoked")
    stale = wx.access_token()
    # Someone else (another container) forced a refresh: our cached token is now invalid.
    body = json.dumps({"grant_type": "client_credential", "appid": "wx_revoked", "secret": "s3cret",
                       "force_refresh": True}).encode()
    request = urllib.request.Request(f"{sandbox_url}/wechat/cgi-bin/stable_token", method="POST", data=body)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (the local sandbox)
        assert json.loads(response.read())["access_token"] != stale
    png = wx.get_unlimited_qr(scene="A2", page="pages/index/index")
    assert decode(png) == [sandbox_qr_link("pages/index/index", "A2")]
    assert calls["/wxa/getwxacodeunlimit"] == 2 and wx.access_token() != stale


def test_rate_limit_45009_is_a_429_with_retry_after(sandbox_url: str) -> None:
    with pytest.raises(TooManyRequests) as limited:
        client(sandbox_url).get_unlimited_qr(scene="ratelimited", page="pages/index/index")
    assert limited.value.code == "wechat_qr_rate_limited" and limited.value.retry_after_seconds == 60


def test_unknown_page_41030_says_which_page_and_what_to_check(sandbox_url: str) -> None:
    with pytest.raises(WeChatApiError) as refused:
        client(sandbox_url).get_unlimited_qr(scene="A3", page="pages/missing/page")
    assert refused.value.errcode == 41030 and refused.value.code == "wechat_qr_page_invalid"
    assert "pages/missing/page" in refused.value.message and "SHARE_PAGE" in refused.value.message
    assert isinstance(refused.value, UpstreamUnavailable)  # 503: a deployment problem, not the caller's


def test_busy_wechat_is_unavailable(sandbox_url: str) -> None:
    with pytest.raises(WeChatApiError) as busy:
        client(sandbox_url).get_unlimited_qr(scene="busy", page="pages/index/index")
    assert busy.value.errcode == -1 and busy.value.code == "wechat_unavailable"


def test_refused_credentials_are_reported_as_such(sandbox_url: str) -> None:
    with pytest.raises(WeChatApiError) as refused:
        client(sandbox_url, secret="").get_unlimited_qr(scene="A4", page="pages/index/index")
    assert refused.value.code == "wechat_token_refused" and refused.value.errcode == 41002


def test_unreachable_wechat_is_unavailable() -> None:
    wx = WeChatServerClient(base_url="http://127.0.0.1:9/nothing", app_id="wx", app_secret="s", timeout=1)
    with pytest.raises(UpstreamUnavailable) as down:
        wx.get_unlimited_qr(scene="A5", page="pages/index/index")
    assert down.value.code == "wechat_unavailable"


@pytest.mark.parametrize("kwargs", [
    {"scene": ""}, {"scene": "x" * 33}, {"scene": "中文"}, {"page": "/pages/index/index"},
    {"page": "pages/index/index?x=1"}, {"width": 279}, {"width": 1281}, {"env_version": "beta"},
])
def test_arguments_wechat_would_refuse_are_refused_before_any_call(
        sandbox_url: str, calls: Counter[str], kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"scene": "A6", "page": "pages/index/index", "width": 430, "env_version": "release",
                            **kwargs}
    with pytest.raises(ValueError):
        client(sandbox_url).get_unlimited_qr(**args)
    assert not calls


def test_an_answer_that_is_neither_image_nor_json_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    wx = WeChatServerClient(base_url="http://wechat.invalid", app_id="wx", app_secret="s", timeout=1)
    monkeypatch.setattr(WeChatServerClient, "access_token", lambda self, bypass_cache=False: "tok")
    monkeypatch.setattr(WeChatServerClient, "_post_json", lambda self, path, body, what: (b"<html>", "text/html"))
    with pytest.raises(WeChatApiError) as garbage:
        wx.get_unlimited_qr(scene="A7", page="pages/index/index")
    assert garbage.value.errcode == -2


def _force_elsewhere(sandbox_url: str, app_id: str) -> str:
    """Another container forces a refresh: every token held before is revoked."""
    body = json.dumps({"grant_type": "client_credential", "appid": app_id, "secret": "s3cret",
                       "force_refresh": True}).encode()
    request = urllib.request.Request(f"{sandbox_url}/wechat/cgi-bin/stable_token", method="POST", data=body)  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (the local sandbox)
        return str(json.loads(response.read())["access_token"])


class CountingGate:
    """A gate that grants ``grants`` forced refreshes and counts the requests."""

    def __init__(self, grants: int) -> None:
        self.grants = grants
        self.asked = 0

    def try_acquire(self, app_id: str) -> bool:
        self.asked += 1
        if self.grants <= 0:
            return False
        self.grants -= 1
        return True


def test_a_revoked_token_is_replaced_by_a_normal_call_never_a_forced_refresh(sandbox_url: str) -> None:
    gate = CountingGate(grants=5)
    wx = WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id="wx_no_force", app_secret="s3cret", timeout=5,
                            force_gate=gate)
    stale = wx.access_token()
    fresh = _force_elsewhere(sandbox_url, "wx_no_force")
    assert sandbox.forced_refreshes["wx_no_force"] == 1
    png = wx.get_unlimited_qr(scene="A8", page="pages/index/index")
    assert decode(png) == [sandbox_qr_link("pages/index/index", "A8")]
    assert wx.access_token() == fresh != stale
    # the retry asked WeChat for its current token: the other containers' token stays valid
    assert sandbox.forced_refreshes["wx_no_force"] == 1 and gate.asked == 0


def test_a_token_wechat_keeps_refusing_is_forced_only_when_the_gate_grants_it(sandbox_url: str) -> None:
    refused = WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id="wx_stuck", app_secret="s3cret", timeout=5,
                                 force_gate=CountingGate(grants=0))
    refused.access_token()
    sandbox.broken_current_token.add("wx_stuck")
    with pytest.raises(UpstreamUnavailable) as limited:
        refused.get_unlimited_qr(scene="A9", page="pages/index/index")
    assert limited.value.code == "wechat_token_refresh_limited"
    assert sandbox.forced_refreshes["wx_stuck"] == 0
    granted = CountingGate(grants=1)
    wx = WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id="wx_stuck", app_secret="s3cret", timeout=5,
                            force_gate=granted)
    png = wx.get_unlimited_qr(scene="A9", page="pages/index/index")
    assert decode(png) == [sandbox_qr_link("pages/index/index", "A9")]
    assert sandbox.forced_refreshes["wx_stuck"] == 1 and granted.asked == 1


def test_without_a_gate_the_client_never_forces(sandbox_url: str) -> None:
    wx = client(sandbox_url, app_id="wx_gateless")
    wx.access_token()
    sandbox.broken_current_token.add("wx_gateless")
    with pytest.raises(UpstreamUnavailable):
        wx.get_unlimited_qr(scene="A10", page="pages/index/index")
    assert sandbox.forced_refreshes["wx_gateless"] == 0
    sandbox.broken_current_token.discard("wx_gateless")
