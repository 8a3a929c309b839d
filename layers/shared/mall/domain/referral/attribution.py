"""Attribution (归属): who earns at L1 / L2 for an order. Two levels, never more. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mall.domain.referral.model import Attribution, Promoter
from mall.domain.settings_terms import BindingMode

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings


def _earner(uid: str | None, promoters: dict[str, Promoter]) -> str | None:
    """Only an active promoter earns; an inactive level stays empty (never shifted up)."""
    if uid is None:
        return None
    promoter = promoters.get(uid)
    return uid if promoter is not None and promoter.is_active else None


def attribute(*, buyer_id: str, buyer_parent: str | None, parent_of: dict[str, str | None],
              promoters: dict[str, Promoter], sharer: Promoter | None, sharer_bindable: bool,
              settings: DistributionSettings, settings_version: int) -> Attribution:
    """Pure attribution. ``parent_of`` maps a promoter to their parent (for the L2 look-up);
    ``promoters`` holds every promoter involved; ``sharer`` is the share source's promoter (only
    used in first_payment mode for an unbound buyer, when ``sharer_bindable``)."""
    buyer = promoters.get(buyer_id)
    if buyer is not None and buyer.is_active:
        return _self_purchase(buyer_id, buyer_parent=buyer_parent, parent_of=parent_of, promoters=promoters,
                              settings=settings, settings_version=settings_version)
    if buyer_parent is not None:
        return Attribution(_earner(buyer_parent, promoters), _earner(parent_of.get(buyer_parent), promoters),
                           settings_version, "binding")
    if (settings.binding_mode == BindingMode.FIRST_PAYMENT and sharer is not None and sharer_bindable
            and sharer.is_active and sharer.user_id != buyer_id):
        return Attribution(sharer.user_id, _earner(parent_of.get(sharer.user_id), promoters), settings_version,
                           "share_first_payment")
    return Attribution(None, None, settings_version, "none")


def _self_purchase(buyer_id: str, *, buyer_parent: str | None, parent_of: dict[str, str | None],
                   promoters: dict[str, Promoter], settings: DistributionSettings,
                   settings_version: int) -> Attribution:
    """自购: ``rebate`` the buyer earns L1 (their parent L2); ``none`` as their parent's customer;
    ``discount`` nobody earns (the order flow takes the would-be L1 amount, at the buyer's own
    rates, off the price)."""
    mode = settings.commission.self_purchase
    if mode == "rebate":
        return Attribution(buyer_id, _earner(buyer_parent, promoters), settings_version, "self_purchase",
                           self_purchase=True)
    if mode == "discount" or buyer_parent is None:
        return Attribution(None, None, settings_version, "self_purchase" if mode == "discount" else "none",
                           self_purchase=True)
    return Attribution(_earner(buyer_parent, promoters), _earner(parent_of.get(buyer_parent), promoters),
                       settings_version, "binding", self_purchase=True)


def unique(values: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value is not None and value not in seen:
            seen.append(value)
    return seen
