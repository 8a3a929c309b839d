"""Attribution (归属): who would earn at L1 / L2 for an order placed now (placing an order calls this).
"""

from __future__ import annotations

from datetime import datetime

from mall.dal.referral import batch_promoters
from mall.domain import referral as rules
from mall.domain.referral import MAX_ANCESTOR_DEPTH, Attribution, Promoter, ShareSource
from mall.domain.settings_terms import BindingMode
from mall.services.referral import ReferralRepositories


def attribute_order(*, network: ReferralRepositories, buyer_id: str, share: ShareSource | None,
                    now: datetime) -> Attribution:
    """Read-only: who would earn at L1 / L2 for this buyer now (at most two levels, ever)."""
    current = network.settings.current()
    settings = current.settings
    promoters, bindings = network.promoters, network.bindings
    buyer_parent = bindings.parent_of(buyer_id)
    parent_of: dict[str, str | None] = {}
    sharer: Promoter | None = None
    sharer_bindable = False
    if buyer_parent is not None:
        parent_of[buyer_parent] = bindings.parent_of(buyer_parent)
    elif settings.binding_mode == BindingMode.FIRST_PAYMENT and share is not None and rules.is_valid_code(
            share.promoter_code):
        sharer = promoters.get_by_code(share.promoter_code)
        if sharer is not None and sharer.user_id != buyer_id:
            ancestors = bindings.ancestors(sharer.user_id, max_depth=MAX_ANCESTOR_DEPTH)
            parent_of[sharer.user_id] = ancestors[0] if ancestors else None
            facts = promoters.customer(buyer_id)
            sharer_bindable = (buyer_id not in ancestors and len(ancestors) < MAX_ANCESTOR_DEPTH
                               and not (settings.only_new_customers and facts.paid_order_count > 0))
    involved = rules.unique([buyer_id, buyer_parent, *parent_of.values()])
    found = batch_promoters(promoters, involved)
    if sharer is not None:
        found[sharer.user_id] = sharer
    return rules.attribute(buyer_id=buyer_id, buyer_parent=buyer_parent, parent_of=parent_of, promoters=found,
                           sharer=sharer, sharer_bindable=sharer_bindable, settings=settings,
                           settings_version=current.version)
