"""The merchant's distribution settings (分销设置): one versioned document.

Every rate is in basis points (万分之一, ``1000`` = 10%) so no float ever carries a rate, and
every amount is integer fen. The document has exactly two earning levels (``l1_*`` / ``l2_*``)
and refuses unknown fields, so no setting of any kind can describe a third earning level
(三级及以上分销 is banned): the limit is in the shape of the data, not in a check that could be
skipped. ``COMMISSION_CAP_LIMIT_BP`` is fixed in code; the merchant may only lower the cap.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.domain import withdrawal_limits
from mall.domain.commission_cap import SAVING_SETTINGS, cap_excesses, cap_inputs
from mall.domain.leaderboard_prizes import LeaderboardPrizes
from mall.domain.notifications import NotificationSettings, is_stored_document
from mall.domain.promoter_text import banned_phrase_in, single_line_problem
from mall.domain.risk_rules import RiskRules
from mall.domain.settings_terms import (
    BASIS_POINTS,
    COMMISSION_CAP_LIMIT_BP,
    DEFAULT_BANNED_PHRASES,
    WECHAT_REAL_NAME_FROM_FEN,
    BindingMode,
    WithdrawalMethod,
    is_headcount_only,
)
from mall.domain.team_bonus import TeamBonusRules

# The fixed terms live in mall.domain.settings_terms, without pydantic, so that a module needing only a
# term (or naming the settings only in annotations) does not load this document's validators; they stay
# importable from here.
__all__ = ["BASIS_POINTS", "COMMISSION_CAP_LIMIT_BP", "DEFAULT_BANNED_PHRASES", "WECHAT_REAL_NAME_FROM_FEN",
           "BindingMode", "BindingValidity", "CommissionRates", "DistributionSettings", "Fen", "LevelUpgrade",
           "OrderRules", "PromoterLevel", "PromoterThreshold", "RateBp", "WithdrawalMethod", "WithdrawalRules",
           "headcount_only_problems", "is_headcount_only", "refuse_headcount_only_levels"]

RateBp = Annotated[int, Field(ge=0, le=COMMISSION_CAP_LIMIT_BP, description="basis points: 1000 = 10%")]
Fen = Annotated[int, Field(ge=0, le=10_000_000_000, description="integer fen (分)")]


def _rule_errors(title: str, problems: list[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """A validation error located at the offending field (``commission.l1_rate_bp``, ``levels.1.name``),
    not at the document root: pydantic keeps these locations when a validator raises them, so the API
    names the field instead of ``body``."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("settings_rule", message.replace("{", "(").replace("}", ")")),
                         loc=loc, input=value)
        for loc, message, value in problems
    ])


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class BindingValidity(_Document):
    """permanent (永久) or a protection period (客户保护期) after which another promoter may re-bind."""

    kind: Literal["permanent", "protection"] = "permanent"
    protection_days: Annotated[int | None, Field(ge=1, le=3650)] = None

    @model_validator(mode="after")
    def _days_match_kind(self) -> Self:
        if self.kind == "protection" and self.protection_days is None:
            raise _rule_errors("BindingValidity", [(("protection_days",),
                                                    "protection_days is required when kind is 'protection'", None)])
        if self.kind == "permanent" and self.protection_days is not None:
            raise _rule_errors("BindingValidity", [(("protection_days",),
                                                    "protection_days must be omitted when kind is 'permanent'",
                                                    self.protection_days)])
        return self


class PromoterThreshold(_Document):
    """成为推广员的门槛."""

    kind: Literal["none", "spent_at_least", "bought_product"] = "none"
    spent_at_least_fen: Fen | None = None
    product_ids: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=100)] = []
    #: 绑定手机号: the applicant must have bound a phone (``POST /me/phone``), whatever the kind.
    requires_phone: bool = False

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Self:
        if self.kind == "spent_at_least" and not self.spent_at_least_fen:
            raise _rule_errors("PromoterThreshold", [(
                ("spent_at_least_fen",), "spent_at_least_fen (> 0) is required when kind is 'spent_at_least'",
                self.spent_at_least_fen)])
        if self.kind == "bought_product" and not self.product_ids:
            raise _rule_errors("PromoterThreshold", [(
                ("product_ids",), "product_ids is required when kind is 'bought_product'", self.product_ids)])
        return self


class LevelUpgrade(_Document):
    """Upgrade conditions; all that are set must hold. Sales only, never pay for headcount alone."""

    direct_members_at_least: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    own_sales_at_least_fen: Fen | None = None
    team_sales_at_least_fen: Fen | None = None


