"""The one fetch of an address someone typed: the operator's import of products' old image URLs
(``python -m tools.import_product_images``). Nothing a Lambda runs fetches a URL.

Guarded against server-side request forgery (docs/security.md, "product images"):
- only ``http``/``https``, no user-info (``user:pass@``);
- the name is resolved **once** (``getaddrinfo``: the system's own reading of every spelling —
  decimal ``2130706433``, octal ``0177.0.0.1``, short ``127.1``, hex ``0x7f000001``, ``0``, names
  in /etc/hosts, IPv6 literals) and **every** address it gives must be global: loopback, private,
  link-local (cloud metadata 169.254.169.254), shared (100.64/10), reserved, multicast and
  unspecified addresses are refused, and so is an IPv6 address embedding one (IPv4-mapped
  ``::ffff:127.0.0.1``, 6to4, Teredo);
- the connection goes to the address that was checked (no second lookup a DNS rebinding could
  answer differently); TLS still verifies the certificate for the name;
- no redirect is followed (a 3xx is refused), only a 200 is read;
- one total deadline covers connecting, TLS, sending and every read, so a server that trickles a
  byte a second is cut off at the deadline; at most ``max_bytes`` are read."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_DEADLINE_SECONDS = 10.0


class FetchRefused(Exception):
    """The URL was not fetched, or its answer not accepted; ``reason`` says why (for the report)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public_address(address: IPAddress) -> bool:
    """A global unicast address, with no non-global IPv4 address embedded in it."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if any(inner is not None and not is_public_address(inner) for inner in embedded):
            return False
    return bool(address.is_global and not (address.is_multicast or address.is_reserved or address.is_loopback
                                           or address.is_link_local or address.is_unspecified))


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` stands for, as the system reads it (numbers in any spelling, /etc/hosts, DNS)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass
class GuardedFetcher:
    """``fetch(url) -> bytes`` under the guards above. ``allow`` decides which resolved addresses
    may be connected to: production always uses ``is_public_address``; only a test passes
    another (to reach its own server on 127.0.0.1 in the one test that must succeed)."""

    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_bytes: int = 5_000_000
    allow: Callable[[IPAddress], bool] = is_public_address
    connect: Callable[[tuple[str, int], float], socket.socket] = field(
        default=lambda address, timeout: socket.create_connection(address, timeout=timeout))
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def fetch(self, url: str) -> bytes:
        try:
            return self._fetch(url, time.monotonic() + self.deadline_seconds)
        except TimeoutError as exc:
            raise FetchRefused(f"no complete answer within {self.deadline_seconds:g} s") from exc

    def _fetch(self, url: str, deadline: float) -> bytes:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise FetchRefused(f"scheme {parts.scheme!r} is not http(s)")
        if parts.username is not None or parts.password is not None:
            raise FetchRefused("credentials in the URL")
        host = parts.hostname
        if not host:
            raise FetchRefused("no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(f"bad port: {exc}") from exc
        addresses = resolve(host, port)
        refused = [str(a) for a in addresses if not self.allow(a)]
        if not addresses or refused:
            raise FetchRefused(f"{host} resolves to a non-global address ({', '.join(refused) or 'none'})")
        target = addresses[0]
        remaining = _remaining(deadline)
        try:
            sock = self.connect((str(target), port), remaining)
        except OSError as exc:
            raise FetchRefused(f"cannot connect to {target}: {exc}") from exc
        try:
            if parts.scheme == "https":
                sock.settimeout(_remaining(deadline))
                sock = self.tls.wrap_socket(sock, server_hostname=host)
            path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
            request = (f"GET {path} HTTP/1.0\r\nHost: {parts.netloc.rsplit('@', 1)[-1]}\r\n"
                       "User-Agent: mall-image-import/1\r\nAccept: image/jpeg, image/png, image/webp\r\n"
                       "Connection: close\r\n\r\n").encode("ascii", "strict")
            sock.settimeout(_remaining(deadline))
            sock.sendall(request)
            raw = self._read(sock, deadline)
        except (OSError, UnicodeError) as exc:
            if isinstance(exc, TimeoutError | socket.timeout):
                raise FetchRefused(f"no complete answer within {self.deadline_seconds:g} s") from exc
            raise FetchRefused(f"transfer failed: {exc}") from exc
        finally:
            sock.close()
        return self._body(raw)

    def _read(self, sock: socket.socket, deadline: float) -> bytes:
        limit = self.max_bytes + 16 * 1024  # the body plus room for the headers
        buffer = bytearray()
        while True:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(buffer)
            buffer += chunk
            if len(buffer) > limit:
                raise FetchRefused(f"larger than {self.max_bytes} bytes")

    def _body(self, raw: bytes) -> bytes:
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:
            raise FetchRefused("not an HTTP answer")
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise FetchRefused(f"not an HTTP answer: {status_line[:60]!r}")
        status = int(fields[1])
        if 300 <= status < 400:
            raise FetchRefused(f"redirect ({status}) not followed")
        if status != 200:
            raise FetchRefused(f"HTTP {status}")
        if len(body) > self.max_bytes:
            raise FetchRefused(f"larger than {self.max_bytes} bytes")
        return body


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left
