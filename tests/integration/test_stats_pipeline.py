"""The stats pipeline on DynamoDB Local, with the table's stream:

a fortnight of shop life is seeded through the real services (customers log in, promoters apply,
customers bind and visit share links, orders are placed and paid, commission is synced, virtual
orders are delivered, commission settles, refunds before and after settlement, withdrawals paid
and rejected, a promoter disabled), while the table's stream records every change. The changes
the router would forward are then fed to the stats worker's logic duplicated, shuffled and from
8 threads at once; afterwards

- the dashboard for several ranges equals a brute-force recomputation from the seeded items,
- the leaderboards equal a brute-force top 100,
- the TEAM_SALES items equal their definition (docs/dashboard.md),
- and the same change delivered to many threads at once is applied once (also when it is split
  into several transactions)."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from mall.clock import CHINA, iso
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.changes import Change, change_from_stream, change_message, parse_change, record_change, routed
from mall.dal.identity import CustomerRepository
from mall.dal.keys import team_sales_key
from mall.dal.orders import OrderRepository
from mall.dal.payouts import PayoutRepository
from mall.dal.referral import PromoterRepository, VisitRateLimiter, VisitRepository
from mall.dal.refunds import RefundRepository
from mall.dal.settings import SettingsRepository
from mall.dal.stats import StatsRepository
from mall.dal.table import Item, Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain.catalog import Category, Product
from mall.domain.commission import ever_paid
from mall.domain.masking import mask_nickname
from mall.domain.refunds import LineRequest
from mall.domain.settings import CommissionRates, DistributionSettings, PromoterLevel, WithdrawalRules
from mall.domain.stats import CounterDelta, contributions
from mall.domain.stats_periods import day_of, period_key
from mall.domain.tokens import Role
from mall.integrations.wechatpay.errors import WeChatPayError
from mall.integrations.wechatpay.refund_resources import RefundResource, RefundResult
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest, ShareSourceRequest
from mall.schemas.referral import ApplyRequest
from mall.schemas.withdrawals import BankAccountIn, WithdrawalRequest
from mall.services import refunds as refund_service
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.order_changes import OrderChange, on_order_changes
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.payouts.bank import mark_bank_paid
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code
from mall.services.referral.promoters import apply, change_status
from mall.services.referral.visits import RecordVisit, record_visit
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.stats import apply_change, apply_changes, dashboard, promoter_leaderboard
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import approve_withdrawal, reject_withdrawal

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 26, 1, 0, tzinfo=UTC)  # Monday 26 Oct, 09:00 China: the seed crosses a month
APPID = "wx_test_app"


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hour, minutes=minute)


# ---- seeding through the services -----------------------------------------------------------------------


class _NoPay:
    """Prepay is not what this test is about: placing survives a failed prepay (``payment_error``)."""

    def __getattr__(self, name: str) -> Any:
        raise WeChatPayError(0, "OFF", "sandbox off")


class _Gateway:
    def create_refund(self, out_refund_no: str, *, out_trade_no: str, refund_fen: int, total_fen: int,
                      reason: str | None, notify_url: str, funds_account: str | None = None) -> RefundResult:
        return RefundResult.model_validate({
            "refund_id": f"50{abs(hash(out_refund_no)) % 10**20:020d}", "out_refund_no": out_refund_no,
            "transaction_id": "4200000000", "out_trade_no": out_trade_no, "status": "PROCESSING",
            "amount": {"total": total_fen, "refund": refund_fen}})


class Shop:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.orders = OrderRepository(table)
        self.fulfilment = OrderRepository(table)
        self.refunds = RefundRepository(table)
        self.customers = CustomerRepository(table)
        self.products = ProductRepository(table)
        self.codes: dict[str, str] = {}

    def settings(self) -> None:
        repo = SettingsRepository(self.table)
        current = repo.current(consistent=True)
        document = DistributionSettings(
            promoter_review="auto", levels=[PromoterLevel(id="basic", name="普通")],
            commission=CommissionRates(settlement_days=7),
            withdrawal=WithdrawalRules(methods=["wechat", "bank"], auto_review_below_fen=0, min_fen=100))
        repo.save(document, based_on=current.version, saved_by="test", now=at(0))

    def catalog(self) -> None:
        CategoryRepository(self.table).create(Category(category_id="c_tea", name="茶"))
        for pid, name, price in (("p_longjing", "龙井", 12_800), ("p_pu", "普洱", 36_600), ("p_cup", "茶杯", 4_900)):
            self.products.create(Product(product_id=pid, name=name, type="virtual", category_id="c_tea",
                                         price_fen=price, stock=1_000, on_shelf=True))

    def customer(self, name: str, day: int) -> str:
        customer, _ = self.customers.get_or_create(app_id=APPID, openid=f"openid-{name}", unionid=None, now=at(day))
        return customer.user_id

    def promoter(self, uid: str, nickname: str, day: int) -> None:
        view = apply(network=ReferralRepositories.on(self.table), user_id=uid, body=ApplyRequest(nickname=nickname),
                     now=at(day, 1))
        assert view.status == "active"
        self.codes[uid] = view.code

    def bind(self, uid: str, promoter: str, day: int) -> None:
        bind_with_code(BindWithCode(customer_id=uid, code=self.codes[promoter], now=at(day, 2)),
                       network=ReferralRepositories.on(self.table))

    def visit(self, promoter: str, day: int, visitor: str | None = None) -> None:
        record_visit(RecordVisit(code=self.codes[promoter], source="link", product_id="p_pu", visitor_id=visitor,
                                 device_id=None, source_ip="203.0.113.9", now=at(day, 3)),
                     network=ReferralRepositories.on(self.table), visits=VisitRepository(self.table),
                     visit_rate=VisitRateLimiter(self.table))

    def order(self, buyer: str, day: int, lines: dict[str, int], *, via: str | None = None, pay: bool = True,
              hour: int = 4) -> str:
        request = PlaceOrderRequest(
            lines=[OrderLineRequest(product_id=pid, quantity=q) for pid, q in lines.items()],
            share_source=ShareSourceRequest(promoter_code=self.codes[via], source="link") if via else None)
        placed = place_order(PlaceOrder(request=request, buyer_id=buyer, now=at(day, hour)),
                             repos=PlacementRepositories.on(self.table),
                             pay=_NoPay,  # type: ignore[arg-type]
                             notify_url="http://webhook.test/webhooks/wechatpay")
        if not pay:
            return placed.order_id
        order = self.orders.get(placed.order_id)
        assert order is not None
        before = self.orders.get_item(placed.order_id)
        paid_at = at(day, hour, 5)
        assert self.orders.mark_paid(order, transaction_id=f"42{placed.order_id[-10:]}", paid_at=paid_at,
                                     now=paid_at)
        after = self.orders.get_item(placed.order_id)
        on_order_changes(repo=self.fulfilment, changes=[OrderChange(before, after)], now=paid_at)  # delivered
        sync_order(CommissionRepositories.on(self.table), order_id=placed.order_id, now=paid_at + timedelta(minutes=1))
        sync_order(CommissionRepositories.on(self.table),
                   order_id=placed.order_id, now=paid_at + timedelta(minutes=2))  # due date
        return placed.order_id

    def refund(self, buyer: str, order_id: str, day: int, amount: int | None = None) -> None:
        when = at(day, 6)
        view = refund_service.request_refund(orders=self.fulfilment, refunds=self.refunds, buyer_id=buyer,
                                             order_id=order_id, reason="不想要了",
                                             lines=[LineRequest("1", amount)], now=when)
        refund_service.approve_refund(orders=self.fulfilment, refunds=self.refunds, refund_id=view.refund_id,
                                      admin="admin:alice", now=when, gateway=_Gateway(),
                                      notify_url="http://webhook.test/webhooks/wechatpay")
        refund_service.handle_refund_notification(orders=self.fulfilment, refunds=RefundRepository(self.table),
                                                  refund=RefundResource.model_validate({
            "mchid": "1900000001", "transaction_id": "4200000000", "out_trade_no": order_id,
            "refund_id": f"50{abs(hash(view.refund_id)) % 10**20:020d}", "out_refund_no": view.refund_id,
            "refund_status": "SUCCESS", "success_time": (when + timedelta(minutes=1)).astimezone(CHINA).isoformat(),
            "amount": {"total": view.amount_fen, "refund": view.amount_fen, "payer_total": view.amount_fen,
                       "payer_refund": view.amount_fen}}), now=when + timedelta(minutes=1))
        sync_order(CommissionRepositories.on(self.table), order_id=order_id, now=when + timedelta(minutes=2))

    def withdraw(self, uid: str, day: int, amount: int, *, pay: bool) -> None:
        body = WithdrawalRequest(amount_fen=amount, method="bank", bank=BankAccountIn(
            bank_name="招商银行", account_name="张三", account_no="6225880112345678"))
        view = request_withdrawal(withdrawals=WithdrawalRepository(self.table), settings=SettingsRepository(self.table),
                                  promoter_id=uid, body=body, now=at(day, 7), queue=None)
        if pay:
            approve_withdrawal(withdrawals=WithdrawalRepository(self.table), withdrawal_id=view.withdrawal_id,
                               admin="admin:alice",
                               now=at(day, 8), source_ip=None, queue=None, roles={Role.OWNER})
            mark_bank_paid(payouts=PayoutRepository(self.table), withdrawal_id=view.withdrawal_id, reference="BANK-1",
                           admin="admin:bob",
                           now=at(day + 1, 2))
        else:
            reject_withdrawal(withdrawals=WithdrawalRepository(self.table), withdrawal_id=view.withdrawal_id,
                              admin="admin:alice",
                              reason="资料不全", now=at(day, 9), source_ip=None)


def seed(table: Table) -> Shop:
    shop = Shop(table)
    shop.settings()
    shop.catalog()
    people = {name: shop.customer(name, day) for name, day in (
        ("ann", 0), ("bo", 0), ("cai", 1), ("dan", 2), ("eve", 3), ("fay", 5), ("gus", 6), ("hal", 7), ("ivy", 9))}
    ann, bo, cai, dan, eve, fay, gus, hal, ivy = people.values()
    shop.promoter(ann, "安安推广", 0)
    shop.promoter(bo, "波波", 1)
    shop.promoter(cai, "蔡", 2)
    shop.bind(bo, ann, 1)  # ann ← bo: bo's sales pay ann level 2
    shop.bind(dan, bo, 2)
    shop.bind(eve, bo, 3)
    shop.bind(fay, ann, 5)
    shop.bind(gus, cai, 6)
    for day, promoter in ((2, bo), (3, bo), (3, ann), (5, cai), (6, cai), (9, ann), (12, bo)):
        shop.visit(promoter, day)

    o1 = shop.order(dan, 2, {"p_pu": 1, "p_cup": 2})  # dan's first, paid 28 Oct
    shop.order(dan, 4, {"p_longjing": 1}, via=bo)  # dan's second: a repeat buyer
    o3 = shop.order(eve, 3, {"p_pu": 2}, via=bo)
    shop.order(fay, 5, {"p_longjing": 3})
    o5 = shop.order(gus, 6, {"p_pu": 1, "p_longjing": 1}, via=cai)
    shop.order(bo, 6, {"p_cup": 1})  # a promoter buying (self-purchase)
    shop.order(hal, 7, {"p_cup": 1}, via=ann)  # a visitor through ann's link, not bound
    shop.order(ivy, 9, {"p_pu": 1}, pay=False)  # never paid
    shop.order(dan, 10, {"p_cup": 1}, via=bo, hour=17)  # 11 Nov 01:05 China: a later day than UTC says
    shop.order(eve, 13, {"p_pu": 1})

    shop.refund(eve, o3, 4, amount=20_000)  # before settlement: commission cancelled pro rata
    settle_due(SettlementRepositories.on(table), as_of=at(11), now=at(11))  # the first week's orders settle (T+7)
    shop.refund(gus, o5, 12)  # after settlement: a clawback, team sales go down in November
    shop.refund(dan, o1, 14, amount=10_000)  # settled in Nov, partially clawed back
    shop.withdraw(bo, 12, 3_000, pay=True)
    shop.withdraw(bo, 13, 900, pay=False)
    change_status(promoters=PromoterRepository(table), user_id=cai, action="disable", reason="违规", by="admin:alice",
                  now=at(14))
    return shop


# ---- the stream -------------------------------------------------------------------------------------------


def stream_changes(table: Table) -> list[Change]:
    """Every record of the table's stream (DynamoDB Local), oldest first per shard."""
    endpoint = table.client.meta.endpoint_url
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
    arn = table.client.describe_table(TableName=table.name)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        empty = 0
        while iterator and empty < 2:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(response["Records"])
            empty = empty + 1 if not response["Records"] else 0
            iterator = response.get("NextShardIterator")
    return [change_from_stream(r) for r in records]


