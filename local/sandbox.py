"""The local stand-in for WeChat's servers, served by the local stack on SANDBOX_PORT.

``/wechat/...`` plays the mini-program server APIs; ``/wechatpay/...`` plays WeChat Pay v3
(the ``local.wechatpay_sandbox`` package); ``/kuaidi100/...`` plays the logistics provider
(``local.logistics_sandbox``). Login codes the sandbox accepts (documented in README.md):

- ``invalid``, or any code starting ``invalid-``  → errcode 40029 (invalid code)
- ``ratelimited``                                 → errcode 45011 (rate limited)
- ``risky``                                       → errcode 40226 (high-risk user)
- ``busy``                                        → errcode -1 (system busy)
- any other code of 1-64 letters, digits, ``-`` or ``_`` → success. The openid is derived
  from the code, so the same code always logs in the same customer (real codes are
  single-use; the sandbox allows reuse so demos and tests can log in again). A code that
  starts with ``union-`` also gets a unionid.

Access token and the promoter QR (``/wechat/cgi-bin/stable_token``, ``/wechat/wxa/getwxacodeunlimit``):

- ``stable_token`` needs ``grant_type=client_credential``, ``appid`` and ``secret`` (else 40002 /
  41002) and returns the current token of that app; ``force_refresh: true`` issues a new one and
  revokes the old (so a client's retry after 40001 is testable). ``forced_refreshes`` counts the
  forced refreshes per appid (WeChat allows a few a day, at least 30 s apart: tests prove a client
  does not spend them on an ordinary retry); an appid in ``broken_current_token`` has its current
  token refused (40001) though ``stable_token`` keeps returning it, until a forced refresh.
- ``getwxacodeunlimit`` with an unknown or revoked token → 40001. Otherwise it answers a standard
  QR PNG (about ``width`` px square) encoding ``sandbox_qr_link(page, scene)``, i.e.
  ``<page>?scene=<scene>`` — what the mini-program page receives. Errors on purpose:
  a page starting with ``/``, containing ``?``, or starting with ``pages/missing`` → 41030;
  scene ``ratelimited`` → 45009; scene ``busy`` → -1; a scene WeChat would refuse → 40129;
  width outside 280-1280 → 40097. ``GET /wechat/sandbox/qr-calls?scene=X`` counts the QR
  images drawn for a scene (tests use it to prove a cache hit made no call).

Subscribe messages (``POST /wechat/cgi-bin/message/subscribe/send?access_token=``):

- unknown or revoked token → 40001; no ``touser`` → 40003; no ``template_id`` → 40037; ``data``
  missing, empty or with a value that is not ``{"value": <non-empty string>}``, or a bad
  ``miniprogram_state`` → 47003; a ``page`` starting with ``/`` or ``pages/missing`` → 41030.
- every openid has subscribed to every template, except those a test declared otherwise with
  ``POST /wechat/sandbox/subscriptions`` ``{"openid": ..., "template_id": ... (optional: all),
  "subscribed": false}`` (``true`` undoes it) → 43101.
- ``GET /wechat/sandbox/subscribe-messages?touser=<openid>`` lists what was accepted for that
  openid (each ``{"msgid", "touser", "template_id", "page", "data", "miniprogram_state", "lang"}``),
  and ``refused`` the calls answered 43101 (tests use it to prove who got what, exactly once).

Receipt (``POST /wechat/wxa/sec/order/notify_confirm_receive``) and the message pushes WeChat sends
to the local webhook: ``local.wechat_messages`` (its documented errors are listed there).

Phone numbers (``POST /wechat/wxa/business/getuserphonenumber?access_token=``, body ``{"code"}``):

- unknown or revoked token → 40001; ``invalid``, ``invalid-…``, a malformed or an already used code
  (codes are single-use, as WeChat's) → 40029; ``ratelimited`` → 45011; ``busy`` → -1.
- otherwise ``phone_info`` with ``purePhoneNumber`` = ``sandbox_phone(code)`` (``phone-<11 digits>``
  names the number), ``countryCode`` ``86``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from local import shipping_sandbox

Reply = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, list[str]], bytes], Reply]

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ERRORS = {"invalid": 40029, "ratelimited": 45011, "risky": 40226, "busy": -1}
_pay_sandbox: Any = None


def sandbox_openid(code: str) -> str:
    """The openid the sandbox gives for ``code`` (tests use it to predict identities)."""
    return "osbx" + hashlib.sha256(f"openid:{code}".encode()).hexdigest()[:24]


def _json(status: int, payload: dict[str, Any]) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _jscode2session(query: dict[str, list[str]]) -> Reply:
    code = (query.get("js_code") or [""])[0]
    if not (query.get("appid") or [""])[0] or not (query.get("secret") or [""])[0]:
        return _json(200, {"errcode": 41002, "errmsg": "appid or secret missing"})
    if (query.get("grant_type") or [""])[0] != "authorization_code":
        return _json(200, {"errcode": 40002, "errmsg": "invalid grant_type"})
    errcode = _ERRORS.get(code) or (40029 if code.startswith("invalid-") or not _CODE.match(code) else 0)
    if errcode:
        return _json(200, {"errcode": errcode, "errmsg": "sandbox error"})
    payload = {"openid": sandbox_openid(code),
               "session_key": hashlib.sha256(f"session:{code}".encode()).hexdigest()[:24]}
    if code.startswith("union-"):
        payload["unionid"] = "usbx" + hashlib.sha256(f"unionid:{code}".encode()).hexdigest()[:24]
    return _json(200, payload)


# -- access token and QR codes ------------------------------------------------------------

_QR_SCENE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@._~-]{1,32}$")
_QR_ERRORS = {"ratelimited": 45009, "busy": -1}
_token_lock = threading.Lock()
_token_generation: dict[str, int] = {}
forced_refreshes: Counter[str] = Counter()
broken_current_token: set[str] = set()
qr_calls: Counter[str] = Counter()


def sandbox_qr_link(page: str, scene: str) -> str:
    """What the sandbox's QR encodes: the page and the scene the mini-program would receive."""
    return f"{page}?scene={scene}"


