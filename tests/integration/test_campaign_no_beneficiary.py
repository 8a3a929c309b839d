"""A commission campaign on a line where one level has no beneficiary, on DynamoDB Local: placed
with a coupon, paid and synced through the real services.

docs/incentives.md ("A level nobody earns"): a level whose promoter is not active at payment is not
paid and its share is not given to the other level, so it still takes its share of the cap; that
share is the line's plain rate, because an override, level points and a campaign each belong to a
beneficiary. A campaign therefore never lowers the other level's commission on a line where it
boosts nobody. The clamp bites only below list price: a ``fixed`` product (fen per unit) bought with
a coupon, as in the money simulator where this was first seen (an L2 record 48 fen where the rule
says 60).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from mall.dal.catalog import ProductRepository
from mall.dal.coupons import CouponRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain.catalog import CommissionSetting, Product
from mall.schemas.campaigns import CampaignRequest
from mall.schemas.coupons import CouponTemplateIn
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services import campaigns as campaign_service
from mall.services import coupons as coupon_service
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from mall.services.referral.promoters import change_status
from tests.integration.test_payment_snapshot import MERCHANT, T0, World, _chain, _no_pay

pytestmark = pytest.mark.integration

#: ``fixed``: 300 fen (L1) and 120 fen (L2) per unit, in the 12% / 6% category of ``World``.
CUP = Product(product_id="p_cup", name="杯子", type="virtual", category_id="c_tea", price_fen=2_000, stock=100,
              on_shelf=True, commission=CommissionSetting(mode="fixed", l1=300, l2=120))
#: 40% off the cup: the line pays 1,200 fen, so the cap (30%) is 360 fen.
PAID = 1_200


def _cup_world(table: Table) -> tuple[World, str, str, str]:
    world = World(table)
    ProductRepository(table).create(CUP)
    a, b, buyer = _chain(world)  # A ← B ← buyer: B would earn L1, A L2
    # Every promoter, every line of the cup: one point (of the base) more for L1.
    body = CampaignRequest.model_validate({
        "name": "杯子加佣", "starts_at": (T0 - timedelta(days=1)).isoformat(),
        "ends_at": (T0 + timedelta(days=1)).isoformat(), "scope": {"product_ids": ["p_cup"]},
        "boost": {"kind": "points", "l1_points_bp": 100}})
    campaign_service.create(campaign_service.CampaignRepositories.on(table), body,
                            campaign_service.Actor("owner", None, T0 - timedelta(hours=2)))
    return world, a, b, buyer


def _buy_cup_with_coupon(world: World, buyer: str) -> str:
    coupons = CouponRepository(world.table)
    template = coupon_service.create_template(coupons=coupons, body=CouponTemplateIn(
        name="杯子6折", kind="percent", percent_off_bp=4_000, max_off_fen=5_000, scope="products",
        scope_ids=["p_cup"], valid_days=10, total_quantity=10), by="owner", source_ip=None, now=T0)
    claimed = coupon_service.claim(coupon_service.ClaimCoupon(template_id=template.template_id, user_id=buyer, now=T0),
                                   repos=coupon_service.CouponRepositories.on(world.table))
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_cup", quantity=1)],
                                coupon_id=claimed.coupon.coupon_id)
    placed = place_order(PlaceOrder(request=request, buyer_id=buyer, now=T0),
                         repos=PlacementRepositories.on(world.table), pay=_no_pay, notify_url=MERCHANT.notify_url)
    assert [line.paid_fen for line in placed.lines] == [PAID]
    return placed.order_id


def _paid_and_synced(world: World, order_id: str) -> dict[int, tuple[str, int]]:
    world.pay(order_id)
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    world.referral_worker(order_id, now=T0 + timedelta(minutes=2))
    return {level: (who, amount) for (_, level), (who, amount, _) in world.records(order_id).items()}


def test_a_campaign_boosting_a_level_nobody_earns_does_not_lower_the_other_level(
        new_table: Callable[[], Table]) -> None:
    world, a, b, buyer = _cup_world(new_table())
    order_id = _buy_cup_with_coupon(world, buyer)
    change_status(promoters=PromoterRepository(world.table), user_id=b, action="freeze", reason="风控核查",
                  by="admin:t", now=T0)  # B is not active at payment: L1 is not paid, nor shifted up
    # L1's unpaid share is the plain 300 fen, not 300 + 1% of 1,200: A gets 360 - 300 = 60 of its 120.
    assert _paid_and_synced(world, order_id) == {2: (a, 60)}


def test_with_an_active_level_one_the_same_campaign_boosts_it_and_the_cap_clamps_level_two_first(
        new_table: Callable[[], Table]) -> None:
    world, a, b, buyer = _cup_world(new_table())
    order_id = _buy_cup_with_coupon(world, buyer)
    # B earns 300 + 1% of 1,200 = 312; A the rest of the 360-fen cap.
    assert _paid_and_synced(world, order_id) == {1: (b, 312), 2: (a, 48)}
