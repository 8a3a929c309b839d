"""API Gateway HTTP API, locally: every ``HttpApi`` route of the template, no per-route code.

Routing follows API Gateway's precedence: a path without variables beats one with
``{param}`` variables, which beats a greedy ``{proxy+}`` one (more literal segments
first, the longest literal prefix for greedy ones); for the same path an exact method
beats ``ANY``; ``$default`` takes whatever is left (a known path with another method
included, so the function decides between 404 and 405). Without ``$default`` an
unmatched request gets ``404 {"message":"Not Found"}``.

The function receives the payload format 2.0 event: header names in lower case with
repeated headers comma-joined, cookies in ``cookies`` (not in ``headers``), repeated
query keys comma-joined, path parameters decoded, ``sourceIp`` the client socket's IP.
The body is the exact bytes received: text (a textual content type and valid UTF-8)
as is, anything else base64-encoded with ``isBase64Encoded: true``. Header values
reach the function exactly as sent (bytes that are not UTF-8 keep their Latin-1 reading).

The function's result is mapped back as API Gateway does: a dict with ``statusCode``
(``headers``, ``multiValueHeaders``, ``cookies`` as ``Set-Cookie`` headers, ``body``,
``isBase64Encoded``); anything else is inferred (200, ``application/json``, a string
as is, other values as JSON). A failing function, or a malformed response, gives
``500 {"message":"Internal Server Error"}`` (the traceback is on the console). Every
response carries ``apigw-requestid``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from local.http_server import LOOPBACK, AnyMethodHandler, LocalHttpServer
from local.lambda_runtime import Invocation
from local.template_model import ACCOUNT_ID, HttpRoute

if TYPE_CHECKING:
    from local.static_site import StaticSite

log = logging.getLogger("local.api")

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript|x-javascript|ecmascript|graphql|x-ndjson)"
    r"|image/svg\+xml)$"
)
_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)\}$")
_GREEDY = re.compile(r"^\{([A-Za-z0-9_.-]+)\+\}$")


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    kind: int  # 0: no variables, 1: {param} variables, 2: greedy
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    route: HttpRoute
    path_parameters: dict[str, str]


class Router:
    """Picks the route for a request the way API Gateway HTTP APIs do."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self.routes: list[_Compiled] = []
        self.default: HttpRoute | None = None
        seen: set[str] = set()
        for route in routes:
            if route.route_key in seen:
                raise ValueError(f"duplicate route {route.route_key} ({route.function_id}.{route.event_name})")
            seen.add(route.route_key)
            if route.payload_format != "2.0":
                log.warning(
                    "%s (%s) asks for payload format %s; the local API only speaks 2.0",
                    route.route_key,
                    route.function_id,
                    route.payload_format,
                )
            if route.path == "$default":
                self.default = route
                continue
            segments = tuple(route.path.strip("/").split("/")) if route.path.strip("/") else ()
            if any(_GREEDY.match(s) for s in segments[:-1]):
                raise ValueError(f"{route.route_key}: a greedy variable must be the last segment")
            if segments and _GREEDY.match(segments[-1]):
                kind = 2
            elif any(_PARAM.match(s) for s in segments):
                kind = 1
            else:
                kind = 0
            self.routes.append(_Compiled(route, kind, segments))

    def match(self, method: str, raw_path: str) -> Match | None:
        parts = raw_path.strip("/").split("/") if raw_path.strip("/") else []
        decoded = [urllib.parse.unquote(p) for p in parts]
        best: tuple[tuple[Any, ...], Match] | None = None
        for compiled in self.routes:
            route = compiled.route
            if route.method not in (method, "ANY"):
                continue
            params = _match_segments(compiled, decoded)
            if params is None:
                continue
            literal_shape = tuple(0 if not s.startswith("{") else 1 for s in compiled.segments)
            if compiled.kind == 2:
                literal_prefix = sum(1 for s in compiled.segments if not s.startswith("{"))
                specificity: tuple[Any, ...] = (-literal_prefix, literal_shape)
            else:
                specificity = (0, literal_shape)
            rank = (compiled.kind, specificity, 0 if route.method == method else 1)
            if best is None or rank < best[0]:
                best = (rank, Match(route, params))
        if best is not None:
            return best[1]
        if self.default is not None:
            return Match(self.default, {})
        return None


def _match_segments(compiled: _Compiled, parts: list[str]) -> dict[str, str] | None:
    segments = compiled.segments
    params: dict[str, str] = {}
    if compiled.kind == 2:
        fixed = segments[:-1]
        if len(parts) <= len(fixed):
            return None
        tail = "/".join(parts[len(fixed) :])
        if not tail:
            return None
        greedy = _GREEDY.match(segments[-1])
        params[greedy.group(1) if greedy else "proxy"] = tail
    else:
        fixed = segments
        if len(parts) != len(fixed):
            return None
    for pattern, value in zip(fixed, parts, strict=False):
        variable = _PARAM.match(pattern)
        if variable:
            if not value:
                return None
            params[variable.group(1)] = value
        elif pattern != value:
            return None
    return params


