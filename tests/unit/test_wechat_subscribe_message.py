"""``WeChatServerClient.send_subscribe_message`` against the sandbox over real HTTP."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mall.integrations import wechat
from mall.integrations.wechat import NotSubscribed, WeChatApiError, WeChatServerClient

DATA = {"amount1": "¥12.34", "thing2": "有机大米", "time3": "2026-03-01 10:03"}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    wechat._token_cache.clear()
    yield
    wechat._token_cache.clear()


def client(sandbox_url: str, app_id: str = "wx_sub_app") -> WeChatServerClient:
    return WeChatServerClient(base_url=f"{sandbox_url}/wechat", app_id=app_id, app_secret="s3cret", timeout=5)


def call(sandbox_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(f"{sandbox_url}/wechat{path}", method=method,  # noqa: S310 (the local sandbox)
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def received(sandbox_url: str, openid: str) -> dict[str, Any]:
    return call(sandbox_url, "GET", f"/sandbox/subscribe-messages?touser={openid}")


def test_a_message_is_delivered_with_its_page_and_state(sandbox_url: str) -> None:
    openid = f"o_{uuid.uuid4().hex}"
    msgid = client(sandbox_url).send_subscribe_message(touser=openid, template_id="tpl-1", data=DATA,
                                                       page="pages/a/b?id=1", miniprogram_state="trial")
    messages = received(sandbox_url, openid)["messages"]
    assert [(m["msgid"], m["template_id"], m["page"], m["miniprogram_state"], m["lang"]) for m in messages] == [
        (msgid, "tpl-1", "pages/a/b?id=1", "trial", "zh_CN")]
    assert messages[0]["data"] == {k: {"value": v} for k, v in DATA.items()}


def test_43101_raises_not_subscribed_and_is_not_delivered(sandbox_url: str) -> None:
    openid = f"o_{uuid.uuid4().hex}"
    call(sandbox_url, "POST", "/sandbox/subscriptions", {"openid": openid, "subscribed": False})
    with pytest.raises(NotSubscribed) as refused:
        client(sandbox_url).send_subscribe_message(touser=openid, template_id="tpl-1", data=DATA)
    assert refused.value.errcode == 43101
    assert received(sandbox_url, openid)["messages"] == []
    assert len(received(sandbox_url, openid)["refused"]) == 1
    # Per template: refusing one template leaves the others deliverable.
    other = f"o_{uuid.uuid4().hex}"
    call(sandbox_url, "POST", "/sandbox/subscriptions", {"openid": other, "template_id": "tpl-x", "subscribed": False})
    client(sandbox_url).send_subscribe_message(touser=other, template_id="tpl-1", data=DATA)
    with pytest.raises(NotSubscribed):
        client(sandbox_url).send_subscribe_message(touser=other, template_id="tpl-x", data=DATA)


def test_a_revoked_token_is_refreshed_once_and_the_message_sent(sandbox_url: str) -> None:
    wx = client(sandbox_url, app_id="wx_sub_revoked")
    stale = wx.access_token()
    fresh = call(sandbox_url, "POST", "/cgi-bin/stable_token", {"grant_type": "client_credential",
                                                                "appid": "wx_sub_revoked", "secret": "s3cret",
                                                                "force_refresh": True})
    assert fresh["access_token"] != stale
    openid = f"o_{uuid.uuid4().hex}"
    wx.send_subscribe_message(touser=openid, template_id="tpl-1", data=DATA)
    assert len(received(sandbox_url, openid)["messages"]) == 1


@pytest.mark.parametrize(("page", "errcode"), [("/pages/a", 41030), ("pages/missing/x", 41030)])
def test_other_refusals_are_api_errors_with_their_errcode(sandbox_url: str, page: str, errcode: int) -> None:
    with pytest.raises(WeChatApiError) as refused:
        client(sandbox_url).send_subscribe_message(touser="o_x", template_id="tpl-1", data=DATA, page=page)
    assert refused.value.errcode == errcode and not isinstance(refused.value, NotSubscribed)


@pytest.mark.parametrize("kwargs", [{"touser": ""}, {"template_id": ""}, {"data": {}}, {"data": {"thing1": ""}},
                                    {"miniprogram_state": "release"}, {"lang": "fr"}])
def test_arguments_wechat_would_refuse_are_refused_before_the_call(sandbox_url: str, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"touser": "o_x", "template_id": "tpl-1", "data": DATA, **kwargs}
    with pytest.raises(ValueError, match=r"."):
        client(sandbox_url).send_subscribe_message(**arguments)
