"""The referral network (上下级关系) and promoters (推广员): pure rules, no I/O.

At most two levels ever earn (L1 = the buyer's parent promoter, L2 = that promoter's parent).
That limit is in the shape of ``Attribution`` (two fields, no list), not in a check that could be
configured away. Everything here decides; ``mall.dal.referral`` persists and ``mall.services.referral``
orchestrates.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from mall.domain.promoter_text import banned_phrase_in, single_line_problem
from mall.domain.settings import (
    BindingMode,
    DistributionSettings,
    PromoterLevel,
    PromoterThreshold,
    is_headcount_only,
)
from mall.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound

PromoterStatus = Literal["applied", "active", "frozen", "disabled", "rejected"]
PROMOTER_STATUSES: tuple[PromoterStatus, ...] = ("applied", "active", "frozen", "disabled", "rejected")
ShareChannel = Literal["link", "qr", "poster"]
#: How a binding came to be: a share channel (first_click / first_payment), an entered code, or an admin.
BindSource = Literal["link", "qr", "poster", "invite_code", "admin"]
BindTrigger = Literal["visit", "invite_code", "first_payment", "admin"]
#: 有效下线: what a headcount condition counts, in the words ``GET /rules`` uses. A customer counts
#: from their first paid order (the binding's ``paid`` flag), once, for whoever they are bound to.
EFFECTIVE_MEMBER_TERM = "有效下线"
EFFECTIVE_MEMBER_DEFINITION = "已有付款订单的直接邀请客户；只注册或只绑定、从未付款的客户不计入"
#: Who put the promoter at their level: ``auto`` (application, upgrade, downgrade: follows the
#: counters) or ``admin`` (an admin's choice: sticky, never re-evaluated by sales or refunds).
LevelSource = Literal["auto", "admin"]

CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"  # no 0/O, 1/l/I look-alikes
CODE_LENGTH = 8
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,32}$")
DEFAULT_SHARE_PAGE = "pages/index/index"
SHARE_PAGE_PATTERN = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
SHARE_PAGE_MAX_LENGTH = 128
#: A transaction holds at most 100 operations; the ancestor walk leaves room for the other writes.
MAX_ANCESTOR_DEPTH = 80


# ---------------------------------------------------------------------------------------
# What the rest of the code imports from referral
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareSource:
    """分享来源: where a customer came from (carried by an order in first_payment mode)."""

    promoter_code: str
    source: ShareChannel
    product_id: str | None = None


@dataclass(frozen=True)
class Attribution:
    """归属快照, stored on the order as a dict (``asdict``). Two levels, never more."""

    l1_promoter_id: str | None
    l2_promoter_id: str | None
    settings_version: int
    basis: Literal["binding", "share_first_payment", "self_purchase", "none"]
    self_purchase: bool = False


@dataclass(frozen=True)
class Promoter:
    """推广员. ``status``: applied → active ⇄ frozen, any → disabled; applied → rejected."""

    user_id: str
    code: str
    status: PromoterStatus
    level_id: str
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None
    nickname: str | None = None
    applied_at: datetime | None = None
    activated_at: datetime | None = None
    accepted_rules_version: int = 0
    accepted_rules_at: datetime | None = None
    direct_members: int = 0
    second_level_members: int = 0
    own_sales_fen: int = 0
    team_sales_fen: int = 0
    last_active_at: datetime | None = None
    reason: str | None = None
    version: int = 1
    #: 有效下线: direct members who have paid an order (each counted once, when their first paid
    #: order is seen or when a paying customer binds): what a headcount level condition counts.
    effective_members: int = 0
    #: None on items written before the level's origin was recorded: treated as an admin's choice
    #: (never re-evaluated down) until the ``promoter_level_source`` migration fills it in.
    level_source: LevelSource | None = None

    @property
    def level_follows_counters(self) -> bool:
        return self.level_source == "auto"

    @property
    def counters(self) -> Counters:
        return Counters(self.effective_members, self.own_sales_fen, self.team_sales_fen)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Binding:
    """A customer's parent promoter (上级). One item per customer; ``version`` +1 on every change."""

    user_id: str
    parent_id: str
    bound_at: datetime
    source: BindSource
    trigger: BindTrigger
    promoter_code: str | None = None
    sales_fen: int = 0
    version: int = 1
    #: the customer has paid an order: they count as their parent's 有效下线
    paid: bool = False


