"""``PaySandbox``: the HTTP API under ``/wechatpay`` (request signature checked, response signed,
routed to the payment, refund and transfer APIs) and the dev-only controls under ``/_sandbox/``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from local.wechatpay_sandbox.common import (
    CONTROL_PREFIX,
    Json,
    SandboxError,
    _ApiError,
    _dumps,
    _Handler,
    _Request,
)
from local.wechatpay_sandbox.payments import PaymentsApi
from local.wechatpay_sandbox.refunds import RefundsApi
from local.wechatpay_sandbox.transfers import TransfersApi


class PaySandbox(PaymentsApi, RefundsApi, TransfersApi):
    """WeChat Pay for one merchant (``keys`` as made by ``local/wechatpay_keys.py``)."""

    # ---- the HTTP API -----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: str | Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes | str | None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one API request. ``path`` as received (``/wechatpay/v3/…``); ``query`` ideally the
        raw query string (it is part of the signed URL); returns (status, headers, body)."""
        method = method.upper()
        raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        if "?" in path and not query:
            path, _, query = path.partition("?")
        if isinstance(query, str):
            query_text = query
            params = dict(parse_qsl(query, keep_blank_values=True))
        else:
            params = dict(query or {})
            query_text = urlencode(params)
        lower = {k.lower(): v for k, v in headers.items()}
        now = self._clock()
        route = path[len(self.base_path):] if path.startswith(self.base_path + "/") else path
        try:
            if route.startswith(CONTROL_PREFIX):
                code, control = self._control(method, route[len(CONTROL_PREFIX):], params, raw)
                return code, {"Content-Type": "application/json; charset=utf-8"}, _dumps(control)
            self._check_authorization(method, path + (f"?{query_text}" if query_text else ""), lower, raw)
            if not lower.get("user-agent"):
                raise _ApiError(400, "PARAM_ERROR", "HTTP 头缺少 User-Agent")
            with self._state() as state:
                failure = state["failures"].pop(0) if state["failures"] else None
            if failure is not None:
                raise _ApiError(int(failure["status"]), str(failure["code"]), str(failure["message"]))
            status, payload = self._route(_Request(method, route, params, lower, raw, now))
        except _ApiError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        out = b"" if payload is None else _dumps(payload)
        response_headers = self._signed_headers(out, now=now)
        if payload is not None:
            response_headers["Content-Type"] = "application/json; charset=utf-8"
        return status, response_headers, out

    def _control(self, method: str, action: str, params: Mapping[str, str], raw: bytes) -> tuple[int, Json]:
        """Dev-only, unauthenticated controls for end-to-end tests (see the module doc)."""
        if method == "GET" and action == "state":
            return 200, self.snapshot()
        if method != "POST":
            raise _ApiError(405, "METHOD_NOT_ALLOWED", "sandbox controls are POST (GET state)")
        wait = params.get("wait", "").lower() in {"1", "true", "yes"}
        parts = action.split("/")
        try:
            if parts[0] == "fail-next" and len(parts) == 1:
                spec = json.loads(raw or b"{}")
                self.fail_next(int(spec.get("status", 500)), str(spec.get("code", "SYSTEM_ERROR")),
                               str(spec.get("message", "injected failure")))
                return 200, {"queued": True}
            if parts[0] == "pay" and len(parts) == 2:
                event = self.pay(parts[1], background=not wait)
            elif parts[0] == "refund" and len(parts) == 2:
                event = self.complete_refund(parts[1], status=params.get("status", "SUCCESS"), background=not wait)
            elif parts[0] == "transfer" and len(parts) == 2:
                event = self.finish_transfer(parts[1], state=params.get("state", "SUCCESS"),
                                             fail_reason=params.get("reason"), background=not wait)
            elif parts[0] == "redeliver" and len(parts) == 1:
                event = self.redeliver_last(background=not wait)
            else:
                raise _ApiError(404, "NOT_FOUND", f"no sandbox control {action!r}")
        except SandboxError as exc:
            raise _ApiError(409, "SANDBOX_CONFLICT", str(exc)) from exc
        except (ValueError, AttributeError) as exc:
            raise _ApiError(400, "PARAM_ERROR", str(exc)) from exc
        summary: Json = {"event_type": event.event_type, "notification_id": json.loads(event.body)["id"],
                         "url": event.url, "resource": event.resource}
        if wait:
            summary["webhook_status"] = event.status
            summary["webhook_response"] = (event.response or b"").decode("utf-8", "replace")
        return (200 if wait else 202), summary

    def _route(self, req: _Request) -> tuple[int, Json | None]:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.route)
            if match is not None and method == req.method:
                return handler(req, match.groups())
        raise _ApiError(404, "NOT_FOUND", f"sandbox: no API {req.method} {req.route}")

    @property
    def _routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        order = r"/v3/pay/transactions/out-trade-no/([^/]+)"
        bill = r"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([^/]+)"
        return [
            ("POST", re.compile(r"/v3/pay/transactions/jsapi"), lambda r, _: (200, self._jsapi(r.json(), r.now))),
            ("GET", re.compile(order), lambda r, g: (200, self._query_order(g[0], r.params))),
            ("POST", re.compile(order + "/close"), lambda r, g: self._close(g[0], r.json())),
            ("POST", re.compile(r"/v3/refund/domestic/refunds"), lambda r, _: (200, self._refund(r.json(), r.now))),
            ("GET", re.compile(r"/v3/refund/domestic/refunds/([^/]+)"), lambda r, g: (200, self._query_refund(g[0]))),
            ("POST", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills"),
             lambda r, _: (200, self._transfer(r.json(), r.headers, r.now))),
            ("GET", re.compile(bill), lambda r, g: (200, self._query_bill(g[0]))),
            ("POST", re.compile(bill + "/cancel"), lambda r, g: (200, self._cancel_bill(g[0], r.now))),
        ]