def forwarded(change: Change) -> bool:
    """What the router's filter (template.yaml) and ``routed`` let through to StatsQueue."""
    new = change.new
    if new is None or not routed(change):
        return False
    return new.get("entity") != "order" or new.get("sk") == "ORDER"


def feed(table: Table, messages: list[str], *, threads: int = 8, seed_value: int = 7) -> None:
    """Every message, a third of them twice, in a shuffled order, from ``threads`` threads."""
    rng = random.Random(seed_value)
    batch = messages + rng.sample(messages, len(messages) // 3)
    rng.shuffle(batch)

    def work(body: str) -> None:
        change = parse_change(body)
        assert change is not None
        apply_change(stats=StatsRepository(table), change=change, now=datetime.now(UTC))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, batch))


def feed_batches(table: Table, messages: list[str], *, threads: int = 4, seed_value: int = 7) -> None:
    """Every message, a third of them twice, shuffled, in SQS-like batches of 1 to 10 applied merged
    (the worker's way) from ``threads`` threads: redeliveries land in other batches than the first
    delivery, some in the same one, some at the same time."""
    rng = random.Random(seed_value)
    bodies = messages + rng.sample(messages, len(messages) // 3)
    rng.shuffle(bodies)
    batches: list[list[str]] = []
    while bodies:
        size = rng.randint(1, 10)
        batches.append(bodies[:size])
        bodies = bodies[size:]

    def work(batch: list[str]) -> None:
        changes = [parse_change(body) for body in batch]
        apply_changes(stats=StatsRepository(table), changes=[c for c in changes if c is not None],
                      now=datetime.now(UTC))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, batches))


