"""Personal data never reaches a log line (《个人信息保护法》; docs/personal-data.md, "Logs").

An end-to-end run over HTTP on the local stack with distinctive personal data — a login with a
device id, an order with a shipping name, phone and address (paid, viewed, revealed by the admin),
a share visit with the device id, a bank withdrawal (account revealed by the admin, marked failed),
and the erasure request — while every log stream of the process is captured: the stream of every
logging handler (the Powertools logger every function logs through, the local stack's own loggers),
``print`` output (stdout/stderr: metrics, anything a handler prints) and every log record. The
functions run in this process (``local.lambda_runtime``), so this is everything Lambda would have sent
to CloudWatch. The test fails if any raw value appears, or an obvious variant of it: digits without
spaces or dashes, JSON's ``\\uXXXX`` escapes, URL encoding.

``test_the_scanner_*`` prove the capture and the scanner catch a phone that is logged (through a
Powertools logger, through the stack's own ``mall`` logger, through ``print``)."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import urllib.parse
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import boto3
import pytest
import requests
from aws_lambda_powertools import Logger

from local.hooks import DEMO_ADMIN, DEMO_ADMIN_PASSWORD, DEMO_PROMOTER_SHARE_CODE
from local.wechatpay_sandbox.local_stack import pay_local_order
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from tests.e2e.seeding import fund_available, make_promoter

TIMEOUT = 20
_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {
    "message", "asctime"}


# ---- the capture ----------------------------------------------------------------------------------


class _Tee:
    """A stream that writes through to ``target`` and keeps a copy."""

    def __init__(self, target: TextIO, sink: list[str]) -> None:
        self._target = target
        self._sink = sink

    def write(self, text: str) -> int:
        self._sink.append(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Records(logging.Handler):
    """Every record that propagates to the root logger, with its extra fields and exception."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.INFO)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS}
        text = f"{record.name} {record.levelname} {record.getMessage()} {json.dumps(extra, default=str)}"
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self._sink.append(text + "\n")


