"""``WeChatPayClient`` ↔ ``PaySandbox`` round trips (in process and over real HTTP), error
mapping, and response signature checks."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from local.wechatpay_sandbox.cli import make_http_server
from local.wechatpay_sandbox.common import SandboxError
from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.integrations.wechatpay.client import (
    HttpRequest,
    HttpResponse,
    TransferSceneReportInfo,
    WeChatPayClient,
    rfc3339_cst,
    urllib_transport,
)
from mall.integrations.wechatpay.crypto import rsa_oaep_decrypt, rsa_verify
from mall.integrations.wechatpay.errors import (
    WeChatPayError,
    WeChatPayInvalidResponse,
    WeChatPayNotFound,
    WeChatPayRetryableError,
)
from mall.integrations.wechatpay.notifications import verify_and_decrypt
from mall.integrations.wechatpay.refund_resources import parse_refund
from mall.integrations.wechatpay.resources import parse_transaction
from mall.integrations.wechatpay.transfer_resources import parse_transfer_bill
from tests.serving import serving

from .helpers import APPID, START, FakeClock, Keys, RecordingSender, sandbox_transport

NOTIFY = "https://mall.example.com/webhooks/wechatpay"
SCENE = [TransferSceneReportInfo("岗位类型", "推广员"), TransferSceneReportInfo("报酬说明", "3月佣金")]


def make_client(keys: Keys, transport: Callable[[HttpRequest], HttpResponse], clock: FakeClock | None = None,
                base_url: str = "http://sandbox.test/wechatpay", **overrides: object) -> WeChatPayClient:
    options: dict[str, object] = {
        "mchid": keys.raw["wechatpay_mchid"],
        "appid": APPID,
        "merchant_serial": keys.raw["wechatpay_merchant_serial"],
        "merchant_private_key": keys.merchant_private,
        "public_keys": keys.public_keys,
        "transport": transport,
        "clock": clock,
        **overrides,
    }
    return WeChatPayClient(base_url, **options)  # type: ignore[arg-type]


def prepay(client: WeChatPayClient, no: str = "T2025030100001", fen: int = 12_345) -> str:
    return client.jsapi_prepay(
        no, description="测试商品", amount_fen=fen, payer_openid="o-customer", notify_url=NOTIFY,
        time_expire=START + timedelta(minutes=30), attach="order:1",
    )


def delivered(keys: Keys, sender: RecordingSender, clock: FakeClock) -> dict[str, object]:
    url, headers, body = sender.sent[-1]
    assert url == NOTIFY
    return verify_and_decrypt(headers, body, public_keys=keys.public_keys, apiv3_key=keys.apiv3_key,
                              now=clock()).resource


# ---- payments --------------------------------------------------------------------------------

def test_prepay_pay_params_query_and_notification(
    keys: Keys, client: WeChatPayClient, sandbox: PaySandbox, sender: RecordingSender, clock: FakeClock
) -> None:
    prepay_id = prepay(client)
    assert prepay_id.startswith("wx")
    order = sandbox.snapshot()["orders"]["T2025030100001"]
    assert order["total"] == 12_345 and order["time_expire"] == "2025-03-01T12:30:00+08:00"
    assert order["notify_url"] == NOTIFY

    params = client.pay_params(prepay_id)
    message = f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    assert rsa_verify(keys.merchant_public, message, params["paySign"])
    assert params["package"] == f"prepay_id={prepay_id}"

    before = client.query_by_out_trade_no("T2025030100001")
    assert before.trade_state == "NOTPAY" and before.transaction_id is None
    assert before.amount is not None and before.amount.total == 12_345

    clock.advance(60)
    event = sandbox.pay("T2025030100001")
    assert event.status == 204
    tx = parse_transaction(delivered(keys, sender, clock))
    assert (tx.trade_state, tx.out_trade_no, tx.attach, tx.payer_openid) == (
        "SUCCESS", "T2025030100001", "order:1", "o-customer")
    assert tx.amount is not None and tx.amount.total == 12_345

    after = client.query_by_out_trade_no("T2025030100001")
    assert after.trade_state == "SUCCESS" and after.transaction_id == tx.transaction_id
    assert after.success_time == tx.success_time

    with pytest.raises(WeChatPayError) as info:
        client.close_order("T2025030100001")
    assert (info.value.status, info.value.code, info.value.retryable) == (400, "ORDERPAID", False)
    with pytest.raises(WeChatPayError, match="ORDERPAID"):
        prepay(client)


def test_repeated_prepay_is_idempotent_but_a_changed_order_is_refused(client: WeChatPayClient) -> None:
    prepay(client)
    assert prepay(client)  # same parameters: a new prepay_id, same order
    with pytest.raises(WeChatPayError) as info:
        prepay(client, fen=1)
    assert info.value.code == "INVALID_REQUEST"


def test_close_an_unpaid_order(client: WeChatPayClient, sandbox: PaySandbox) -> None:
    prepay(client)
    client.close_order("T2025030100001")  # 204, signed empty body
    assert client.query_by_out_trade_no("T2025030100001").trade_state == "CLOSED"
    with pytest.raises(SandboxError):
        sandbox.pay("T2025030100001")


def test_unknown_order_is_not_found(client: WeChatPayClient) -> None:
    with pytest.raises(WeChatPayNotFound) as info:
        client.query_by_out_trade_no("T404404404")
    assert (info.value.status, info.value.code) == (404, "ORDER_NOT_EXIST")
    assert info.value.request_id
    with pytest.raises(WeChatPayNotFound):
        client.close_order("T404404404")


def test_expired_orders_cannot_be_paid(client: WeChatPayClient, sandbox: PaySandbox, clock: FakeClock) -> None:
    prepay(client)
    clock.advance(31 * 60)
    with pytest.raises(SandboxError, match="expired"):
        sandbox.pay("T2025030100001")


# ---- refunds ---------------------------------------------------------------------------------

def test_refund_flow(
    keys: Keys, client: WeChatPayClient, sandbox: PaySandbox, sender: RecordingSender, clock: FakeClock
) -> None:
    with pytest.raises(WeChatPayNotFound) as missing:
        client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=1, total_fen=12_345, reason=None,
                             notify_url=NOTIFY)
    assert missing.value.code == "RESOURCE_NOT_EXISTS"
    prepay(client)
    with pytest.raises(WeChatPayError, match="INVALID_REQUEST"):  # not paid yet
        client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=1, total_fen=12_345, reason=None,
                             notify_url=NOTIFY)
    sandbox.pay("T2025030100001")

    refund = client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=2_345, total_fen=12_345,
                                  reason="尺码不合适", notify_url=NOTIFY)
    assert (refund.status, refund.amount.refund, refund.amount.total) == ("PROCESSING", 2_345, 12_345)
    again = client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=2_345, total_fen=12_345,
                                 reason="尺码不合适", notify_url=NOTIFY)
    assert again.refund_id == refund.refund_id  # same out_refund_no: the same refund
    with pytest.raises(WeChatPayError, match="INVALID_REQUEST"):  # more than what is left
        client.create_refund("R2", out_trade_no="T2025030100001", refund_fen=10_001, total_fen=12_345,
                             reason=None, notify_url=NOTIFY)

    clock.advance(5)
    sandbox.complete_refund("R1")
    note = parse_refund(delivered(keys, sender, clock))
    assert (note.refund_status, note.out_refund_no, note.refund_id) == ("SUCCESS", "R1", refund.refund_id)
    assert note.amount.refund == 2_345
    queried = client.query_refund("R1")
    assert queried.status == "SUCCESS" and queried.success_time is not None
    assert client.query_by_out_trade_no("T2025030100001").trade_state == "REFUND"
    with pytest.raises(WeChatPayNotFound):
        client.query_refund("R404")


# ---- payouts ---------------------------------------------------------------------------------

def test_transfer_flow(
    keys: Keys, client: WeChatPayClient, sandbox: PaySandbox, sender: RecordingSender, clock: FakeClock
) -> None:
    created = client.create_transfer_bill(
        "W20250301001", openid="o-promoter", amount_fen=5_000, remark="佣金提现", notify_url=NOTIFY,
        transfer_scene_id="1005", user_recv_perception="劳务报酬", scene_report_infos=SCENE,
    )
    assert created.state == "WAIT_USER_CONFIRM" and created.package_info
    again = client.create_transfer_bill(
        "W20250301001", openid="o-promoter", amount_fen=5_000, remark="佣金提现", notify_url=NOTIFY,
        transfer_scene_id="1005", user_recv_perception="劳务报酬",
        scene_report_infos=[{"info_type": "岗位类型", "info_content": "推广员"}],
    )
    assert again.transfer_bill_no == created.transfer_bill_no
    with pytest.raises(WeChatPayError, match="INVALID_REQUEST"):
        client.create_transfer_bill(
            "W20250301001", openid="o-promoter", amount_fen=6_000, remark="佣金提现", notify_url=NOTIFY,
            transfer_scene_id="1005", user_recv_perception="劳务报酬", scene_report_infos=SCENE,
        )

    clock.advance(30)
    sandbox.confirm_transfer("W20250301001")
    bill = parse_transfer_bill(delivered(keys, sender, clock))
    assert (bill.state, bill.transfer_amount, bill.transfer_bill_no) == ("SUCCESS", 5_000, created.transfer_bill_no)
    queried = client.query_transfer_bill("W20250301001")
    assert queried.state == "SUCCESS" and queried.openid == "o-promoter"
    with pytest.raises(SandboxError, match="already"):
        sandbox.fail_transfer("W20250301001")
    with pytest.raises(WeChatPayNotFound) as info:
        client.query_transfer_bill("W404")
    assert info.value.code == "NOT_FOUND"


def test_large_transfer_needs_an_encrypted_user_name(client: WeChatPayClient, sandbox: PaySandbox,
                                                     keys: Keys) -> None:
    with pytest.raises(ValueError, match="user_name"):
        client.create_transfer_bill(
            "W2", openid="o", amount_fen=200_000, remark="r", notify_url=NOTIFY, transfer_scene_id="1005",
            user_recv_perception="劳务报酬", scene_report_infos=SCENE,
        )
    name = client.encrypt_sensitive("张三")
    assert rsa_oaep_decrypt(keys.platform_private, name) == "张三"
    created = client.create_transfer_bill(
        "W2", openid="o", amount_fen=200_000, remark="r", notify_url=NOTIFY, transfer_scene_id="1005",
        user_recv_perception="劳务报酬", scene_report_infos=SCENE, user_name_encrypted=name,
    )
    assert created.state == "WAIT_USER_CONFIRM"
    assert sandbox.snapshot()["bills"]["W2"]["user_name_given"] is True


def test_cancel_and_fail_transfers(client: WeChatPayClient, sandbox: PaySandbox, sender: RecordingSender) -> None:
    for no in ("W3", "W4"):
        client.create_transfer_bill(no, openid="o", amount_fen=100, remark="r", notify_url=NOTIFY,
                                    transfer_scene_id="1005", user_recv_perception="劳务报酬", scene_report_infos=SCENE)
    cancelled = client.cancel_transfer_bill("W3")
    assert cancelled.state == "CANCELLED"
    with pytest.raises(WeChatPayError, match="INVALID_REQUEST"):
        client.cancel_transfer_bill("W3")
    event = sandbox.fail_transfer("W4", "ACCOUNT_FROZEN")
    assert event.resource["state"] == "FAIL" and event.resource["fail_reason"] == "ACCOUNT_FROZEN"
    assert client.query_transfer_bill("W4").fail_reason == "ACCOUNT_FROZEN"


# ---- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "code"), [(500, "SYSTEM_ERROR"), (429, "FREQUENCY_LIMITED"), (503, "X"),
                                              (400, "SYSTEM_ERROR")])
def test_retryable_errors(client: WeChatPayClient, sandbox: PaySandbox, status: int, code: str) -> None:
    sandbox.fail_next(status, code, "系统繁忙")
    with pytest.raises(WeChatPayRetryableError) as info:
        prepay(client)
    assert (info.value.status, info.value.code, info.value.message, info.value.retryable) == (
        status, code, "系统繁忙", True)
    assert prepay(client)  # the failure was one-shot


def test_a_request_signed_with_the_wrong_key_is_refused_by_the_sandbox(
    keys: Keys, sandbox: PaySandbox, other_private_key: RSAPrivateKey, clock: FakeClock
) -> None:
    client = make_client(keys, sandbox_transport(sandbox), clock, merchant_private_key=other_private_key)
    with pytest.raises(WeChatPayError) as info:
        prepay(client)
    assert (info.value.status, info.value.code) == (401, "SIGN_ERROR")
    assert not isinstance(info.value, WeChatPayRetryableError)


def test_client_side_validation(client: WeChatPayClient) -> None:
    for bad in (0, -1, True, 1.5, "100"):
        with pytest.raises(ValueError, match="fen"):
            prepay(client, fen=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out_trade_no"):
        prepay(client, no="T/../x")
    with pytest.raises(ValueError, match="exceed"):
        client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=2, total_fen=1, reason=None,
                             notify_url=NOTIFY)
    with pytest.raises(ValueError, match="remark"):
        client.create_transfer_bill("W1", openid="o", amount_fen=1, remark="长" * 33, notify_url=NOTIFY,
                                    transfer_scene_id="1005", user_recv_perception="x", scene_report_infos=SCENE)
    with pytest.raises(ValueError, match="out_bill_no"):
        client.create_transfer_bill("W-1", openid="o", amount_fen=1, remark="r", notify_url=NOTIFY,
                                    transfer_scene_id="1005", user_recv_perception="x", scene_report_infos=SCENE)
    with pytest.raises(ValueError, match="timezone-aware"):
        client.jsapi_prepay("T2025030100001", description="d", amount_fen=1, payer_openid="o", notify_url=NOTIFY,
                            time_expire=datetime(2025, 3, 1))


def test_rfc3339_cst() -> None:
    assert rfc3339_cst(datetime(2018, 6, 8, 2, 34, 56, 789, tzinfo=UTC)) == "2018-06-08T10:34:56+08:00"


# ---- forged or broken responses ----------------------------------------------------------------

def tampering(sandbox: PaySandbox, change: Callable[[HttpResponse], HttpResponse]) -> Callable[
        [HttpRequest], HttpResponse]:
    inner = sandbox_transport(sandbox)
    return lambda request: change(inner(request))


def with_header(response: HttpResponse, name: str, value: str | None) -> HttpResponse:
    headers = {k: v for k, v in response.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(response, headers=headers)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: replace(r, body=r.body.replace(b"NOTPAY", b"SUCCESS")), id="body-altered"),
        pytest.param(lambda r: with_header(r, "Wechatpay-Serial", "PUB_KEY_ID_0114000000"), id="unknown-serial"),
        pytest.param(lambda r: with_header(r, "Wechatpay-Signature", None), id="unsigned"),
        pytest.param(lambda r: with_header(r, "Wechatpay-Signature", base64.b64encode(b"x" * 256).decode()),
                     id="bad-signature"),
        pytest.param(lambda r: with_header(r, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/abc"), id="probe"),
    ],
)
def test_forged_responses_are_rejected(
    keys: Keys, sandbox: PaySandbox, clock: FakeClock, change: Callable[[HttpResponse], HttpResponse]
) -> None:
    make_client(keys, sandbox_transport(sandbox), clock).jsapi_prepay(
        "T2025030100001", description="d", amount_fen=1, payer_openid="o", notify_url=NOTIFY,
        time_expire=START + timedelta(hours=1),
    )
    client = make_client(keys, tampering(sandbox, change), clock)
    with pytest.raises(WeChatPayInvalidResponse) as info:
        client.query_by_out_trade_no("T2025030100001")
    assert info.value.code == "INVALID_SIGNATURE" and not info.value.retryable


def test_a_response_signed_by_another_key_is_rejected(
    keys: Keys, sandbox: PaySandbox, clock: FakeClock, other_private_key: RSAPrivateKey
) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = other_private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()
    impostor = PaySandbox({**keys.raw, "wechatpay_platform_private_key": pem}, appid=APPID, clock=clock)
    client = make_client(keys, sandbox_transport(impostor), clock)
    with pytest.raises(WeChatPayInvalidResponse):
        prepay(client)


def test_a_well_signed_response_of_the_wrong_shape_is_invalid(keys: Keys, sandbox: PaySandbox,
                                                               clock: FakeClock) -> None:
    def fake(request: HttpRequest) -> HttpResponse:
        body = json.dumps({"out_trade_no": "T2025030100001", "trade_state": 3}).encode()
        headers = sandbox._signed_headers(body, now=clock())  # genuine signature, wrong content
        return HttpResponse(200, headers, body)

    with pytest.raises(WeChatPayInvalidResponse) as info:
        make_client(keys, fake, clock).query_by_out_trade_no("T2025030100001")
    assert info.value.code == "INVALID_BODY"


def test_unparseable_error_bodies_still_map_by_status(keys: Keys, clock: FakeClock) -> None:
    def gateway_error(request: HttpRequest) -> HttpResponse:
        return HttpResponse(502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>")

    with pytest.raises(WeChatPayRetryableError) as info:
        make_client(keys, gateway_error, clock).query_refund("R1")
    assert (info.value.status, info.value.code) == (502, "HTTP_ERROR")


# ---- over real HTTP ------------------------------------------------------------------------------

@pytest.fixture
def http_sandbox(sandbox: PaySandbox) -> Iterator[str]:
    with serving(make_http_server(sandbox)) as port:
        yield f"http://127.0.0.1:{port}/wechatpay"


def test_round_trip_over_http_with_urllib(keys: Keys, http_sandbox: str, sandbox: PaySandbox,
                                          clock: FakeClock) -> None:
    client = make_client(keys, urllib_transport, clock, base_url=http_sandbox)
    prepay(client)
    sandbox.pay("T2025030100001")
    assert client.query_by_out_trade_no("T2025030100001").trade_state == "SUCCESS"
    client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=1, total_fen=12_345, reason="x",
                         notify_url=NOTIFY)
    assert client.query_refund("R1").status == "PROCESSING"
    with pytest.raises(WeChatPayNotFound):
        client.query_transfer_bill("W404")


def test_timeouts_and_unreachable_hosts_are_retryable(keys: Keys, clock: FakeClock) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        client = make_client(keys, urllib_transport, clock, base_url=f"http://127.0.0.1:{port}", timeout=0.2)
        with pytest.raises(WeChatPayRetryableError) as info:
            client.query_refund("R1")
        assert info.value.code in {"TIMEOUT", "NETWORK_ERROR"} and info.value.status == 0
    client = make_client(keys, urllib_transport, clock, base_url=f"http://127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(WeChatPayRetryableError) as info:
        client.query_refund("R1")
    assert info.value.code == "NETWORK_ERROR"


# ---- the independent SDK as a client of the sandbox ----------------------------------------------

def test_the_wechatpayv3_sdk_talks_to_the_sandbox(keys: Keys) -> None:
    """The PyPI SDK signs requests and verifies responses itself: the sandbox speaks the protocol."""
    from wechatpayv3 import WeChatPay, WeChatPayType

    sandbox = PaySandbox(keys.raw, appid=APPID, sender=RecordingSender())  # real clock: the SDK uses time.time()
    with serving(make_http_server(sandbox)) as port:
        sdk = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG, mchid=keys.raw["wechatpay_mchid"],
            private_key=keys.raw["wechatpay_merchant_private_key"],
            cert_serial_no=keys.raw["wechatpay_merchant_serial"], appid=APPID,
            apiv3_key=keys.raw["wechatpay_apiv3_key"], notify_url=NOTIFY,
            public_key=keys.raw["wechatpay_public_key"], public_key_id=keys.public_key_id, timeout=(2, 5),
        )
        sdk._core._gate_way = f"http://127.0.0.1:{port}"  # mounted at the root for the SDK
        code, message = sdk.pay(description="测试", out_trade_no="T2025030199999", amount={"total": 100},
                                payer={"openid": "o-sdk"}, pay_type=WeChatPayType.MINIPROG)
        assert code == 200 and json.loads(message)["prepay_id"].startswith("wx")
        sandbox.pay("T2025030199999")
        code, message = sdk.query(out_trade_no="T2025030199999")
        assert code == 200 and json.loads(message)["trade_state"] == "SUCCESS"
        code, message = sdk.mch_transfer_bills(
            out_bill_no="W9", transfer_scene_id="1005", openid="o-sdk", transfer_amount=200_000,
            transfer_remark="佣金", user_name="张三", user_recv_perception="劳务报酬",
            transfer_scene_report_infos=[{"info_type": "岗位类型", "info_content": "推广员"}],
        )
        assert code == 200 and json.loads(message)["state"] == "WAIT_USER_CONFIRM", message


# ---- shared state file and CLI -------------------------------------------------------------------

def test_state_file_is_shared_between_processes(keys: Keys, tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "wechatpay.json"
    server_side = PaySandbox(keys.raw, appid=APPID, clock=clock, state_path=state)
    prepay(make_client(keys, sandbox_transport(server_side), clock))
    sender = RecordingSender()
    cli_side = PaySandbox(keys.raw, appid=APPID, clock=clock, state_path=state, sender=sender,
                          notify_url="http://127.0.0.1:9/override")
    event = cli_side.pay("T2025030100001")
    assert event.url == "http://127.0.0.1:9/override" and sender.sent[0][0] == event.url
    assert server_side.snapshot()["orders"]["T2025030100001"]["trade_state"] == "SUCCESS"
    again = cli_side.redeliver_last()
    assert json.loads(again.body)["id"] == json.loads(event.body)["id"]  # a duplicate: same id
    assert again.headers["Wechatpay-Signature"] != event.headers["Wechatpay-Signature"]  # fresh nonce


def test_cli(keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from local.wechatpay_sandbox.cli import main

    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps({**keys.raw, "other": "kept"}))
    state = tmp_path / "state.json"
    base = ["--secrets", str(secrets_file), "--state", str(state), "--appid", APPID]
    real = PaySandbox(keys.raw, appid=APPID, state_path=state)  # real clock, like the CLI
    client = make_client(keys, sandbox_transport(real), None)
    client.jsapi_prepay("T2025030100777", description="d", amount_fen=1, payer_openid="o",
                        notify_url="http://127.0.0.1:9/unreachable",
                        time_expire=datetime.now(UTC) + timedelta(hours=1))
    assert main([*base, "show"]) == 0
    assert "T2025030100777" in capsys.readouterr().out
    assert main([*base, "pay", "T2025030100777"]) == 1  # state changed, webhook unreachable
    assert real.snapshot()["orders"]["T2025030100777"]["trade_state"] == "SUCCESS"
    assert main([*base, "pay", "T2025030100777"]) == 2  # already paid
    assert main([*base, "fail-next", "500", "SYSTEM_ERROR"]) == 0
    with pytest.raises(WeChatPayRetryableError):
        client.query_by_out_trade_no("T2025030100777")


# ---- control endpoints (e2e tests drive the mounted sandbox over HTTP) -------------------------

def test_control_endpoints(keys: Keys, client: WeChatPayClient, sandbox: PaySandbox, sender: RecordingSender,
                           clock: FakeClock) -> None:
    prepay(client)
    status, _, body = sandbox.handle("POST", "/wechatpay/_sandbox/pay/T2025030100001", "wait=1", {}, b"")
    result = json.loads(body)
    assert status == 200 and result["event_type"] == "TRANSACTION.SUCCESS" and result["webhook_status"] == 204
    assert parse_transaction(delivered(keys, sender, clock)).trade_state == "SUCCESS"
    status, _, body = sandbox.handle("POST", "/wechatpay/_sandbox/pay/T2025030100001", "", {}, b"")
    assert status == 409 and json.loads(body)["code"] == "SANDBOX_CONFLICT"

    client.create_refund("R1", out_trade_no="T2025030100001", refund_fen=5, total_fen=12_345, reason=None,
                         notify_url=NOTIFY)
    done = threading.Event()

    def signalling(url: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, bytes]:
        reply = sender(url, headers, raw)
        done.set()
        return reply

    sandbox._sender = signalling
    status, _, body = sandbox.handle("POST", "/wechatpay/_sandbox/refund/R1", "status=ABNORMAL", {}, b"")
    assert status == 202 and json.loads(body)["event_type"] == "REFUND.ABNORMAL"
    assert done.wait(5)  # delivered in the background
    assert parse_refund(delivered(keys, sender, clock)).refund_status == "ABNORMAL"

    status, _, _ = sandbox.handle("POST", "/wechatpay/_sandbox/fail-next", None, {}, b'{"status": 503, "code": "X"}')
    assert status == 200
    with pytest.raises(WeChatPayRetryableError):
        client.query_refund("R1")
    status, _, body = sandbox.handle("GET", "/wechatpay/_sandbox/state", None, {}, None)
    assert status == 200 and json.loads(body)["refunds"]["R1"]["status"] == "ABNORMAL"
    assert sandbox.handle("POST", "/wechatpay/_sandbox/nope", None, {}, None)[0] == 404
    assert sandbox.handle("POST", "/wechatpay/_sandbox/transfer/W1", "state=BOGUS", {}, None)[0] == 409