# ---- brute force ------------------------------------------------------------------------------------------


def everything(table: Table) -> list[Item]:
    items: list[Item] = []
    start: Any = None
    while True:
        kwargs: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = table.client.scan(**kwargs)
        from mall.dal.table import deserialize

        items.extend(deserialize(raw) for raw in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def brute_dashboard(items: list[Item], first: str, last: str) -> dict[str, Any]:
    def within(value: Any) -> bool:
        day = day_of(value)
        return day is not None and first <= day <= last

    by = defaultdict(list)
    for item in items:
        by[item.get("entity")].append(item)
    orders = [o for o in by["order"] if o.get("sk") == "ORDER" and ever_paid(o)]
    in_range = [o for o in orders if within(o["paid_at"])]
    gmv = sum(o["amount_fen"] for o in in_range)
    per_buyer: dict[str, int] = defaultdict(int)
    for o in in_range:
        per_buyer[o["buyer_id"]] += 1
    history: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for o in orders:
        history[o["buyer_id"]].append((o["paid_at"], o["order_id"]))
    firsts = [sorted(h) for h in history.values()]
    commissions = by["commission"]
    level: dict[int, dict[str, int]] = {1: defaultdict(int), 2: defaultdict(int)}
    for c in commissions:
        if not within(c["created_at"]):
            continue
        current = c["amount_fen"] - c.get("cancelled_fen", 0) - c.get("clawed_back_fen", 0)
        bucket = level[c["level"]]
        bucket["records"] += 1
        bucket["created_fen"] += c["amount_fen"]
        bucket["frozen_fen"] += current if c["status"] == "FROZEN" else 0
        bucket["settled_fen"] += current if c["status"] == "SETTLED" else 0
        bucket["cancelled_fen"] += c.get("cancelled_fen", 0)
        bucket["clawed_back_fen"] += c.get("clawed_back_fen", 0)
    w = by["withdrawal"]
    visits = [v for v in by["share_visit"] if within(v["at"]) and v.get("counted", True)]
    shared = [o for o in in_range if o.get("share_source")]
    active = {c["beneficiary_id"] for c in commissions if within(c["created_at"])} | {v["promoter_id"] for v in visits}
    sellers: dict[str, dict[str, int]] = defaultdict(lambda: {"sales_fen": 0, "orders": 0, "commission_fen": 0})
    for o in in_range:
        l1 = (o.get("attribution") or {}).get("l1_promoter_id")
        if l1:
            refunded = sum(x.get("refunded_fen", 0) for x in o["lines"]) + o.get("shipping_refunded_fen", 0)
            sellers[l1]["sales_fen"] += o["amount_fen"] - refunded
            sellers[l1]["orders"] += 1
    for c in commissions:
        if within(c["created_at"]):
            sellers[c["beneficiary_id"]]["commission_fen"] += (c["amount_fen"] - c.get("cancelled_fen", 0)
                                                               - c.get("clawed_back_fen", 0))
    nick = {p["user_id"]: p.get("nickname") for p in by["promoter"]}
    top = sorted(sellers.items(), key=lambda kv: (-kv[1]["sales_fen"], -kv[1]["commission_fen"], kv[0]))[:10]
    products: dict[str, dict[str, Any]] = defaultdict(lambda: {"units": 0, "sales_fen": 0, "orders": 0, "name": ""})
    for o in in_range:
        for line in o["lines"]:
            p = products[line["product_id"]]
            p["units"] += line["quantity"]
            p["sales_fen"] += line["paid_fen"] - line.get("refunded_fen", 0)
            p["orders"] += 1
            p["name"] = line["name"]
    top_products = sorted(products.items(), key=lambda kv: (-kv[1]["sales_fen"], -kv[1]["units"], kv[0]))[:10]
    buyers = sum(1 for n in per_buyer.values() if n >= 1)
    repeat = sum(1 for n in per_buyer.values() if n >= 2)
    refunds = [r for r in by["refund"] if r["status"] == "SUCCEEDED" and r.get("kind") != "paid_after_expiry"
               and within(r["succeeded_at"])]
    return {
        "gmv_fen": gmv, "paid_orders": len(in_range),
        "average_order_value_fen": gmv // len(in_range) if in_range else 0,
        "refunds": len(refunds), "refund_fen": sum(r["amount_fen"] for r in refunds),
        "customers_new": sum(1 for c in by["customer"] if within(c.get("created_at"))),
        "customers_total": len(by["customer"]),
        "buyers": buyers, "repeat_buyers": repeat, "repurchase_rate_bp": repeat * 10_000 // buyers if buyers else 0,
        "first_time_buyers": sum(1 for f in firsts if within(f[0][0])),
        "became_repeat_buyers": sum(1 for f in firsts if len(f) > 1 and within(f[1][0])),
        "promoters_total": sum(1 for p in by["promoter"] if p["status"] in ("active", "frozen")),
        "promoters_new": sum(1 for p in by["promoter"] if within(p.get("activated_at"))),
        "promoters_active": len(active),
        "commission": {f"l{k}": {name: v.get(name, 0) for name in ("records", "created_fen", "frozen_fen",
                                                                   "settled_fen", "cancelled_fen", "clawed_back_fen")}
                       for k, v in level.items()},
        "withdrawals": {
            "requested": sum(1 for x in w if within(x["created_at"])),
            "requested_fen": sum(x["amount_fen"] for x in w if within(x["created_at"])),
            "paid": sum(1 for x in w if x["status"] == "PAID" and within(x["paid_at"])),
            "paid_fen": sum(x["amount_fen"] for x in w if x["status"] == "PAID" and within(x["paid_at"])),
            "fee_fen": sum(x["fee_fen"] for x in w if x["status"] == "PAID" and within(x["paid_at"])),
            "returned": sum(1 for x in w if x["status"] in ("FAILED", "REJECTED")
                            and within(x.get("failed_at") or x.get("rejected_at"))),
            "returned_fen": sum(x["amount_fen"] for x in w if x["status"] in ("FAILED", "REJECTED")
                                and within(x.get("failed_at") or x.get("rejected_at")))},
        "share_visits": len(visits), "shared_orders": len(shared),
        "shared_gmv_fen": sum(o["amount_fen"] for o in shared),
        "conversion_bp": len(shared) * 10_000 // len(visits) if visits else 0,
        "top_promoters": [{"user_id": uid, "nickname": mask_nickname(nick.get(uid)), **v} for uid, v in top],
        "top_products": [{"product_id": pid, **v} for pid, v in top_products],
    }


def brute_board(items: list[Item], board: str, key: str) -> list[tuple[str, int]]:
    scores: dict[str, int] = defaultdict(int)
    for item in items:
        if item.get("entity") == "commission" and board == "commission":
            day = day_of(item["created_at"])
            assert day is not None
            if key in (period_key("week", day), period_key("month", day)):
                scores[item["beneficiary_id"]] += (item["amount_fen"] - item.get("cancelled_fen", 0)
                                                   - item.get("clawed_back_fen", 0))
        if item.get("entity") == "order" and item.get("sk") == "ORDER" and board == "sales" and ever_paid(item):
            day = day_of(item["paid_at"])
            l1 = (item.get("attribution") or {}).get("l1_promoter_id")
            assert day is not None
            if l1 and key in (period_key("week", day), period_key("month", day)):
                refunded = sum(x.get("refunded_fen", 0) for x in item["lines"]) + item.get("shipping_refunded_fen", 0)
                scores[l1] += item["amount_fen"] - refunded
    ordered = sorted(((uid, s) for uid, s in scores.items() if s > 0), key=lambda kv: (-kv[1], kv[0]))
    return ordered[:100]


def contract_team_sales(items: list[Item]) -> dict[tuple[str, str], tuple[int, int]]:
    """The definition (docs/dashboard.md): Σ base_fen of commission records of P (level 1 or 2, buyer ≠ P) that became
    SETTLED in M (China time of settled_at), minus base clawed back from such records in M; and the
    orders with such a record settled in M. Base refunded *before* settlement never settled (the
    record's commission was cancelled pro rata, not clawed back), so it is not part of the base that
    settled: this seed has one such record (order 3), which reads the contract that way."""
    sales: dict[tuple[str, str], int] = defaultdict(int)
    orders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in items:
        if c.get("entity") != "commission" or c["status"] != "SETTLED" or c["buyer_id"] == c["beneficiary_id"]:
            continue
        settled_month = (day_of(c["settled_at"]) or "")[:7]
        refunded_before = 0
        seen_settled = False
        for entry in c.get("history") or []:
            if entry.get("status") == "SETTLED":
                seen_settled = True
            elif "refunded_base_fen" in entry and not seen_settled:
                refunded_before = entry["refunded_base_fen"]
        sales[(c["beneficiary_id"], settled_month)] += c["base_fen"] - refunded_before
        orders[(c["beneficiary_id"], settled_month)].add(c["order_id"])
        last = refunded_before
        after = False
        for entry in c.get("history") or []:
            after = after or entry.get("status") == "SETTLED"
            if after and "refunded_base_fen" in entry and entry["refunded_base_fen"] > last:
                sales[(c["beneficiary_id"], (day_of(entry["at"]) or "")[:7])] -= entry["refunded_base_fen"] - last
                last = entry["refunded_base_fen"]
    keys = set(sales) | set(orders)
    return {k: (sales.get(k, 0), len(orders.get(k, set()))) for k in keys}


# ---- the tests --------------------------------------------------------------------------------------------


@pytest.fixture
def seeded(table: Table) -> Iterator[tuple[Table, list[str], list[Item]]]:
    seed(table)
    changes = [c for c in stream_changes(table) if forwarded(c)]
    entities = {c.entity for c in changes}
    assert {"order", "commission", "withdrawal", "customer", "promoter", "share_visit", "refund"} <= entities
    messages = [json.dumps(change_message(c)) for c in changes]
    items = everything(table)
    yield table, messages, items


@pytest.mark.table_stream
@pytest.mark.parametrize("merged", [False, True], ids=["one change at a time", "merged batches"])
def test_dashboard_leaderboards_and_team_sales_equal_a_brute_force_recount(
        seeded: tuple[Table, list[str], list[Item]], merged: bool) -> None:
    table, messages, items = seeded
    (feed_batches if merged else feed)(table, messages)

    for first, last in (("2026-10-26", "2026-11-12"), ("2026-10-28", "2026-11-04"), ("2026-11-01", "2026-11-30"),
                        ("2026-11-04", "2026-11-04"), ("2026-11-11", "2026-11-11"), ("2025-11-12", "2026-11-12")):
        got = dashboard(stats=StatsRepository(table), date_from=first, date_to=last, now=at(20)).model_dump()
        expected = brute_dashboard(items, first, last)
        for name, value in expected.items():
            assert got[name] == value, (first, last, name)
    whole = dashboard(stats=StatsRepository(table), date_from="2026-10-26", date_to="2026-11-12", now=at(20))
    assert whole.paid_orders == 9 and whole.repeat_buyers >= 1 and whole.refunds == 3
    assert whole.commission.l1.clawed_back_fen > 0 and whole.commission.l1.cancelled_fen > 0
    assert whole.withdrawals.paid == 1 and whole.withdrawals.returned == 1

    uids = {p["user_id"] for p in items if p.get("entity") == "promoter"}
    for board in ("commission", "sales"):
        for period, day in (("week", 2), ("week", 9), ("month", 2), ("month", 9)):
            now = at(day, 6)
            key = period_key(period, day_of(iso(now)) or "")  # type: ignore[arg-type]
            caller = sorted(uids)[0]
            view = promoter_leaderboard(stats=StatsRepository(table), board=board,  # type: ignore[arg-type]
                                        period=period, caller_id=caller, now=now)  # type: ignore[arg-type]
            expected = brute_board(items, board, key)
            nick = {p["user_id"]: p.get("nickname") for p in items if p.get("entity") == "promoter"}
            assert [(e.nickname, e.score_fen) for e in view.entries] == [
                (mask_nickname(nick.get(uid)), s) for uid, s in expected], (board, period, day)
            assert all(e.is_me == (uid == caller) for e, (uid, _) in zip(view.entries, expected, strict=True))
            mine = dict(expected).get(caller)
            assert view.me.score_fen == (mine or 0)
            if mine:
                assert view.me.rank == 1 + sum(1 for _, s in expected if s > mine)

    team = {}
    for item in items:
        if item.get("entity") == "commission":
            for month in ("2026-10", "2026-11", "2026-12"):
                found = table.get(team_sales_key(month, item["beneficiary_id"]), consistent=True)
                if found and (found.get("team_sales_fen") or found.get("orders")):
                    assert found["entity"] == "team_sales" and found["month"] == month
                    team[(found["promoter_id"], month)] = (found.get("team_sales_fen", 0), found.get("orders", 0))
    assert team == contract_team_sales(items)
    assert len(team) >= 2 and all(orders > 0 for _, orders in team.values())


def big_order_change(lines_count: int, event_id: str) -> Change:
    lines = [{"line_id": str(i), "product_id": f"p_{i:02d}", "name": f"商品{i}", "quantity": 1, "paid_fen": 100,
              "refunded_fen": 0} for i in range(1, lines_count + 1)]
    old = {"pk": f"ORDER#o_{event_id}", "sk": "ORDER", "entity": "order", "order_id": f"o_{event_id}",
           "buyer_id": "u_big", "status": "CREATED", "amount_fen": 100 * lines_count, "lines": lines,
           "share_source": {"promoter_code": "SELLER01", "source": "qr"},
           "attribution": {"l1_promoter_id": "u_seller"}}
    return Change(event_id, "MODIFY", "1", old, {**old, "status": "PAID", "paid_at": "2026-11-03T02:00:00Z"})


def test_the_same_change_delivered_to_many_threads_at_once_is_applied_once(table: Table) -> None:
    change = big_order_change(3, "ev-race")
    barrier = threading.Barrier(10)

    def work(_: int) -> Any:
        barrier.wait()
        return apply_change(stats=StatsRepository(table), change=change, now=datetime.now(UTC))

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(work, range(10)))
    assert sum(r.applied for r in results) == 1 and sum(r.already_applied for r in results) == 9
    got = dashboard(stats=StatsRepository(table), date_from="2026-11-03", date_to="2026-11-03", now=datetime.now(UTC))
    assert (got.gmv_fen, got.paid_orders, got.shared_orders, got.first_time_buyers, got.buyers) == (300, 1, 1, 1, 1)
    assert [(p.product_id, p.units) for p in got.top_products] == [("p_01", 1), ("p_02", 1), ("p_03", 1)]
    board = StatsRepository(table).board_top("sales", "2026-W45")
    assert [(b["promoter_id"], b["score_fen"]) for b in board] == [("u_seller", 300)]
    # Later redeliveries, through the worker's parsing, add nothing either.
    feed(table, [json.dumps(change_message(change))] * 4, threads=4)
    again = dashboard(stats=StatsRepository(table), date_from="2026-11-03", date_to="2026-11-03", now=datetime.now(UTC))
    assert again.gmv_fen == 300 and again.paid_orders == 1