# ---------------------------------------------------------------------------------------
# Codes and texts
# ---------------------------------------------------------------------------------------


def new_promoter_code() -> str:
    """A random short code, usable as a WeChat QR ``scene`` (≤ 32 chars, letters and digits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_valid_code(code: str) -> bool:
    return bool(CODE_PATTERN.match(code))


def share_page_from(value: str | None) -> str:
    """The share page (env ``SHARE_PAGE``) as every share channel uses it: blank → the default; else
    a mini-program page path WeChat's QR API accepts (no leading ``/``, no query). Raises ValueError."""
    page = (value or "").strip() or DEFAULT_SHARE_PAGE
    if len(page) > SHARE_PAGE_MAX_LENGTH or not SHARE_PAGE_PATTERN.match(page):
        raise ValueError(f"SHARE_PAGE must be a page path like {DEFAULT_SHARE_PAGE} (no leading /, no query, "
                         f"at most {SHARE_PAGE_MAX_LENGTH} characters): {page!r}")
    return page


@dataclass(frozen=True, slots=True)
class ShareTarget:
    """Where a promoter's share lands: the mini-program ``page`` receiving the code as ``scene``.
    A QR code (``getwxacodeunlimit(page, scene)``), a poster's QR and the share link are all this."""

    page: str
    scene: str

    @property
    def link(self) -> str:
        return f"{self.page}?scene={self.scene}"


def share_target(page: str, code: str) -> ShareTarget:
    """The one definition of a promoter's share (link, QR, poster); refuses a page or code that
    WeChat would not take as a QR ``page`` / ``scene``."""
    if not is_valid_code(code):
        raise ValueError(f"not a promoter code usable as a QR scene: {code!r}")
    return ShareTarget(page=share_page_from(page), scene=code)


def share_link(page: str, code: str) -> str:
    """The link a promoter shares, ``<page>?scene=<code>``: exactly what their QR code opens."""
    return share_target(page, code).link


def refuse_banned_text(field_name: str, text: str | None, settings: DistributionSettings) -> None:
    """Any promoter-facing text (nickname, title, poster copy) is refused with the phrase named, in
    any spelling a reader still reads as the phrase (mall.domain.promoter_text); and, being one line,
    with no control character, line break or bidi control (``invalid_text``)."""
    if not text:
        return
    phrase = banned_phrase_in(text, settings.all_banned_phrases())
    if phrase is not None:
        raise InvalidInput(f"{field_name} contains a banned phrase: {phrase}", code="banned_phrase",
                           fields=[FieldProblem(field_name, f"contains the banned phrase {phrase!r}")])
    line = single_line_problem(text)
    if line is not None:
        raise InvalidInput(f"{field_name} is not one line of plain text", code="invalid_text",
                           fields=[FieldProblem(field_name, line)])


# ---------------------------------------------------------------------------------------
# Becoming a promoter
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicantFacts:
    """What the threshold looks at, read from the customer's profile and purchase counters."""

    paid_total_fen: int
    bought_product_ids: frozenset[str] = frozenset()


def check_threshold(threshold: PromoterThreshold, facts: ApplicantFacts) -> None:
    """成为推广员的门槛: ``none`` | ``spent_at_least`` | ``bought_product`` (any listed product)."""
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


