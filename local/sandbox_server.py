"""Serves ``local.sandbox.handle`` (the local stand-in for WeChat's servers) over HTTP.

``local.sandbox.handle(method, path, query, headers, body)`` returns ``(status, headers, body)``;
``path`` has no query string, ``query`` is ``parse_qs(..., keep_blank_values=True)``, ``headers``
has lower-case names (repeated headers comma-joined), ``body`` is the raw request bytes.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from local import sandbox
from local.http_server import AnyMethodHandler, LocalHttpServer

log = logging.getLogger("local.sandbox")

SandboxHandler = Callable[[str, str, dict[str, list[str]], dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class SandboxServer(LocalHttpServer):
    def __init__(self, port: int = 0, handler: SandboxHandler = sandbox.handle) -> None:
        self.handler = handler
        super().__init__(port, self._handler_class(), name="sandbox")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(AnyMethodHandler):
            server_version = "local-sandbox"

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
                    status, out_headers, out_body = server.handler(self.command, path, query, headers, body)
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
