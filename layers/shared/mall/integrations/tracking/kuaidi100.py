"""Kuaidi100 (快递100): subscription (订阅, ``POST {base}/poll``), real-time query (实时查询,
``POST {base}/poll/query.do``) and the signed push (推送) to our callback. Formats (docs/shipping.md):

- subscription form: ``schema=json``, ``param`` = JSON ``{company, number, key, parameters{callbackurl,
  salt, resultv2, phone}}``; answer ``{result, returnCode, message}``: ``200`` accepted, ``501``
  already subscribed (a repeat: accepted too), anything else refused;
- query form: ``customer``, ``param`` = JSON ``{com, num, phone, resultv2}``, ``sign`` = upper-case
  MD5 of ``param + key + customer``; answer the trail (``state``, ``ischeck``, ``com``, ``nu``,
  ``data[]``) or ``{result: false, returnCode, message}``;
- push form: ``param`` = JSON ``{status, message, lastResult{state, ischeck, com, nu, data[{time,
  ftime, context, status, areaName}]}}`` and ``sign`` = upper-case MD5 of ``param + salt``; we answer
  ``{"result": true, "returnCode": "200", "message": "成功"}`` once stored (else it pushes again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mall.clock import CHINA, iso
from mall.domain.tracking import Parcel, TrackEvent, Trail, provider_company
from mall.errors import FieldProblem, InvalidInput, Unauthenticated
from mall.integrations.tracking import TrackingProviderError

ACCEPTED = "200"
ALREADY_SUBSCRIBED = "501"


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def query_sign(param: str, key: str, customer: str) -> str:
    return md5_upper(param + key + customer)


def push_sign(param: str, salt: str) -> str:
    return md5_upper(param + salt)


def subscription_form(parcel: Parcel, *, key: str, callback_url: str, salt: str, phone: str | None) -> dict[str, str]:
    parameters: dict[str, str] = {"callbackurl": callback_url, "salt": salt, "resultv2": "1"}
    if phone:
        parameters["phone"] = phone
    param = {"company": provider_company(parcel.carrier), "number": parcel.tracking_no, "key": key,
             "parameters": parameters}
    return {"schema": "json", "param": json.dumps(param, ensure_ascii=False, separators=(",", ":"))}


def query_form(parcel: Parcel, *, key: str, customer: str, phone: str | None) -> dict[str, str]:
    body: dict[str, str] = {"com": provider_company(parcel.carrier), "num": parcel.tracking_no, "resultv2": "1"}
    if phone:
        body["phone"] = phone
    param = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return {"customer": customer, "param": param, "sign": query_sign(param, key, customer)}


def _event_time(raw: Mapping[str, Any]) -> str:
    """``ftime`` / ``time`` are China local times ``YYYY-MM-DD HH:MM:SS``."""
    text = str(raw.get("ftime") or raw.get("time") or "")
    try:
        return iso(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA))
    except ValueError as exc:
        raise InvalidInput("a tracking event has no readable time", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult.data.ftime", f"not a time: {text[:32]!r}")]) from exc


def parse_result(result: Mapping[str, Any]) -> Trail:
    """A ``lastResult`` (push) or a query answer as a ``Trail`` (events newest first)."""
    try:
        state = int(result.get("state", 0))
    except (TypeError, ValueError) as exc:
        raise InvalidInput("unreadable state", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult.state", "not a number")]) from exc
    number = str(result.get("nu") or "")
    if not number:
        raise InvalidInput("no tracking number", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult.nu", "missing")])
    raw_events = result.get("data") or []
    if not isinstance(raw_events, list):
        raise InvalidInput("unreadable events", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult.data", "not a list")])
    events = [TrackEvent(at=_event_time(e), context=str(e.get("context", ""))[:300],
                         status=str(e["status"]) if e.get("status") else None,
                         area=str(e["areaName"]) if e.get("areaName") else None)
              for e in raw_events if isinstance(e, Mapping)]
    events.sort(key=lambda e: e.at, reverse=True)
    return Trail(company=str(result.get("com") or ""), tracking_no=number, state=state,
                 signed=str(result.get("ischeck", "0")) == "1", events=tuple(events)).bounded()


def verify_push(form: Mapping[str, str], *, salt: str) -> Trail:
    """Verify ``sign`` over the raw ``param`` text before reading anything in it, then parse."""
    param, sign = form.get("param") or "", form.get("sign") or ""
    missing = [FieldProblem(name, "missing") for name, value in (("param", param), ("sign", sign)) if not value]
    if missing:
        raise InvalidInput("a push has a param and its sign", code="invalid_tracking_push", fields=missing)
    if not hmac.compare_digest(push_sign(param, salt), sign.upper()):
        raise Unauthenticated("the push's signature does not verify", code="invalid_signature")
    try:
        body = json.loads(param)
        result = body["lastResult"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("the push has no lastResult", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult", "missing")]) from exc
    if not isinstance(result, Mapping):
        raise InvalidInput("the push has no lastResult", code="invalid_tracking_push",
                           fields=[FieldProblem("param.lastResult", "not an object")])
    return parse_result(result)


ACKNOWLEDGEMENT: dict[str, object] = {"result": True, "returnCode": "200", "message": "成功"}


class Kuaidi100:
    """The Kuaidi100 adapter (``TrackingProvider``)."""

    name = "kuaidi100"

    def __init__(self, *, base_url: str, key: str, customer: str, salt: str, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._key, self._customer, self._salt, self._timeout = key, customer, salt, timeout

    def _post(self, path: str, form: Mapping[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (configured https base)
            f"{self._base}{path}", data=urllib.parse.urlencode(form).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                data = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise TrackingProviderError(f"Kuaidi100 unreachable: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise TrackingProviderError("Kuaidi100 answered something unreadable")
        return data

    def subscribe(self, parcel: Parcel, *, callback_url: str, phone: str | None) -> None:
        answer = self._post("/poll", subscription_form(parcel, key=self._key, callback_url=callback_url,
                                                       salt=self._salt, phone=phone))
        code = str(answer.get("returnCode", ""))
        if code not in (ACCEPTED, ALREADY_SUBSCRIBED):
            raise TrackingProviderError(f"Kuaidi100 refused the subscription: {code} {answer.get('message', '')}",
                                        code="tracking_subscription_refused")

    def query(self, parcel: Parcel, *, phone: str | None) -> Trail:
        answer = self._post("/poll/query.do", query_form(parcel, key=self._key, customer=self._customer, phone=phone))
        if answer.get("result") is False or "nu" not in answer:
            raise TrackingProviderError(f"Kuaidi100 query failed: {answer.get('returnCode', '')} "
                                        f"{answer.get('message', '')}", code="tracking_query_failed")
        return parse_result(answer)

    def verify_push(self, form: Mapping[str, str]) -> Trail:
        return verify_push(form, salt=self._salt)

    def acknowledgement(self) -> dict[str, object]:
        return dict(ACKNOWLEDGEMENT)