# ---------------------------------------------------------------------------------------
# Levels (等级)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """What level conditions compare: the number of 有效下线 (direct members with a paid order, not
    mere sign-ups) and the sales counters, kept on the distribution base net of refunds."""

    effective_members: int
    own_sales_fen: int
    team_sales_fen: int


def distribution_base(lines: Iterable[Mapping[str, Any]]) -> int:
    """分销基数 of an order's lines: what the buyer paid for the lines that take part in
    distribution (``distribution_enabled``, the default), without shipping. Sales counters add
    this when an order is paid and subtract the same base of what a succeeded refund returns."""
    return sum(int(line.get("paid_fen", 0)) for line in lines if bool(line.get("distribution_enabled", True)))


def refunded_base(order_lines: Iterable[Mapping[str, Any]], refund_lines: Iterable[Mapping[str, Any]]) -> int:
    """The distribution base a refund takes back: its amounts on lines that take part. Shipping never
    counts, so a refund of the shipping alone (no lines) takes back nothing."""
    by_id = {str(line.get("line_id")): line for line in order_lines}
    total = 0
    for line in refund_lines:
        order_line = by_id.get(str(line.get("line_id")))
        if order_line is not None and bool(order_line.get("distribution_enabled", True)):
            total += int(line.get("amount_fen", 0))
    return total


def _level_index(settings: DistributionSettings, level_id: str) -> int:
    for index, level in enumerate(settings.levels):
        if level.id == level_id:
            return index
    return 0


def meets(level: PromoterLevel, counters: Counters) -> bool:
    """Every condition the level sets holds. A level with no condition is only ever given by an admin,
    and so is one whose only condition is a headcount (never earned by recruiting alone)."""
    up = level.upgrade
    if is_headcount_only(up):
        return False
    conditions = [
        (up.direct_members_at_least, counters.effective_members),
        (up.own_sales_at_least_fen, counters.own_sales_fen),
        (up.team_sales_at_least_fen, counters.team_sales_fen),
    ]
    set_conditions = [(need, have) for need, have in conditions if need is not None]
    return bool(set_conditions) and all(have >= need for need, have in set_conditions)


def upgrade_target(settings: DistributionSettings, level_id: str, counters: Counters) -> str | None:
    """The highest level above the current one whose conditions hold, or None (upgrades only)."""
    current = _level_index(settings, level_id)
    target = None
    for index in range(current + 1, len(settings.levels)):
        if meets(settings.levels[index], counters):
            target = settings.levels[index].id
    return target


def level_after_refund(settings: DistributionSettings, level_id: str, counters: Counters) -> str | None:
    """After a refund lowered the counters: the highest level at or below the current one whose
    conditions still hold (the entry level always does), or None when the current one still holds.
    Only for a level earned automatically; an admin's choice is not re-evaluated."""
    current = _level_index(settings, level_id)
    if current == 0 or meets(settings.levels[current], counters):
        return None
    for index in range(current - 1, 0, -1):
        if meets(settings.levels[index], counters):
            return settings.levels[index].id
    return settings.levels[0].id


def downgrade_target(settings: DistributionSettings, level_id: str, last_active_at: datetime | None,
                     now: datetime) -> str | None:
    """One level down after ``level_downgrade_inactive_days`` without activity; None if not due."""
    current = _level_index(settings, level_id)
    if current == 0 or last_active_at is None:
        return None
    if now - last_active_at < timedelta(days=settings.level_downgrade_inactive_days):
        return None
    return settings.levels[current - 1].id


@dataclass(frozen=True)
class Requirement:
    name: Literal["direct_members", "own_sales_fen", "team_sales_fen"]
    required: int
    current: int

    @property
    def met(self) -> bool:
        return self.current >= self.required


@dataclass(frozen=True)
class Progress:
    next_level_id: str | None
    next_level_name: str | None
    requirements: list[Requirement] = field(default_factory=list)


