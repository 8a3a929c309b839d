"""Admin: promoters (推广员管理) — list by status, review, freeze, disable, rates, level, team.

Every change is a conditional update from the status the admin's action expects (409 naming the
current status otherwise) and a history entry with who, when and why."""

from __future__ import annotations

from typing import Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import entrypoint, make_resolver
from mall.api.params import Cursor, IdPath, Limit, OpenAPIResponse, Query, error_response, source_ip
from mall.clock import utc_now
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.commission_rates import RateIndex
from mall.dal.table import main_table
from mall.domain.referral import PromoterAction
from mall.domain.staff import Capability
from mall.schemas.referral import (
    AdminTeamPage,
    LevelChangeRequest,
    OverrideRequest,
    PromoterAdminView,
    PromoterDetail,
    PromoterList,
    StatusChangeRequest,
)
from mall.services import risk, settlement
from mall.services.referral import ReferralRepositories, share_page
from mall.services.referral import promoters as referral_promoters
from mall.services.referral.team import promoter_team

# Composition root: built once per cold start, shared by every invocation.
table = main_table()
network = ReferralRepositories.on(table)
categories = CategoryRepository(table)
products = ProductRepository(table)
rates = RateIndex(table)
risk_repos = risk.RiskRepositories.on(table)
settlement_repos = settlement.SettlementRepositories.on(table)

app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such promoter"),
    409: error_response("`promoter_status_conflict` (details.status is the current status)"),
    422: error_response("invalid fields (`reason_required`, `override_exceeds_cap`, `unknown_level`)"),
}


@app.get("/admin/promoters", summary="Promoters (applications) by status, newest first", tags=["referral"],
         **staff(Capability.READ))
def list_promoters(status: Annotated[Literal["applied", "active", "frozen", "disabled", "rejected"],
                                     Query()] = "applied",
                   limit: Limit = 20,
                   cursor: Cursor = None) -> PromoterList:
    return referral_promoters.list_promoters(promoters=network.promoters, status=status, limit=limit, cursor=cursor)


@app.get("/admin/promoters/<user_id>", summary="One promoter with their history", tags=["referral"],
         responses={404: _ERRORS[404]}, **staff(Capability.READ))
def get_one(user_id: IdPath) -> PromoterDetail:
    promoter, phone = referral_promoters.get_promoter_and_phone(promoters=network.promoters, user_id=user_id)
    history = referral_promoters.promoter_history(promoters=network.promoters, user_id=user_id, limit=50,
                                                  cursor=None)
    return PromoterDetail(promoter=promoter, history=history, phone=phone)


@app.get("/admin/promoters/<user_id>/team", summary="A promoter's team (level 1 or level 2), newest first",
         description="What the promoter sees at GET /promoter/team, with the members' user ids; nicknames stay "
                     "masked. Level 2 pages may be short: follow `next_cursor`.",
         tags=["referral"], responses={404: error_response("`promoter_not_found`"),
                                       422: error_response("`invalid_cursor` (another list's cursor)")},
         **staff(Capability.READ))
def team(user_id: IdPath,
         depth: Annotated[int, Query(ge=1, le=2, description="1: their direct members; 2: their members' members")] = 1,
         limit: Limit = 20,
         cursor: Cursor = None) -> AdminTeamPage:
    level: Literal[1, 2] = 2 if depth == 2 else 1
    return promoter_team(network=network, user_id=user_id, depth=level, limit=limit, cursor=cursor)


#: The status changes (审核、冻结、禁用): one route each, all the same apart from the action.
_STATUS_CHANGES: dict[PromoterAction, str] = {
    "approve": "Approve an application",
    "reject": "Reject an application (reason required)",
    "freeze": "Freeze an active promoter (reason required)",
    "unfreeze": "Unfreeze a frozen promoter",
    "disable": "Disable a promoter for good (reason required)",
}


def _status_change_route(action: PromoterAction, summary: str) -> None:
    def change(user_id: IdPath, body: StatusChangeRequest) -> PromoterAdminView:
        now = utc_now()
        view = referral_promoters.change_status(promoters=network.promoters, user_id=user_id, action=action,
                                                reason=body.reason, by=current_principal(app).subject, now=now,
                                                source_ip=source_ip(app))
        if action == "unfreeze":  # a confirmed risk case kept its hold while the promoter was frozen
            risk.lift_hold_after_unfreeze(repos=risk_repos, promoter_id=user_id, now=now)
        if action == "disable":  # unsettled commission is voided (settled money stays the promoter's)
            # Voiding changes records and the ledger, not the promoter: the view of the change stands.
            settlement.void_disabled_promoter(settlement_repos, promoter_id=user_id,
                                              by=current_principal(app).subject, now=now, source_ip=source_ip(app))
        return view

    change.__name__ = change.__qualname__ = action  # the OpenAPI operation id, as with one def per route
    app.post(f"/admin/promoters/<user_id>/{action}", summary=summary, tags=["referral"], responses=_ERRORS,
             **staff(Capability.OPERATIONS))(change)


for _action, _summary in _STATUS_CHANGES.items():
    _status_change_route(_action, _summary)


@app.put("/admin/promoters/<user_id>/override", summary="Set or clear the promoter's own rates",
         tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def override(user_id: IdPath, body: OverrideRequest) -> PromoterAdminView:
    command = referral_promoters.SetOverride(user_id=user_id, l1_bp=body.l1_override_bp, l2_bp=body.l2_override_bp,
                                             reason=body.reason, by=current_principal(app).subject, now=utc_now(),
                                             source_ip=source_ip(app))
    return referral_promoters.set_override(command, network=network, categories=categories, products=products,
                                           rates=rates)


@app.put("/admin/promoters/<user_id>/level", summary="Change the promoter's level (reason required)",
         tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def level(user_id: IdPath, body: LevelChangeRequest) -> PromoterAdminView:
    return referral_promoters.set_level(network=network, user_id=user_id, level_id=body.level_id, reason=body.reason,
                                        by=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


handler = entrypoint(app)
