"""WeChat mini-program server APIs (PROTOCOLS.md). The base URL is configuration: in AWS
``https://api.weixin.qq.com``, locally the sandbox of the local stack."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from mall.errors import FieldProblem, Forbidden, InvalidInput, TooManyRequests, UpstreamUnavailable


@dataclass(frozen=True)
class WeChatSession:
    """What ``jscode2session`` returns. ``session_key`` must never leave the server."""

    openid: str
    session_key: str
    unionid: str | None = None


class WeChatClient:
    def __init__(self, *, base_url: str, app_id: str, app_secret: str, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._timeout = timeout

    def code_to_session(self, js_code: str) -> WeChatSession:
        query = urllib.parse.urlencode({"appid": self._app_id, "secret": self._app_secret, "js_code": js_code,
                                        "grant_type": "authorization_code"})
        url = f"{self._base}/sns/jscode2session?{query}"
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:  # noqa: S310 (configured https base)
                payload = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise UpstreamUnavailable("WeChat login service is unreachable; try again",
                                      code="wechat_unavailable") from exc
        errcode = int(payload.get("errcode", 0) or 0)
        if errcode:
            raise _login_error(errcode)
        openid, session_key = payload.get("openid"), payload.get("session_key")
        if not openid or not session_key:
            raise UpstreamUnavailable("WeChat login answered without an openid", code="wechat_bad_answer")
        return WeChatSession(openid=str(openid), session_key=str(session_key), unionid=payload.get("unionid") or None)


def _login_error(errcode: int) -> Exception:
    if errcode in {40029, 40163}:
        return InvalidInput("login code is invalid or already used; call wx.login again", code="invalid_login_code",
                            fields=[FieldProblem("code", "invalid or already used")])
    if errcode == 45011:
        return TooManyRequests("too many logins; wait a minute", retry_after_seconds=60, code="login_rate_limited")
    if errcode == 40226:
        return Forbidden("WeChat flagged this account as high risk", code="high_risk_user")
    return UpstreamUnavailable(f"WeChat login failed (errcode {errcode}); try again", code="wechat_unavailable")
