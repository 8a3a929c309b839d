"""The preview of what a promoter would earn on one unit of a product (佣金预估), at the current rules
with the campaign in force for them."""

from __future__ import annotations

from datetime import datetime

from mall.clock import utc_now
from mall.dal.commission_preview import PreviewReads
from mall.domain.campaigns import rates_at
from mall.domain.commission import LevelRate, cap_amount, self_purchase_discount
from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP
from mall.errors import NotFound
from mall.schemas.commissions import CampaignReference, CommissionPreview, LevelPreview, SelfPurchasePreview


def preview(reads: PreviewReads, *, user_id: str, product_id: str, now: datetime | None = None) -> CommissionPreview:
    """What the caller would earn on one unit of ``product_id`` at its list price if it were paid
    ``now``: as L1 (their own customer buys) and as L2 (a customer of their direct member buys), at
    the current rules with the campaign in force for them (``campaigns.rates_at``, the payment's
    resolution), clamped by the cap as the payment clamps (each level alone: the other level of
    such a line is another promoter's). Two round trips: the product, promoter, settings and
    campaigns together, then the product's category."""
    facts = reads.read(user_id=user_id, product_id=product_id)
    product = facts.product
    if product is None or not product.on_shelf:
        raise NotFound("no such product", code="product_not_found")
    promoter = facts.promoter
    if promoter is None:
        raise NotFound("you are not a promoter", code="promoter_not_found")
    current = facts.current
    settings = current.settings
    category = reads.category(product.category_id) if product.category_id else None
    base = product.price_fen
    rates = rates_at(settings=settings, product=product, category=category, promoter=promoter,
                     campaigns=facts.campaigns, at=now or utc_now(), base_fen=base)
    cap_bp = settings.commission.cap_bp
    ceiling = cap_amount(base, cap_bp)

    def level(rate: LevelRate) -> LevelPreview:
        wanted = max(rate.amount(base, 1), 0) if rates.enabled else 0
        return LevelPreview(amount_fen=min(wanted, ceiling), source=rate.source, mode=rate.mode,
                            ratio_bp=rate.ratio_bp, fixed_fen=rate.fixed_fen, level_points_bp=rate.level_points_bp,
                            capped=wanted > ceiling, campaign_bp=rate.campaign_bp, campaign_fen=rate.campaign_fen,
                            campaign=CampaignReference.model_validate(dict(rate.campaign)) if rate.campaign else None)

    l1, l2 = level(rates.l1), level(rates.l2)
    mode = settings.commission.self_purchase
    own = {"rebate": l1.amount_fen, "none": 0,
           "discount": self_purchase_discount(base_fen=base, quantity=1, rates=rates, cap_bp=cap_bp)}[mode]
    effective_cap = min(cap_bp, COMMISSION_CAP_LIMIT_BP)
    return CommissionPreview(
        product_id=product.product_id, product_name=product.name, price_fen=base,
        distribution_enabled=rates.enabled, active=promoter.is_active, level_id=settings.level(promoter.level_id).id,
        l1=l1, l2=l2, cap_bp=effective_cap, cap_fen=ceiling,
        cap_note=(f"L1 + L2 of an order line never exceed {effective_cap / 100:g}% of what the buyer paid for it "
                  f"({ceiling} fen here); when they would, L2 is reduced first. Amounts are floored to the fen."),
        self_purchase=SelfPurchasePreview(mode=mode, amount_fen=own if rates.enabled else 0),
        settings_version=current.version)