def _token_for(appid: str, generation: int) -> str:
    return f"sbxtok-{hashlib.sha256(f'{appid}:{generation}'.encode()).hexdigest()[:32]}"


def _stable_token(body: bytes) -> Reply:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return _json(200, {"errcode": 47001, "errmsg": "data format error"})
    if request.get("grant_type") != "client_credential":
        return _json(200, {"errcode": 40002, "errmsg": "invalid grant_type"})
    appid, secret = str(request.get("appid") or ""), str(request.get("secret") or "")
    if not appid or not secret:
        return _json(200, {"errcode": 41002, "errmsg": "appid or secret missing"})
    with _token_lock:
        generation = _token_generation.setdefault(appid, 1)
        if request.get("force_refresh"):
            generation = _token_generation[appid] = generation + 1
            forced_refreshes[appid] += 1
            broken_current_token.discard(appid)
    return _json(200, {"access_token": _token_for(appid, generation), "expires_in": 7200})


def _token_valid(token: str) -> bool:
    with _token_lock:
        return any(_token_for(appid, generation) == token for appid, generation in _token_generation.items()
                   if appid not in broken_current_token)


def _qr_png(text: str, width: int) -> bytes:
    import io

    import qrcode  # type: ignore[import-untyped]
    from PIL import Image

    probe = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    probe.add_data(text)
    probe.make(fit=True)
    box_size = max(1, width // (probe.modules_count + 8))
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=box_size)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image().get_image().convert("L")
    image = image.resize((width, width), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _qr_refusal(scene: str, page: str, width: int) -> int | None:
    if scene in _QR_ERRORS:
        return _QR_ERRORS[scene]
    if not _QR_SCENE.match(scene):
        return 40129
    if page.startswith(("/", "pages/missing")) or "?" in page:
        return 41030
    if not 280 <= width <= 1280:
        return 40097
    return None


def _wechat_body(query: dict[str, list[str]], body: bytes) -> dict[str, Any] | Reply:
    """The JSON object of an ``access_token`` API call, or WeChat's refusal (bad token, bad JSON)."""
    if not _token_valid((query.get("access_token") or [""])[0]):
        return _json(200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        return _json(200, {"errcode": 47001, "errmsg": "data format error"})
    return request


def _getwxacodeunlimit(query: dict[str, list[str]], body: bytes) -> Reply:
    request = _wechat_body(query, body)
    if not isinstance(request, dict):
        return request
    scene, page = str(request.get("scene") or ""), str(request.get("page") or "pages/index/index")
    width = int(request.get("width") or 430)
    errcode = _qr_refusal(scene, page, width)
    if errcode is not None:
        return _json(200, {"errcode": errcode, "errmsg": "sandbox error"})
    with _token_lock:
        qr_calls[scene] += 1
    return 200, {"Content-Type": "image/png"}, _qr_png(sandbox_qr_link(page, scene), width)


# -- subscribe messages ---------------------------------------------------------------------

_MINIPROGRAM_STATES = ("formal", "trial", "developer")
_unsubscribed: set[tuple[str, str]] = set()  # (openid, template_id or "*")
subscribe_messages: list[dict[str, Any]] = []
refused_messages: list[dict[str, Any]] = []


def _subscribe_refusal(request: dict[str, Any]) -> int | None:
    data = request.get("data")
    if not str(request.get("touser") or ""):
        return 40003
    if not str(request.get("template_id") or ""):
        return 40037
    if (not isinstance(data, dict) or not data
            or not all(isinstance(v, dict) and isinstance(v.get("value"), str) and v["value"] for v in data.values())):
        return 47003
    if request.get("miniprogram_state", "formal") not in _MINIPROGRAM_STATES:
        return 47003
    if str(request.get("page") or "").startswith(("/", "pages/missing")):
        return 41030
    return None


def _subscribe_send(query: dict[str, list[str]], body: bytes) -> Reply:
    request = _wechat_body(query, body)
    if not isinstance(request, dict):
        return request
    errcode = _subscribe_refusal(request)
    if errcode is not None:
        return _json(200, {"errcode": errcode, "errmsg": "argument invalid! (sandbox)"})
    touser, template_id = str(request["touser"]), str(request["template_id"])
    message = {"touser": touser, "template_id": template_id, "page": request.get("page"),
               "data": request["data"], "miniprogram_state": request.get("miniprogram_state", "formal"),
               "lang": request.get("lang", "zh_CN")}
    with _token_lock:
        if (touser, "*") in _unsubscribed or (touser, template_id) in _unsubscribed:
            refused_messages.append(message)
            return _json(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg (sandbox)"})
        message["msgid"] = len(subscribe_messages) + 1
        subscribe_messages.append(message)
        return _json(200, {"errcode": 0, "errmsg": "ok", "msgid": message["msgid"]})


def _set_subscription(body: bytes) -> Reply:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return _json(400, {"errcode": 47001, "errmsg": "data format error"})
    openid = str(request.get("openid") or "") if isinstance(request, dict) else ""
    if not openid:
        return _json(400, {"errcode": 40003, "errmsg": "openid is required"})
    key = (openid, str(request.get("template_id") or "*"))
    with _token_lock:
        if request.get("subscribed", False):
            _unsubscribed.discard(key)
        else:
            _unsubscribed.add(key)
    return _json(200, {"openid": openid, "template_id": key[1], "subscribed": bool(request.get("subscribed"))})


def _list_subscribe_messages(query: dict[str, list[str]]) -> Reply:
    touser = (query.get("touser") or [""])[0]
    with _token_lock:
        sent = [m for m in subscribe_messages if not touser or m["touser"] == touser]
        refused = [m for m in refused_messages if not touser or m["touser"] == touser]
    return _json(200, {"touser": touser, "messages": sent, "refused": refused})


# -- phone number (手机号快速验证, getuserphonenumber) -------------------------------------------

_used_phone_codes: set[str] = set()


def sandbox_phone(code: str) -> str:
    """The mainland number the sandbox gives for ``code``: ``phone-<11 digits>`` names it, any other
    code gets one derived from it (tests use it to predict what is stored)."""
    if code.startswith("phone-") and code[6:].isdigit() and len(code) == 17:
        return code[6:]
    return "139" + str(int(hashlib.sha256(f"phone:{code}".encode()).hexdigest(), 16))[:8]


def _getuserphonenumber(query: dict[str, list[str]], body: bytes) -> Reply:
    request = _wechat_body(query, body)
    if not isinstance(request, dict):
        return request
    code = str(request.get("code") or "")
    errcode = _ERRORS.get(code) or (40029 if code.startswith("invalid-") or not _CODE.match(code) else 0)
    with _token_lock:
        if not errcode and code in _used_phone_codes:
            errcode = 40029  # single use, as WeChat's
        if not errcode:
            _used_phone_codes.add(code)
    if errcode:
        return _json(200, {"errcode": errcode, "errmsg": "invalid code (sandbox)" if errcode == 40029 else "sandbox"})
    phone = sandbox_phone(code)
    return _json(200, {"errcode": 0, "errmsg": "ok", "phone_info": {
        "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
        "watermark": {"timestamp": 1795334400, "appid": "sandbox"}}})


# -- receipt (确认收货提醒): local/wechat_messages.py ----------------------------------------------

def _notify_confirm_receive(query: dict[str, list[str]], body: bytes) -> Reply:
    from local import wechat_messages

    request = _wechat_body(query, body)
    return request if not isinstance(request, dict) else wechat_messages.notify_confirm_receive(request)


def _list_confirm_reminders(query: dict[str, list[str]]) -> Reply:
    from local import wechat_messages

    return wechat_messages.list_confirm_reminders(query)


def _pay_sandbox_config() -> tuple[str, str]:
    """(secrets file, appid) of the stack this server belongs to. The server's threads do not see
    the functions' environment, so the local stack publishes both (LOCAL_PAY_*) when it starts."""
    import os

    secrets_file = os.environ.get("LOCAL_PAY_SECRETS_FILE") or os.environ["SECRETS_FILE"]
    appid = os.environ.get("LOCAL_PAY_APPID") or os.environ.get("WECHAT_APP_ID", "wx_local_app")
    return secrets_file, appid


def _make_pay_sandbox(secrets_path: str, appid: str) -> Any:
    """The pay sandbox holds the other half of the local WeChat Pay keys (the secrets file the
    local stack gives the functions); its state sits beside that file so CLI and server agree."""
    from pathlib import Path

    from local.wechatpay_sandbox.local_stack import local_stack_sandbox

    return local_stack_sandbox(Path(secrets_path).parent, appid=appid)


def handle(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes) -> Reply:  # noqa: PLR0911
    if path == "/wechat/sns/jscode2session" and method == "GET":
        return _jscode2session(query)
    if path == "/wechat/cgi-bin/stable_token" and method == "POST":
        return _stable_token(body)
    if path == "/wechat/wxa/getwxacodeunlimit" and method == "POST":
        return _getwxacodeunlimit(query, body)
    if path == "/wechat/sandbox/qr-calls" and method == "GET":
        scene = (query.get("scene") or [""])[0]
        with _token_lock:
            return _json(200, {"scene": scene, "calls": qr_calls[scene]})
    if path.startswith("/wechatpay/"):
        global _pay_sandbox  # noqa: PLW0603 (one sandbox per local stack process)
        config = _pay_sandbox_config()
        if _pay_sandbox is None or _pay_sandbox[0] != config:
            _pay_sandbox = (config, _make_pay_sandbox(*config))
        from urllib.parse import urlencode

        raw_query = urlencode([(k, v) for k, values in query.items() for v in values])  # it is signed
        reply: Reply = _pay_sandbox[1].handle(method, path, raw_query, headers, body)
        return reply
    if (method == "POST" and path in shipping_sandbox.WECHAT_PATHS) or path.startswith("/wechat/sandbox/shipping/"):
        return _shipping(method, path, query, body)
    fallback = _logistics(method, path) if path.startswith("/kuaidi100/") else _no_route(method, path)
    return _ROUTES.get((method, path), fallback)(query, body)


def _logistics(method: str, path: str) -> Route:
    """The logistics provider (Kuaidi100), its state beside the local stack's secrets."""
    from pathlib import Path

    from local.logistics_sandbox import LogisticsSandbox

    sandbox = LogisticsSandbox.beside(Path(_pay_sandbox_config()[0]))
    return lambda query, body: sandbox.handle(method, path, query, body)


def _shipping(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
    if path.startswith("/wechat/sandbox/shipping/"):
        return _shipping_control(method, path, query, body)
    request = _wechat_body(query, body)
    if not isinstance(request, dict):
        return request
    shipping_sandbox.payments = _paid_payments
    return shipping_sandbox.WECHAT_PATHS[path](request)


def _paid_payments() -> list[dict[str, Any]]:
    """The WeChat Pay sandbox's paid orders, as the shipping sandbox knows payments (none before it started)."""
    global _pay_sandbox  # noqa: PLW0603 (one sandbox per local stack process)
    if _pay_sandbox is None:
        try:
            config = _pay_sandbox_config()
            _pay_sandbox = (config, _make_pay_sandbox(*config))
        except (KeyError, OSError):
            return []
    orders = _pay_sandbox[1].snapshot().get("orders", {})
    return [{"transaction_id": o["transaction_id"], "out_trade_no": o["out_trade_no"], "mchid": _pay_sandbox[1].mchid,
             "openid": o.get("openid"), "trade_state": o.get("trade_state")}
            for o in orders.values() if o.get("transaction_id")]


def _shipping_control(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
    """Test and ``make ship-uploads`` controls of the shipping sandbox (dev only)."""
    if method == "GET" and path == "/wechat/sandbox/shipping/uploads":
        return shipping_sandbox.list_uploads((query.get("out_trade_no") or [""])[0] or None)
    request = json.loads(body or b"{}")
    if method == "POST" and path == "/wechat/sandbox/shipping/fail-next":
        return shipping_sandbox.fail_next(request)
    if method == "POST" and path == "/wechat/sandbox/shipping/payments":
        return shipping_sandbox.register_payment(request)
    return _no_route(method, path)(query, body)


def _no_route(method: str, path: str) -> Route:
    return lambda query, body: _json(404, {"errcode": 404, "errmsg": f"sandbox has no {method} {path}"})


_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/wechat/cgi-bin/message/subscribe/send"): _subscribe_send,
    ("POST", "/wechat/wxa/business/getuserphonenumber"): _getuserphonenumber,
    ("POST", "/wechat/sandbox/subscriptions"): lambda query, body: _set_subscription(body),
    ("GET", "/wechat/sandbox/subscribe-messages"): lambda query, body: _list_subscribe_messages(query),
    ("POST", "/wechat/wxa/sec/order/notify_confirm_receive"): _notify_confirm_receive,
    ("GET", "/wechat/sandbox/confirm-reminders"): lambda query, body: _list_confirm_reminders(query),
}
