"""Promoters, promoter codes, bindings, share visits and referral counters in the single table.

Keys (docs/data-model.md, "referral"):
- promoter ``USER#<uid>/PROMOTER`` (gsi1 ``PROMOTERS#<status>`` / ``<applied_at>#<uid>``)
- promoter history ``USER#<uid>/PROMOTER_HISTORY#<at>#<id>``
- code → uid ``PCODE#<code>/PCODE``
- binding ``USER#<uid>/BINDING`` (gsi1 ``TEAM#<parent>`` / ``<bound_at>#<uid>``)
- binding history ``USER#<uid>/BINDING_HISTORY#<at>#<id>``
- share visit ``PVISITS#<promoter uid>/VISIT#<at>#<id>``
- activity marker ``USER#<uid>/PROMOTER_ACTIVITY`` (gsi1 ``PROMOTER_ACTIVE_ON#<yyyy-mm-dd>`` / ``<uid>``,
  sparse: removed once the promoter is at the entry level)
- order counted marker ``REFERRAL_ORDER#<order_id>/COUNTED`` (``amount_fen``: the distribution base
  added; ``refunded_base_fen``: how much of it succeeded refunds took back)
- refund counted marker ``REFERRAL_ORDER#<order_id>/REFUND#<refund_id>``

By concern: ``records`` (keys, index partitions, item mapping), ``promoters``, ``bindings``,
``visits``, ``counters``. The names are gathered here for the many modules that read them, with
``TransactionCancelled``: what a write raises when a condition or a concurrent write cancelled it.
Each is imported from its module when first asked for (PEP 562), so a function that reads promoters
does not load the bindings', visits' and counters' repositories at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mall.dal.referral.bindings import (
        BOUND_PARENT,
        AncestorCheck,
        BindingRepository,
        BindPlan,
    )
    from mall.dal.referral.counters import (
        CounterRepository,
        RefundCount,
        RefundedPromoter,
        SaleCount,
        first_failure_index,
    )
    from mall.dal.referral.promoters import (
        CustomerFacts,
        PromoterRepository,
        batch_promoters,
    )
    from mall.dal.referral.reads import BindFacts, ReferralReads, VisitFacts
    from mall.dal.referral.records import (
        activity_write,
        binding_from_item,
        counters_condition,
        in_team,
        new_history_sk,
        promoter_from_item,
        promoter_history_write,
        team_history_index,
        visitor_index,
    )
    from mall.dal.referral.visits import (
        VISIT_SEEN_TTL,
        ExtraWritesRefused,
        NewVisit,
        RateLimit,
        VisitRateExceeded,
        VisitRateLimiter,
        VisitRepository,
    )
    from mall.dal.table import TransactionCancelled

__all__ = [
    "BOUND_PARENT",
    "VISIT_SEEN_TTL",
    "AncestorCheck",
    "BindFacts",
    "BindPlan",
    "BindingRepository",
    "CounterRepository",
    "CustomerFacts",
    "ExtraWritesRefused",
    "NewVisit",
    "PromoterRepository",
    "RateLimit",
    "ReferralReads",
    "RefundCount",
    "RefundedPromoter",
    "SaleCount",
    "TransactionCancelled",
    "VisitFacts",
    "VisitRateExceeded",
    "VisitRateLimiter",
    "VisitRepository",
    "activity_write",
    "batch_promoters",
    "binding_from_item",
    "counters_condition",
    "first_failure_index",
    "in_team",
    "new_history_sk",
    "promoter_from_item",
    "promoter_history_write",
    "team_history_index",
    "visitor_index",
]

if not TYPE_CHECKING:  # the type checker reads the imports above, and a misspelt name stays an error

    def __getattr__(name: str) -> object:
        # A name's module, imported when one of its names is first asked for.
        if name in {"BOUND_PARENT", "AncestorCheck", "BindingRepository", "BindPlan"}:
            from mall.dal.referral import bindings as home
        elif name in {"CounterRepository", "RefundCount", "RefundedPromoter", "SaleCount", "first_failure_index"}:
            from mall.dal.referral import counters as home
        elif name in {"CustomerFacts", "PromoterRepository", "batch_promoters"}:
            from mall.dal.referral import promoters as home
        elif name in {"BindFacts", "ReferralReads", "VisitFacts"}:
            from mall.dal.referral import reads as home
        elif name in {"activity_write", "binding_from_item", "counters_condition", "in_team", "new_history_sk",
                      "promoter_from_item", "promoter_history_write", "team_history_index", "visitor_index"}:
            from mall.dal.referral import records as home
        elif name in {"VISIT_SEEN_TTL", "ExtraWritesRefused", "NewVisit", "RateLimit", "VisitRateExceeded",
                      "VisitRateLimiter", "VisitRepository"}:
            from mall.dal.referral import visits as home
        elif name == "TransactionCancelled":
            from mall.dal import table as home
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(home, name)
        globals()[name] = value  # imported once
        return value
