"""The reminder to confirm receipt (notify_confirm_receive) on DynamoDB Local, through the real client
against the local WeChat sandbox: once per delivered, unconfirmed order, whoever calls and however
many times at once; WeChat's refusals are final, its unavailability is retried later. The hourly
sweep reads an order's reminder item only while its delivery is in the look-back window."""

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
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.tracking import TrackingRepository
from mall.domain.settings import DistributionSettings, OrderRules
from mall.domain.wechat_receipt import REMIND_AFTER_DELIVERY, REMIND_LOOKBACK
from mall.integrations.wechat_receipt import ReceiptClient
from mall.services.wechat_receipt import ReceiptRepositories, remind_to_confirm, sweep_reminders
from tests.integration.test_lifecycle_read_units import read_units
from tests.unit.test_fulfilment_factory import put_order

NOW = datetime.now(UTC).replace(microsecond=0)
SHIPPED_AT = NOW - timedelta(days=4)
DELIVERED_AT = NOW - timedelta(hours=30)  # remindable six hourly runs ago


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
                    transaction_id: str | None = None, delivered_at: datetime | None = DELIVERED_AT,
                    shipped_at: datetime = SHIPPED_AT, countdown_from: str = "delivery") -> str:
    item = put_order(table, **({"transaction_id": transaction_id} if transaction_id else {}))
    order = repos.orders.get(item["order_id"])
    assert order is not None and order.transaction_id
    repos.orders.ship(order, carrier="SF", tracking_no="SF2001", now=shipped_at, by="admin:alice")
    if delivered_at is not None:  # what the tracking side records when the parcel is signed for
        tracking, shipped = TrackingRepository(table), repos.orders.get(order.order_id)
        assert shipped is not None
        if countdown_from == "delivery":  # the order's auto-confirm entry moves to the delivery
            assert tracking.restart_countdown(shipped, delivered_at=iso(delivered_at))
        else:
            assert tracking.record_delivery(order.order_id, delivered_at=iso(delivered_at))
    if paid:
        payments["orders"][order.order_id] = {"trade_state": "SUCCESS", "transaction_id": order.transaction_id,
                                              "success_time": iso(shipped_at - timedelta(days=1))}
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


# ---- what the hourly sweep reads --------------------------------------------------------------------

REMINDER = "ORDER#/RECEIPT_REMINDER"


def count_from(table: Table, mode: str, *, at: datetime) -> None:
    """Save settings whose auto-confirm countdown runs from ``mode``, saved at ``at``."""
    settings = SettingsRepository(table)
    current = settings.current()
    changed = DistributionSettings.model_validate(
        {**current.settings.model_dump(), "orders": OrderRules(auto_confirm_from=mode)})  # type: ignore[arg-type]
    settings.save(changed, based_on=current.version, saved_by="admin:test", now=at)


def hourly_run(table: Table, repos: ReceiptRepositories, client: ReceiptClient, at: datetime) -> dict[str, Any]:
    """One scheduled run at ``at``, with what it read (the meter's summary) and what it did."""
    done: list[Any] = []
    seen = read_units(table, lambda: done.append(sweep_reminders(repos=repos, client=client, now=at)))
    return {**seen, "sweep": done[0]}


@pytest.mark.parametrize("mode", ["delivery", "shipment"])
def test_an_order_reminded_is_not_read_again_by_the_next_runs(  # noqa: PLR0917
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str, mode: str) -> None:
    count_from(table, mode, at=NOW - timedelta(days=30))
    delivered = NOW - REMIND_AFTER_DELIVERY - timedelta(minutes=30)  # remindable half an hour before NOW
    order_id = delivered_order(table, repos, payments, delivered_at=delivered, shipped_at=delivered - timedelta(days=2),
                               countdown_from=mode)
    runs = [hourly_run(table, repos, client, NOW + timedelta(hours=hour)) for hour in range(48)]
    assert sum(run["sweep"].sent for run in runs) == 1 and runs[0]["sweep"].sent == 1
    assert len(reminders_at_wechat(sandbox_url, order_id)) == 1
    # Its reminder item is read while the delivery is in the look-back (12 runs), not every hour
    # until the order is confirmed (48 of 48 runs here; about 216 for the ten days after delivery).
    reading = [hour for hour, run in enumerate(runs) if REMINDER in run["rcu_by_item_kind"]]
    assert reading == list(range(int(REMIND_LOOKBACK / timedelta(hours=1))))
    assert all(run["rcu_by_item_kind"][REMINDER] == 1.0 for run in runs[1:12])  # the batch's consistent read
    a_day_later = runs[24]
    assert REMINDER not in a_day_later["rcu_by_item_kind"]
    # The index entry: where its key is the delivery the Query no longer reaches it; where it is the
    # shipment the Query still reads it (half a unit a run) and the run leaves it there.
    assert a_day_later["sweep"].examined == (0 if mode == "delivery" else 1)


