"""Serves ``local.sandbox.handle`` (the local stand-in for WeChat's servers) over HTTP.

``local/sandbox.py`` exposes ``handle(method, path, query, headers, body)`` returning
``(status, headers, body)``; ``path`` has no query string, ``query`` is
``parse_qs(..., keep_blank_values=True)``, ``headers`` has lower-case names (repeated
headers comma-joined), ``body`` is the raw request bytes. Until that module exists every
request gets a 404, so the stack still starts.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("local.sandbox")

LOOPBACK = "127.0.0.1"
SandboxHandler = Callable[[str, str, dict[str, list[str]], dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def _stub(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    message = {"message": "no local sandbox (local/sandbox.py) yet", "method": method, "path": path}
    return 404, {"Content-Type": "application/json"}, json.dumps(message).encode()


def load_handler() -> SandboxHandler:
    """``local.sandbox.handle`` if the module exists, else a stub answering 404."""
    try:
        module = importlib.import_module("local.sandbox")
    except ModuleNotFoundError as exc:
        if exc.name != "local.sandbox":
            raise
        log.warning("local/sandbox.py not found: the WeChat sandbox answers 404 to everything")
        return _stub
    handle = getattr(module, "handle", None)
    if not callable(handle):
        log.warning("local/sandbox.py has no handle(); the WeChat sandbox answers 404 to everything")
        return _stub
    return handle  # type: ignore[no-any-return]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)


class SandboxServer:
    def __init__(self, port: int = 0, handler: SandboxHandler | None = None) -> None:
        self._handler: SandboxHandler | None = handler
        self._lock = threading.Lock()
        self._server = _Server((LOOPBACK, port), self._handler_class())
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def handler(self) -> SandboxHandler:
        with self._lock:
            if self._handler is None:
                self._handler = load_handler()
            return self._handler

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "local-sandbox"
            sys_version = ""

            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path, _, raw_query = self.path.partition("?")
                query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    key = name.lower()
                    headers[key] = f"{headers[key]},{value}" if key in headers else value
                try:
                    status, out_headers, out_body = sandbox.handler()(self.command, path, query, headers, body)
                except Exception:
                    log.exception("sandbox failed on %s %s", self.command, self.path)
                    status, out_headers, out_body = (
                        500,
                        {"Content-Type": "application/json"},
                        b'{"message":"sandbox error"}',
                    )
                self.send_response_only(status)
                self.send_header("Date", self.date_time_string())
                for name, value in out_headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(out_body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out_body)
                log.info('sandbox "%s %s" %d', self.command, self.path, status)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        return Handler
