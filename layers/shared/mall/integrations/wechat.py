"""WeChat mini-program server APIs (docs/protocols.md). The base URL is configuration: in AWS
``https://api.weixin.qq.com``, locally the sandbox of the local stack."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

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


# ---------------------------------------------------------------------------------------
# Access token (接口调用凭证) and the promoter QR (小程序码, getwxacodeunlimit)
# ---------------------------------------------------------------------------------------

#: Renew this long before WeChat's stated expiry, so a token never expires between check and use.
TOKEN_RENEW_MARGIN_SECONDS = 300
#: ``scene`` characters WeChat accepts (docs/protocols.md), at most 32 of them.
QR_SCENE_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$&'()*+,/:;=?@-._~")
QR_SCENE_MAX = 32
QR_WIDTH_MIN, QR_WIDTH_MAX = 280, 1280
QR_ENV_VERSIONS = ("release", "trial", "develop")
#: A QR image is tens of KB; anything past this is not a QR code.
QR_MAX_BYTES = 2 * 1024 * 1024
_INVALID_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})

# The stable token is shared by every request a warm Lambda serves: one fetch per ~2 hours per
# container instead of one per request (WeChat limits how often a token may be fetched).
_token_cache: dict[tuple[str, str], tuple[str, float]] = {}
_token_lock = threading.Lock()


class WeChatApiError(UpstreamUnavailable):
    """WeChat answered with an ``errcode`` we cannot turn into a caller's mistake (503)."""

    def __init__(self, message: str, *, errcode: int, code: str = "wechat_unavailable") -> None:
        super().__init__(message, code=code, details={"errcode": errcode})
        self.errcode = errcode


def validate_qr_request(*, scene: str, page: str, width: int, env_version: str) -> None:
    """Refuse arguments WeChat would refuse, before spending a call on them (``ValueError``)."""
    if not scene or len(scene) > QR_SCENE_MAX or not set(scene) <= QR_SCENE_CHARS:
        raise ValueError(f"scene must be 1-{QR_SCENE_MAX} characters of WeChat's scene alphabet: {scene!r}")
    if not page or page.startswith("/") or "?" in page:
        raise ValueError(f"page must be a mini-program page path without leading '/' or query: {page!r}")
    if not QR_WIDTH_MIN <= width <= QR_WIDTH_MAX:
        raise ValueError(f"width must be {QR_WIDTH_MIN}-{QR_WIDTH_MAX}: {width}")
    if env_version not in QR_ENV_VERSIONS:
        raise ValueError(f"env_version must be one of {QR_ENV_VERSIONS}: {env_version!r}")


