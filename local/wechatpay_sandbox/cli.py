"""Drive the local WeChat Pay sandbox from the command line, or serve it stand-alone::

    python -m local.wechatpay_sandbox --secrets .local/secrets.json --state .local/wechatpay.json \\
        [--notify-url http://127.0.0.1:3000/webhooks/wechatpay/pay] COMMAND ...

    COMMAND: show | pay OUT_TRADE_NO | refund OUT_REFUND_NO [--status SUCCESS|ABNORMAL|CLOSED]
             | transfer OUT_BILL_NO [--state SUCCESS|FAIL|CANCELLED] [--reason TEXT]
             | redeliver | fail-next STATUS CODE [MESSAGE] | serve [--port 8123]

The same actions over HTTP, for end-to-end tests against the mounted sandbox (dev only, no
authentication; the notification is delivered in the background unless ``?wait=1``)::

    POST /wechatpay/_sandbox/pay/{out_trade_no}[?wait=1]
    POST /wechatpay/_sandbox/refund/{out_refund_no}?status=SUCCESS|ABNORMAL|CLOSED
    POST /wechatpay/_sandbox/transfer/{out_bill_no}?state=SUCCESS|FAIL|CANCELLED[&reason=…]
    POST /wechatpay/_sandbox/redeliver            (the last notification again: same id)
    POST /wechatpay/_sandbox/fail-next            {"status": 500, "code": "SYSTEM_ERROR"}
    GET  /wechatpay/_sandbox/state
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.wechatpay_sandbox.common import (
    SandboxError,
)
from local.wechatpay_sandbox.sandbox import PaySandbox


def make_http_server(sandbox: PaySandbox, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A stand-alone HTTP server for ``sandbox`` (port 0 = any free port); call ``serve_forever``."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            status, headers, out = sandbox.handle(self.command, path, query, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secrets", type=Path, required=True, help="JSON file with the wechatpay_* keys")
    parser.add_argument("--state", type=Path, required=True, help="JSON state file shared with the API server")
    parser.add_argument("--appid", default=os.environ.get("WECHAT_APP_ID", "wx_local_app"))
    parser.add_argument("--notify-url", help="deliver notifications here instead of the orders' notify_url")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show")
    sub.add_parser("redeliver")
    p = sub.add_parser("pay")
    p.add_argument("out_trade_no")
    p = sub.add_parser("refund")
    p.add_argument("out_refund_no")
    p.add_argument("--status", default="SUCCESS", choices=["SUCCESS", "ABNORMAL", "CLOSED"])
    p = sub.add_parser("transfer")
    p.add_argument("out_bill_no")
    p.add_argument("--state", dest="bill_state", default="SUCCESS", choices=["SUCCESS", "FAIL", "CANCELLED"])
    p.add_argument("--reason")
    p = sub.add_parser("fail-next")
    p.add_argument("status", type=int)
    p.add_argument("code")
    p.add_argument("message", nargs="?", default="injected failure")
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)

    keys = json.loads(args.secrets.read_text("utf-8"))
    sandbox = PaySandbox(keys, appid=args.appid, state_path=args.state, notify_url=args.notify_url)
    try:
        if args.command == "show":
            print(json.dumps(sandbox.snapshot(), ensure_ascii=False, indent=2))
            return 0
        if args.command == "serve":
            server = make_http_server(sandbox, port=args.port)
            print(f"WeChat Pay sandbox on http://127.0.0.1:{server.server_port}{sandbox.base_path}")
            server.serve_forever()
            return 0
        if args.command == "fail-next":
            sandbox.fail_next(args.status, args.code, args.message)
            return 0
        if args.command == "pay":
            event = sandbox.pay(args.out_trade_no)
        elif args.command == "refund":
            event = sandbox.complete_refund(args.out_refund_no, status=args.status)
        elif args.command == "transfer":
            event = sandbox.finish_transfer(args.out_bill_no, state=args.bill_state, fail_reason=args.reason)
        else:
            event = sandbox.redeliver_last()
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reply = (event.response or b"").decode("utf-8", "replace")
    print(f"{event.event_type} → {event.url or '(no notify URL)'}: {event.status} {reply}")
    return 0 if event.status in {200, 204} else 1
