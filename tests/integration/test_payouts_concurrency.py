"""Payouts under real concurrency on DynamoDB Local: the same MCHTRANSFER.BILL.FINISHED delivered
by many threads at once, failures racing the reconciler, and many workers starting one payout."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from local.wechatpay_sandbox.sandbox import PaySandbox
from mall.clock import utc_now
from mall.dal.ledger import LedgerRepository
from mall.dal.orders import OrderRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.table import Table
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.crypto import load_private_key
from mall.services.payments import PaymentRepositories, WebhookReply, handle_notification
from mall.services.payouts.gateway import Transfers
from mall.services.payouts.reconcile import reconcile_payouts
from mall.services.payouts.start import start_payout
from tests.integration.test_orders_concurrency import APPID, KEYS, MERCHANT, NOTIFY_URL, PUBLIC_KEYS, race
from tests.unit.test_payouts import approved_withdrawal, promoter
from tests.unit.wechatpay.helpers import RecordingSender, sandbox_transport

pytestmark = pytest.mark.integration


class Payouts:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.sender = RecordingSender()
        self.sandbox = PaySandbox(KEYS, appid=APPID, sender=self.sender)
        self.client = WeChatPayClient(
            "http://sandbox.test/wechatpay", mchid=MERCHANT.mchid, appid=APPID,
            merchant_serial=MERCHANT.merchant_serial,
            merchant_private_key=load_private_key(KEYS["wechatpay_merchant_private_key"]), public_keys=PUBLIC_KEYS,
            transport=sandbox_transport(self.sandbox))
        self.orders = OrderRepository(table)

    def pay(self) -> WeChatPayClient:
        return self.client

    def start(self, withdrawal_id: str) -> str:
        return start_payout(payouts=PayoutRepository(self.table), withdrawal_id=withdrawal_id, now=utc_now(),
                            transfers=Transfers(pay=self.pay, notify_url=NOTIFY_URL)).outcome

    def deliver(self, headers: dict[str, str], body: bytes) -> WebhookReply:
        return handle_notification(headers=headers, raw_body=body, repos=PaymentRepositories.on(self.table),
                                   merchant=MERCHANT, public_keys=PUBLIC_KEYS,
                                   apiv3_key=KEYS["wechatpay_apiv3_key"].encode(), pay=self.pay, now=utc_now())

    def record(self, withdrawal_id: str) -> dict[str, Any]:
        item = self.table.get({"pk": f"WITHDRAWAL#{withdrawal_id}", "sk": "WITHDRAWAL"}, consistent=True)
        assert item is not None
        return item

    def kinds(self, uid: str) -> Counter[str]:
        return Counter(p["kind"] for p in LedgerRepository(self.table).all_postings(uid))


@pytest.fixture
def world(table: Table, monkeypatch: pytest.MonkeyPatch) -> Payouts:
    monkeypatch.setenv("WECHATPAY_NOTIFY_URL", NOTIFY_URL)
    return Payouts(table)


def test_ten_concurrent_deliveries_of_one_success_pay_once(world: Payouts) -> None:
    uid = promoter(world.table)
    w = approved_withdrawal(world.table, uid, amount_fen=30_000, fee_fen=300)
    assert world.start(w.withdrawal_id) == "bill_created"
    event = world.sandbox.confirm_transfer(w.out_bill_no)
    replies = race(10, lambda _: world.deliver(event.headers, event.body))
    assert all(isinstance(r, WebhookReply) and r.status == 204 for r in replies), replies
    outcomes = Counter(r.outcome for r in replies if isinstance(r, WebhookReply))
    assert outcomes["mark_paid"] == 1 and outcomes["duplicate"] == 9, outcomes
    item = world.record(w.withdrawal_id)
    assert item["status"] == "PAID" and [e["status"] for e in item["timeline"]].count("PAID") == 1
    assert world.kinds(uid)["withdrawal_paid"] == 1
    balances = LedgerRepository(world.table).wallet(uid).balances
    assert (balances.withdrawing, balances.withdrawn, balances.available) == (0, 29_700, 0)


def test_concurrent_failure_deliveries_and_reconciler_runs_return_the_funds_once(world: Payouts) -> None:
    uid = promoter(world.table)
    w = approved_withdrawal(world.table, uid, amount_fen=8_000, fee_fen=0)
    world.start(w.withdrawal_id)
    event = world.sandbox.fail_transfer(w.out_bill_no)
    later = utc_now() + timedelta(hours=2)

    def work(i: int) -> object:
        if i % 3 == 2:
            return reconcile_payouts(payouts=PayoutRepository(world.table), now=later,
                                     transfers=Transfers(pay=world.pay, notify_url=NOTIFY_URL),
                                     stuck_after=timedelta(minutes=30)).as_dict()
        return world.deliver(event.headers, event.body).status

    results = race(12, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert all(r == 204 for r in results if isinstance(r, int))
    assert world.record(w.withdrawal_id)["status"] == "FAILED"
    assert world.kinds(uid)["withdrawal_returned"] == 1
    balances = LedgerRepository(world.table).wallet(uid).balances
    assert (balances.available, balances.withdrawing) == (8_000, 0)


def test_many_workers_starting_one_payout_create_one_bill(world: Payouts) -> None:
    uid = promoter(world.table)
    w = approved_withdrawal(world.table, uid)
    results = race(10, lambda _: world.start(w.withdrawal_id))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert list(world.sandbox.snapshot()["bills"]) == [w.out_bill_no]
    item = world.record(w.withdrawal_id)
    assert item["status"] == "PAYING" and item["bill_state"] == "WAIT_USER_CONFIRM" and item["package_info"]
    assert [e["status"] for e in item["timeline"]].count("PAYING") >= 1
    assert json.dumps(world.kinds(uid)) == json.dumps({"commission_frozen": 1, "commission_settled": 1,
                                                       "withdrawal_held": 1})
