"""``ShippingClient`` (upload_shipping_info, get_order, get_order_list, get_delivery_list) against the
local WeChat sandbox over real HTTP: the bodies WeChat documents and its errcodes."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local import shipping_sandbox
from mall.integrations import wechat
from mall.integrations.wechat_shipping import ShippingClient


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    wechat._token_cache.clear()
    yield
    wechat._token_cache.clear()


def client(sandbox_url: str) -> ShippingClient:
    return ShippingClient(base_url=f"{sandbox_url}/wechat", app_id="wx_ship_app", app_secret="s3cret", timeout=5)


def control(sandbox_url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{sandbox_url}/wechat/sandbox/shipping/{path}", method="POST",  # noqa: S310
                                     data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (the local sandbox)
        pass


def body(transaction_id: str, *, at: str = "2026-11-22T16:00:05.120+08:00", carrier: str = "ZTO",
         **extra: Any) -> dict[str, Any]:
    parcel: dict[str, Any] = {"tracking_no": "75300000001", "express_company": carrier, "item_desc": "茶*1"}
    return {"order_key": {"order_number_type": 2, "transaction_id": transaction_id}, "logistics_type": 1,
            "delivery_mode": 1, "shipping_list": [parcel], "upload_time": at, "payer": {"openid": "osbx_ship"},
            **extra}


def test_the_one_change_then_10060003(sandbox_url: str) -> None:
    api, tx = client(sandbox_url), "4200" + uuid.uuid4().hex[:20]
    assert api.upload_shipping_info(body(tx))[0] == 10060001  # no such payment
    control(sandbox_url, "payments", {"transaction_id": tx, "out_trade_no": f"o_{tx[-8:]}", "mchid": "1900000109",
                                      "openid": "osbx_ship"})
    found = api.get_order(transaction_id=tx)
    assert found is not None and found.order_state == 1
    assert f"o_{tx[-8:]}" in {o.merchant_trade_no for o in api.get_order_list(order_state=1, page_size=100)[0]}
    assert api.upload_shipping_info(body(tx)) == (0, "ok")
    assert api.get_order(transaction_id=tx).order_state == 2  # type: ignore[union-attr]
    assert api.upload_shipping_info(body(tx))[0] == 10060014  # upload_time must increase
    assert api.upload_shipping_info(body(tx, at="2026-11-22T17:00:00.000+08:00"))[0] == 0  # the one change
    assert api.upload_shipping_info(body(tx, at="2026-11-22T18:00:00.000+08:00"))[0] == 10060003
    assert api.get_order(transaction_id="4200nope") is None


def test_documented_refusals(sandbox_url: str) -> None:
    api, tx = client(sandbox_url), "4200" + uuid.uuid4().hex[:20]
    control(sandbox_url, "payments", {"transaction_id": tx, "out_trade_no": "o_x", "mchid": "1", "openid": "osbx_ship"})
    assert api.upload_shipping_info({**body(tx), "shipping_list": {}})[0] == 47001
    assert api.upload_shipping_info(body(tx, carrier="SF"))[0] == 10060014  # SF needs the masked contact
    assert api.upload_shipping_info({**body(tx), "delivery_mode": 2})[0] == 10060007
    assert api.upload_shipping_info({**body(tx), "payer": {"openid": "someone"}})[0] == 10060031
    control(sandbox_url, "fail-next", {"errcode": 10060012})
    assert api.upload_shipping_info(body(tx))[0] == 10060012
    assert api.upload_shipping_info(body(tx))[0] == 0


def test_delivery_list(sandbox_url: str) -> None:
    carriers = client(sandbox_url).delivery_list()
    assert carriers["SF"] == "顺丰速运" and carriers == shipping_sandbox.SANDBOX_CARRIERS
