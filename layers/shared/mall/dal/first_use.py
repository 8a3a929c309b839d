"""Repositories built on their first use, for the bundles and composition roots whose common request does
without them (a save's cap check, a first login's or a first activation's gift coupons).

Each factory returns a function that imports the repository's module, with what that module imports, when it
is first called, and builds the repository once (``functools.cache``): a cold start pays for neither. This
module itself imports no repository."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.commission_rates import RateIndex
    from mall.dal.coupons import CouponRepository
    from mall.dal.referral import PromoterRepository
    from mall.dal.table import Table


def coupons(table: Table) -> Callable[[], CouponRepository]:
    @cache
    def build() -> CouponRepository:
        from mall.dal.coupons import CouponRepository

        return CouponRepository(table)

    return build


def campaigns(table: Table) -> Callable[[], CampaignRepository]:
    @cache
    def build() -> CampaignRepository:
        from mall.dal.campaigns import CampaignRepository

        return CampaignRepository(table)

    return build


def promoters(table: Table) -> Callable[[], PromoterRepository]:
    @cache
    def build() -> PromoterRepository:
        from mall.dal.referral import PromoterRepository

        return PromoterRepository(table)

    return build


def rates(table: Table) -> Callable[[], RateIndex]:
    @cache
    def build() -> RateIndex:
        from mall.dal.commission_rates import RateIndex

        return RateIndex(table)

    return build


def categories(table: Table) -> Callable[[], CategoryRepository]:
    @cache
    def build() -> CategoryRepository:
        from mall.dal.catalog import CategoryRepository

        return CategoryRepository(table)

    return build


def products(table: Table) -> Callable[[], ProductRepository]:
    @cache
    def build() -> ProductRepository:
        from mall.dal.catalog import ProductRepository

        return ProductRepository(table)

    return build