@pytest.mark.parametrize("mode", ["delivery", "shipment"])
def test_a_delivery_remindable_within_the_look_back_is_reminded_once_and_an_older_one_is_left(  # noqa: PLR0917
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str, mode: str) -> None:
    count_from(table, mode, at=NOW - timedelta(days=30))
    remindable_since = NOW - REMIND_AFTER_DELIVERY
    # Remindable eleven hours ago (eleven runs failed, or the delivery was recorded late): reminded.
    late = delivered_order(table, repos, payments, countdown_from=mode,
                           delivered_at=remindable_since - REMIND_LOOKBACK + timedelta(hours=1))
    # Remindable thirteen hours ago: past the look-back, left to the buyer and the auto-confirmation.
    older = delivered_order(table, repos, payments, countdown_from=mode,
                            delivered_at=remindable_since - REMIND_LOOKBACK - timedelta(hours=1))
    first = hourly_run(table, repos, client, NOW)
    second = hourly_run(table, repos, client, NOW + timedelta(minutes=5))  # an overlapping or repeated run
    assert (first["sweep"].sent, second["sweep"].sent) == (1, 0)
    assert len(reminders_at_wechat(sandbox_url, late)) == 1
    assert reminders_at_wechat(sandbox_url, older) == [] and repos.reminders.get(older) is None
    assert second["rcu_by_item_kind"][REMINDER] == 1.0  # only the late one's item is asked for
    assert first["sweep"].examined == (1 if mode == "delivery" else 2)


