"""The commission basis taken at payment, on DynamoDB Local: orders placed and paid through the real
services, then the two workers that react to a paid order (commission sync, referral) run in either
order, or days later after the promoters, settings and categories changed, and pay the same; in
``first_payment`` mode an unbound buyer's orders follow the binding their first payment makes; and
the payment path stays within its DynamoDB round-trip budget."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commissions import CommissionRepository
from mall.dal.identity import CustomerRepository
from mall.dal.keys import order_key
from mall.dal.orders import OrderRepository
from mall.dal.referral import BindingRepository, PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.catalog import Category, Product
from mall.domain.referral import Promoter
from mall.domain.settings import (
    BindingMode,
    CommissionRates,
    DistributionSettings,
    LevelUpgrade,
    PromoterLevel,
)
from mall.integrations.wechatpay.client import WeChatPayClient
from mall.integrations.wechatpay.errors import WeChatPayError
from mall.integrations.wechatpay.factory import MerchantConfig
from mall.integrations.wechatpay.resources import TransactionAmount, TransactionResource
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest, ShareSourceRequest
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.payments import PaymentRepositories, apply_payment
from mall.services.referral import ReferralRepositories
from mall.services.referral.binding import BindWithCode, bind_with_code
from mall.services.referral.order_paid import OrderPaidRepositories, on_order_paid
from mall.services.referral.promoters import SetOverride, change_status, set_level, set_override

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
APPID = "wx_snapshot_app"
MERCHANT = MerchantConfig(mchid="1900000001", appid=APPID, merchant_serial="SERIAL", public_key_id="PUB_KEY_ID",
                          notify_url="http://webhook.test/webhooks/wechatpay")
BASIC = PromoterLevel(id="basic", name="普通")
SENIOR = PromoterLevel(id="senior", name="高级", l1_points_bp=300, l2_points_bp=100,
                       upgrade=LevelUpgrade(own_sales_at_least_fen=10_000))
PRICE = 10_000


def _no_pay() -> WeChatPayClient:
    raise WeChatPayError(0, "OFFLINE", "no WeChat Pay in this test")


class World:
    """One mall on its own table: a category at 12% / 6%, one product, promoters and customers."""

    def __init__(self, table: Table, *, mode: BindingMode = BindingMode.FIRST_CLICK) -> None:
        self.table = table
        self.orders = OrderRepository(table)
        self.customers = CustomerRepository(table)
        self.settings(mode=mode)
        CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200, l2_rate_bp=600))
        ProductRepository(table).create(Product(product_id="p_tea", name="龙井", type="virtual", category_id="c_tea",
                                                price_fen=PRICE, stock=1_000, on_shelf=True))

    def settings(self, *, mode: BindingMode, l1: int = 1000, l2: int = 500, senior_points: int = 300) -> int:
        repo = SettingsRepository(self.table)
        current = repo.current(consistent=True)
        senior = SENIOR.model_copy(update={"l1_points_bp": senior_points})
        document = DistributionSettings(binding_mode=mode, levels=[BASIC, senior],
                                        commission=CommissionRates(l1_rate_bp=l1, l2_rate_bp=l2))
        return repo.save(document, based_on=current.version, saved_by="test", now=T0).version

    def customer(self, name: str) -> str:
        customer, _ = self.customers.get_or_create(app_id=APPID, openid=f"openid-{name}", unionid=None, now=T0)
        return customer.user_id

    def promoter(self, name: str) -> tuple[str, str]:
        uid = self.customer(name)
        code = "C" + name.upper()
        PromoterRepository(self.table).create(
            Promoter(user_id=uid, code=code, status="active", level_id="basic", applied_at=T0, activated_at=T0),
            grant_role=True, replaces_rejected=False, now=T0, reserve_code=True)
        return uid, code

    def bind(self, uid: str, code: str) -> None:
        assert bind_with_code(BindWithCode(customer_id=uid, code=code, now=T0),
                              network=ReferralRepositories.on(self.table)).outcome == "bound"

    def place(self, buyer: str, *, share_code: str | None = None) -> str:
        share = ShareSourceRequest(promoter_code=share_code, source="link") if share_code else None
        request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=1)], share_source=share)
        return place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0),
                           repos=PlacementRepositories.on(self.table), pay=_no_pay,
                           notify_url=MERCHANT.notify_url).order_id

    def notification(self, order_id: str, *, now: datetime = T0) -> TransactionResource:
        order = self.orders.get(order_id)
        assert order is not None
        return TransactionResource(appid=APPID, mchid=MERCHANT.mchid, out_trade_no=order_id, trade_state="SUCCESS",
                                   transaction_id=f"4200{uuid.uuid4().int % 10**12:012d}", success_time=now.isoformat(),
                                   amount=TransactionAmount(total=order.amount_fen))

    def apply(self, tx: TransactionResource, *, now: datetime = T0) -> str:
        result = apply_payment(tx, repos=PaymentRepositories.on(self.table), merchant=MERCHANT, pay=_no_pay, now=now,
                               source="webhook")
        assert result.decision.outcome.value == "mark_paid", result.decision
        return tx.out_trade_no

    def pay(self, order_id: str, *, now: datetime = T0) -> str:
        return self.apply(self.notification(order_id, now=now), now=now)

    def referral_worker(self, order_id: str, *, now: datetime) -> None:
        image = self.table.get(order_key(order_id), consistent=True)
        assert image is not None
        on_order_paid(repos=OrderPaidRepositories.on(self.table), order=image, now=now)

    def commission_worker(self, order_id: str, *, now: datetime) -> None:
        sync_order(CommissionRepositories.on(self.table), order_id=order_id, now=now)

    def records(self, order_id: str) -> dict[tuple[str, int], tuple[str, int, dict[str, Any]]]:
        """What each record pays, to whom and why (the rule snapshot); the times left out."""
        return {(r.line_id, r.level): (r.beneficiary_id, r.amount_fen, r.rule)
                for r in CommissionRepository(self.table).for_order(order_id)}

    def level(self, uid: str) -> str:
        promoter = PromoterRepository(self.table).get(uid, consistent=True)
        assert promoter is not None
        return promoter.level_id

    def parent(self, uid: str) -> str | None:
        binding = BindingRepository(self.table).get(uid)
        return binding.parent_id if binding else None




def _chain(world: World) -> tuple[str, str, str]:
    """A ← B ← buyer: B (basic) earns L1, A earns L2; this one order lifts B's own sales to senior."""
    a, code_a = world.promoter("a")
    b, code_b = world.promoter("b")
    buyer = world.customer("buyer")
    world.bind(b, code_a)
    world.bind(buyer, code_b)
    return a, b, buyer