class PromoterLevel(_Document):
    """等级: a rank that adds rate points to the promoter's L1 / L2 rates. Not an earning depth."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    name: Annotated[str, Field(min_length=1, max_length=20)]
    l1_points_bp: RateBp = 0
    l2_points_bp: RateBp = 0
    upgrade: LevelUpgrade = LevelUpgrade()


class CommissionRates(_Document):
    """Global rates, the last step of rate resolution (override → product → category → global)."""

    l1_rate_bp: RateBp = 1000
    l2_rate_bp: RateBp = 500
    cap_bp: Annotated[int, Field(ge=0, le=COMMISSION_CAP_LIMIT_BP)] = COMMISSION_CAP_LIMIT_BP
    self_purchase: Literal["rebate", "none", "discount"] = "rebate"
    settlement_days: Annotated[int, Field(ge=0, le=90)] = 7


class OrderRules(_Document):
    unpaid_expiry_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    auto_confirm_days: Annotated[int, Field(ge=1, le=60)] = 10
    #: 自动确认收货 counts from the shipment, or from the delivery once the parcels are reported signed
    #: for (still from the shipment while no delivery is known).
    auto_confirm_from: Literal["shipment", "delivery"] = "delivery"


def _default_methods() -> list[WithdrawalMethod]:
    return ["wechat"]


class WithdrawalRules(_Document):
    """提现规则. Amounts are what leaves *available* (fee included); limits count requests made in
    one China day, whatever became of them. The fee is 0 below ``fee_free_below_fen``, else
    ``max(fee_min_fen, floor(amount × fee_rate_bp / 10000))``."""

    min_fen: Annotated[int, Field(ge=100, le=10_000_000_000, description="smallest request (fen)")] = 5_000
    max_fen: Annotated[int, Field(ge=100, le=10_000_000_000, description="largest request (fen)")] = 199_999
    daily_count: Annotated[int, Field(ge=1, le=1000, description="requests per promoter per China day")] = 3
    daily_amount_fen: Annotated[int, Field(ge=100, le=10_000_000_000,
                                           description="total requested per promoter per China day (fen)")] = 500_000
    fee_free_below_fen: Fen = 10_000
    fee_rate_bp: Annotated[int, Field(ge=0, le=2000, description="basis points: 100 = 1%")] = 100
    fee_min_fen: Fen = 100
    auto_review_below_fen: Annotated[Fen, Field(description="requests below this (and no risk flag) are approved "
                                                            "automatically; 0: every request is reviewed")] = 20_000
    dual_approval_from_fen: Annotated[Fen, Field(description="requests from this amount need two different admins")
                                      ] = 100_000
    stuck_bill_minutes: Annotated[int, Field(ge=5, le=10_080,
                                             description="a transfer bill not final after this is queried")] = 30
    methods: Annotated[list[WithdrawalMethod], Field(min_length=1, max_length=2)] = Field(
        default_factory=_default_methods)

    def fee_for(self, amount_fen: int) -> int:
        """The fee of a request of ``amount_fen`` (integer fen; floor of the rate, then the minimum):
        ``mall.domain.withdrawal_limits.fee_of``, next to the words ``GET /rules`` says it in."""
        return withdrawal_limits.fee_of(amount_fen, self)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        if self.min_fen > self.max_fen:
            problems.append((("min_fen",), f"min_fen {self.min_fen} exceeds max_fen {self.max_fen}", self.min_fen))
        if self.max_fen > self.daily_amount_fen:
            problems.append((("max_fen",), f"max_fen {self.max_fen} exceeds daily_amount_fen {self.daily_amount_fen}",
                             self.max_fen))
        # The smallest amount that pays a fee must still leave the promoter something.
        charged_from = max(self.min_fen, self.fee_free_below_fen)
        if charged_from <= self.max_fen and self.fee_for(charged_from) >= charged_from:
            problems.append((("fee_min_fen",), f"the fee {self.fee_for(charged_from)} at {charged_from} fen is not "
                             f"below the amount", self.fee_min_fen))
        if self.auto_review_below_fen > self.dual_approval_from_fen:
            problems.append((("auto_review_below_fen",), f"auto_review_below_fen {self.auto_review_below_fen} exceeds "
                             f"dual_approval_from_fen {self.dual_approval_from_fen}", self.auto_review_below_fen))
        if len(set(self.methods)) != len(self.methods):
            problems.append((("methods",), "a method is listed twice", self.methods))
        if problems:
            raise _rule_errors("WithdrawalRules", problems)
        return self


def _default_levels() -> list[PromoterLevel]:
    return [PromoterLevel(id="basic", name="普通")]


class DistributionSettings(_Document):
    """The whole document. ``version`` and the audit fields live beside it (``SettingsVersion``)."""

    binding_mode: BindingMode = BindingMode.FIRST_CLICK
    binding_validity: BindingValidity = BindingValidity()
    only_new_customers: bool = False
    promoter_threshold: PromoterThreshold = PromoterThreshold()
    promoter_review: Literal["auto", "manual"] = "manual"
    promoter_title: Annotated[str, Field(min_length=1, max_length=10)] = "推广员"
    levels: Annotated[list[PromoterLevel], Field(min_length=1, max_length=10)] = Field(default_factory=_default_levels)
    level_downgrade_inactive_days: Annotated[int, Field(ge=7, le=3650)] = 90
    commission: CommissionRates = CommissionRates()
    orders: OrderRules = OrderRules()
    withdrawal: WithdrawalRules = WithdrawalRules()
    risk: RiskRules = RiskRules()
    team_bonus: TeamBonusRules = TeamBonusRules()
    leaderboard_prizes: LeaderboardPrizes = LeaderboardPrizes()
    notifications: NotificationSettings = NotificationSettings()
    banned_phrases: Annotated[list[Annotated[str, Field(min_length=1, max_length=20)]], Field(max_length=200)] = []

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        seen: set[str] = set()
        for index, level in enumerate(self.levels):
            if level.id in seen:
                problems.append((("levels", index, "id"), f"level id {level.id!r} is used twice", level.id))
            seen.add(level.id)
        # A document read back from storage (``STORED_DOCUMENT``) skips the save-time rules: a version
        # saved under an older, narrower check still loads (the clamp at compute holds its lines to the
        # cap, the rules page masks its texts); the next save must satisfy them.
        if not is_stored_document(info):
            problems += _cap_problems(self)
            problems += self._text_problems()
        if problems:
            raise _rule_errors("DistributionSettings", problems)
        return self

    def _text_problems(self) -> list[tuple[tuple[str | int, ...], str, object]]:
        """Promoter-facing names and texts: no banned phrase in any spelling, one plain line each
        (mall.domain.promoter_text)."""
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        phrases = self.all_banned_phrases()
        texts: list[tuple[tuple[str | int, ...], str]] = [(("promoter_title",), self.promoter_title)]
        texts += [(("levels", index, "name"), level.name) for index, level in enumerate(self.levels)]
        texts += [(("notifications", *loc), text) for loc, text in self.notifications.texts()]
        for loc, text in texts:
            phrase = banned_phrase_in(text, phrases)
            if phrase is not None:
                problems.append((loc, f"contains the banned phrase {phrase!r}", text))
            line = single_line_problem(text)
            if line is not None:
                problems.append((loc, line, text))
        return problems

    def all_banned_phrases(self) -> tuple[str, ...]:
        return DEFAULT_BANNED_PHRASES + tuple(p for p in self.banned_phrases if p not in DEFAULT_BANNED_PHRASES)

    def level(self, level_id: str | None) -> PromoterLevel:
        """The level with this id; the first (entry) level when unknown or unset."""
        for level in self.levels:
            if level.id == level_id:
                return level
        return self.levels[0]


def _cap_problems(settings: DistributionSettings) -> list[tuple[tuple[str | int, ...], str, object]]:
    """The global rates with any level's L1 points and any (other) level's L2 points within the cap;
    the catalog and overrides are checked against the settings when they are saved
    (``mall.services.settings``)."""
    found = cap_excesses(cap_inputs(settings=settings, saving=SAVING_SETTINGS))
    return [(loc, excess.message(), None) for excess in found for loc in excess.located()]


def headcount_only_problems(levels: list[PromoterLevel]) -> list[tuple[tuple[str | int, ...], str, object]]:
    """Each level whose upgrade conditions are only a headcount, located at ``levels.<i>.upgrade``."""
    return [(("levels", index, "upgrade"),
             f"level {level.id!r}: a number of invitees cannot be the only upgrade condition; add an own-sales or "
             f"team-sales condition (a higher rate is earned by sales, never by recruiting alone)",
             level.upgrade.model_dump(exclude_none=True))
            for index, level in enumerate(levels) if is_headcount_only(level.upgrade)]


def refuse_headcount_only_levels(levels: list[PromoterLevel]) -> None:
    """Raise the located validation error when a level is earned by headcount alone (checked when
    settings are saved; a stored older document still loads, and such a level is never earned)."""
    problems = headcount_only_problems(levels)
    if problems:
        raise _rule_errors("DistributionSettings", problems)

