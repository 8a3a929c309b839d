"""The commission views: a promoter's own records, an admin's view of any promoter's, and the
preview of what a promoter would earn on a product (佣金预估). Buyers are shown masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mall.api.cursor import cursors
from mall.clock import iso, utc_now
from mall.dal.commission_preview import PreviewReads
from mall.dal.commissions import commission_from_item
from mall.dal.keys import beneficiary_partition
from mall.domain.campaigns import rates_at
from mall.domain.commission import LevelRate, cap_amount, explain_rule, self_purchase_discount
from mall.domain.commission_records import CommissionRecord
from mall.domain.masking import mask_nickname, mask_user_id
from mall.domain.settings_terms import COMMISSION_CAP_LIMIT_BP
from mall.errors import NotFound
from mall.schemas.commissions import (
    AdminCommissionPage,
    AdminCommissionView,
    CampaignReference,
    CommissionPage,
    CommissionPreview,
    CommissionRule,
    CommissionView,
    LevelPreview,
    SelfPurchasePreview,
)
from mall.services.commissions import CommissionRepositories


def _view_fields(record: CommissionRecord, nickname: str | None) -> dict[str, Any]:
    rule = {"level": record.level, "base_fen": record.base_fen, "quantity": record.quantity, "source": "global",
            "mode": "ratio", "ratio_bp": 0, "fixed_fen": 0, "level_points_bp": 0, "level_id": "",
            "cap_bp": COMMISSION_CAP_LIMIT_BP, "cap_fen": 0, "wanted_fen": record.amount_fen, "capped": False,
            "settings_version": 0, "basis": "binding", "self_purchase": False, **record.rule}
    return {
        "commission_id": record.commission_id, "order_id": record.order_id, "line_id": record.line_id,
        "level": record.level, "product_id": record.product_id, "product_name": record.product_name,
        "quantity": record.quantity, "buyer": mask_nickname(nickname), "buyer_id": mask_user_id(record.buyer_id),
        "base_fen": record.base_fen, "amount_fen": record.amount_fen, "cancelled_fen": record.cancelled_fen,
        "clawed_back_fen": record.clawed_back_fen, "current_fen": record.current_fen, "status": record.status.value,
        "created_at": iso(record.created_at), "due_at": iso(record.due_at) if record.due_at else None,
        "settled_at": iso(record.settled_at) if record.settled_at else None, "on_hold": bool(record.hold),
        "explanation": explain_rule(rule, record.amount_fen), "rule": CommissionRule.model_validate(rule),
    }


def _page(repos: CommissionRepositories, user_id: str, *, status: str | None, limit: int,
          cursor: str | None) -> tuple[list[CommissionRecord], dict[str, str | None], str | None]:
    store = repos.store
    start = cursors.decode(cursor, partition=("gsi1pk", beneficiary_partition(user_id)))
    page = store.for_beneficiary(user_id, status=status, limit=limit, start_key=start)
    records = [commission_from_item(item) for item in page.items]
    nicknames = store.nicknames(r.buyer_id for r in records)
    return records, nicknames, cursors.encode(page.last_key)


def my_commissions(repos: CommissionRepositories, *, user_id: str, status: str | None, limit: int,
                   cursor: str | None) -> CommissionPage:
    """The caller's own commission records, newest first (one gsi1 Query per page)."""
    records, nicknames, next_cursor = _page(repos, user_id, status=status, limit=limit, cursor=cursor)
    return CommissionPage(items=[CommissionView(**_view_fields(r, nicknames.get(r.buyer_id))) for r in records],
                          next_cursor=next_cursor)


def promoter_commissions(repos: CommissionRepositories, *, user_id: str, status: str | None, limit: int,
                         cursor: str | None) -> AdminCommissionPage:
    """Admin: any promoter's commission records, newest first; 404 for someone who never applied."""
    if repos.promoters.get(user_id) is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    records, nicknames, next_cursor = _page(repos, user_id, status=status, limit=limit, cursor=cursor)
    return AdminCommissionPage(
        items=[AdminCommissionView(**_view_fields(r, nicknames.get(r.buyer_id)), beneficiary_id=r.beneficiary_id,
                                   hold=r.hold) for r in records],
        next_cursor=next_cursor)


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
