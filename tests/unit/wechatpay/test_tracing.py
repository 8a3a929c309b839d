"""What a traced function's trace holds of each WeChat Pay call: one subsegment per call, named for
the API (its path template), with the HTTP status, the error, throttle and fault flags X-Ray reads,
WeChat Pay's error code and Request-ID, and never an id, an openid, an amount, a signature or a body.

The subsegments are the X-Ray SDK's own, recorded under a segment of this test's instead of the
process's recorder (whose global state other tests share); tests/unit/test_traced_cold_start.py
shows them sent to the daemon by place order's first request."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from aws_xray_sdk.core.models.segment import Segment
from aws_xray_sdk.core.models.subsegment import Subsegment

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall import observability
from mall.integrations.wechatpay.client import HttpRequest, HttpResponse, TransferSceneReportInfo, WeChatPayClient
from mall.integrations.wechatpay.errors import WeChatPayError, WeChatPayRetryableError

from .helpers import APPID, START, FakeClock, Keys

BASE = "http://sandbox.test/wechatpay"
NOTIFY = "https://mall.example.com/webhooks/wechatpay"
SCENE = [TransferSceneReportInfo("岗位类型", "推广员")]


@dataclass
class Recorder:
    """Stands in for the SDK's recorder (``Tracer.provider``): its subsegments, with what the SDK's
    context manager does when an exception leaves one (its message and stack become the ``cause``)."""

    segment: Segment = field(default_factory=lambda: Segment("test"))
    subsegments: list[Subsegment] = field(default_factory=list)

    @contextmanager
    def in_subsegment(self, name: str, namespace: str = "local") -> Iterator[Subsegment]:
        subsegment = Subsegment(name, namespace, self.segment)
        self.subsegments.append(subsegment)
        try:
            yield subsegment
        except BaseException as exc:
            subsegment.add_exception(exc, [])
            raise
        finally:
            subsegment.close()

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(s.serialize()) for s in self.subsegments]


@dataclass
class TracerOn:
    provider: Recorder
    disabled: bool = False


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(observability, "_tracer", TracerOn(recorder))
    return recorder


def prepay(client: WeChatPayClient, no: str = "T2025030100001") -> str:
    return client.jsapi_prepay(no, description="测试商品", amount_fen=12_345, payer_openid="o-customer-secret",
                               notify_url=NOTIFY, time_expire=START + timedelta(minutes=30))


def test_every_call_is_a_subsegment_named_for_its_api(client: WeChatPayClient, sandbox: PaySandbox,
                                                      traced: Recorder) -> None:
    prepay(client)
    client.query_by_out_trade_no("T2025030100001")
    sandbox.pay("T2025030100001")
    client.create_refund("R20250301A", out_trade_no="T2025030100001", refund_fen=2_345, total_fen=12_345,
                         reason="尺码不合适", notify_url=NOTIFY)
    client.query_refund("R20250301A")
    prepay(client, "T2025030100002")
    client.close_order("T2025030100002")
    client.create_transfer_bill("W20250301001", openid="o-promoter-secret", amount_fen=5_000, remark="佣金提现",
                                notify_url=NOTIFY, transfer_scene_id="1005", user_recv_perception="劳务报酬",
                                scene_report_infos=SCENE)
    client.query_transfer_bill("W20250301001")
    client.cancel_transfer_bill("W20250301001")

    sent = traced.sent()
    assert [(d["name"], d["namespace"], d["http"]["request"]["method"], d["http"]["request"]["url"])
            for d in sent] == [
        ("wechatpay POST /v3/pay/transactions/jsapi", "remote", "POST", f"{BASE}/v3/pay/transactions/jsapi"),
        ("wechatpay GET /v3/pay/transactions/out-trade-no/{out_trade_no}", "remote", "GET",
         f"{BASE}/v3/pay/transactions/out-trade-no/{{out_trade_no}}"),
        ("wechatpay POST /v3/refund/domestic/refunds", "remote", "POST", f"{BASE}/v3/refund/domestic/refunds"),
        ("wechatpay GET /v3/refund/domestic/refunds/{out_refund_no}", "remote", "GET",
         f"{BASE}/v3/refund/domestic/refunds/{{out_refund_no}}"),
        ("wechatpay POST /v3/pay/transactions/jsapi", "remote", "POST", f"{BASE}/v3/pay/transactions/jsapi"),
        ("wechatpay POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close", "remote", "POST",
         f"{BASE}/v3/pay/transactions/out-trade-no/{{out_trade_no}}/close"),
        ("wechatpay POST /v3/fund-app/mch-transfer/transfer-bills", "remote", "POST",
         f"{BASE}/v3/fund-app/mch-transfer/transfer-bills"),
        ("wechatpay GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}", "remote", "GET",
         f"{BASE}/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{{out_bill_no}}"),
        ("wechatpay POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel", "remote",
         "POST", f"{BASE}/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{{out_bill_no}}/cancel"),
    ]
    for document in sent:
        status = document["http"]["response"]["status"]
        assert status in {200, 204}
        assert document["annotations"] == {"wechatpay_status": status}
        assert document["metadata"]["wechatpay"]["request_id"]
        assert not {"error", "fault", "throttle", "cause"} & document.keys()
    assert_nothing_personal(sent)


@pytest.mark.parametrize(("status", "code", "flags"), [
    (500, "SYSTEM_ERROR", {"fault"}),
    (429, "FREQUENCY_LIMITED", {"error", "throttle"}),
    (400, "PARAM_ERROR", {"error"}),
])
def test_a_refused_call_carries_its_status_code_and_flags(client: WeChatPayClient, sandbox: PaySandbox,
                                                          traced: Recorder, *, status: int, code: str,
                                                          flags: set[str]) -> None:
    sandbox.fail_next(status, code, "openid o-customer-secret 无效")  # WeChat Pay's message may repeat input
    with pytest.raises(WeChatPayError) as info:
        prepay(client)
    assert info.value.code == code  # the caller still gets the error
    [document] = traced.sent()
    assert document["name"] == "wechatpay POST /v3/pay/transactions/jsapi"
    assert document["http"]["response"]["status"] == status
    assert document["annotations"] == {"wechatpay_status": status, "wechatpay_code": code,
                                       "wechatpay_retryable": info.value.retryable}
    assert {flag for flag in ("error", "fault", "throttle") if document.get(flag)} == flags
    assert "cause" not in document  # no message, no stack: they may hold what was sent
    assert_nothing_personal([document])


def test_not_found_is_an_error_of_the_call(client: WeChatPayClient, traced: Recorder) -> None:
    with pytest.raises(WeChatPayError):
        client.query_refund("R404404")
    [document] = traced.sent()
    assert document["annotations"] == {"wechatpay_status": 404, "wechatpay_code": "RESOURCE_NOT_EXISTS",
                                       "wechatpay_retryable": False}
    assert document["error"] is True and "fault" not in document


def test_no_answer_and_an_answer_that_fails_its_checks_are_faults(keys: Keys, clock: FakeClock,
                                                                   traced: Recorder) -> None:
    def timing_out(request: HttpRequest) -> HttpResponse:
        raise WeChatPayRetryableError(0, "TIMEOUT", "no response from WeChat Pay in time")

    def unsigned(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {"Request-ID": "08000000-ABC"}, b'{"prepay_id": "wx_prepay"}')

    for transport in (timing_out, unsigned):
        with pytest.raises(WeChatPayError):
            prepay(make_client(keys, transport, clock))
    no_answer, unverified = traced.sent()
    assert no_answer["fault"] is True and "response" not in no_answer["http"]
    assert no_answer["annotations"] == {"wechatpay_status": 0, "wechatpay_code": "TIMEOUT",
                                        "wechatpay_retryable": True}
    assert unverified["fault"] is True and unverified["http"]["response"]["status"] == 200
    assert unverified["annotations"]["wechatpay_code"] == "INVALID_SIGNATURE"
    assert unverified["metadata"]["wechatpay"]["request_id"] == "08000000-ABC"


@pytest.mark.parametrize("tracer", [None, TracerOn(Recorder(), disabled=True)])
def test_without_tracing_a_call_records_nothing(client: WeChatPayClient, monkeypatch: pytest.MonkeyPatch,
                                                tracer: TracerOn | None) -> None:
    monkeypatch.setattr(observability, "_tracer", tracer)
    assert prepay(client)
    assert tracer is None or tracer.provider.subsegments == []


def make_client(keys: Keys, transport: Callable[[HttpRequest], HttpResponse], clock: FakeClock) -> WeChatPayClient:
    return WeChatPayClient(BASE, mchid=keys.raw["wechatpay_mchid"], appid=APPID,
                           merchant_serial=keys.raw["wechatpay_merchant_serial"],
                           merchant_private_key=keys.merchant_private, public_keys=keys.public_keys,
                           transport=transport, clock=clock)


def assert_nothing_personal(documents: list[dict[str, Any]]) -> None:
    """No merchant number, openid, amount, signature or body, in any field (but the random ids and
    times, where digits of an amount could turn up by chance, and the Request-ID, checked alone)."""
    for document in documents:
        assert set(document.get("metadata", {})) <= {"wechatpay"}
        assert set(document.get("metadata", {}).get("wechatpay", {})) <= {"request_id"}
    text = json.dumps([{k: v for k, v in d.items() if k not in {"id", "trace_id", "start_time", "end_time",
                                                                 "metadata"}} for d in documents],
                      ensure_ascii=False)
    for secret in ("T2025030100001", "T2025030100002", "R20250301A", "W20250301001", "o-customer-secret",
                   "o-promoter-secret", "12345", "2345", "5000", "WECHATPAY2", "prepay", "尺码", "测试商品", "无效"):
        assert secret not in text
