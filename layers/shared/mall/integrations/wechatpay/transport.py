"""How the WeChat Pay client reaches the API: one HTTP request and its response, sent with
``urllib`` (the tests and the local stack send them to the pay sandbox instead)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from mall.integrations.wechatpay.errors import WeChatPayRetryableError

__all__ = ["HttpRequest", "HttpResponse", "Transport", "urllib_transport"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: Literal["GET", "POST"]
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


Transport = Callable[[HttpRequest], HttpResponse]
"""Sends one request. Returns any HTTP response (including 4xx/5xx); raises
``WeChatPayRetryableError`` when no response arrived (timeout, connection error)."""

_OPENER = urllib.request.build_opener()


def urllib_transport(request: HttpRequest) -> HttpResponse:
    if not request.url.startswith(("https://", "http://")):
        raise ValueError("only http(s) URLs are allowed")
    req = urllib.request.Request(  # noqa: S310 (scheme checked above)
        request.url, data=request.body if request.method == "POST" else None,
        headers=dict(request.headers), method=request.method,
    )
    try:
        with _OPENER.open(req, timeout=request.timeout) as resp:
            return HttpResponse(status=resp.status, headers=dict(resp.headers.items()), body=resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(status=exc.code, headers=dict(exc.headers.items()), body=exc.read())
    except TimeoutError as exc:
        raise WeChatPayRetryableError(0, "TIMEOUT", "no response from WeChat Pay in time") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise WeChatPayRetryableError(0, "NETWORK_ERROR", f"WeChat Pay unreachable: {type(exc).__name__}") from exc
