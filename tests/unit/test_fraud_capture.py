"""The device id and source IP are captured at login, binding and order placement (the items those
actions write carry them, plus the fraud scan's feed entry in the same transaction) and never
reach a log line — through the real handlers against moto."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from mall.clock import iso, utc_now
from mall.dal.fraud import FraudRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, main_table
from mall.domain.normalise import normalise_address, normalise_phone
from mall.domain.referral import Promoter
from mall.domain.settings import BindingMode, DistributionSettings
from mall.domain.tokens import Role
from mall.integrations import pii_crypto
from mall.observability import logger as mall_logger
from mall.services import fraud
from mall.services.risk import RiskRepositories
from tests.conftest import bearer
from tests.unit.conftest import FakeContext, http_event, load_function
from tests.unit.test_orders_handlers import ADDRESS, BOOK, add_products, customer_token, make_mall
from tests.unit.test_referral_handlers import order, stream_event

DEVICE = "dev-7f3a9c-secret-fingerprint"
OTHER_DEVICE = "dev-second-phone-b0b"
IP = "203.0.113.77"


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything the mall's loggers write, at DEBUG, formatted as in Lambda (JSON with extras)."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(mall_logger.registered_formatter)
    target = logging.getLogger(mall_logger.name)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    caplog.set_level(logging.INFO)
    yield sink
    target.removeHandler(handler)
    target.setLevel(previous)
    out, err = capfd.readouterr()
    sink.write(out + err + caplog.text)


def assert_not_logged(sink: io.StringIO, *values: str) -> None:
    text = sink.getvalue()
    for value in values:
        assert value not in text, f"{value!r} reached a log line"


def call(function: str, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
         source_ip: str = IP) -> tuple[int, dict[str, Any]]:
    event = http_event(method, path, body=body, headers=headers)
    event["requestContext"]["http"]["sourceIp"] = source_ip
    result = load_function(function).handler(event, FakeContext())
    return int(result["statusCode"]), json.loads(result.get("body") or "{}")


def auth(subject: str, *roles: Role) -> dict[str, str]:
    return bearer(subject, *(roles or (Role.CUSTOMER,)))


def profile(uid: str) -> Item:
    item = main_table().get({"pk": f"USER#{uid}", "sk": "PROFILE"}, consistent=True)
    assert item is not None
    return item


def feed_entries() -> list[Item]:
    """Every feed entry of the last hour (the test's activity), as the scan reads them."""
    now = utc_now()
    return [e.item for e in FraudRepository(main_table()).feed(now - timedelta(hours=1), now + timedelta(minutes=1))]


def customer(uid: str) -> None:
    main_table().put({"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "user_id": uid, "openid": f"o{uid}",
                      "roles": ["customer"], "created_at": iso(utc_now())})


def promoter(uid: str, code: str) -> None:
    customer(uid)
    now = utc_now()
    PromoterRepository(main_table()).create(Promoter(user_id=uid, code=code, status="active", level_id="basic",
                                                     applied_at=now, activated_at=now), grant_role=False,
                                            replaces_rejected=False, now=now, reserve_code=True)


# ---- login -------------------------------------------------------------------------------------------


@pytest.fixture
def wechat(sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_API_BASE", f"{sandbox_url}/wechat")


@pytest.mark.usefixtures("moto_table", "wechat")
def test_login_stores_the_device_and_ip_on_the_profile(logs: io.StringIO) -> None:
    status, first = call("auth_login", "POST", "/auth/login", body={"code": "carol", "device_id": DEVICE})
    assert status == 200 and first["is_new_user"] is True
    stored = profile(first["user_id"])
    assert stored["last_device_id"] == DEVICE and stored["known_devices"] == {DEVICE}
    assert stored["last_source_ip"] == IP and stored["last_client_at"].endswith("Z")

    # a later login from another phone (header) and network: one update, the device joins known_devices
    status, again = call("auth_login", "POST", "/auth/login", body={"code": "carol"},
                         headers={"x-device-id": OTHER_DEVICE}, source_ip="198.51.100.9")
    assert status == 200 and again["is_new_user"] is False
    stored = profile(first["user_id"])
    assert stored["last_device_id"] == OTHER_DEVICE and stored["known_devices"] == {DEVICE, OTHER_DEVICE}
    assert stored["last_source_ip"] == "198.51.100.9"
    # nothing sent: nothing changes
    call("auth_login", "POST", "/auth/login", body={"code": "carol"}, source_ip="")
    assert profile(first["user_id"])["last_device_id"] == OTHER_DEVICE
    assert_not_logged(logs, DEVICE, OTHER_DEVICE, IP, "198.51.100.9")


# ---- binding -------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("moto_table")
def test_binding_with_a_code_or_a_visit_stores_the_device_and_ip_with_a_feed_entry(logs: io.StringIO) -> None:
    promoter("u_p", "PCODE001")
    customer("u_c")
    customer("u_v")
    status, body = call("referral_bind", "POST", "/referral/bind", body={"code": "PCODE001", "device_id": DEVICE},
                        headers=auth("u_c"))
    assert status == 200 and body["outcome"] == "bound", body
    binding = main_table().get({"pk": "USER#u_c", "sk": "BINDING"}, consistent=True)
    assert binding is not None and binding["device_id"] == DEVICE and binding["source_ip"] == IP

    status, body = call("share_visit", "POST", "/share/visits", body={"code": "PCODE001", "source": "qr"},
                        headers={**auth("u_v"), "x-device-id": OTHER_DEVICE})
    assert status == 201 and body["outcome"] == "bound", body
    visited = main_table().get({"pk": "USER#u_v", "sk": "BINDING"}, consistent=True)
    assert visited is not None and visited["device_id"] == OTHER_DEVICE and visited["source_ip"] == IP

    binds = [e for e in feed_entries() if e["kind"] == "bind"]
    assert sorted((e["user_id"], e["parent_id"]) for e in binds) == [("u_c", "u_p"), ("u_v", "u_p")]
    assert DEVICE not in str(binds) and IP not in str(binds)  # the feed holds ids only
    assert_not_logged(logs, DEVICE, OTHER_DEVICE, IP)


@pytest.mark.usefixtures("moto_table")
def test_a_first_payment_binding_takes_the_device_and_ip_of_the_paid_order(logs: io.StringIO) -> None:
    promoter("u_s", "SCODE001")
    customer("u_n")
    settings = DistributionSettings(binding_mode=BindingMode.FIRST_PAYMENT)
    repo = SettingsRepository(main_table())
    repo.save(settings, based_on=repo.current(consistent=True).version, saved_by="admin:test", now=utc_now())
    main_table().update({"pk": "USER#u_n", "sk": "PROFILE"}, "SET first_paid_order_id = :o", values={":o": "o_9"})
    paid = {**order("o_9", "u_n", 100, None, None, share={"promoter_code": "SCODE001", "source": "poster"}),
            "device_id": DEVICE, "source_ip": IP}
    load_function("referral_order_paid").handler(stream_event(paid), FakeContext())
    binding = main_table().get({"pk": "USER#u_n", "sk": "BINDING"}, consistent=True)
    assert binding is not None and binding["trigger"] == "first_payment"
    assert binding["device_id"] == DEVICE and binding["source_ip"] == IP
    assert_not_logged(logs, DEVICE, IP)


# ---- placing an order ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("moto_table")
def test_an_order_stores_device_ip_and_address_fingerprints_with_its_feed_entry(
        logs: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    mall = make_mall(monkeypatch)
    add_products(BOOK)
    buyer, token = customer_token("fraud-buyer")
    event = http_event("POST", "/orders", body={"lines": [{"product_id": "book", "quantity": 1}], "address": ADDRESS},
                       headers={"authorization": f"Bearer {token}", "idempotency-key": uuid.uuid4().hex,
                                "x-device-id": DEVICE})
    event["requestContext"]["http"]["sourceIp"] = IP
    status, body = mall.call("place_order", event)
    assert status == 201, body
    item = main_table().get({"pk": f"ORDER#{body['order_id']}", "sk": "ORDER"}, consistent=True)
    assert item is not None and item["device_id"] == DEVICE and item["source_ip"] == IP
    apart = main_table().get({"pk": f"ORDER#{body['order_id']}", "sk": "ADDRESS"}, consistent=True)
    assert apart is not None and "address" not in item  # kept apart from the order (mall.dal.order_items)
    address = apart["address"]
    assert address["phone_fp"] == pii_crypto.fingerprint(normalise_phone("+86 138 1234 1234"), kind="phone")
    assert address["address_fp"] == pii_crypto.fingerprint(normalise_address("广东省", "深圳市", "南山区科技园一路1号"),
                                                     kind="address")
    assert ADDRESS["phone"] not in json.dumps(apart)  # still only ciphertext and keyed hashes
    [entry] = [e for e in feed_entries() if e["kind"] == "order"]
    assert entry["order_id"] == body["order_id"] and entry["buyer_id"] == buyer and "device_id" not in entry

    # the scan that later reads all of it logs counts only
    fraud.scan(repo=FraudRepository(main_table()), cases=RiskRepositories.on(main_table()),
               settings=DistributionSettings(), now=utc_now() + timedelta(hours=1))
    assert '"message":"fraud scan"' in logs.getvalue()  # the capture does see the mall's logs
    assert_not_logged(logs, DEVICE, IP, ADDRESS["phone"])