def _change_everything_after_payment(world: World, a: str, b: str) -> None:
    """What an admin might do between a payment and a worker that runs days later."""
    later = T0 + timedelta(days=3)
    set_level(network=ReferralRepositories.on(world.table), user_id=b, level_id="senior", reason="promotion",
              by="admin:t", now=later)
    set_override(SetOverride(user_id=b, l1_bp=1500, l2_bp=None, reason="vip", by="admin:t", now=later),
                 network=ReferralRepositories.on(world.table), categories=CategoryRepository(world.table),
                 products=ProductRepository(world.table))
    change_status(promoters=PromoterRepository(world.table), user_id=a, action="freeze", reason="review", by="admin:t",
                  now=later)
    world.settings(mode=BindingMode.FIRST_CLICK, l1=800, l2=400, senior_points=500)
    categories = CategoryRepository(world.table)
    category = categories.get("c_tea", consistent=True)
    assert category is not None
    categories.update(Category(category_id="c_tea", name="茶", l1_rate_bp=500, l2_rate_bp=200),
                      expected_version=category.version, now=later)


def test_commission_is_the_same_whichever_worker_runs_first_or_days_later(new_table: Callable[[], Table]) -> None:
    outcomes = {}
    worlds = {}
    for scenario in ("referral_first", "commission_first", "days_later"):
        world = World(new_table())
        a, b, _ = _chain(world)
        buyer = world.customer("buyer")
        order_id = world.pay(world.place(buyer))
        soon = T0 + timedelta(minutes=1)
        if scenario == "referral_first":
            world.referral_worker(order_id, now=soon)
            world.commission_worker(order_id, now=soon)
        elif scenario == "commission_first":
            world.commission_worker(order_id, now=soon)
            world.referral_worker(order_id, now=soon)
        else:
            _change_everything_after_payment(world, a, b)
            late = T0 + timedelta(days=4)
            world.commission_worker(order_id, now=late)
            world.referral_worker(order_id, now=late)
        outcomes[scenario] = {key: (("A" if who == a else "B" if who == b else who), amount, rule)
                              for key, (who, amount, rule) in world.records(order_id).items()}
        worlds[scenario] = (world, a, b, order_id)

    first = outcomes["referral_first"]
    line_id = next(iter(first))[0]
    # B's 12% category rate at the basic level it had when the order was paid; A's 6%.
    assert {key: (who, amount) for key, (who, amount, _) in first.items()} == {(line_id, 1): ("B", 1_200),
                                                                              (line_id, 2): ("A", 600)}
    assert first[(line_id, 1)][2]["level_id"] == "basic"
    assert outcomes["commission_first"] == first
    assert outcomes["days_later"] == first

    # The order did lift B to senior: that applies from B's next order, and a redelivery of the
    # first order's messages after every change pays nothing new.
    world, a, b, order_id = worlds["referral_first"]
    assert world.level(b) == "senior"
    _change_everything_after_payment(world, a, b)
    world.commission_worker(order_id, now=T0 + timedelta(days=5))
    world.referral_worker(order_id, now=T0 + timedelta(days=5))
    assert world.records(order_id) == {k: (a if who == "A" else b, amount, rule)
                                       for k, (who, amount, rule) in first.items()}
    world, a, b, _ = worlds["commission_first"]
    assert world.level(b) == "senior"
    next_order = world.pay(world.place(world.customer("buyer")), now=T0 + timedelta(hours=1))
    world.commission_worker(next_order, now=T0 + timedelta(hours=1))
    amounts = {level: amount for (_, level), (_, amount, _) in world.records(next_order).items()}
    assert amounts == {1: 1_500, 2: 600}  # senior: 12% + 3% points