def progress_to_next(settings: DistributionSettings, level_id: str, counters: Counters) -> Progress:
    index = _level_index(settings, level_id)
    if index + 1 >= len(settings.levels):
        return Progress(None, None)
    nxt = settings.levels[index + 1]
    up = nxt.upgrade
    reqs = [
        Requirement("direct_members", up.direct_members_at_least, counters.effective_members)
        if up.direct_members_at_least is not None else None,
        Requirement("own_sales_fen", up.own_sales_at_least_fen, counters.own_sales_fen)
        if up.own_sales_at_least_fen is not None else None,
        Requirement("team_sales_fen", up.team_sales_at_least_fen, counters.team_sales_fen)
        if up.team_sales_at_least_fen is not None else None,
    ]
    return Progress(nxt.id, nxt.name, [r for r in reqs if r is not None])


# ---------------------------------------------------------------------------------------
# Binding (上下级绑定)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindRequest:
    """One attempt to bind ``customer_id`` under ``promoter``."""

    customer_id: str
    trigger: BindTrigger
    source: BindSource
    #: paid orders before this attempt (for first_payment: not counting the order that binds)
    paid_orders_before: int


@dataclass(frozen=True)
class BindDecision:
    """``bind`` (new), ``rebind`` (replace ``current``), or ``unchanged`` (already bound there)."""

    outcome: Literal["bind", "rebind", "unchanged"]


