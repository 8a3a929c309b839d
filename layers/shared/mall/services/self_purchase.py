"""The self-purchase discount (自购优惠) at placing an order, apart from the commission worker's
``mall.services.commissions``: placing an order needs these few reads and rates, not the worker's
ledger, team bonus and withdrawal machinery, which would otherwise load with its cold start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mall.domain.commission import product_from_line, resolve_rates, self_purchase_discount

if TYPE_CHECKING:
    from mall.dal.catalog import CategoryRepository
    from mall.dal.referral import PromoterRepository
    from mall.domain.catalog import Category
    from mall.domain.orders import PricedLine
    from mall.domain.settings import DistributionSettings


def self_purchase_discounts(*, promoters: PromoterRepository, categories: CategoryRepository, buyer_id: str,
                            lines: Sequence[PricedLine], settings: DistributionSettings) -> dict[str, int]:
    """Per ``line_id``, the L1 amount the buyer (an active promoter, ``discount`` mode) would earn
    on their own line at their own rates (override, level points, product / category / global):
    what comes off that line's price."""
    promoter = promoters.get(buyer_id, consistent=True)
    found: dict[str, Category] = {}
    for category_id in {line.category_id for line in lines if line.category_id}:
        category = categories.get(category_id)
        if category is not None:
            found[category_id] = category
    discounts: dict[str, int] = {}
    for line in lines:
        product = product_from_line(line.as_item())
        rates = resolve_rates(settings=settings, product=product, category=found.get(product.category_id),
                              promoter=promoter)
        amount = self_purchase_discount(base_fen=line.paid_fen, quantity=line.quantity, rates=rates,
                                        cap_bp=settings.commission.cap_bp)
        if amount > 0:
            discounts[line.line_id] = amount
    return discounts