def test_a_change_too_big_for_one_transaction_is_split_and_each_part_applied_once(table: Table) -> None:
    change = big_order_change(20, "ev-big")
    deltas = contributions(record_change(change))
    assert sum(1 for d in deltas if isinstance(d, CounterDelta) and d.target.kind == "product") == 20
    repo = StatsRepository(table)
    barrier = threading.Barrier(6)

    def work(_: int) -> Any:
        barrier.wait()
        return repo.apply("ev-big", deltas, now=datetime.now(UTC), limit=9)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(6)))
    parts = results[0].parts
    assert parts > 2 and all(r.parts == parts for r in results)
    assert sum(r.applied for r in results) == parts  # every part once, by whichever thread got there first
    products = repo.entities(days=["2026-11-03"], months=[])["product"]
    assert sorted((p["product_id"], p["units"], p["sales_fen"]) for p in products) == [
        (f"p_{i:02d}", 1, 100) for i in range(1, 21)]
    agg = repo.aggregates(days=["2026-11-03"], months=["2026-11"])
    assert sum(a.get("gmv_fen", 0) for a in agg) == 4_000  # the day and its month, 2,000 each
    assert table.get({"pk": "USER#u_big", "sk": "STATS_BUYER"}, consistent=True) is not None
    assert repo.board_entry("sales", "2026-11", "u_seller") is not None
