"""Batched commission credits (``mall.services.commission_batch``, the ``commission_sync`` worker's
batch pre-pass) on DynamoDB Local: a batch of one promoter's newly paid orders is credited in one
transaction — one wallet write carrying the sum — and every credit lands exactly once whatever the
redeliveries, overlaps and concurrent workers (real threads)."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.services.commissions import CommissionRepositories, sync_order
from tests.conftest import clear_caches
from tests.integration.test_commission_sync import NOW, line, promoter, put_order, records, save_settings
from tests.unit.conftest import FakeContext, load_function

HOT, UPLINE = "u_hot", "u_up"


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    version = save_settings(table, settlement_days=7, l1_rate_bp=1000, l2_rate_bp=500)
    promoter(table, HOT)
    promoter(table, UPLINE)
    return table, version


@pytest.fixture
def worker(table: Table) -> Iterator[Any]:
    clear_caches()
    yield load_function("commission_sync")
    clear_caches()


def paid_orders(table: Table, version: int, n: int, prefix: str = "o") -> dict[str, int]:
    """``n`` paid one-line orders whose L1 is the hot promoter and L2 the upline; order id → price."""
    prices = {}
    for i in range(n):
        order_id = f"{prefix}{i:04d}"
        prices[order_id] = 1_000 + 10 * i
        put_order(table, order_id, [line("1", prices[order_id], category_id=None)], l1=HOT, l2=UPLINE,
                  version=version)
    return prices


def sqs(order_ids: list[str]) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": json.dumps({"order_id": oid}),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:CommissionQueue",
                         "awsRegion": "us-east-1"} for i, oid in enumerate(order_ids)]}


def assert_books(table: Table, prices: dict[str, int]) -> None:
    """Each order credited once (one record and one posting per level), the wallets exactly the sum,
    the ledger equal to the wallets, the merchant's side the opposite."""
    l1 = sum(p * 1000 // 10_000 for p in prices.values())
    l2 = sum(p * 500 // 10_000 for p in prices.values())
    ledger = LedgerRepository(table)
    assert ledger.wallet(HOT).balances == L.Balances(frozen=l1)
    assert ledger.wallet(UPLINE).balances == L.Balances(frozen=l2)
    for uid, total in ((HOT, l1), (UPLINE, l2)):
        postings = list(ledger.all_postings(uid))
        assert len(postings) == len(prices)
        assert L.sum_legs(postings) == {"frozen": total, "merchant:commission": -total}
    assert ledger.merchant_balances()["merchant:commission"] == -(l1 + l2)
    for order_id in prices:
        assert set(records(table, order_id)) == {("1", 1), ("1", 2)}


def count_transactions(module: Any) -> list[int]:
    calls = [0]

    def count(**_: Any) -> None:
        calls[0] += 1

    module.table.client.meta.events.register("before-call.dynamodb.TransactWriteItems", count)
    return calls


def test_a_batch_of_one_promoters_orders_is_credited_in_one_transaction(world: tuple[Table, int],
                                                                        worker: Any) -> None:
    table, version = world
    prices = paid_orders(table, version, 10)
    transactions = count_transactions(worker)
    assert worker.handler(sqs(list(prices)), FakeContext()) == {"batchItemFailures": []}
    # One per order before: ten wallet writes for ten credits. Now the batch's credits share one.
    assert transactions[0] == 1
    assert LedgerRepository(table).wallet(HOT).version == 1
    assert_books(table, prices)


def test_a_redelivered_order_in_a_batch_is_credited_once(world: tuple[Table, int], worker: Any) -> None:
    table, version = world
    prices = paid_orders(table, version, 8)
    ids = list(prices)
    sync_order(CommissionRepositories.on(table), order_id=ids[3], now=NOW)  # delivered before, alone
    assert worker.handler(sqs(ids), FakeContext()) == {"batchItemFailures": []}
    assert worker.handler(sqs(ids[::-1] + ids[:2]), FakeContext()) == {"batchItemFailures": []}  # all again
    assert_books(table, prices)


def test_concurrent_workers_on_overlapping_batches_credit_each_order_once(world: tuple[Table, int],
                                                                          worker: Any) -> None:
    """Six threads run the worker on batches of ten; every order is in two batches (a redelivery, a
    duplicate from the stream) that race: the wallets end at exactly the sum, one posting per credit."""
    table, version = world
    prices = paid_orders(table, version, 60)
    ids = list(prices)
    rng = random.Random(7)
    deliveries = ids + ids
    rng.shuffle(deliveries)
    batches = [deliveries[i:i + 10] for i in range(0, len(deliveries), 10)]
    start = threading.Barrier(6)
    transactions = count_transactions(worker)

    def run(n: int) -> list[dict[str, Any]]:
        start.wait()
        return [worker.handler(sqs(batch), FakeContext()) for batch in batches[n::6]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [r for rs in pool.map(run, range(6)) for r in rs]
    assert all(r == {"batchItemFailures": []} for r in results)
    assert_books(table, prices)
    assert transactions[0] < len(ids)  # batched: fewer transactions than credits, retries included
