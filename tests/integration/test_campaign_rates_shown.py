"""Campaigns (incl. targeted products and the wake-up rule) everywhere a rate is shown or checked, on
DynamoDB Local: the commission preview, the shop's earnings and ranking for a promoter and the
self-purchase discount show what the payment pays (the same resolution), and a rate save (category,
product, override, settings) or a campaign save is refused when some open campaign, or the
wake-up boosts the rule will grant, would take a line over the cap with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mall.dal.audit import AuditEntry
from mall.dal.campaigns import CampaignRepository
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commission_preview import PreviewReads
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain.campaigns import Boost, Campaign, CampaignScope
from mall.domain.catalog import ListingFilter, Product
from mall.errors import InvalidInput
from mall.schemas.catalog import ProductCreate, ProductUpdate
from mall.schemas.catalog_categories import CategoryUpdate
from mall.schemas.wake_up import WakeUpRuleRequest
from mall.services import commission_preview
from mall.services import wake_up as wake_up_service
from mall.services.campaigns import Actor, CampaignRepositories
from mall.services.catalog import browsing
from mall.services.catalog.categories import update_category
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import create_product, update_product
from mall.services.referral import ReferralRepositories
from mall.services.referral.promoters import SetOverride, set_override
from tests.integration.test_campaigns import _by_level, _create, _request, _trips
from tests.integration.test_payment_snapshot import PRICE, T0, World, _chain

pytestmark = pytest.mark.integration


def _targeted(world: World, promoter_id: str, l1_points_bp: int = 500) -> None:
    """龙井高佣 for ``promoter_id`` only: +``l1_points_bp`` at L1 and +5% at L2, in force at T0."""
    _create(world.table, _request(name="龙井高佣", boost={"kind": "points", "l1_points_bp": l1_points_bp,
                                                          "l2_points_bp": 500},
                                  scope={"product_ids": ["p_tea"], "promoter_ids": [promoter_id]}))


def _stored_past_the_check(world: World, campaign: Campaign) -> None:
    """A campaign in the book as one stored before the save-time check existed (the clamp's case)."""
    repo = CampaignRepository(world.table)
    book = repo.read(consistent=True)
    repo.save(book, [*book.campaigns, campaign], now=T0,
              audit=AuditEntry(action="campaign.create", actor="test", entity_type="campaign",
                               entity_id=campaign.campaign_id))


def test_the_preview_shows_what_the_payment_pays_now_with_the_campaign_that_shaped_it(
        new_table: Callable[[], Table], ddb_client: Any) -> None:
    world = World(new_table())  # category 12% / 6%; a and b basic (no points)
    a, b, buyer = _chain(world)
    _targeted(world, b)
    reads = PreviewReads(world.table)
    mine = commission_preview.preview(reads, user_id=b, product_id="p_tea", now=T0)
    order_id = world.pay(world.place(buyer))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    paid = _by_level(world, order_id)
    assert paid[1][:2] == (b, 1700)
    assert (mine.l1.amount_fen, mine.l1.campaign_bp) == (1700, 500)  # the payment's 12% + 5%
    assert mine.l1.campaign is not None and mine.l1.campaign.name == "龙井高佣"
    assert mine.l2.amount_fen == PRICE * 1100 // 10_000 and mine.self_purchase.amount_fen == 1700
    theirs = commission_preview.preview(reads, user_id=a, product_id="p_tea", now=T0)
    assert (theirs.l1.amount_fen, theirs.l1.campaign) == (1200, None)  # not chosen: the normal rate
    later = commission_preview.preview(reads, user_id=b, product_id="p_tea", now=T0 + timedelta(days=2))
    assert (later.l1.amount_fen, later.l1.campaign) == (1200, None)  # the campaign is over by then
    assert _trips(ddb_client, lambda: commission_preview.preview(reads, user_id=b, product_id="p_tea", now=T0)) <= 3


def test_the_preview_clamps_a_boost_over_the_cap_as_the_payment_does(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, b, buyer = _chain(world)
    _stored_past_the_check(world, Campaign(
        campaign_id="cp_old", name="三倍", starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(days=1),
        scope=CampaignScope(promoter_ids=(b,)), boost=Boost("multiplier", multiplier_percent=300)))
    shown = commission_preview.preview(PreviewReads(world.table), user_id=b, product_id="p_tea", now=T0)
    order_id = world.pay(world.place(buyer))
    world.commission_worker(order_id, now=T0 + timedelta(minutes=1))
    assert _by_level(world, order_id)[1][1] == 3000  # 36% wanted, clamped to the 30% cap
    assert (shown.l1.amount_fen, shown.l1.capped, shown.l1.ratio_bp) == (3000, True, 3600)


def test_a_promoter_browses_and_ranks_by_the_boosted_figure(new_table: Callable[[], Table], ddb_client: Any) -> None:
    world = World(new_table())
    a, b, _ = _chain(world)
    ProductRepository(world.table).create(Product(product_id="p_big", name="大红袍", type="virtual",
                                                  category_id="c_tea", price_fen=12_000, stock=10, on_shelf=True))
    _targeted(world, b)
    repos = CatalogRepositories.on(world.table)

    def ranked(viewer: str) -> list[tuple[str, int | None]]:
        page = browsing.browse_products(browsing.BrowseProducts(where=ListingFilter(), sort="commission_desc",
                                                                limit=10, viewer=viewer, now=T0), repos=repos)
        return [(item.product_id, item.promoter_earn_fen) for item in page.items]

    assert ranked(b) == [("p_tea", 1700), ("p_big", 1440)]  # boosted for b: first
    assert ranked(a) == [("p_big", 1440), ("p_tea", 1200)]
    detail = browsing.product_detail(repos=repos, product_id="p_tea", viewer=b, now=T0)
    assert detail.promoter_earn_fen == 1700
    assert _trips(ddb_client, lambda: ranked(b)) <= 3


def test_the_self_purchase_discount_includes_the_campaign_in_force_for_the_buyer(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, b, _ = _chain(world)
    settings = SettingsRepository(world.table)
    current = settings.current(consistent=True)
    document = current.settings.model_copy(update={"commission": current.settings.commission.model_copy(
        update={"self_purchase": "discount"})})
    settings.save(document, based_on=current.version, saved_by="test", now=T0)
    plain = world.orders.get(world.place(b))
    assert plain is not None and plain.amount_fen == PRICE - 1200
    _targeted(world, b)
    boosted = world.orders.get(world.place(b))
    assert boosted is not None and boosted.amount_fen == PRICE - 1700  # what a rebate would pay b now
    shown = commission_preview.preview(PreviewReads(world.table), user_id=b, product_id="p_tea", now=T0)
    assert (shown.self_purchase.mode, shown.self_purchase.amount_fen) == ("discount", 1700)


# ---- every save against every open campaign, the wake-up rule's included --------------------------


def test_a_category_rate_an_open_campaign_would_take_over_the_cap_is_refused(new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 500}))  # 12+3+5 + 6+1 = 27%
    repos = CatalogRepositories.on(world.table)
    version = CategoryRepository(world.table).get("c_tea", consistent=True).version  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as refused:  # 16+3 + 6+1 = 26% alone; 31% with the campaign
        update_category(repos=repos, category_id="c_tea", body=CategoryUpdate(version=version, l1_rate_bp=1600),
                        now=T0)
    assert refused.value.code == "commission_over_cap"
    assert [p.field for p in refused.value.fields] == ["l1_rate_bp", "l2_rate_bp"]
    assert CategoryRepository(world.table).get("c_tea", consistent=True).l1_rate_bp == 1200  # type: ignore[union-attr]
    update_category(repos=repos, category_id="c_tea", body=CategoryUpdate(version=version, name="好茶"), now=T0)
    saved = update_category(repos=repos, category_id="c_tea", body=CategoryUpdate(version=version + 1,
                                                                                 l1_rate_bp=1600),
                            now=T0 + timedelta(days=2))  # once the campaign is over
    assert saved.l1_rate_bp == 1600


def test_a_product_or_sku_rate_a_targeted_product_would_take_over_the_cap_is_refused(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, b, _ = _chain(world)
    _targeted(world, b, l1_points_bp=300)  # b is one level of a line: 12+3+3 + 6+1 or 12+3 + 6+1+5 = 27%
    repos = CatalogRepositories.on(world.table)
    version = ProductRepository(world.table).get("p_tea", consistent=True).version  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as refused:  # 16+3 + 6+1 = 26% alone; 31% with b boosted at L2
        update_product(repos=repos, product_id="p_tea", now=T0, body=ProductUpdate.model_validate(
            {"version": version, "commission": {"mode": "ratio", "l1": 1600, "l2": 600}}))
    assert refused.value.code == "commission_over_cap"
    assert [p.field for p in refused.value.fields] == ["commission.l1", "commission.l2"]
    stored = ProductRepository(world.table).get("p_tea", consistent=True)
    assert stored is not None and stored.commission.mode == "inherit"
    update_product(repos=repos, product_id="p_tea", now=T0, body=ProductUpdate.model_validate(
        {"version": version, "commission": {"mode": "ratio", "l1": 1400, "l2": 600}}))  # 29%


def test_a_sku_commission_an_open_campaign_would_take_over_the_cap_is_refused_at_creation(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _create(world.table, _request(boost={"kind": "points", "l1_points_bp": 500}))  # +5% at L1 for everyone
    body = ProductCreate.model_validate({
        "name": "龙井礼盒", "type": "service", "category_id": "c_tea", "on_shelf": True,
        "specs": [{"name": "规格", "values": ["小", "大"]}],
        # 1600 + 600 fen of 10000 + the senior points (3% + 1%) = 26% alone; 31% with the campaign's 5%
        "skus": [{"options": ["小"], "price_fen": 10_000, "stock": 1,
                  "commission": {"mode": "fixed", "l1": 1600, "l2": 600}},
                 {"options": ["大"], "price_fen": 20_000, "stock": 1}]})
    with pytest.raises(InvalidInput) as refused:
        create_product(repos=CatalogRepositories.on(world.table), body=body, now=T0, product_id="p_box")
    assert refused.value.code == "commission_over_cap"
    assert [p.field for p in refused.value.fields] == ["skus.0.commission.l1", "skus.0.commission.l2"]
    assert ProductRepository(world.table).get("p_box", consistent=True) is None


def test_the_wake_up_rule_counts_for_an_override_a_settings_save_and_a_campaign_save(
        new_table: Callable[[], Table]) -> None:
    world = World(new_table())
    _, b, _ = _chain(world)
    wake_up_service.save_rule(CampaignRepositories.on(world.table), WakeUpRuleRequest.model_validate(
        {"enabled": True, "inactive_days": 30, "boost_days": 7,
         "boost": {"kind": "points", "l1_points_bp": 500, "l2_points_bp": 0}}), Actor("owner", None, T0))
    # No campaign yet: the boosts the rule will grant weigh as one (12+3+5 + 6+1 = 27%).
    with pytest.raises(InvalidInput) as override:  # 18+3 + 6+1 = 28% alone; 33% with a wake-up boost
        set_override(SetOverride(user_id=b, l1_bp=1800, l2_bp=None, reason="vip", by="owner", now=T0),
                     network=ReferralRepositories.on(world.table), categories=CategoryRepository(world.table),
                     products=ProductRepository(world.table), campaigns=CampaignRepository(world.table))
    assert override.value.code == "override_exceeds_cap"
    assert PromoterRepository(world.table).get(b, consistent=True).l1_override_bp is None  # type: ignore[union-attr]
    with pytest.raises(InvalidInput) as campaign:  # L1 woken (+5%) and L2 by this (+4%): 31%
        _create(world.table, _request(boost={"kind": "points", "l2_points_bp": 400}), now=T0)
    assert [p.field for p in campaign.value.fields] == ["boost.l2_points_bp"]
    assert CampaignRepository(world.table).read(consistent=True).campaigns == ()
    with pytest.raises(InvalidInput) as category:  # 16+3+5 + 6+1 = 31%
        update_category(repos=CatalogRepositories.on(world.table), category_id="c_tea", now=T0,
                        body=CategoryUpdate(version=1, l1_rate_bp=1600))
    assert category.value.code == "commission_over_cap"
