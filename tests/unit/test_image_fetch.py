"""The import's guarded fetch against servers on this machine: every spelling of a non-global
address is refused before any connection, a redirect is not followed, a server trickling bytes
is cut off at the total deadline. Only the one positive test lets the fetcher reach 127.0.0.1,
through the ``allow`` hook; production never passes one."""

from __future__ import annotations

import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from tests.serving import serving
from tools.image_fetch import FetchRefused, GuardedFetcher, IPAddress, is_public_address


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def loopback_only(address: IPAddress) -> bool:
    """The test hook: this test's own server, and nothing else."""
    return address.is_loopback


@contextmanager
def server(respond: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            respond(self)

        def log_message(self, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        yield port, seen


def test_the_positive_path_reads_the_image() -> None:
    body = png()

    def ok(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with server(ok) as (port, seen):
        assert GuardedFetcher(allow=loopback_only).fetch(f"http://127.0.0.1:{port}/p.png?v=1") == body
    assert seen == ["/p.png?v=1"]


SPELLINGS = ["127.0.0.1", "2130706433", "0177.0.0.1", "127.1", "0x7f000001", "0x7f.1", "0", "localhost",
             "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "169.254.169.254",
             "10.0.0.1", "192.168.1.1", "100.64.0.1", "0.0.0.0",  # noqa: S104 - a spelling to refuse
             "[::]", "[fe80::1]", "[fc00::1]",
             "[2002:7f00:1::]"]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_every_spelling_of_a_non_global_address_is_refused_without_connecting(scheme: str) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    connected: list[tuple[str, int]] = []

    def spy(address: tuple[str, int], timeout: float) -> socket.socket:
        connected.append(address)
        return socket.create_connection(address, timeout=timeout)

    fetcher = GuardedFetcher(connect=spy)  # the production rule: no allow hook
    try:
        for host in SPELLINGS:
            with pytest.raises(FetchRefused) as refused:
                fetcher.fetch(f"{scheme}://{host}:{port}/x.png")
            assert "non-global" in refused.value.reason or "cannot resolve" in refused.value.reason, (host, refused)
        assert connected == []
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://127.0.0.1/",
                                 "http://user:pw@example.com/a.png", "http:///a.png"])
def test_other_schemes_credentials_and_empty_hosts_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused):
        GuardedFetcher().fetch(url)


def test_addresses() -> None:
    refused = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",  # noqa: S104
               "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
               "::ffff:10.0.0.1", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "64:ff9b::7f00:1"]
    for text in refused:
        assert not is_public_address(ipaddress.ip_address(text)), text
    for text in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"]:
        assert is_public_address(ipaddress.ip_address(text)), text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(status: int) -> None:
    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        h.send_header("Content-Length", "0")
        h.end_headers()

    with server(redirect) as (port, seen), pytest.raises(FetchRefused) as refused:
        GuardedFetcher(allow=loopback_only).fetch(f"http://127.0.0.1:{port}/moved.png")
    assert "redirect" in refused.value.reason and seen == ["/moved.png"]


def test_a_server_trickling_a_byte_a_second_is_cut_off_at_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\n" + png():
                if stop.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(FetchRefused) as refused:
            GuardedFetcher(allow=loopback_only, deadline_seconds=2.0).fetch(f"http://127.0.0.1:{port}/slow.png")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert "within 2 s" in refused.value.reason
    assert 1.9 <= elapsed < 3.0, elapsed


def test_an_answer_bigger_than_the_cap_is_refused() -> None:
    def big(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        h.wfile.write(b"x" * 200_000)

    with server(big) as (port, _), pytest.raises(FetchRefused) as refused:
        GuardedFetcher(allow=loopback_only, max_bytes=100_000).fetch(f"http://127.0.0.1:{port}/big.png")
    assert "larger than" in refused.value.reason