def _all_loggers() -> Iterator[logging.Logger]:
    yield logging.getLogger()
    for candidate in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(candidate, logging.Logger):
            yield candidate


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Everything written to any log stream of this process while the block runs."""
    sink: list[str] = []
    undo: list[tuple[logging.StreamHandler[Any], Any]] = []
    for logger in _all_loggers():
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, _Tee):
                previous = handler.setStream(_Tee(handler.stream, sink))
                if previous is not None:
                    undo.append((handler, previous))
    records = _Records(sink)
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)  # what Lambda ships with LoggingConfig JSON (ApplicationLogLevel INFO)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out, sink), _Tee(err, sink)  # type: ignore[assignment]
    try:
        yield sink
    finally:
        sys.stdout, sys.stderr = out, err
        root.removeHandler(records)
        root.setLevel(level)
        for handler, previous in undo:
            handler.setStream(previous)


# ---- the scanner ----------------------------------------------------------------------------------


def variants(value: str) -> set[str]:
    """``value`` as it could appear in a log line."""
    found = {value, json.dumps(value)[1:-1], urllib.parse.quote(value), urllib.parse.quote_plus(value),
             "".join(value.split())}
    # A number written with separators (a phone, a bank account) also shows as its bare digits; a
    # value that merely contains digits (an id with a random hex part) does not, or every log line
    # naming the run's id would match it.
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7 and re.fullmatch(r"[\d\s()+-]+", value):
        found.add(digits)
    return {v for v in found if len(v) >= 4}


def personal_data_in(text: str, values: Iterable[str]) -> list[str]:
    """The values (by their raw form) of which some variant occurs in ``text`` — also once spaces and
    dashes between digits are closed up (``139 8765 0000`` is the phone ``13987650000``)."""
    squashed = re.sub(r"(?<=\d)[ \-](?=\d)", "", text)
    return sorted({value for value in values for variant in variants(value)
                   if variant in text or variant in squashed})


# ---- proof that capture + scanner catch a logged phone ---------------------------------------------


def test_the_scanner_catches_a_phone_logged_by_a_powertools_logger_or_print() -> None:
    phone, name = "13987650000", "宇文探针"
    probe = Logger(service=f"pii_probe_{uuid.uuid4().hex[:6]}")  # a handler created before the capture
    with captured_logs() as sink:
        probe.info("order placed", extra={"order_id": "o_1", "phone": phone})
    assert personal_data_in("".join(sink), [phone]) == [phone]
    with captured_logs() as sink:
        probe.info("masked is fine", extra={"phone": "139****0000"})
        print("contact", name.encode("unicode_escape").decode())  # a handler that prints
    assert personal_data_in("".join(sink), [phone]) == []
    assert personal_data_in("".join(sink), [name]) == [name]  # JSON-style \\uXXXX escapes are caught
    assert personal_data_in("call 139 8765 0000", ["13987650000"]) == ["13987650000"]
    assert personal_data_in("call 139-8765-0000", ["13987650000"]) == ["13987650000"]


# ---- the end-to-end run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table(stack: Any) -> Table:
    client = boto3.client("dynamodb", endpoint_url=stack.env["DYNAMODB_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return Table(stack.env["TABLE_NAME"], client)


def _ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def test_no_personal_data_in_the_logs_of_an_end_to_end_run(stack: Any, api: str, http: requests.Session,
                                                           table: Table) -> None:
    run = uuid.uuid4().hex[:8]
    name, phone = "宇文隐私", "139" + _digits(8)
    street = f"隐私路 {_digits(3)} 号 {_digits(2)} 栋"
    account_name, account_no = "慕容隐私", "6217" + _digits(15)
    device = f"pii-device-{run}"
    secrets_seen = [name, phone, street, account_name, account_no, device]

    # Outside the capture: cold-start a function so the functions' shared Powertools logger exists
    # (functions run in this process; its handler is what the capture must tee).
    _ok(http.get(f"{api}/rules", timeout=TIMEOUT))
    admin = {"Authorization": "Bearer " + _ok(http.post(f"{api}/admin/auth/login", timeout=TIMEOUT, json={
        "username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD}))["access_token"]}
    categories = CategoryRepository(table)
    if categories.get("e2e-pii") is None:
        categories.create(Category(category_id="e2e-pii", name="隐私测试"))
    product_id = f"e2e-pii-{run}"
    ProductRepository(table).create(Product(product_id=product_id, name="隐私测试商品", type="physical",
                                            category_id="e2e-pii", price_fen=9_900, stock=10, on_shelf=True))
    settings = _ok(http.get(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT))
    if "bank" not in settings["settings"]["withdrawal"]["methods"]:
        document = settings["settings"]
        document["withdrawal"]["methods"] = [*document["withdrawal"]["methods"], "bank"]
        _ok(http.put(f"{api}/admin/settings/distribution", headers=admin, timeout=TIMEOUT,
                     json={**document, "based_on_version": settings["version"], "note": "bank withdrawals (e2e)"}))

    with captured_logs() as sink:
        canary = f"canary-{run}"
        logging.getLogger("mall").warning("capture check %s", canary)  # the logger every function logs through

        code = f"pii-scan-{run}"
        login = _ok(http.post(f"{api}/auth/login", json={"code": code, "device_id": device}, timeout=TIMEOUT))
        uid, me = login["user_id"], {"Authorization": f"Bearer {login['access_token']}"}

        visit = http.post(f"{api}/share/visits", headers={**me, "x-device-id": device}, timeout=TIMEOUT,
                          json={"code": DEMO_PROMOTER_SHARE_CODE, "source": "link", "device_id": device})
        assert visit.status_code in (200, 201), visit.text

        placed = _ok(http.post(f"{api}/orders", timeout=TIMEOUT, headers={**me, "Idempotency-Key": uuid.uuid4().hex},
                               json={"lines": [{"product_id": product_id, "quantity": 1}], "device_id": device,
                                     "address": {"name": name, "phone": phone, "province": "浙江省",
                                                 "city": "杭州市", "detail": street}}), 201)
        order_id = placed["order_id"]
        pay_local_order(stack.data_dir, order_id, appid=str(stack.env["WECHAT_APP_ID"]))
        detail = _ok(http.get(f"{api}/orders/{order_id}", headers=me, timeout=TIMEOUT))
        assert detail["address"]["phone"] == f"{phone[:3]}****{phone[-4:]}" and detail["address"]["name"] == "宇***"
        revealed = _ok(http.get(f"{api}/admin/orders/{order_id}/shipping-address", headers=admin, timeout=TIMEOUT))
        assert (revealed["name"], revealed["phone"], revealed["detail"]) == (name, phone, street)

        # A bank withdrawal: the customer becomes an active promoter with a settled commission.
        make_promoter(table, uid, code=f"P{run[:7]}".upper())
        fund_available(table, uid, 50_000)
        relogin = _ok(http.post(f"{api}/auth/login", json={"code": code, "device_id": device}, timeout=TIMEOUT))
        promoter = {"Authorization": f"Bearer {relogin['access_token']}"}
        withdrawal = _ok(http.post(f"{api}/promoter/withdrawals", timeout=TIMEOUT,
                                   headers={**promoter, "Idempotency-Key": uuid.uuid4().hex},
                                   json={"amount_fen": 10_000, "method": "bank",
                                         "bank": {"bank_name": "招商银行", "account_name": account_name,
                                                  "account_no": account_no, "branch": "杭州分行"}}), 201)
        wid = withdrawal["withdrawal_id"]
        assert withdrawal["bank"]["account_no"] == f"****{account_no[-4:]}"
        account = _ok(http.get(f"{api}/admin/withdrawals/{wid}/bank-account", headers=admin, timeout=TIMEOUT))
        assert account["account_no"] == account_no
        if withdrawal["status"] == "PENDING_REVIEW":
            _ok(http.post(f"{api}/admin/withdrawals/{wid}/approve", headers=admin, timeout=TIMEOUT))
        _ok(http.post(f"{api}/admin/withdrawals/{wid}/mark-failed", headers=admin, timeout=TIMEOUT,
                      json={"reason": "账户信息有误"}))

        # The parcel is shipped and received first: an order still to be delivered keeps the erasure waiting.
        _ok(http.post(f"{api}/admin/orders/{order_id}/ship", headers=admin, timeout=TIMEOUT,
                      json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"}))
        _ok(http.post(f"{api}/orders/{order_id}/confirm-receipt", headers=promoter, timeout=TIMEOUT))
        erased = _ok(http.post(f"{api}/me/erasure", headers=promoter, json={"confirm": True}, timeout=TIMEOUT))
        assert erased["orders_erased"] == 1 and erased["withdrawals_erased"] == 1
        stack.drain_streams(timeout=30)  # the stream and queue workers these changes triggered log too

    text = "".join(sink)
    assert canary in text, "the capture did not see the functions' logger"
    assert order_id in text or wid in text or '"service":"mall"' in text.replace(" ", ""), \
        "no function log line was captured"
    leaked = personal_data_in(text, secrets_seen)
    lines = [line[:300] for line in text.splitlines() if any(v in line for s in leaked for v in variants(s))]
    assert leaked == [], f"personal data in the logs: {leaked}\n" + "\n".join(lines[:10])
