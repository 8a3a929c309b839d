"""The one way the local stack serves HTTP on 127.0.0.1: a threading server in a daemon thread, and
a request handler that sends every method to ``_dispatch`` (the local API and the WeChat sandbox
answer any verb themselves, as their real counterparts do)."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away; nothing to report
        super().handle_error(request, client_address)


class AnyMethodHandler(BaseHTTPRequestHandler):
    """HTTP/1.1; every ``do_<METHOD>`` is ``_dispatch``."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        raise NotImplementedError


class LocalHttpServer:
    """``handler_class`` served on ``port`` (0 picks a free one) from ``start()`` to ``stop()``."""

    def __init__(self, port: int, handler_class: type[BaseHTTPRequestHandler], *, name: str) -> None:
        self._server = _Server((LOOPBACK, port), handler_class)
        self.port = int(self._server.server_address[1])
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
