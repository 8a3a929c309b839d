"""Admin: promoters (推广员管理) — list by status, review, freeze, disable, rates, level, team.

Every change is a conditional update from the status the admin's action expects (409 naming the
current status otherwise) and a history entry with who, when and why."""

from __future__ import annotations

from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Literal

from mall.api.auth import current_principal, staff
from mall.api.http import Response, entrypoint, make_resolver
from mall.api.params import ID_PATTERN, Cursor, IdPath, Limit, OpenAPIResponse, Query, error_response, source_ip
from mall.api.request_key import IdempotencyKeyHeader
from mall.clock import utc_now
from mall.dal import first_use
from mall.dal.promoter_list import PromoterListReads
from mall.dal.table import main_table
from mall.domain.promoter_list import PromoterSort
from mall.domain.referral import PromoterAction
from mall.domain.staff import Capability
from mall.schemas.adjustments import AdjustmentPage, AdjustmentRejectRequest, AdjustmentRequest, AdjustmentView
from mall.schemas.downline import DownlinePage
from mall.schemas.referral import (
    AdminTeamPage,
    LevelChangeRequest,
    OverrideRequest,
    PromoterAdminView,
    PromoterDetail,
    PromoterListPage,
    StatusChangeRequest,
)
from mall.services.referral import ReferralRepositories, promoter_list, share_page
from mall.services.referral import promoters as referral_promoters

if TYPE_CHECKING:
    from mall.dal.adjustments import AdjustmentRepository
    from mall.dal.withdrawals import WithdrawalRepository
    from mall.services.risk import RiskRepositories
    from mall.services.settlement import SettlementRepositories

# Composition root: built once per cold start, shared by every invocation.
# What only the review, team, downline, override and adjustment routes use is imported and built by their first
# request (the functions below): the console's promoter list, this function's main route, uses none of it.
table = main_table()
network = ReferralRepositories.on(table)
list_reads = PromoterListReads(table)
coupons_of = first_use.coupons(table)  # built on first use: only a first activation issues the gift coupons


@cache
def risk_repos() -> RiskRepositories:
    from mall.services.risk import RiskRepositories  # on first use: only unfreezing lifts a risk hold

    return RiskRepositories.on(table)


@cache
def settlement_repos() -> SettlementRepositories:
    from mall.services.settlement import SettlementRepositories  # on first use: only disabling voids commission

    return SettlementRepositories.on(table)


@cache
def adjustment_repos() -> tuple[AdjustmentRepository, WithdrawalRepository]:
    # On first use: the adjustments' and withdrawals' repositories (with the ledger) serve the adjustment routes only.
    from mall.dal.adjustments import AdjustmentRepository
    from mall.dal.withdrawals import WithdrawalRepository

    return AdjustmentRepository(table), WithdrawalRepository(table)


app = make_resolver()
share_page()  # SHARE_PAGE is validated at cold start, not by the first request that needs it

_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("no such promoter"),
    409: error_response("`promoter_status_conflict` (details.status is the current status)"),
    422: error_response("invalid fields (`reason_required`, `override_exceeds_cap`, `unknown_level`)"),
}


@app.get("/admin/promoters", summary="Promoters of one status with their figures, newest first or sorted",
         description="Each row: the masked phone, level, cumulative and this month's commission, team size, sales "
                     "and last activity. `level_id` keeps one level (a page may then be short). A `sort` other than "
                     "`newest` reads the whole status (up to 2,000 promoters: `truncated` says when cut) and "
                     "sorts by the figure, highest first.",
         tags=["referral"], responses={422: error_response("`invalid_cursor` (another list's cursor)")},
         **staff(Capability.READ))
