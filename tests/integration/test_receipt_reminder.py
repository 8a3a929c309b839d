"""The reminder to confirm receipt (notify_confirm_receive) on DynamoDB Local, through the real client
against the local WeChat sandbox: once per delivered, unconfirmed order, whoever calls and however
many times at once; WeChat's refusals are final, its unavailability is retried later."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local.wechatpay_keys import generate_local_keys
from mall.clock import iso
from mall.dal.table import Table
from mall.integrations.wechat_receipt import ReceiptClient
from mall.services.wechat_receipt import ReceiptRepositories, remind_to_confirm, sweep_reminders
from tests.unit.test_fulfilment_factory import put_order

NOW = datetime.now(UTC).replace(microsecond=0)
SHIPPED_AT = NOW - timedelta(days=4)
DELIVERED_AT = NOW - timedelta(days=2)


@pytest.fixture(scope="module")
def pay_keys() -> dict[str, str]:
    return generate_local_keys()


@pytest.fixture
def payments(tmp_path: Path, pay_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The pay sandbox's state the reminder call is checked against (what WeChat knows was paid)."""
    (tmp_path / "secrets.json").write_text(json.dumps(pay_keys), encoding="utf-8")
    state: dict[str, Any] = {"orders": {}, "refunds": {}, "bills": {}, "failures": [], "last_notification": None}
    monkeypatch.setenv("LOCAL_PAY_SECRETS_FILE", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("LOCAL_PAY_APPID", "wx_test_app")

    def save() -> None:
        (tmp_path / "paysandbox.json").write_text(json.dumps({k: v for k, v in state.items() if k != "save"}),
                                                  encoding="utf-8")

    state["save"] = save
    yield state


@pytest.fixture
def repos(table: Table) -> ReceiptRepositories:
    return ReceiptRepositories.on(table)


@pytest.fixture
def client(sandbox_url: str) -> ReceiptClient:
    return ReceiptClient(base_url=f"{sandbox_url}/wechat", app_id="wx_test_app", app_secret="s", timeout=5)


def delivered_order(table: Table, repos: ReceiptRepositories, payments: dict[str, Any], *, paid: bool = True,
                    transaction_id: str | None = None, delivered_at: datetime | None = DELIVERED_AT) -> str:
    item = put_order(table, **({"transaction_id": transaction_id} if transaction_id else {}))
    order = repos.orders.get(item["order_id"])
    assert order is not None and order.transaction_id
    repos.orders.ship(order, carrier="SF", tracking_no="SF2001", now=SHIPPED_AT, by="admin:alice")
    if delivered_at is not None:  # what the tracking side records when the parcel is signed for
        table.update({"pk": f"ORDER#{order.order_id}", "sk": "ORDER"}, "SET delivered_at = :d",
                     values={":d": iso(delivered_at)})
    if paid:
        payments["orders"][order.order_id] = {"trade_state": "SUCCESS", "transaction_id": order.transaction_id,
                                              "success_time": iso(NOW - timedelta(days=5))}
        payments["save"]()
    return order.order_id


def reminders_at_wechat(sandbox_url: str, order_id: str) -> list[dict[str, Any]]:
    url = f"{sandbox_url}/wechat/sandbox/confirm-reminders?merchant_trade_no={order_id}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local sandbox)
        found: list[dict[str, Any]] = json.loads(response.read())["reminders"]
        return found


def test_a_delivered_order_is_reminded_once_under_concurrent_callers(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    order_id = delivered_order(table, repos, payments)
    barrier = threading.Barrier(6)

    def hook(_: int) -> str:  # the tracking side calling on delivery, several times at once
        barrier.wait()
        return remind_to_confirm(order_id, DELIVERED_AT, repos=repos, client=client, now=NOW).outcome

    def sweep(_: int) -> int:  # overlapping scheduled runs
        barrier.wait()
        return sweep_reminders(repos=repos, client=client, now=NOW).sent

    with ThreadPoolExecutor(6) as pool:
        hooks = [pool.submit(hook, i) for i in range(3)]
        sweeps = [pool.submit(sweep, i) for i in range(3)]
        outcomes = [f.result() for f in hooks]
        sent_by_sweeps = sum(f.result() for f in sweeps)
    assert outcomes.count("sent") + sent_by_sweeps == 1
    (reminder,) = reminders_at_wechat(sandbox_url, order_id)
    assert reminder["received_time"] == int(DELIVERED_AT.timestamp())
    stored = repos.reminders.get(order_id)
    assert stored is not None and stored["status"] == "sent"
    again = remind_to_confirm(order_id, DELIVERED_AT, repos=repos, client=client, now=NOW + timedelta(days=1))
    assert again.outcome == "already_reminded"
    assert len(reminders_at_wechat(sandbox_url, order_id)) == 1


def test_only_delivered_unconfirmed_express_orders_are_reminded(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    recent = delivered_order(table, repos, payments, delivered_at=NOW - timedelta(hours=2))
    unknown_delivery = delivered_order(table, repos, payments, delivered_at=None)
    completed = delivered_order(table, repos, payments)
    order = repos.orders.get(completed)
    assert order is not None
    repos.orders.complete(order, completed_by="buyer", now=NOW, by="buyer")
    due = delivered_order(table, repos, payments)
    result = sweep_reminders(repos=repos, client=client, now=NOW)
    assert result.sent == 1
    assert [bool(reminders_at_wechat(sandbox_url, o)) for o in (recent, unknown_delivery, completed, due)] == [
        False, False, False, True]
    assert remind_to_confirm(recent, NOW - timedelta(hours=2), repos=repos, client=client,
                             now=NOW).outcome == "not_yet"
    assert remind_to_confirm(completed, DELIVERED_AT, repos=repos, client=client, now=NOW).outcome == "not_shipped"
    assert remind_to_confirm(due, SHIPPED_AT - timedelta(hours=1), repos=repos, client=client,
                             now=NOW).outcome == "already_reminded"


def test_a_refusal_is_final_and_unavailability_is_retried(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    unknown_to_wechat = delivered_order(table, repos, payments, paid=False)
    refused = remind_to_confirm(unknown_to_wechat, DELIVERED_AT, repos=repos, client=client, now=NOW)
    assert (refused.outcome, refused.errcode) == ("refused", 10060001)
    stored = repos.reminders.get(unknown_to_wechat)
    assert stored is not None and stored["status"] == "refused" and stored["errcode"] == 10060001
    assert sweep_reminders(repos=repos, client=client, now=NOW + timedelta(hours=1)).examined >= 1
    assert remind_to_confirm(unknown_to_wechat, DELIVERED_AT, repos=repos, client=client,
                             now=NOW).outcome == "already_reminded"

    busy = delivered_order(table, repos, payments, transaction_id="busy")
    first = remind_to_confirm(busy, DELIVERED_AT, repos=repos, client=client, now=NOW)
    assert first.outcome == "retry_later" and repos.reminders.get(busy) is None  # the claim was given back
    assert remind_to_confirm(busy, DELIVERED_AT, repos=repos, client=client, now=NOW).outcome == "retry_later"


def test_a_run_that_died_holding_the_claim_is_taken_over_later(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    order_id = delivered_order(table, repos, payments)
    assert repos.reminders.claim(order_id, delivered_at=DELIVERED_AT, now=NOW - timedelta(minutes=3),
                                 stale_before=NOW - timedelta(minutes=13))
    assert remind_to_confirm(order_id, DELIVERED_AT, repos=repos, client=client,
                             now=NOW).outcome == "already_reminded"  # another run may still be calling
    assert reminders_at_wechat(sandbox_url, order_id) == []
    later = remind_to_confirm(order_id, DELIVERED_AT, repos=repos, client=client, now=NOW + timedelta(minutes=10))
    assert later.outcome == "sent" and len(reminders_at_wechat(sandbox_url, order_id)) == 1
