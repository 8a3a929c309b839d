"""Becoming a promoter (成为推广员) and an admin's decisions about one: the threshold, the accepted
rules version, the status transitions, overrides and levels an admin sets. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mall.domain.referral.model import Promoter, PromoterStatus
from mall.errors import Conflict, FieldProblem, Forbidden, InvalidInput

if TYPE_CHECKING:
    from mall.domain.settings import DistributionSettings, PromoterLevel, PromoterThreshold


@dataclass(frozen=True)
class ApplicantFacts:
    """What the threshold looks at, read from the customer's profile and purchase counters."""

    paid_total_fen: int
    bought_product_ids: frozenset[str] = frozenset()
    has_phone: bool = False


#: What ``GET /rules`` says when the threshold asks for a bound phone (``phone_missing`` decides it).
PHONE_REQUIRED_TEXT = "申请前须在小程序内绑定手机号（微信手机号快速验证）；手机号加密保存，仅用于商家联系与结算核实。"


def phone_missing(threshold: PromoterThreshold, facts: ApplicantFacts) -> bool:
    return threshold.requires_phone and not facts.has_phone


def check_threshold(threshold: PromoterThreshold, facts: ApplicantFacts) -> None:
    """成为推广员的门槛: ``none`` | ``spent_at_least`` | ``bought_product`` (any listed product), and
    a bound phone when ``requires_phone``."""
    if phone_missing(threshold, facts):
        raise Forbidden("bind your phone first (POST /me/phone)", code="phone_required",
                        details={"kind": "requires_phone"})
    if threshold.kind == "spent_at_least":
        needed = threshold.spent_at_least_fen or 0
        if facts.paid_total_fen < needed:
            raise Forbidden(f"you need to have spent at least {needed} fen to apply",
                            code="promoter_threshold_not_met",
                            details={"kind": "spent_at_least", "required_fen": needed,
                                     "paid_total_fen": facts.paid_total_fen})
    elif threshold.kind == "bought_product" and not facts.bought_product_ids & set(threshold.product_ids):
        raise Forbidden("you need to have bought one of the listed products to apply",
                        code="promoter_threshold_not_met",
                        details={"kind": "bought_product", "product_ids": list(threshold.product_ids)})


def check_rules_accepted(accepted_version: int | None, current_version: int) -> None:
    """The applicant must accept the rules agreement in force (规则版本), not an older one: a version
    the client showed that is no longer current is a 409 with the current one (show GET /rules again).
    None: the client did not say; the current version is what gets recorded."""
    if accepted_version is not None and accepted_version != current_version:
        raise Conflict("the rules changed since they were shown; show GET /rules again and accept the current "
                       "version", code="rules_changed",
                       details={"current_version": current_version, "rules_version": accepted_version})


def status_after_application(settings: DistributionSettings) -> PromoterStatus:
    return "active" if settings.promoter_review == "auto" else "applied"


def check_can_apply(existing: Promoter | None) -> None:
    """One promoter per customer; a rejected applicant may apply again."""
    if existing is not None and existing.status != "rejected":
        raise Conflict("you already applied", code="promoter_exists",
                       details={"status": existing.status, "code": existing.code})


PromoterAction = Literal["approve", "reject", "freeze", "unfreeze", "disable"]

_TRANSITIONS: dict[PromoterAction, tuple[frozenset[PromoterStatus], PromoterStatus]] = {
    "approve": (frozenset({"applied"}), "active"),
    "reject": (frozenset({"applied"}), "rejected"),
    "freeze": (frozenset({"active"}), "frozen"),
    "unfreeze": (frozenset({"frozen"}), "active"),
    "disable": (frozenset({"applied", "active", "frozen"}), "disabled"),
}
ACTIONS_NEEDING_REASON: frozenset[PromoterAction] = frozenset({"reject", "freeze", "disable"})


def transition(promoter: Promoter, action: PromoterAction, reason: str | None) -> PromoterStatus:
    """The status ``action`` leads to from the promoter's status, or 409 naming the current status."""
    allowed_from, target = _TRANSITIONS[action]
    if action in ACTIONS_NEEDING_REASON and not (reason and reason.strip()):
        raise InvalidInput(f"a reason is required to {action}", code="reason_required",
                           fields=[FieldProblem("reason", "required")])
    if promoter.status not in allowed_from:
        raise Conflict(f"cannot {action} a promoter who is {promoter.status}", code="promoter_status_conflict",
                       details={"status": promoter.status, "allowed_from": sorted(allowed_from)})
    return target


def check_override(l1_override_bp: int | None, l2_override_bp: int | None, level: PromoterLevel,
                   settings: DistributionSettings) -> None:
    """An override plus the level's points may never exceed the cap (the other rate: the global one)."""
    rates = settings.commission
    l1 = rates.l1_rate_bp if l1_override_bp is None else l1_override_bp
    l2 = rates.l2_rate_bp if l2_override_bp is None else l2_override_bp
    total = l1 + level.l1_points_bp + l2 + level.l2_points_bp
    if total > rates.cap_bp:
        field_name = "l1_override_bp" if l1_override_bp is not None else "l2_override_bp"
        raise InvalidInput(f"override plus level points ({total} bp) exceeds the cap ({rates.cap_bp} bp)",
                           code="override_exceeds_cap",
                           fields=[FieldProblem(field_name, f"with level {level.id!r} the total is {total} bp; "
                                                            f"the cap is {rates.cap_bp} bp")])


def check_level_exists(level_id: str, settings: DistributionSettings) -> PromoterLevel:
    for level in settings.levels:
        if level.id == level_id:
            return level
    raise InvalidInput(f"no level {level_id!r}", code="unknown_level",
                       fields=[FieldProblem("level_id", f"one of {[lv.id for lv in settings.levels]}")])