def list_promoters(status: Annotated[Literal["applied", "active", "frozen", "disabled", "rejected"],
                                     Query()] = "applied",
                   level_id: Annotated[str | None, Query(pattern=r"^[a-z0-9_-]{1,32}$",
                                                         description="only this level")] = None,
                   sort: Annotated[PromoterSort, Query(description="newest (application) or a figure, highest "
                                                                   "first")] = "newest",
                   limit: Limit = 20,
                   cursor: Cursor = None) -> PromoterListPage:
    return promoter_list.list_promoters(reads=list_reads, status=status, level_id=level_id, sort=sort, limit=limit,
                                        cursor=cursor, now=utc_now())


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
    from mall.services.referral.team import promoter_team  # on first use: the team pages, with the campaigns' boosts

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
                                                source_ip=source_ip(app), coupons_of=coupons_of)
        if action == "unfreeze":  # a confirmed risk case kept its hold while the promoter was frozen
            from mall.services import risk  # on first use: the risk rules serve this action only

            risk.lift_hold_after_unfreeze(repos=risk_repos(), promoter_id=user_id, now=now)
        if action == "disable":  # unsettled commission is voided (settled money stays the promoter's)
            from mall.services import settlement  # on first use: the settlement serves this action only

            # Voiding changes records and the ledger, not the promoter: the view of the change stands.
            settlement.void_disabled_promoter(settlement_repos(), promoter_id=user_id,
                                              by=current_principal(app).subject, now=now, source_ip=source_ip(app),
                                              status=view.status)
        return view

    change.__name__ = change.__qualname__ = action  # the OpenAPI operation id, as with one def per route
    app.post(f"/admin/promoters/<user_id>/{action}", summary=summary, tags=["referral"], responses=_ERRORS,
             **staff(Capability.OPERATIONS))(change)


for _action, _summary in _STATUS_CHANGES.items():
    _status_change_route(_action, _summary)