def test_shipment_mode_finds_an_order_shipped_long_ago_and_delivered_recently(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    count_from(table, "shipment", at=NOW - timedelta(days=30))
    order_id = delivered_order(table, repos, payments, shipped_at=NOW - timedelta(days=9),
                               delivered_at=NOW - timedelta(hours=25), countdown_from="shipment")
    assert sweep_reminders(repos=repos, client=client, now=NOW).sent == 1
    assert len(reminders_at_wechat(sandbox_url, order_id)) == 1


def test_shipment_mode_reaches_the_newest_delivery_behind_more_old_shipments_than_a_run_reminds(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    """With the countdown from the shipment the Query reads every order shipped over a day before,
    oldest first; the run's bound is on reminders, so the newest delivery is not starved by the old
    shipments in front of it (here five undelivered ones against a bound of two)."""
    count_from(table, "shipment", at=NOW - timedelta(days=30))
    for days in range(5):
        delivered_order(table, repos, payments, shipped_at=NOW - timedelta(days=8, hours=days), delivered_at=None,
                        countdown_from="shipment")
    newest = delivered_order(table, repos, payments, shipped_at=NOW - timedelta(days=2),
                             delivered_at=NOW - timedelta(hours=25), countdown_from="shipment")
    result = sweep_reminders(repos=repos, client=client, now=NOW, limit=2)
    assert (result.examined, result.sent) == (6, 1)
    assert len(reminders_at_wechat(sandbox_url, newest)) == 1


def test_a_run_reminds_at_most_its_bound_and_the_next_run_the_rest(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    due = [delivered_order(table, repos, payments) for _ in range(3)]
    first = sweep_reminders(repos=repos, client=client, now=NOW, limit=2)
    second = sweep_reminders(repos=repos, client=client, now=NOW + timedelta(hours=1), limit=2)
    assert (first.sent, second.sent) == (2, 1)
    assert [len(reminders_at_wechat(sandbox_url, o)) for o in due] == [1, 1, 1]


def test_a_delivery_recorded_from_the_shipment_is_reminded_after_a_switch_to_the_delivery(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    """Delivered while the countdown ran from the shipment (its entry stays at the shipment, nine days
    back), then the settings switched to the delivery: the sweep does not start its Query at the
    window until every delivery the window holds was recorded under the switch."""
    count_from(table, "shipment", at=NOW - timedelta(days=30))
    order_id = delivered_order(table, repos, payments, shipped_at=NOW - timedelta(days=9),
                               delivered_at=NOW - timedelta(hours=25), countdown_from="shipment")
    count_from(table, "delivery", at=NOW - timedelta(hours=20))
    count_from(table, "delivery", at=NOW - timedelta(hours=2))  # a later save that changes something else
    run = hourly_run(table, repos, client, NOW)
    assert run["sweep"].sent == 1 and len(reminders_at_wechat(sandbox_url, order_id)) == 1
    assert run["sweep"].examined == 1
    # Once the switch is older than the window, the Query starts at the window again.
    later = hourly_run(table, repos, client, NOW + timedelta(hours=20))
    assert later["sweep"].examined == 0 and REMINDER not in later["rcu_by_item_kind"]


def test_in_delivery_mode_the_query_reads_only_the_window(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any],
        sandbox_url: str) -> None:
    """Default settings (the countdown runs from delivery): deliveries days old, reminded or not, are
    not read again; the one run's units are pinned."""
    for days in range(3, 9):
        delivered_order(table, repos, payments, delivered_at=NOW - timedelta(days=days),
                        shipped_at=NOW - timedelta(days=days + 2))
    due = delivered_order(table, repos, payments)
    run = hourly_run(table, repos, client, NOW)
    assert (run["sweep"].examined, run["sweep"].sent) == (1, 1)
    assert len(reminders_at_wechat(sandbox_url, due)) == 1
    again = hourly_run(table, repos, client, NOW + timedelta(hours=1))
    assert again["sweep"].examined == 1 and again["sweep"].sent == 0
    # The settings (½), the Query of the one entry in the window (½: one 4 KB unit, eventually
    # consistent), the reminder item asked for (1: consistent); the six older deliveries are not read
    # (the run read 7 entries and 7 reminder items, 8 units, when every entry before the delay was).
    assert again["rcu_by_item_kind"] == {REMINDER: 1.0, "ORDER#/ORDER": 0.5, "SETTINGS#/CURRENT": 0.5}
    assert again["rcu"] == 2.0


def reads_from_shipment_to_confirmation(table: Table, repos: ReceiptRepositories, client: ReceiptClient,
                                        payments: dict[str, Any], *, mode: str) -> tuple[dict[str, float], int]:
    """Eight orders shipped together, signed for two days later and confirmed automatically (ten days
    after ``mode``), swept every hour from the shipment to the confirmation: what the sweeps read, by
    kind of item, and how many runs there were."""
    from mall.services.fulfilment import auto_confirm

    count_from(table, mode, at=NOW - timedelta(days=30))
    shipped = NOW - timedelta(days=13)
    delivered = shipped + timedelta(days=2)
    orders = [delivered_order(table, repos, payments, shipped_at=shipped, delivered_at=None) for _ in range(8)]
    settings, tracking = SettingsRepository(table), TrackingRepository(table)
    read: dict[str, float] = {}
    runs = 12 * 24 + 2
    for hour in range(runs):
        at = shipped + timedelta(hours=hour)
        if at == delivered:  # the tracking side records the signing as it is pushed
            for order_id in orders:
                order = repos.orders.get(order_id)
                assert order is not None
                assert (tracking.restart_countdown(order, delivered_at=iso(delivered)) if mode == "delivery"
                        else tracking.record_delivery(order_id, delivered_at=iso(delivered)))
        for kind, units in hourly_run(table, repos, client, at)["rcu_by_item_kind"].items():
            read[kind] = read.get(kind, 0.0) + units / len(orders)
        auto_confirm(repo=repos.orders, settings=settings, now=at)
    assert all(repos.orders.get(o).status == "COMPLETED" for o in orders)  # type: ignore[union-attr]
    assert all((repos.reminders.get(o) or {}).get("status") == "sent" for o in orders)
    return read, runs


def test_the_reads_of_a_delivered_order_from_shipment_to_confirmation(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any]) -> None:
    """The default settings: the countdown runs from delivery, confirmed ten days after it."""
    read, runs = reads_from_shipment_to_confirmation(table, repos, client, payments, mode="delivery")
    # Each order's reminder item: 12 runs of the look-back in the batch (1 consistent unit each) and
    # the one read before the reminder is claimed: 13 (218 when every run read every delivered order's
    # item until the order was confirmed).
    assert read.pop(REMINDER) == 13
    # The index entries in the window, 12 runs before delivery and 12 after, eight orders to a Query
    # of 1½ units, and each order once when it is reminded: 5½ an order (46 when each run read every
    # entry the delay before it).
    assert read.pop("ORDER#/ORDER") == 5.5
    # Each run, whatever the orders: the settings in force (½) and a Query that may find nothing (½).
    assert read.pop("SETTINGS#/CURRENT") * 8 == runs * 0.5
    assert read.pop("gsi2:AUTOCONFIRM") * 8 <= runs * 0.5 and read == {}


def test_the_reads_of_a_delivered_order_when_the_countdown_runs_from_the_shipment(
        table: Table, repos: ReceiptRepositories, client: ReceiptClient, payments: dict[str, Any]) -> None:
    """The entry's key stays the shipment: the Query still reads it every run from a day after the
    shipment to the confirmation; only the reminder items are cut."""
    read, runs = reads_from_shipment_to_confirmation(table, repos, client, payments, mode="shipment")
    assert read.pop(REMINDER) == 13  # (was 171: every run from a day after delivery to the confirmation)
    # The entry, 1½ units for eight in every run from a day after the shipment to the confirmation
    # (216 runs), and each order once when it is reminded.
    assert read.pop("ORDER#/ORDER") == 41.6875
    assert read.pop("SETTINGS#/CURRENT") * 8 == runs * 0.5
    assert read.pop("gsi2:AUTOCONFIRM") * 8 <= runs * 0.5 and read == {}
