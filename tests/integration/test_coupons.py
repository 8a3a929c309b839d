"""Coupons on DynamoDB Local: claim limits under real concurrency, use at POST /orders in the order's
own transaction, the coupon given back by expiry, commission on what was really paid, and the refund
setting."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from mall.dal.coupons import CouponRepository
from mall.dal.table import Table
from mall.errors import Conflict, InvalidInput, NotFound
from mall.schemas.coupons import CouponTemplateIn, CouponTemplateUpdate
from mall.schemas.orders import OrderLineRequest, PlaceOrderRequest
from mall.services import coupons as service
from mall.services.coupons import ClaimCoupon, CouponRepositories
from mall.services.orders import PlacementRepositories, PlaceOrder, place_order
from tests.integration.test_orders_concurrency import race
from tests.integration.test_payment_snapshot import MERCHANT, PRICE, T0, World, _chain, _no_pay

pytestmark = pytest.mark.integration


def template(table: Table, **fields: Any) -> str:
    body = CouponTemplateIn(**{"name": "满100减15", "kind": "amount", "amount_off_fen": 1500, "min_spend_fen": 10_000,
                               "valid_days": 7, "total_quantity": 100, "per_user_limit": 1, **fields})
    return service.create_template(coupons=CouponRepository(table), body=body, by="admin:t", source_ip=None,
                                   now=T0).template_id


def claim(table: Table, template_id: str, user_id: str, **fields: Any) -> str:
    return service.claim(ClaimCoupon(template_id=template_id, user_id=user_id, now=T0, **fields),
                         repos=CouponRepositories.on(table)).coupon.coupon_id


def place(table: Table, buyer: str, coupon_id: str | None, *, quantity: int = 1, now: Any = T0) -> Any:
    request = PlaceOrderRequest(lines=[OrderLineRequest(product_id="p_tea", quantity=quantity)], coupon_id=coupon_id)
    return place_order(PlaceOrder(request=request, buyer_id=buyer, now=now), repos=PlacementRepositories.on(table),
                       pay=_no_pay, notify_url=MERCHANT.notify_url)


def status(table: Table, user_id: str, coupon_id: str) -> tuple[str, str | None]:
    found = CouponRepository(table).get_coupon(user_id, coupon_id, consistent=True)
    assert found is not None
    return found.status.value, found.order_id


# ---- claiming --------------------------------------------------------------------------------


def test_claims_stop_at_the_per_user_limit_and_at_the_total(table: Table) -> None:
    world = World(table)
    tid = template(table, total_quantity=3, per_user_limit=2)
    alice, bob = world.customer("alice"), world.customer("bob")
    claim(table, tid, alice)
    claim(table, tid, alice)
    with pytest.raises(Conflict) as refused:
        claim(table, tid, alice)
    assert refused.value.code == "coupon_limit_reached"
    claim(table, tid, bob)
    with pytest.raises(Conflict) as refused:
        claim(table, tid, bob)
    assert refused.value.code == "coupon_sold_out"
    assert CouponRepository(table).get_template(tid, consistent=True).issued == 3  # type: ignore[union-attr]
    listed = service.my_coupons(coupons=CouponRepository(table), user_id=alice, now=T0).items
    assert [c.status for c in listed] == ["unused", "unused"]
    assert service.available(coupons=CouponRepository(table), user_id=bob, now=T0).items == []


def test_a_disabled_template_cannot_be_claimed_and_the_change_is_versioned(table: Table) -> None:
    world = World(table)
    tid = template(table)
    current = service.get_template(coupons=CouponRepository(table), template_id=tid)
    body = CouponTemplateUpdate(**{**current.model_dump(include=set(CouponTemplateIn.model_fields)),
                                   "enabled": False, "version": current.version})
    changed = service.update_template(coupons=CouponRepository(table), template_id=tid, body=body, by="admin:t",
                                      source_ip=None, now=T0)
    assert (changed.enabled, changed.version) == (False, 2)
    with pytest.raises(Conflict) as stale:
        service.update_template(coupons=CouponRepository(table), template_id=tid, body=body, by="admin:t",
                                source_ip=None, now=T0)
    assert stale.value.code == "version_conflict"
    with pytest.raises(Conflict) as refused:
        claim(table, tid, world.customer("c"))
    assert refused.value.code == "coupon_sold_out"


def test_the_total_cannot_be_lowered_below_what_was_issued(table: Table) -> None:
    world = World(table)
    tid = template(table, total_quantity=5)
    for name in ("a", "b", "c"):
        claim(table, tid, world.customer(name))
    current = service.get_template(coupons=CouponRepository(table), template_id=tid)
    fields = current.model_dump(include=set(CouponTemplateIn.model_fields))
    with pytest.raises(Conflict) as refused:
        service.update_template(coupons=CouponRepository(table), template_id=tid, body=CouponTemplateUpdate(
            **{**fields, "total_quantity": 2, "version": current.version}), by="admin:t", source_ip=None, now=T0)
    assert refused.value.code == "total_below_issued"
    lowered = service.update_template(coupons=CouponRepository(table), template_id=tid, body=CouponTemplateUpdate(
        **{**fields, "total_quantity": 3, "version": current.version}), by="admin:t", source_ip=None, now=T0)
    assert (lowered.total_quantity, lowered.issued) == (3, 3)


def test_five_hundred_parallel_claims_of_the_last_hundred_coupons_issue_exactly_one_hundred(table: Table) -> None:
    world = World(table)
    tid = template(table, total_quantity=150)
    for i in range(50):  # the first 50 are gone: 100 are left
        claim(table, tid, world.customer(f"early{i}"))
    buyers = [f"u_race_{i:03d}" for i in range(500)]
    results = race(500, lambda i: claim(table, tid, buyers[i]))

    issued = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    assert len(issued) == 100 and len(set(issued)) == 100
    assert Counter(getattr(r, "code", type(r).__name__) for r in refused) == {"coupon_sold_out": 400}
    assert CouponRepository(table).get_template(tid, consistent=True).issued == 150  # type: ignore[union-attr]
    held = sum(len(CouponRepository(table).coupons_of(uid)) for uid in buyers)
    assert held == 100


# ---- use at POST /orders ---------------------------------------------------------------------


def test_an_order_takes_the_coupon_off_its_lines_and_uses_it_in_its_own_transaction(table: Table) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    cid = claim(table, template(table, kind="percent", amount_off_fen=0, percent_off_bp=1000, max_off_fen=1_234,
                                min_spend_fen=0), buyer)
    placed = place(table, buyer, cid, quantity=3)
    assert placed.discount_fen == 1_234 and placed.amount_fen == 3 * PRICE - 1_234  # 10% = 3000, ceiling 1234
    assert placed.lines[0].paid_fen == 3 * PRICE - 1_234
    assert status(table, buyer, cid) == ("used", placed.order_id)
    order = world.orders.get(placed.order_id)
    assert order is not None and order.extra["coupon"]["discount_fen"] == 1_234
    with pytest.raises(Conflict) as again:
        place(table, buyer, cid)
    assert again.value.code == "coupon_used"


def test_two_orders_racing_for_one_coupon_use_it_once(table: Table) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    cid = claim(table, template(table, min_spend_fen=0), buyer)
    results = race(8, lambda _: place(table, buyer, cid).order_id)
    placed = [r for r in results if isinstance(r, str)]
    assert len(placed) == 1, results
    assert all(isinstance(r, Conflict) and r.code in {"coupon_used", "order_contention"}
               for r in results if not isinstance(r, str)), results
    assert status(table, buyer, cid) == ("used", placed[0])


def test_a_coupon_below_its_minimum_spend_or_of_someone_else_changes_nothing(table: Table) -> None:
    world = World(table)
    buyer, other = world.customer("buyer"), world.customer("other")
    tid = template(table, min_spend_fen=2 * PRICE, amount_off_fen=1500, per_user_limit=1)
    cid = claim(table, tid, buyer)
    with pytest.raises(InvalidInput) as refused:
        place(table, buyer, cid, quantity=1)
    assert refused.value.code == "coupon_min_spend"
    with pytest.raises(InvalidInput) as foreign:
        place(table, other, cid, quantity=2)
    assert foreign.value.code == "coupon_not_found"
    assert status(table, buyer, cid) == ("unused", None)


def test_an_order_that_expires_unpaid_gives_its_coupon_back_once(table: Table) -> None:
    world = World(table)
    buyer = world.customer("buyer")
    cid = claim(table, template(table, min_spend_fen=0), buyer)
    placed = place(table, buyer, cid)
    order = world.orders.get(placed.order_id)
    assert order is not None
    assert world.orders.expire(order, release_writes=[], now=T0 + timedelta(hours=1))
    assert status(table, buyer, cid) == ("unused", None)
    # A second run of the expiry finds the order EXPIRED: nothing more is given back.
    assert not world.orders.expire(order, release_writes=[], now=T0 + timedelta(hours=2))
    second = place(table, buyer, cid)  # the coupon is usable again
    assert status(table, buyer, cid) == ("used", second.order_id)


def test_commission_is_computed_on_what_each_line_really_paid(table: Table) -> None:
    world = World(table)
    _, b, buyer = _chain(world)  # category 12% / 6%
    cid = claim(table, template(table, amount_off_fen=1_001, min_spend_fen=0), buyer)
    placed = place(table, buyer, cid, quantity=2)
    world.pay(placed.order_id)
    world.commission_worker(placed.order_id, now=T0 + timedelta(minutes=5))
    records = world.records(placed.order_id)
    base = 2 * PRICE - 1_001
    l1 = next(v for (_, level), v in records.items() if level == 1)
    assert l1[0] == b
    assert l1[1] == base * 1200 // 10_000  # 2278, not 2400 on the catalog price
    assert l1[2]["base_fen"] == base and l1[2]["coupon_fen"] == 1_001
    assert sum(v[1] for v in records.values()) <= base * 3000 // 10_000  # the cap on the paid base


def test_placing_an_order_with_a_coupon_takes_at_most_three_round_trips(table: Table, ddb_client: Any) -> None:
    from tests.integration.test_customer_round_trips import CUSTOMER_ROUTE_TRIPS, Trips

    world = World(table)
    buyer = world.customer("buyer")
    tid = template(table, min_spend_fen=0)
    trips = Trips(ddb_client)
    cid = trips.of(lambda: claim(table, tid, buyer))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    placed = trips.of(lambda: place(table, buyer, cid))
    assert len(trips.sent) <= CUSTOMER_ROUTE_TRIPS, trips.sent
    assert placed.discount_fen == 1500


# ---- refunds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "back"), [("return_if_full_refund", True), ("never", False)])
def test_a_full_refund_gives_the_coupon_back_only_where_the_setting_says_so(table: Table, policy: str,
                                                                            back: bool) -> None:
    from mall.dal.orders import OrderRepository
    from mall.dal.refunds import RefundRepository
    from mall.domain.refunds import LineRequest
    from mall.services import refunds as refund_service
    from tests.integration.test_refunds_flow import FakeGateway

    world = World(table)
    buyer = world.customer("buyer")
    cid = claim(table, template(table, min_spend_fen=0, on_refund=policy), buyer)
    placed = place(table, buyer, cid, quantity=2)
    world.pay(placed.order_id)
    now = T0 + timedelta(days=1)
    orders, refunds = OrderRepository(table), RefundRepository(table)
    line_id = placed.lines[0].line_id
    with pytest.raises(InvalidInput):  # never more than the line paid (the catalog price minus the coupon)
        refund_service.request_refund(orders=orders, refunds=refunds, buyer_id=buyer, order_id=placed.order_id,
                                      reason="不想要了", lines=[LineRequest(line_id, amount_fen=2 * PRICE)], now=now)
    refund = refund_service.request_refund(orders=orders, refunds=refunds, buyer_id=buyer, order_id=placed.order_id,
                                           reason="不想要了", lines=[LineRequest(line_id)], now=now)
    assert refund.amount_fen == 2 * PRICE - 1500
    refund_service.approve_refund(orders=orders, refunds=refunds, refund_id=refund.refund_id, admin="admin:t",
                                  now=now, gateway=FakeGateway(status="SUCCESS"), notify_url="http://n.test/")
    assert world.orders.get(placed.order_id).status == "CLOSED"  # type: ignore[union-attr]
    assert status(table, buyer, cid) == (("unused", None) if back else ("used", placed.order_id))


# ---- promoter-bound coupons (推广员专属券) -----------------------------------------------------


def _shared_claim(table: Table, tid: str, user_id: str, code: str) -> Any:
    return service.claim(ClaimCoupon(template_id=tid, user_id=user_id, now=T0, share_code=code),
                         repos=CouponRepositories.on(table))


def test_in_invite_code_mode_claiming_through_a_share_binds_like_entering_the_code(table: Table) -> None:
    from mall.domain.settings import BindingMode

    world = World(table, mode=BindingMode.INVITE_CODE)
    p, code = world.promoter("p")
    q, code_q = world.promoter("q")
    tid = template(table, promoter_bound=True, min_spend_fen=0, per_user_limit=2)
    fresh = world.customer("fresh")
    claimed = _shared_claim(table, tid, fresh, code)
    assert (claimed.share_effect, claimed.coupon.promoter_bound) == ("bound", True)
    assert world.parent(fresh) == p
    # The binding rules still hold: bound for good (permanent validity), the second share binds nothing.
    again = _shared_claim(table, tid, fresh, code_q)
    assert again.share_effect == "not_bound" and again.share_refused is not None
    assert world.parent(fresh) == p
    # No cycles: P's own upline cannot be bound under P.
    world.bind(q, code)  # Q under P
    cycle = _shared_claim(table, tid, p, code_q)
    assert cycle.share_effect == "not_bound" and world.parent(p) is None


def test_in_first_click_mode_claiming_through_a_share_is_a_share_visit(table: Table) -> None:
    world = World(table)  # first_click
    p, code = world.promoter("p")
    tid = template(table, promoter_bound=True, min_spend_fen=0)
    fresh = world.customer("fresh")
    claimed = _shared_claim(table, tid, fresh, code)
    assert claimed.share_effect == "bound" and world.parent(fresh) == p
    visits = table.query(partition=("pk", f"PVISITS#{p}"), limit=10).items
    assert [v.get("visitor_id") for v in visits] == [fresh], visits  # recorded as the promoter's share visit


def test_in_first_payment_mode_the_promoter_becomes_the_share_source_of_the_order_using_the_coupon(
        table: Table) -> None:
    from mall.domain.settings import BindingMode

    world = World(table, mode=BindingMode.FIRST_PAYMENT)
    p, code = world.promoter("p")
    tid = template(table, promoter_bound=True, min_spend_fen=0)
    fresh = world.customer("fresh")
    claimed = _shared_claim(table, tid, fresh, code)
    assert claimed.share_effect == "share_source" and world.parent(fresh) is None  # nothing bound at claiming
    placed = place(table, fresh, claimed.coupon.coupon_id)
    order = world.orders.get(placed.order_id)
    assert order is not None and order.share_source is not None and order.share_source["promoter_code"] == code
    world.pay(placed.order_id)
    later = T0 + timedelta(minutes=5)
    world.referral_worker(placed.order_id, now=later)
    world.commission_worker(placed.order_id, now=later)
    assert world.parent(fresh) == p
    earners = {level: who for (_, level), (who, _, _) in world.records(placed.order_id).items()}
    assert earners == {1: p}


def test_a_coupon_claimed_without_a_share_or_of_a_plain_template_binds_nothing(table: Table) -> None:
    world = World(table)
    _, code = world.promoter("p")
    plain = template(table, min_spend_fen=0)
    fresh = world.customer("fresh")
    claimed = _shared_claim(table, plain, fresh, code)
    assert claimed.share_effect == "none" and world.parent(fresh) is None


# ---- automatic issue -------------------------------------------------------------------------


def test_new_customer_and_new_promoter_gifts_are_issued_once_per_user_and_template(table: Table) -> None:
    from mall.domain.coupons import AutoIssue
    from mall.services.referral.promoters import change_status

    world = World(table)
    gift = template(table, auto_issue="first_login", min_spend_fen=0)
    promoted = template(table, auto_issue="becomes_promoter", min_spend_fen=0)
    coupons = CouponRepository(table)
    uid = world.customer("newbie")
    for _ in range(3):  # a repeated trigger (a retry, a redelivery) issues nothing more
        service.auto_issue(coupons=coupons, user_id=uid, trigger=AutoIssue.FIRST_LOGIN, now=T0)
    assert [c.template_id for c in coupons.coupons_of(uid)] == [gift]
    with pytest.raises(NotFound):  # an automatic template is not claimable by hand
        claim(table, gift, world.customer("other"))
    # Approval of an applicant issues the promoter gift, once.
    from mall.dal.referral import PromoterRepository
    from mall.domain.referral import Promoter

    applicant = world.customer("applicant")
    PromoterRepository(table).create(Promoter(user_id=applicant, code="CAPPL", status="applied", level_id="basic",
                                              applied_at=T0), grant_role=False, replaces_rejected=False, now=T0,
                                     reserve_code=True)
    change_status(promoters=PromoterRepository(table), user_id=applicant, action="approve", reason=None,
                  by="admin:t", now=T0, coupons_of=lambda: coupons)
    assert [c.template_id for c in coupons.coupons_of(applicant)] == [promoted]
    assert coupons.get_template(promoted, consistent=True).issued == 1  # type: ignore[union-attr]


def test_the_login_that_creates_a_customer_issues_the_new_customer_gift_and_later_logins_do_not(
        table: Table) -> None:
    from mall.dal.identity import CustomerRepository
    from mall.integrations.wechat import WeChatSession
    from mall.services.identity import LogInCustomer, SessionTokens, login_customer

    class WeChat:
        def code_to_session(self, js_code: str) -> WeChatSession:
            return WeChatSession(openid=f"o-{js_code}", session_key="k", unionid=None)

    World(table)
    gift = template(table, auto_issue="first_login", min_spend_fen=0)
    coupons = CouponRepository(table)

    def log_in() -> str:
        return login_customer(command=LogInCustomer(js_code="newbie", app_id="wx_app"), wechat=WeChat(),  # type: ignore[arg-type]
                              customers=CustomerRepository(table), tokens=SessionTokens(b"k" * 32, 60), now=T0,
                              coupons_of=lambda: coupons).user_id

    uid = log_in()
    log_in()
    assert [c.template_id for c in coupons.coupons_of(uid)] == [gift]
    assert coupons.get_template(gift, consistent=True).issued == 1  # type: ignore[union-attr]
