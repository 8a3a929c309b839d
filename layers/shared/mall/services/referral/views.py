"""What the referral routes return, built from the domain's promoters and bindings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from mall.clock import iso
from mall.domain import referral as rules
from mall.domain.referral import Binding, Promoter
from mall.schemas.binding import BindingView, BindResult

if TYPE_CHECKING:
    from mall.schemas.referral import PromoterAdminView


def admin_view(p: Promoter, page: str) -> PromoterAdminView:
    # Imported here: binding and visits import this module for the binding views alone, and the
    # promoter models (mall.schemas.referral) are a large share of those routes' cold start.
    from mall.schemas.referral import PromoterAdminView

    return PromoterAdminView(
        user_id=p.user_id, code=p.code, share_link=rules.share_link(page, p.code), status=p.status,
        level_id=p.level_id, l1_override_bp=p.l1_override_bp, l2_override_bp=p.l2_override_bp,
        nickname=p.nickname, applied_at=iso(p.applied_at) if p.applied_at else None,
        activated_at=iso(p.activated_at) if p.activated_at else None,
        accepted_rules_version=p.accepted_rules_version,
        accepted_rules_at=iso(p.accepted_rules_at) if p.accepted_rules_at else None,
        direct_members=p.direct_members, second_level_members=p.second_level_members,
        own_sales_fen=p.own_sales_fen, team_sales_fen=p.team_sales_fen,
        last_active_at=iso(p.last_active_at) if p.last_active_at else None, reason=p.reason, version=p.version,
        agreement_pending=p.agreement_pending,
    )


def binding_view(b: Binding) -> BindingView:
    return BindingView(parent_id=b.parent_id, bound_at=iso(b.bound_at), source=b.source, trigger=b.trigger,
                       promoter_code=b.promoter_code)


def bind_result(outcome: Literal["bound", "rebound", "unchanged", "unbound"], binding: Binding | None) -> BindResult:
    return BindResult(outcome=outcome, binding=binding_view(binding) if binding else None)