@app.put("/admin/promoters/<user_id>/override", summary="Set or clear the promoter's own rates",
         tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def override(user_id: IdPath, body: OverrideRequest) -> PromoterAdminView:
    # On first use: the catalog's, the rate copies' and the campaigns' repositories serve the override's cap check.
    from mall.dal.campaigns import CampaignRepository
    from mall.dal.catalog import CategoryRepository, ProductRepository
    from mall.dal.commission_rates import RateIndex

    command = referral_promoters.SetOverride(user_id=user_id, l1_bp=body.l1_override_bp, l2_bp=body.l2_override_bp,
                                             reason=body.reason, by=current_principal(app).subject, now=utc_now(),
                                             source_ip=source_ip(app))
    return referral_promoters.set_override(command, network=network, categories=CategoryRepository(table),
                                           products=ProductRepository(table), rates=RateIndex(table),
                                           campaigns=CampaignRepository(table))


@app.put("/admin/promoters/<user_id>/level", summary="Change the promoter's level (reason required)",
         tags=["referral"], responses=_ERRORS, **staff(Capability.OPERATIONS))
def level(user_id: IdPath, body: LevelChangeRequest) -> PromoterAdminView:
    return referral_promoters.set_level(network=network, user_id=user_id, level_id=body.level_id, reason=body.reason,
                                        by=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.get("/admin/promoters/<user_id>/downline", summary="A promoter's downline as a two-level tree",
         description="Without `member`: the promoter's level-1 members (each with their sales and how many members "
                     "they have). With `member` (one of those): that member's own members, the promoter's level 2, "
                     "always leaves: two levels by rule, never deeper. Paged with `next_cursor`.",
         tags=["referral"], responses={404: error_response("`promoter_not_found`"),
                                       422: error_response("`not_a_direct_member` (query:member), `invalid_cursor`")},
         **staff(Capability.READ))
def downline(user_id: IdPath,
             member: Annotated[str | None, Query(min_length=3, max_length=64, pattern=ID_PATTERN,
                                                 description="a level-1 member: list their members")] = None,
             limit: Limit = 20,
             cursor: Cursor = None) -> DownlinePage:
    from mall.dal.downline import DownlineReads  # on first use: the downline's reads serve this route only
    from mall.services.referral.downline import downline as downline_of

    return downline_of(network=network, reads=DownlineReads(table), promoter_id=user_id, member=member, limit=limit,
                       cursor=cursor)


# ---- manual commission adjustments (人工调整): through the ledger, two admins from the dual-approval amount ----

_ADJUSTMENT_ERRORS: dict[int, OpenAPIResponse] = {
    404: error_response("`promoter_not_found`, `adjustment_not_found`"),
    409: error_response("`promoter_not_adjustable` (an applicant or rejected promoter), `adjustment_not_pending`, "
                        "`already_approved_by_you` (a second, different admin must approve)"),
    422: error_response("invalid fields (`amount_fen`, `reason`), `idempotency_key_reused`"),
}


@app.post("/admin/promoters/<user_id>/adjustments", summary="Credit or debit a promoter's commission by hand",
          description="Integer fen with a reason the promoter sees in their ledger. Below the withdrawals' "
                      "dual-approval amount (`withdrawal.dual_approval_from_fen`) it is APPLIED at once; from it, "
                      "it waits PENDING until a different admin approves it. A debit takes from available and "
                      "records what is missing as debt, as a clawback does. A retry with the same "
                      "`Idempotency-Key` answers the same adjustment.",
          tags=["referral"], status_code=201,
          responses={201: {"description": "APPLIED, or PENDING for a second admin",
                           "content": {"application/json": {"model": AdjustmentView}}}, **_ADJUSTMENT_ERRORS},
          **staff(Capability.MONEY_OPERATIONS))
def adjust(user_id: IdPath, body: AdjustmentRequest,
           idempotency_key: IdempotencyKeyHeader) -> Response[AdjustmentView]:
    from mall.services import adjustments  # on first use: the adjustments' use cases serve their routes only

    command = adjustments.AskAdjustment(promoter_id=user_id, direction=body.direction, amount_fen=body.amount_fen,
                                        reason=body.reason, admin=current_principal(app).subject,
                                        idempotency_key=idempotency_key, now=utc_now(), source_ip=source_ip(app))
    repo, withdrawals = adjustment_repos()
    result = adjustments.ask(command, repo=repo, withdrawals=withdrawals)
    return Response(status_code=HTTPStatus.CREATED, content_type="application/json", body=result)


@app.get("/admin/adjustments", summary="Manual adjustments in one status (PENDING: waiting for approval)",
         tags=["referral"], **staff(Capability.READ))
def list_adjustments(status: Annotated[Literal["PENDING", "APPLIED", "REJECTED"], Query()] = "PENDING",
                     limit: Limit = 20,
                     cursor: Cursor = None) -> AdjustmentPage:
    from mall.services import adjustments  # on first use, as above

    return adjustments.by_status(repo=adjustment_repos()[0], status=status, limit=limit, cursor=cursor)


@app.post("/admin/adjustments/<adjustment_id>/approve", summary="Approve a pending adjustment (a different admin)",
          tags=["referral"], responses=_ADJUSTMENT_ERRORS, **staff(Capability.MONEY_OPERATIONS))
def approve_adjustment(adjustment_id: IdPath) -> AdjustmentView:
    from mall.services import adjustments  # on first use, as above

    repo, withdrawals = adjustment_repos()
    return adjustments.approve(repo=repo, withdrawals=withdrawals, adjustment_id=adjustment_id,
                               admin=current_principal(app).subject, now=utc_now(), source_ip=source_ip(app))


@app.post("/admin/adjustments/<adjustment_id>/reject", summary="Reject a pending adjustment (reason required)",
          tags=["referral"], responses=_ADJUSTMENT_ERRORS, **staff(Capability.MONEY_OPERATIONS))
def reject_adjustment(adjustment_id: IdPath, body: AdjustmentRejectRequest) -> AdjustmentView:
    from mall.services import adjustments  # on first use, as above

    return adjustments.reject(repo=adjustment_repos()[0], adjustment_id=adjustment_id,
                              admin=current_principal(app).subject, reason=body.reason, now=utc_now(),
                              source_ip=source_ip(app))


handler = entrypoint(app)