def _first_payment_world(new_table: Callable[[], Table]) -> tuple[World, dict[str, str], str, str, str]:
    """Unbound buyer with two unpaid orders, one from each sharer's link; S1 has a parent R."""
    world = World(new_table(), mode=BindingMode.FIRST_PAYMENT)
    r, code_r = world.promoter("r")
    s1, _ = world.promoter("s1")
    s2, _ = world.promoter("s2")
    world.bind(s1, code_r)
    buyer = world.customer("buyer")
    o1 = world.place(buyer, share_code="CS1")
    o2 = world.place(buyer, share_code="CS2")
    return world, {"R": r, "S1": s1, "S2": s2}, buyer, o1, o2


def _run_workers(world: World, order_ids: list[str], *, commission_first: bool) -> None:
    now = T0 + timedelta(minutes=5)
    for order_id in order_ids:
        if commission_first:
            world.commission_worker(order_id, now=now)
            world.referral_worker(order_id, now=now)
        else:
            world.referral_worker(order_id, now=now)
            world.commission_worker(order_id, now=now)


def _earners(world: World, names: dict[str, str], order_id: str) -> dict[int, tuple[str, int]]:
    by_uid = {uid: name for name, uid in names.items()}
    return {level: (by_uid[who], amount) for (_, level), (who, amount, _) in world.records(order_id).items()}


@pytest.mark.parametrize(("paid_first", "commission_first"), [("o1", False), ("o1", True), ("o2", False),
                                                              ("o2", True)])
def test_first_payment_binds_and_attributes_every_order_to_the_first_paid_orders_sharer(
        new_table: Callable[[], Table], paid_first: str, commission_first: bool) -> None:
    world, names, buyer, o1, o2 = _first_payment_world(new_table)
    order_ids = [o1, o2] if paid_first == "o1" else [o2, o1]
    world.pay(order_ids[0])
    world.pay(order_ids[1], now=T0 + timedelta(seconds=30))
    _run_workers(world, list(reversed(order_ids)), commission_first=commission_first)
    if paid_first == "o1":
        assert world.parent(buyer) == names["S1"]
        expected = {1: ("S1", 1_200), 2: ("R", 600)}
    else:
        assert world.parent(buyer) == names["S2"]
        expected = {1: ("S2", 1_200)}
    # Both orders go to the chain the first payment bound, never to the other order's sharer.
    assert _earners(world, names, o1) == expected
    assert _earners(world, names, o2) == expected


