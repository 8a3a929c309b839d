"""The self-purchase discount (自购优惠) at placing an order, apart from the commission worker's
``mall.services.commissions``: placing an order needs these few reads and rates, not the worker's
ledger, team bonus and withdrawal machinery, which would otherwise load with its cold start."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mall.domain.campaigns import rates_at
from mall.domain.commission import product_from_line, self_purchase_discount

if TYPE_CHECKING:
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import CategoryRepository
    from mall.dal.referral import PromoterRepository
    from mall.domain.catalog import Category
    from mall.domain.orders import PricedLine
    from mall.domain.settings import DistributionSettings


def self_purchase_discounts(*, promoters: PromoterRepository, categories: CategoryRepository, buyer_id: str,
                            lines: Sequence[PricedLine], settings: DistributionSettings,
                            campaigns: CampaignRepository | None = None, now: datetime) -> dict[str, int]:
    """Per ``line_id``, the L1 amount the buyer (an active promoter, ``discount`` mode) would earn
    on their own line at their own rates (override, level points, product / category / global, and
    the campaign in force for them at ``now``, as a rebate would be paid: ``campaigns.rates_at``):
    what comes off that line's price."""
    promoter = promoters.get(buyer_id, consistent=True)
    book = campaigns.read().campaigns if campaigns is not None else ()
    found: dict[str, Category] = {}
    for category_id in {line.category_id for line in lines if line.category_id}:
        category = categories.get(category_id)
        if category is not None:
            found[category_id] = category
    discounts: dict[str, int] = {}
    for line in lines:
        product = product_from_line(line.as_item())
        rates = rates_at(settings=settings, product=product, category=found.get(product.category_id),
                         promoter=promoter, campaigns=book, at=now, base_fen=line.paid_fen, quantity=line.quantity)
        amount = self_purchase_discount(base_fen=line.paid_fen, quantity=line.quantity, rates=rates,
                                        cap_bp=settings.commission.cap_bp)
        if amount > 0:
            discounts[line.line_id] = amount
    return discounts