def image_content_type(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` by magic number; None when ``data`` is neither."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


class ForceRefreshGate(Protocol):
    """Grants a forced token refresh (``force_refresh: true``) across every container of the app:
    WeChat allows a few a day, at least 30 s apart, and each one revokes the token all the others
    hold (mall.dal.wechat_tokens.ForceRefreshLease)."""

    def try_acquire(self, app_id: str) -> bool: ...


class WeChatServerClient(WeChatClient):
    """The server APIs that need an access token. One instance per process is enough.

    A token WeChat calls invalid (40001 / 42001) is replaced by a *normal* stable-token call that
    bypasses this process's cache: WeChat hands out its current token, which another container's
    refresh or WeChat's own renewal has moved on. Only when that call returns the very token WeChat
    just refused is a forced refresh asked for, and only when ``force_gate`` grants it (no gate: never)."""

    def __init__(self, *, base_url: str, app_id: str, app_secret: str, timeout: float,
                 force_gate: ForceRefreshGate | None = None) -> None:
        super().__init__(base_url=base_url, app_id=app_id, app_secret=app_secret, timeout=timeout)
        self._force_gate = force_gate

    def _post_json(self, path: str, body: dict[str, object], *, what: str) -> tuple[bytes, str]:
        request = urllib.request.Request(  # noqa: S310 (configured https base)
            f"{self._base}{path}", data=json.dumps(body, ensure_ascii=False).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                data = response.read(QR_MAX_BYTES + 1)
                content_type = str(response.headers.get("Content-Type") or "")
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise UpstreamUnavailable(f"WeChat {what} is unreachable; try again", code="wechat_unavailable") from exc
        return data, content_type

    def access_token(self, *, bypass_cache: bool = False) -> str:
        """The stable access token (``/cgi-bin/stable_token``, normal mode), cached in this process
        until ``TOKEN_RENEW_MARGIN_SECONDS`` before it expires; ``bypass_cache`` asks WeChat again
        (normal mode never revokes anything: it returns WeChat's current token)."""
        cache_key = (self._base, self._app_id)
        with _token_lock:
            cached = _token_cache.get(cache_key)
            if cached and not bypass_cache and cached[1] > time.monotonic():
                return cached[0]
            return self._fetch_token(force_refresh=False)

    def _fetch_token(self, *, force_refresh: bool) -> str:
        body: dict[str, object] = {"grant_type": "client_credential", "appid": self._app_id,
                                   "secret": self._app_secret, "force_refresh": force_refresh}
        data, _ = self._post_json("/cgi-bin/stable_token", body, what="token service")
        try:
            payload = json.loads(data or b"{}")
        except ValueError as exc:
            raise UpstreamUnavailable("WeChat token service answered garbage", code="wechat_bad_answer") from exc
        if not isinstance(payload, dict):
            raise UpstreamUnavailable("WeChat token service answered garbage", code="wechat_bad_answer")
        errcode = int(payload.get("errcode", 0) or 0)
        token = payload.get("access_token")
        if errcode or not token:
            raise WeChatApiError(f"WeChat refused an access token (errcode {errcode}: {payload.get('errmsg')});"
                                 " check WECHAT_APP_ID and the wechat_app_secret", errcode=errcode,
                                 code="wechat_token_refused")
        lifetime = max(int(payload.get("expires_in", 7200) or 7200) - TOKEN_RENEW_MARGIN_SECONDS, 60)
        _token_cache[(self._base, self._app_id)] = (str(token), time.monotonic() + lifetime)
        return str(token)

    def _replacement_token(self, refused: str) -> str:
        """A token to retry with after WeChat refused ``refused`` as invalid (see the class docstring)."""
        fresh = self.access_token(bypass_cache=True)
        if fresh != refused:
            return fresh
        if self._force_gate is None or not self._force_gate.try_acquire(self._app_id):
            raise UpstreamUnavailable("WeChat refuses its own current access token and a forced refresh is not "
                                      "allowed yet (at most one per 30 s across all functions, a few a day); "
                                      "try again shortly", code="wechat_token_refresh_limited")
        with _token_lock:
            return self._fetch_token(force_refresh=True)

    def get_unlimited_qr(self, *, scene: str, page: str, width: int = 430, env_version: str = "release",
                         check_path: bool = True) -> bytes:
        """The mini-program code (``/wxa/getwxacodeunlimit``) for ``scene`` opening ``page``: the
        image bytes as WeChat sends them (PNG; the local sandbox sends PNG too, WeChat may send
        JPEG). Raises ``TooManyRequests`` on 45009, ``WeChatApiError`` for any other errcode
        (41030: the page does not exist in that ``env_version``), ``ValueError`` on bad arguments."""
        validate_qr_request(scene=scene, page=page, width=width, env_version=env_version)
        body: dict[str, object] = {"scene": scene, "page": page, "width": width, "env_version": env_version,
                                   "check_path": check_path}
        token = self.access_token()
        for attempt in (0, 1):
            if attempt == 1:
                token = self._replacement_token(token)
            query = urllib.parse.urlencode({"access_token": token})
            data, content_type = self._post_json(f"/wxa/getwxacodeunlimit?{query}", body, what="QR service")
            if image_content_type(data) is not None and len(data) <= QR_MAX_BYTES:
                return data
            errcode, errmsg = _errcode_of(data, content_type)
            if errcode in _INVALID_TOKEN_ERRCODES and attempt == 0:
                continue  # the cached token was revoked (refreshed elsewhere): ask for WeChat's current one, once
            raise _qr_error(errcode, errmsg, page=page, env_version=env_version)
        raise AssertionError("unreachable")  # pragma: no cover


    def send_subscribe_message(self, *, touser: str, template_id: str, data: Mapping[str, str],
                               page: str | None = None, miniprogram_state: str = "formal",
                               lang: str = "zh_CN") -> int | None:
        """Send one subscribe message (``/cgi-bin/message/subscribe/send``) to the openid ``touser``;
        ``data`` maps template keywords to values. Returns WeChat's ``msgid`` when it gives one.
        Raises ``NotSubscribed`` on 43101 (never retry it), ``TooManyRequests`` on 45009,
        ``WeChatApiError`` for any other errcode (40003 openid, 40037 template, 47003 data, 41030
        page), ``UpstreamUnavailable`` when WeChat cannot be reached, ``ValueError`` on bad arguments.
        A revoked access token (40001/42001) is replaced (``_replacement_token``) and the call repeated once."""
        body = subscribe_message_body(touser=touser, template_id=template_id, data=data, page=page,
                                      miniprogram_state=miniprogram_state, lang=lang)
        return self._send_subscribe(body)

    def _send_subscribe(self, body: dict[str, object]) -> int | None:
        token = self.access_token()
        for attempt in (0, 1):
            if attempt == 1:
                token = self._replacement_token(token)
            query = urllib.parse.urlencode({"access_token": token})
            data, content_type = self._post_json(f"/cgi-bin/message/subscribe/send?{query}", body,
                                                   what="subscribe message service")
            try:
                payload = json.loads(data or b"{}")
            except ValueError as exc:
                raise UpstreamUnavailable(f"WeChat subscribe message service answered garbage ({content_type})",
                                          code="wechat_bad_answer") from exc
            if not isinstance(payload, dict):
                raise UpstreamUnavailable("WeChat subscribe message service answered garbage", code="wechat_bad_answer")
            errcode, errmsg = int(payload.get("errcode", 0) or 0), str(payload.get("errmsg", ""))
            if errcode == 0:
                msgid = payload.get("msgid")
                return int(msgid) if isinstance(msgid, int) else None
            if errcode in _INVALID_TOKEN_ERRCODES and attempt == 0:
                continue  # the cached token was revoked (refreshed elsewhere): ask for WeChat's current one, once
            if errcode == ERRCODE_NOT_SUBSCRIBED:
                raise NotSubscribed(errmsg)
            if errcode == 45009:
                raise TooManyRequests("WeChat's subscribe message quota is exhausted for now", retry_after_seconds=60,
                                      code="wechat_message_rate_limited")
            raise WeChatApiError(f"WeChat refused the subscribe message (errcode {errcode}: {errmsg})", errcode=errcode,
                                 code="wechat_message_refused")
        raise AssertionError("unreachable")  # pragma: no cover


    def phone_number(self, code: str) -> PhoneNumber:
        """手机号快速验证: the number behind a ``getPhoneNumber`` button's ``code`` (single use, 5 min;
        ``/wxa/business/getuserphonenumber``). Raises ``InvalidInput`` naming ``code`` on 40029,
        ``TooManyRequests`` on 45011, ``UpstreamUnavailable`` when WeChat is busy (-1), unreachable or
        answers garbage, ``WeChatApiError`` for any other errcode; a revoked token is replaced once."""
        token = self.access_token()
        for attempt in (0, 1):
            if attempt == 1:
                token = self._replacement_token(token)
            query = urllib.parse.urlencode({"access_token": token})
            data, _ = self._post_json(f"/wxa/business/getuserphonenumber?{query}", {"code": code},
                                      what="phone number service")
            try:
                payload = json.loads(data or b"{}")
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                raise UpstreamUnavailable("WeChat phone number service answered garbage", code="wechat_bad_answer")
            errcode, errmsg = int(payload.get("errcode", 0) or 0), str(payload.get("errmsg", ""))
            info = payload.get("phone_info")
            if errcode == 0 and isinstance(info, dict) and info.get("purePhoneNumber"):
                return PhoneNumber(pure=str(info["purePhoneNumber"]), country_code=str(info.get("countryCode") or "86"))
            if errcode in _INVALID_TOKEN_ERRCODES and attempt == 0:
                continue  # the cached token was revoked (refreshed elsewhere): ask for WeChat's current one, once
            raise _phone_error(errcode, errmsg)
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class PhoneNumber:
    """``phone_info`` of getuserphonenumber: the number without and the country code apart."""

    pure: str
    country_code: str


def _phone_error(errcode: int, errmsg: str) -> Exception:
    if errcode == 40029:
        return InvalidInput("the phone number code is invalid, expired or already used; tap the button again",
                            code="invalid_phone_code",
                            fields=[FieldProblem("code", "invalid, expired or already used")])
    if errcode == 45011:
        return TooManyRequests("WeChat's phone number quota is exhausted for now; try again in a minute",
                               retry_after_seconds=60, code="wechat_phone_rate_limited")
    if errcode in {-1, 0}:  # 0 without a number: an answer we cannot use either
        return UpstreamUnavailable("WeChat's phone number service is busy; try again", code="wechat_unavailable")
    return WeChatApiError(f"WeChat refused the phone number code (errcode {errcode}: {errmsg})", errcode=errcode,
                          code="wechat_phone_refused")


def _errcode_of(data: bytes, content_type: str) -> tuple[int, str]:
    try:
        payload = json.loads(data)
    except ValueError:
        return -2, f"not an image nor JSON ({content_type or 'no content type'}, {len(data)} bytes)"
    if not isinstance(payload, dict):
        return -2, "unexpected JSON"
    return int(payload.get("errcode", -2) or -2), str(payload.get("errmsg", ""))


def _qr_error(errcode: int, errmsg: str, *, page: str, env_version: str) -> Exception:
    if errcode == 45009:
        return TooManyRequests("WeChat's QR code quota is exhausted for now; try again in a minute",
                               retry_after_seconds=60, code="wechat_qr_rate_limited")
    if errcode == 41030:
        return WeChatApiError(f"WeChat says page {page!r} does not exist in the {env_version} version of the "
                              "mini-program (errcode 41030); check SHARE_PAGE / QR_ENV_VERSION", errcode=errcode,
                              code="wechat_qr_page_invalid")
    if errcode == 40129:
        return WeChatApiError("WeChat refused the QR scene (errcode 40129)", errcode=errcode,
                              code="wechat_qr_scene_invalid")
    return WeChatApiError(f"WeChat QR service failed (errcode {errcode}: {errmsg}); try again", errcode=errcode)


# ---------------------------------------------------------------------------------------
# Subscribe messages (订阅消息, subscribeMessage.send)
# ---------------------------------------------------------------------------------------

#: The user has not subscribed to the template (or used up a one-time subscription): not an error
#: to retry, the message can never be delivered.
ERRCODE_NOT_SUBSCRIBED = 43101
MINIPROGRAM_STATES = ("formal", "trial", "developer")
SUBSCRIBE_LANGS = ("zh_CN", "en_US", "zh_HK", "zh_TW")


class NotSubscribed(WeChatApiError):
    """errcode 43101: the recipient refused or never subscribed to this template."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(f"the recipient has not subscribed to the template (errcode 43101: {errmsg})",
                         errcode=ERRCODE_NOT_SUBSCRIBED, code="wechat_not_subscribed")


def subscribe_message_body(*, touser: str, template_id: str, data: Mapping[str, str], page: str | None,
                           miniprogram_state: str, lang: str) -> dict[str, object]:
    """The JSON body of ``subscribeMessage.send`` (``ValueError`` on what WeChat would refuse)."""
    if not touser or not template_id:
        raise ValueError("touser and template_id are required")
    if not data or not all(isinstance(v, str) and v for v in data.values()):
        raise ValueError("data needs at least one keyword, and no empty value")
    if miniprogram_state not in MINIPROGRAM_STATES:
        raise ValueError(f"miniprogram_state must be one of {MINIPROGRAM_STATES}: {miniprogram_state!r}")
    if lang not in SUBSCRIBE_LANGS:
        raise ValueError(f"lang must be one of {SUBSCRIBE_LANGS}: {lang!r}")
    body: dict[str, object] = {"touser": touser, "template_id": template_id,
                               "data": {key: {"value": value} for key, value in data.items()},
                               "miniprogram_state": miniprogram_state, "lang": lang}
    if page:
        body["page"] = page
    return body


def server_client(*, force_gate: ForceRefreshGate | None = None) -> WeChatServerClient:
    """The server-API client of the configured mini-program (mall.config), with the app secret as
    it is now: the secret rotates, so a caller builds one per use or keeps one per process on purpose."""
    from mall.config import get_settings
    from mall.secrets import get_secret

    settings = get_settings()
    return WeChatServerClient(base_url=str(settings.wechat_api_base), app_id=settings.wechat_app_id,
                              app_secret=get_secret("wechat_app_secret"), timeout=settings.http_timeout_seconds,
                              force_gate=force_gate)


def login_client() -> WeChatClient:
    """The login client (``jscode2session``) of the configured mini-program, with the app secret as it is now."""
    from mall.config import get_settings
    from mall.secrets import get_secret

    settings = get_settings()
    return WeChatClient(base_url=str(settings.wechat_api_base), app_id=settings.wechat_app_id,
                        app_secret=get_secret("wechat_app_secret"), timeout=settings.http_timeout_seconds)
