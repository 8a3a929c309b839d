"""Use cases of the referral network, one module per concern:

- ``attribution``: who would earn at L1 / L2 for an order placed now;
- ``promoters``: becoming a promoter, and an admin's review, freeze, disable, rates and level;
- ``binding``: a customer's parent promoter (invite code, admin) and its history;
- ``visits``: share visits (rate-limited; a binding in first_click mode);
- ``levels``: upgrades when counters grow, downgrades of idle promoters;
- ``team``: what a promoter sees of themselves and their team;
- ``order_paid`` / ``refunds``: the stream consumers moving the counters.

Rules live in ``mall.domain.referral``; persistence in ``mall.dal.referral``. Every multi-item
change is one transaction; when one is cancelled by a concurrent change the use case re-reads and
decides again (``ATTEMPTS`` times at most), so the rules are always checked against what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mall.config import function_environment
from mall.dal.referral import BindingRepository, PromoterRepository, ReferralReads
from mall.dal.settings import SettingsRepository
from mall.domain.referral import share_page_from

if TYPE_CHECKING:
    from mall.dal.table import Table

#: How many times a use case reads and decides again after a concurrent change cancelled its write.
ATTEMPTS = 6


def share_page() -> str:
    """The mini-program page a share link opens (env ``SHARE_PAGE``, read and checked exactly as the
    QR and poster functions read it: ``mall.domain.referral.share_page_from``)."""
    return share_page_from(function_environment().share_page)


@dataclass(frozen=True)
class ReferralRepositories:
    """What the network's rules read together: the settings in force, the promoters and the
    bindings. A use case needing more than one of them takes this; other repositories it needs
    (counters, visits, orders, catalog) are parameters of their own."""

    settings: SettingsRepository
    promoters: PromoterRepository
    bindings: BindingRepository
    reads: ReferralReads  # a bind's and a visit's reads, batched

    @classmethod
    def on(cls, table: Table) -> ReferralRepositories:
        return cls(settings=SettingsRepository(table), promoters=PromoterRepository(table),
                   bindings=BindingRepository(table), reads=ReferralReads(table))