def test_second_order_paid_after_the_binding_goes_to_the_bound_chain(new_table: Callable[[], Table]) -> None:
    world, names, buyer, o1, o2 = _first_payment_world(new_table)
    world.pay(o2)
    _run_workers(world, [o2], commission_first=False)
    assert world.parent(buyer) == names["S2"]
    world.pay(o1, now=T0 + timedelta(hours=1))
    _run_workers(world, [o1], commission_first=True)
    # S2's first order lifted them to senior: this later order pays 12% + 3%, to S2 and not to S1.
    assert _earners(world, names, o2) == {1: ("S2", 1_200)}
    assert _earners(world, names, o1) == {1: ("S2", 1_500)}
    promoters = PromoterRepository(world.table)
    s1, s2 = promoters.get(names["S1"], consistent=True), promoters.get(names["S2"], consistent=True)
    assert s1 is not None and s2 is not None
    assert (s1.own_sales_fen, s2.own_sales_fen) == (0, 2 * PRICE)  # the sales counters follow the same chain


def test_concurrent_payments_of_two_orders_from_two_sharers_agree_on_one_chain(
        new_table: Callable[[], Table]) -> None:
    for round_ in range(3):
        world, names, buyer, o1, o2 = _first_payment_world(new_table)
        start = threading.Barrier(2)

        def pay(order_id: str, world: World = world, start: threading.Barrier = start) -> str:
            start.wait()
            return world.pay(order_id)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(pay, [o1, o2]))
        profile = world.table.get({"pk": f"USER#{buyer}", "sk": "PROFILE"}, consistent=True)
        assert profile is not None
        winner_order = profile["first_paid_order_id"]
        winner = "S1" if winner_order == o1 else "S2"

        def work(order_id: str, world: World = world, second: str = o2) -> None:
            _run_workers(world, [order_id], commission_first=order_id == second)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(work, [o1, o2] if round_ % 2 else [o2, o1]))
        assert world.parent(buyer) == names[winner]
        for order_id in (o1, o2):
            earners = _earners(world, names, order_id)
            assert earners[1] == (winner, 1_200), (round_, order_id, earners)


def test_a_sharer_who_cannot_be_bound_earns_nothing_and_neither_does_the_other_sharer(
        new_table: Callable[[], Table]) -> None:
    world, names, buyer, o1, o2 = _first_payment_world(new_table)
    world.pay(o1)
    change_status(promoters=PromoterRepository(world.table), user_id=names["S1"], action="freeze", reason="review",
                  by="admin:t", now=T0 + timedelta(seconds=10))
    world.pay(o2, now=T0 + timedelta(seconds=20))
    _run_workers(world, [o2, o1], commission_first=True)
    assert world.parent(buyer) is None
    assert world.records(o1) == {} and world.records(o2) == {}


def test_the_payment_path_stays_within_five_dynamodb_round_trips(new_table: Callable[[], Table],
                                                                 ddb_client: Any) -> None:
    sent: list[str] = []

    def count(**kwargs: Any) -> None:
        sent.append(str(kwargs.get("event_name", "")))

    def trips(work: Callable[[], object]) -> int:
        sent.clear()
        ddb_client.meta.events.register("before-send.dynamodb", count, unique_id="snapshot-trips")
        try:
            work()
        finally:
            ddb_client.meta.events.unregister("before-send.dynamodb", unique_id="snapshot-trips")
        return len(sent)

    world = World(new_table())
    _chain(world)
    tx = world.notification(world.place(world.customer("buyer")))
    assert trips(lambda: world.apply(tx)) <= 5  # a buyer bound under B, who is bound under A

    fp, _, _, o1, o2 = _first_payment_world(new_table)
    first, second = fp.notification(o1), fp.notification(o2)
    assert trips(lambda: fp.apply(first)) <= 5  # claims the binding for S1, whose parent is R
    assert trips(lambda: fp.apply(second)) <= 5  # follows the first order's pending binding


def test_a_promoter_frozen_at_payment_and_unfrozen_before_the_workers_earns_nothing_on_that_order(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    a, b, buyer = _chain(world)
    order_id = world.place(buyer)  # A was active when the order was placed
    change_status(promoters=PromoterRepository(world.table), user_id=a, action="freeze", reason="review", by="admin:t",
                  now=T0)
    world.pay(order_id)
    change_status(promoters=PromoterRepository(world.table), user_id=a, action="unfreeze", reason=None, by="admin:t",
                  now=T0 + timedelta(hours=2))
    world.commission_worker(order_id, now=T0 + timedelta(days=1))
    world.referral_worker(order_id, now=T0 + timedelta(days=1))
    assert {level: (who, amount) for (_, level), (who, amount, _) in world.records(order_id).items()} == {
        1: (b, 1_200)}
