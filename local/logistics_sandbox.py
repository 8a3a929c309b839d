"""The local stand-in for the logistics provider (Kuaidi100), served under ``/kuaidi100`` by the
local sandbox server, and the signed tracking pushes ``make track`` sends to the local webhook.

Endpoints (the formats of ``mall.integrations.tracking.kuaidi100``; documented in README.md):

- ``POST /kuaidi100/poll`` (订阅): form ``schema=json``, ``param`` JSON ``{company, number, key,
  parameters{callbackurl, salt, ...}}``. Answers ``{"result", "returnCode", "message"}``: ``200``
  accepted; ``501`` already subscribed (重复订阅); ``600`` wrong key (您不是合法的订阅者);
  ``700`` no company, number or callback URL, or a company code the sandbox does not know; a number
  starting ``REFUSE`` → ``701`` (the provider cannot track it).
- ``POST /kuaidi100/poll/query.do`` (实时查询): form ``customer``, ``param`` JSON ``{com, num}``,
  ``sign`` = upper MD5(param + key + customer). Answers the trail (``message: ok``, ``state``,
  ``ischeck``, ``com``, ``nu``, ``data[]`` newest first) or ``{"result": false, "returnCode":
  "503", "message": "验证签名失败"}`` (bad sign), ``"400"`` (missing com/num), ``"500"`` (查询无结果:
  a parcel never subscribed). ``GET /kuaidi100/sandbox/subscriptions`` lists what was subscribed.

``advance(order_id, state)`` adds an event of ``state`` (collected, in_transit, out_for_delivery,
delivered, problem, refused) to each of the order's subscribed parcels and POSTs a push signed with
the subscription's salt (MD5 of ``param`` + salt) to its callback URL. State lives in a JSON file
beside the local secrets, so ``make track`` and the server share it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

Reply = tuple[int, dict[str, str], bytes]
CHINA = timezone(timedelta(hours=8))
KNOWN_COMPANIES = frozenset({"shunfeng", "yuantong", "zhongtong", "yunda", "shentong", "jtexpress", "ems",
                             "youzhengguonei", "jd", "debangwuliu", "debangkuaidi", "zhaijisong", "baishiwuliu",
                             "huitongkuaidi", "youshuwuliu", "annengwuliu", "danniao", "fengwang",
                             "zhongtongkuaiyun", "shunfengkuaiyun"})
#: state name → (Kuaidi100 state, phase, text); ``delivered`` is 签收 with ischeck 1.
STATES: dict[str, tuple[int, str, str]] = {
    "collected": (1, "揽收", "【杭州市】快递员已揽收，联系电话 13800138000"),
    "in_transit": (0, "在途", "【杭州转运中心】已发出，下一站【上海转运中心】"),
    "out_for_delivery": (5, "派件", "【上海市】快递员正在派件，联系电话 13900139000"),
    "delivered": (3, "签收", "【上海市】已签收，签收人：张三，感谢使用"),
    "problem": (2, "疑难", "【上海市】收件人电话无人接听，待再次派送"),
    "refused": (14, "拒签", "【上海市】收件人拒收"),
}


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def push_form(*, salt: str, company: str, number: str, state: int, signed: bool, events: list[dict[str, str]],
              status: str = "polling") -> dict[str, str]:
    """A push as Kuaidi100 sends it: ``param`` (JSON) and ``sign`` = upper MD5(param + salt)."""
    param = json.dumps({"status": "shutdown" if signed else status, "billstatus": "got", "message": "",
                        "lastResult": {"message": "ok", "state": str(state), "status": "200", "condition": "F00",
                                       "ischeck": "1" if signed else "0", "com": company, "nu": number,
                                       "data": events}}, ensure_ascii=False, separators=(",", ":"))
    return {"param": param, "sign": md5_upper(param + salt)}


def china_time(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _json(status: int, payload: dict[str, Any]) -> Reply:
    return status, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(payload, ensure_ascii=False).encode()


@dataclass
class Delivery:
    url: str
    number: str
    status: int
    response: bytes


class LogisticsSandbox:
    def __init__(self, state_dir: Path, secrets: dict[str, str]) -> None:
        self._path = state_dir / "logistics-sandbox.json"
        self._key = secrets.get("kuaidi100_key", "")
        self._customer = secrets.get("kuaidi100_customer", "")

    @classmethod
    def beside(cls, secrets_file: Path) -> LogisticsSandbox:
        secrets = json.loads(secrets_file.read_text("utf-8")) if secrets_file.exists() else {}
        return cls(secrets_file.parent, {str(k): str(v) for k, v in secrets.items()})

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self._path.read_text("utf-8")) if self._path.exists() else {"parcels": {}}
            yield state
            self._path.write_text(json.dumps(state, ensure_ascii=False, indent=1), "utf-8")

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._state() as state:
            return list(state["parcels"].values())

    # ---- the provider's endpoints ----------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        if (method, path) == ("POST", "/kuaidi100/poll"):
            return self._subscribe(form)
        if (method, path) == ("POST", "/kuaidi100/poll/query.do"):
            return self._query(form)
        if (method, path) == ("GET", "/kuaidi100/sandbox/subscriptions"):
            number = (query.get("number") or [""])[0]
            return _json(200, {"items": [p for p in self.subscriptions() if not number or p["number"] == number]})
        return _json(404, {"result": False, "returnCode": "404", "message": f"sandbox has no {method} {path}"})

    def _subscribe(self, form: dict[str, str]) -> Reply:
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return _json(200, {"result": False, "returnCode": "700", "message": "param 不是 JSON"})
        parameters = param.get("parameters") or {}
        company, number = str(param.get("company") or ""), str(param.get("number") or "")
        if str(param.get("key") or "") != self._key:
            return _json(200, {"result": False, "returnCode": "600", "message": "您不是合法的订阅者"})
        if not company or not number or not parameters.get("callbackurl") or company not in KNOWN_COMPANIES:
            return _json(200, {"result": False, "returnCode": "700", "message": "订阅参数错误"})
        if number.startswith("REFUSE"):
            return _json(200, {"result": False, "returnCode": "701", "message": "拒绝订阅的快递公司"})
        with self._state() as state:
            if f"{company}:{number}" in state["parcels"]:
                return _json(200, {"result": False, "returnCode": "501", "message": "重复订阅"})
            state["parcels"][f"{company}:{number}"] = {
                "company": company, "number": number, "callbackurl": parameters["callbackurl"],
                "salt": parameters.get("salt", ""), "phone": parameters.get("phone"), "events": [],
                "state": 0, "signed": False}
        return _json(200, {"result": True, "returnCode": "200", "message": "提交成功"})

    def _query(self, form: dict[str, str]) -> Reply:
        param_text = form.get("param") or ""
        if md5_upper(param_text + self._key + form.get("customer", "")) != form.get("sign", "") or \
                form.get("customer") != self._customer:
            return _json(200, {"result": False, "returnCode": "503", "message": "验证签名失败"})
        try:
            param = json.loads(param_text)
        except ValueError:
            return _json(200, {"result": False, "returnCode": "400", "message": "找不到对应公司"})
        company, number = str(param.get("com") or ""), str(param.get("num") or "")
        if not company or not number:
            return _json(200, {"result": False, "returnCode": "400", "message": "找不到对应公司"})
        with self._state() as state:
            parcel = state["parcels"].get(f"{company}:{number}")
        if parcel is None:
            return _json(200, {"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"})
        return _json(200, {"message": "ok", "nu": number, "ischeck": "1" if parcel["signed"] else "0",
                           "condition": "F00", "com": company, "status": "200", "state": str(parcel["state"]),
                           "data": parcel["events"]})

    # ---- pushes -----------------------------------------------------------------------------

    def advance(self, order_id: str, state_name: str, *, at: datetime | None = None,
                push: bool = True) -> list[Delivery]:
        """One more event of ``state_name`` on each subscribed parcel of ``order_id``, pushed (signed);
        ``push=False`` keeps it at the provider (a lost push: only a real-time query finds it)."""
        code, phase, text = STATES[state_name]
        moment = at or datetime.now(UTC)
        pushes: list[tuple[str, str, dict[str, str]]] = []
        with self._state() as state:
            for parcel in state["parcels"].values():
                url = str(parcel["callbackurl"])
                if urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("order_id") != [order_id]:
                    continue
                parcel["events"].insert(0, {"time": china_time(moment), "ftime": china_time(moment),
                                            "context": text, "status": phase, "areaName": "上海市"})
                parcel["state"], parcel["signed"] = code, state_name == "delivered"
                pushes.append((url, parcel["number"], push_form(
                    salt=parcel["salt"], company=parcel["company"], number=parcel["number"], state=code,
                    signed=parcel["signed"], events=parcel["events"])))
        if not push:
            return [Delivery(url, number, 0, b"not pushed") for url, number, _ in pushes]
        return [deliver(url, number, form) for url, number, form in pushes]


def deliver(url: str, number: str, form: dict[str, str]) -> Delivery:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the local webhook)
            return Delivery(url, number, response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Delivery(url, number, exc.code, exc.read())
