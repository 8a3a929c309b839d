"""The built merchant console served beside the local API (``/console/``), as CloudFront serves it
in AWS: hashed assets cached for a year, ``index.html`` never cached, and any page path without a
file falling back to ``index.html`` so the console's router can show it."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from local.apigw import HttpResponse

_IMMUTABLE = "public, max-age=31536000, immutable"
_NO_CACHE = "no-cache"


@dataclass(frozen=True)
class StaticSite:
    """Files under ``root`` served at ``prefix`` (e.g. ``/console``)."""

    prefix: str
    root: Path

    def handles(self, raw_path: str) -> bool:
        return raw_path == self.prefix or raw_path.startswith(self.prefix + "/")

    def serve(self, method: str, raw_path: str) -> HttpResponse:
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"Method Not Allowed")
        if raw_path == self.prefix:
            return HttpResponse(301, [("Location", self.prefix + "/")], b"")
        relative = raw_path[len(self.prefix) + 1:]
        index = self.root / "index.html"
        if not index.is_file():
            return HttpResponse(503, [("Content-Type", "text/plain; charset=utf-8")],
                                b"The console is not built: run `make run` (it builds it) or `make console-build`.")
        target = (self.root / relative).resolve() if relative else index
        if not target.is_relative_to(self.root.resolve()):
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        if not target.is_file():
            if Path(relative).suffix and relative != "index.html":
                return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")  # a missing asset
            target = index  # a page of the console's router
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        hashed = target.parent.name == "assets"
        headers = [("Content-Type", content_type), ("Cache-Control", _IMMUTABLE if hashed else _NO_CACHE),
                   ("X-Content-Type-Options", "nosniff")]
        body = b"" if method == "HEAD" else target.read_bytes()
        return HttpResponse(200, headers, body)