# ---------------------------------------------------------------------------------------
# The event
# ---------------------------------------------------------------------------------------


def request_id() -> str:
    """An ID shaped like API Gateway's (``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def _header_text(value: str) -> str:
    """http.server reads header bytes as Latin-1; give UTF-8 values back their text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def is_text(content_type: str | None, body: bytes) -> bool:
    """Whether API Gateway passes ``body`` as text (else base64)."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media and not _TEXT_TYPES.match(media):
            return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    match: Match,
    api_id: str,
    request_id: str,
    now: datetime | None = None,
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """API Gateway HTTP API payload format 2.0."""
    now = now or datetime.now(UTC)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        text = _header_text(value)
        if key == "cookie":
            cookies.extend(c.strip() for c in text.split(";") if c.strip())
            continue
        merged[key] = f"{merged[key]},{text}" if key in merged else text
    forwarded = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    host = merged.get("host", LOOPBACK)
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-forwarded-port", host.rpartition(":")[2] if ":" in host else "80")
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    domain = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    query: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if body:
        if is_text(merged.get("content-type"), body):
            event["body"] = body.decode("utf-8")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


# ---------------------------------------------------------------------------------------
# The response
# ---------------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_error(status: int, message: str) -> HttpResponse:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


NOT_FOUND = _json_error(404, "Not Found")


def internal_error() -> HttpResponse:
    return _json_error(500, "Internal Server Error")


def map_result(result: Any) -> HttpResponse:
    """Turn a function's result into the HTTP response, as API Gateway (format 2.0) does."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("Content-Type", "application/json")], body.encode("utf-8"))
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_value(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    return HttpResponse(status, headers, _response_body(result.get("body"), bool(result.get("isBase64Encoded"))))


def _response_body(raw: Any, base64_encoded: bool) -> bytes:
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise ValueError(f"body must be a string, got {type(raw).__name__}")
    if not base64_encoded:
        return raw.encode("utf-8")
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"isBase64Encoded but the body is not base64: {exc}") from exc


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------

Invoker = Callable[[str, Any, str], Invocation]


class ApiGateway(LocalHttpServer):
    """The local HTTP API on 127.0.0.1 (``port`` 0 picks a free one)."""

    def __init__(self, routes: Iterable[HttpRoute], invoke: Invoker, *, port: int = 0, api_id: str = "local",
                 sites: Iterable[StaticSite] = ()) -> None:
        self.router = Router(routes)
        self.sites = list(sites)
        self.invoke = invoke
        self.api_id = api_id
        self.requests = 0
        super().__init__(port, self._handler_class(), name="apigw")

    def handle(
        self,
        method: str,
        target: str,
        *,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        protocol: str = "HTTP/1.1",
    ) -> HttpResponse:
        self.requests += 1
        rid = request_id()
        raw_path, _, raw_query = target.partition("?")
        if "://" in raw_path:  # absolute-form request target
            raw_path = urllib.parse.urlsplit(raw_path).path or "/"
        site = next((s for s in self.sites if s.handles(raw_path)), None)
        match = None if site is not None else self.router.match(method, raw_path)
        if site is not None:
            response = site.serve(method, raw_path)
        elif match is None:
            response = NOT_FOUND
        else:
            event = build_event(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=body,
                source_ip=source_ip,
                match=match,
                api_id=self.api_id,
                request_id=rid,
                protocol=protocol,
            )
            outcome = self.invoke(match.route.function_id, event, rid)
            if outcome.error is not None:
                response = internal_error()
            else:
                try:
                    response = map_result(outcome.result)
                except ValueError as exc:
                    log.error("%s returned a malformed response: %s", match.route.function_id, exc)
                    response = internal_error()
        response.headers.append(("apigw-requestid", rid))
        return response

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(AnyMethodHandler):
            server_version = "local-apigw"

            def _read_body(self) -> bytes | None:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    total = 0
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        total += size
                        if total > MAX_BODY:
                            return None
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return None
                return self.rfile.read(length) if length else b""

            def _dispatch(self) -> None:
                started = time.perf_counter()
                body = self._read_body()
                if body is None:
                    response = _json_error(413, "Request Entity Too Large")
                    self.close_connection = True
                else:
                    try:
                        response = gateway.handle(
                            self.command,
                            self.path,
                            headers=list(self.headers.items()),
                            body=body,
                            source_ip=self.client_address[0],
                            protocol=self.request_version,
                        )
                    except Exception:
                        log.exception("local API failed on %s %s", self.command, self.path)
                        response = internal_error()
                self._write(response)
                log.info(
                    '%s "%s %s" %d %.0fms',
                    self.client_address[0],
                    self.command,
                    self.path,
                    response.status,
                    (time.perf_counter() - started) * 1000,
                )

            def _write(self, response: HttpResponse) -> None:
                self.send_response_only(response.status)
                self.send_header("Date", self.date_time_string())
                for name, value in response.headers:
                    if name.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                        continue
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD" and response.body:
                    self.wfile.write(response.body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.client_address[0], *args)

        return Handler