class BindRefused(Exception):
    """A bind that must not happen. ``hard`` refusals (self, cycle, inactive) are 4xx on an explicit
    bind; soft ones (already bound, protection, not new) only mean "no bind" for a share visit."""

    def __init__(self, error: Conflict | Forbidden | InvalidInput | NotFound, *, hard: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.hard = hard


def binding_view(binding: Binding | None) -> dict[str, object] | None:
    if binding is None:
        return None
    return {"parent_id": binding.parent_id, "bound_at": binding.bound_at.isoformat(), "source": binding.source,
            "trigger": binding.trigger, "promoter_code": binding.promoter_code}


def trigger_allowed(mode: BindingMode, trigger: BindTrigger) -> bool:
    """Which triggers bind in each mode. An entered invite code also binds in first_click and
    first_payment modes (an explicit, stronger signal than a click); visits bind only in first_click,
    and a paid order's share source only in first_payment. Admins may always bind."""
    if trigger == "admin":
        return True
    if trigger == "invite_code":
        return True
    if trigger == "visit":
        return mode == BindingMode.FIRST_CLICK
    return mode == BindingMode.FIRST_PAYMENT


def protection_over(settings: DistributionSettings, binding: Binding, now: datetime) -> bool:
    validity = settings.binding_validity
    if validity.kind == "permanent" or validity.protection_days is None:
        return False
    return now >= binding.bound_at + timedelta(days=validity.protection_days)


def decide_bind(*, request: BindRequest, promoter: Promoter | None, current: Binding | None,
                target_ancestors: Sequence[str], settings: DistributionSettings, now: datetime) -> BindDecision:
    """Whether ``request`` binds. ``target_ancestors``: the promoter's parent, grandparent, ... up to
    the root (walked from the current bindings). Raises ``BindRefused``."""
    if promoter is None:
        raise BindRefused(NotFound("no promoter with this code", code="promoter_not_found"), hard=True)
    if promoter.user_id == request.customer_id:
        raise BindRefused(InvalidInput("you cannot bind to yourself", code="self_binding",
                                       fields=[FieldProblem("code", "your own code")]), hard=True)
    if request.customer_id in target_ancestors:
        raise BindRefused(Conflict("this promoter is in your own team; binding would make a cycle",
                                   code="binding_cycle"), hard=True)
    if len(target_ancestors) >= MAX_ANCESTOR_DEPTH:
        raise BindRefused(Conflict("the promoter's upline is too deep to verify", code="binding_chain_too_deep"),
                          hard=True)
    if not promoter.is_active:
        raise BindRefused(Conflict("this promoter is not active", code="promoter_not_active",
                                   details={"status": promoter.status}), hard=True)
    if request.trigger != "admin":
        if not trigger_allowed(settings.binding_mode, request.trigger):
            raise BindRefused(Conflict(f"binding by {request.trigger} is not used in "
                                       f"{settings.binding_mode.value} mode", code="binding_mode_mismatch",
                                       details={"binding_mode": settings.binding_mode.value}), hard=False)
        if current is not None and current.parent_id == promoter.user_id:
            return BindDecision("unchanged")
        if current is not None and not protection_over(settings, current, now):
            raise BindRefused(Conflict("you are already bound to a promoter", code="already_bound",
                                       details={"binding": binding_view(current)}), hard=False)
        if settings.only_new_customers and request.paid_orders_before > 0:
            raise BindRefused(Conflict("only new customers can be bound", code="not_a_new_customer"), hard=False)
    elif current is not None and current.parent_id == promoter.user_id:
        return BindDecision("unchanged")
    return BindDecision("rebind" if current is not None else "bind")


# ---------------------------------------------------------------------------------------
# Member counts when a binding changes
# ---------------------------------------------------------------------------------------


def member_count_deltas(*, customer_direct_members: int, old_parent: str | None, old_grandparent: str | None,
                        new_parent: str | None, new_grandparent: str | None, old_paid: bool = False,
                        new_paid: bool = False) -> dict[str, dict[str, int]]:
    """Per promoter: the change of ``direct_members`` and ``second_level_members`` when the
    customer's parent goes from ``old_parent`` to ``new_parent``. The customer's own direct members
    become the new parent's second level (and leave the old parent's). A customer counted as the
    old parent's 有效下线 (``old_paid``: their binding was flagged paid) leaves that count; one who has
    paid an order (``new_paid``) joins the new parent's. Zero deltas are dropped;
    one entry per promoter, so a transaction never touches one item twice."""
    deltas: dict[str, dict[str, int]] = {}

    def add(uid: str | None, name: str, amount: int) -> None:
        if uid is None or amount == 0:
            return
        entry = deltas.setdefault(uid, {"direct_members": 0, "second_level_members": 0, "effective_members": 0})
        entry[name] += amount

    add(old_parent, "direct_members", -1)
    add(old_parent, "second_level_members", -customer_direct_members)
    add(old_grandparent, "second_level_members", -1)
    add(new_parent, "direct_members", 1)
    add(new_parent, "second_level_members", customer_direct_members)
    add(new_grandparent, "second_level_members", 1)
    if old_paid:
        add(old_parent, "effective_members", -1)
    if new_paid:
        add(new_parent, "effective_members", 1)
    return {uid: {k: v for k, v in d.items() if v} for uid, d in deltas.items() if any(d.values())}


# ---------------------------------------------------------------------------------------
# Attribution (归属): who earns at L1 / L2 for an order
# ---------------------------------------------------------------------------------------


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


# ---- share visits: what counts, and how fast one source may report ---------------------------------


@dataclass(frozen=True)
class VisitRate:
    """At most ``limit`` share visits per source IP per ``window_seconds`` (fixed windows)."""

    limit: int
    window_seconds: int


def visit_sources(*, source_ip: str | None, device_id: str | None, visitor_id: str | None) -> list[tuple[str, str]]:
    """What identifies where a visit came from: its IP, its device id, its logged-in account.

    A visit counts in the statistics (dashboard visits, conversion, a promoter's visits) only when
    none of these has visited the same promoter earlier that day (China's day): a device id is
    whatever the client sends, so a new one per request must not make a new visit, and neither may
    a new IP with the same device. Several people behind one IP (a shared Wi-Fi, carrier NAT) count
    once per promoter and day: the count can be low, never inflated. Every visit is still stored."""
    found = (("ip", source_ip), ("device", device_id), ("visitor", visitor_id))
    return [(kind, value) for kind, value in found if value]


def rate_window(now: datetime, window_seconds: int) -> tuple[int, int]:
    """The fixed window ``now`` falls in (its start, epoch seconds) and the whole seconds until the next."""
    moment = int(now.timestamp())
    start = moment - moment % window_seconds
    return start, max(1, start + window_seconds - moment)
