"""Monthly team bonus (团队分红) rules and arithmetic: tiers of team *sales*, never headcount.
Part of the settings document (``settings.team_bonus``).

Team sales of promoter P in China month M are computed from the money records, never from the
asynchronous statistics: the distribution base (``base_fen``: the line's paid amount, without shipping)
of every commission record that pays P at level 1 or 2 (P's own purchases excluded) on an order *paid*
in M (China time), minus the part of that line refunded (``refunded_base_fen``) — ``team_sales``.
The month is final (``month_is_final``) when each of those records has left FROZEN (its order line
settled, or was refunded / cancelled), or ``final_after_days`` after the month's end, whichever comes
first; the bonus is decided and paid then. The merchant configures tiers: team sales ≥
``min_team_sales_fen`` → ``bonus_bp`` of the team sales (the highest tier reached applies). A refund
after the month was paid lowers its team sales: the bonus is recomputed with the tiers that paid it
and the overpaid part is taken back (``bonus_reduction``). The leaderboard prizes use this same
definition of a month's team sales.

Compliance (禁止拉人头): pay is only ever for sales. The tiers have no field that could count people,
and a document that tries (``min_members``, ``headcount``, ``人数`` …) is refused naming the field and
the reason, not just as an unknown key.

A bonus is a record per promoter per month (``BonusRecord``) that settles like a commission: FROZEN
with a due date, then SETTLED by the settlement worker (frozen → available, debt repaid first). It
reuses the commission statuses so the settlement machinery can treat both alike
(``mall.domain.settlement``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from mall.clock import CHINA
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.money import yuan_ungrouped

#: The highest bonus rate a tier may pay: 5% of team sales. An order counts in the team sales of both
#: its L1 and its L2 promoter, so one order can earn two bonuses (≤ 10% of it together) on top of up to
#: 30% commission (``COMMISSION_CAP_LIMIT_BP``): distribution costs stay ≤ 40% of a sale, and a bonus
#: can never outweigh the commission that the sale itself pays.
TEAM_BONUS_CAP_LIMIT_BP = 500
BASIS_POINTS = 10_000
MAX_TIERS = 10
#: A month is final at the latest this many days after its end (configurable, 1–180): long enough for an
#: order paid on the month's last day to be received (``auto_confirm_days`` ≤ 60) and settled.
DEFAULT_FINAL_AFTER_DAYS = 45
MAX_FINAL_AFTER_DAYS = 180

#: Keys that would make headcount (people recruited, team size) a pay basis. Matched anywhere in the
#: ``team_bonus`` document, case-insensitively, so the refusal names the field and says why.
HEADCOUNT_KEY = re.compile(
    r"member|head_?count|recruit|invite|invitee|referral|people|person|team_?size|downline|subordinate|"
    r"direct_?count|user_?count|人数|人头|下线|拉新|邀请|发展|直推",
    re.IGNORECASE)
HEADCOUNT_REASON = ("pay is only ever for sales, never for headcount (拉人头 is banned): team bonus tiers "
                    "are team sales in fen; remove this field")

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _rule_errors(title: str, problems: list[tuple[tuple[str | int, ...], str, object]]) -> ValidationError:
    """Errors located at the offending field (pydantic keeps these locations, so the API's 422
    names ``team_bonus.tiers.0.min_members`` rather than the document)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("team_bonus_rule", message.replace("{", "(").replace("}", ")")),
                         loc=loc, input=value)
        for loc, message, value in problems
    ])


def _headcount_keys(data: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], object]]:
    found: list[tuple[tuple[str | int, ...], object]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = (*path, str(key))
            if HEADCOUNT_KEY.search(str(key)):
                found.append((here, value))
            else:
                found += _headcount_keys(value, here)
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found += _headcount_keys(value, (*path, index))
    return found


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class BonusTier(_Document):
    """One tier: team sales of at least ``min_team_sales_fen`` pay ``bonus_bp`` of the team sales."""

    min_team_sales_fen: Annotated[int, Field(ge=1, le=10_000_000_000, description="team sales threshold (fen)")]
    bonus_bp: Annotated[int, Field(ge=1, le=TEAM_BONUS_CAP_LIMIT_BP,
                                   description="basis points of the team sales: 100 = 1%")]


class TeamBonusRules(_Document):
    """团队分红. Disabled by default: the monthly run pays nothing until the merchant enables it."""

    enabled: bool = False
    tiers: Annotated[list[BonusTier], Field(max_length=MAX_TIERS,
                                            description="strictly increasing thresholds; a higher tier never pays "
                                                        "a lower rate")] = []
    settlement_days: Annotated[int | None, Field(
        ge=0, le=90, description="days after the month's end before the bonus settles; null: the commission's "
                                 "settlement_days")] = None
    final_after_days: Annotated[int, Field(
        ge=1, le=MAX_FINAL_AFTER_DAYS,
        description="days after the month's end when the month is final even if some of its orders have not "
                    "settled yet (earlier when every order of the month has settled or been refunded)")] = (
        DEFAULT_FINAL_AFTER_DAYS)

    @model_validator(mode="before")
    @classmethod
    def _refuse_headcount(cls, data: Any) -> Any:
        found = _headcount_keys(data)
        if found:
            raise _rule_errors("TeamBonusRules", [(loc, HEADCOUNT_REASON, value) for loc, value in found])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        for index in range(1, len(self.tiers)):
            before, tier = self.tiers[index - 1], self.tiers[index]
            if tier.min_team_sales_fen <= before.min_team_sales_fen:
                problems.append((("tiers", index, "min_team_sales_fen"),
                                 f"must be above the previous tier's {before.min_team_sales_fen}",
                                 tier.min_team_sales_fen))
            if tier.bonus_bp < before.bonus_bp:
                problems.append((("tiers", index, "bonus_bp"),
                                 f"a higher tier may not pay less than the previous tier's {before.bonus_bp}",
                                 tier.bonus_bp))
        if self.enabled and not self.tiers:
            problems.append((("tiers",), "at least one tier is required when the team bonus is enabled", []))
        if problems:
            raise _rule_errors("TeamBonusRules", problems)
        return self


def bonus_for(team_sales_fen: int, rules: TeamBonusRules) -> tuple[BonusTier | None, int]:
    """The highest tier ``team_sales_fen`` reaches and the bonus it pays (floored to the fen).
    ``(None, 0)`` below the first tier, for negative sales (clawbacks) or when disabled."""
    if type(team_sales_fen) is not int:
        raise TypeError(f"team sales are integer fen, got {type(team_sales_fen).__name__}")
    if not rules.enabled or team_sales_fen <= 0:
        return None, 0
    reached = [tier for tier in rules.tiers if team_sales_fen >= tier.min_team_sales_fen]
    if not reached:
        return None, 0
    tier = reached[-1]
    amount = (Decimal(team_sales_fen) * Decimal(tier.bonus_bp) / Decimal(BASIS_POINTS)).to_integral_value(
        rounding=ROUND_FLOOR)
    return tier, int(amount)


# ---- months (China time) ---------------------------------------------------------------------------


def parse_month(value: str) -> tuple[int, int]:
    match = _MONTH.match(value)
    if not match:
        raise ValueError(f"not a month (YYYY-MM): {value!r}")
    return int(match.group(1)), int(match.group(2))


def month_start(month: str) -> datetime:
    """Midnight on the 1st, China time, as an aware datetime."""
    year, number = parse_month(month)
    return datetime(year, number, 1, tzinfo=CHINA)


def month_end(month: str) -> datetime:
    """The first instant after the month (midnight on the next month's 1st, China time)."""
    year, number = parse_month(month)
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=CHINA)


def previous_china_month(moment: datetime) -> str:
    """The China calendar month before the one ``moment`` falls in (the monthly run pays it)."""
    local = moment.astimezone(CHINA)
    year, number = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{number:02d}"


def due_at(month: str, settlement_days: int) -> datetime:
    """When a bonus for ``month`` becomes due: the month's end + ``settlement_days`` (T+N, like commission)."""
    return month_end(month) + timedelta(days=settlement_days)


def china_month(moment: datetime) -> str:
    """The China calendar month (YYYY-MM) ``moment`` falls in: the month an order paid then counts in."""
    return moment.astimezone(CHINA).strftime("%Y-%m")


def final_by(month: str, final_after_days: int) -> datetime:
    """The latest moment ``month`` becomes final: its end + ``final_after_days``."""
    return month_end(month) + timedelta(days=final_after_days)


# ---- team sales, from the commission records --------------------------------------------------------


def counts_for_team(record: CommissionRecord) -> bool:
    """A record adds to its beneficiary's team sales: level 1 or 2, and not the beneficiary's own purchase."""
    return record.level in (1, 2) and record.beneficiary_id != record.buyer_id


def net_base(record: CommissionRecord) -> int:
    """The record's distribution base net of the line's refunds (never below zero)."""
    return max(record.base_fen - min(max(record.refunded_base_fen, 0), record.base_fen), 0)


@dataclass(frozen=True, slots=True)
class TeamMonth:
    """One promoter's team sales of one month, as the money records say now."""

    promoter_id: str
    month: str
    team_sales_fen: int
    orders: int  # orders with at least one counted record
    open_records: int  # records still FROZEN: their order lines have neither settled nor been cancelled

    def final(self, *, now: datetime, final_after_days: int) -> bool:
        """Each record settled or cancelled (refunded), or the month's final date has passed."""
        return self.open_records == 0 or now >= final_by(self.month, final_after_days)


def team_month(promoter_id: str, month: str, records: list[CommissionRecord]) -> TeamMonth:
    """The team sales of ``promoter_id`` in ``month`` from the commission records of the orders paid in
    that month (the caller reads them by month); records of other beneficiaries or of the promoter's own
    purchases are ignored."""
    parse_month(month)
    counted = [r for r in records if r.beneficiary_id == promoter_id and counts_for_team(r)]
    return TeamMonth(promoter_id=promoter_id, month=month, team_sales_fen=sum(net_base(r) for r in counted),
                     orders=len({r.order_id for r in counted}),
                     open_records=sum(1 for r in counted if r.status == CommissionStatus.FROZEN))


def bonus_reduction(record: BonusRecord, team_sales_fen: int, rules: TeamBonusRules) -> int:
    """What a paid bonus must give back now that its month's team sales are ``team_sales_fen``: the
    part of what it is worth (``current_fen``) above the bonus those sales earn under the tiers that
    paid it. Never negative: a paid bonus is never raised (the caller counts only the records created
    before it was paid)."""
    _, amount = bonus_for(team_sales_fen, rules)
    return max(record.current_fen - amount, 0)


def bonus_id(promoter_id: str, month: str) -> str:
    """Deterministic per promoter per month: a second run can only ever find the same record."""
    parse_month(month)
    return f"bn_{month.replace('-', '')}_{promoter_id}"


# ---- the record -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BonusRecord:
    """One promoter's bonus for one month. Statuses are the commission's (FROZEN → SETTLED; CANCELLED
    if a confirmed risk case voids it), so ``mall.domain.settlement`` settles both kinds alike.
    ``rule`` is the snapshot that explains the amount (tier, rate, settings version)."""

    bonus_id: str
    beneficiary_id: str
    month: str
    team_sales_fen: int
    amount_fen: int
    status: CommissionStatus
    rule: dict[str, Any]
    created_at: datetime
    due_at: datetime | None
    cancelled_fen: int = 0
    settled_at: datetime | None = None
    clawed_back_fen: int = 0  # taken back after settlement: the month's orders were refunded later
    hold: str | None = None  # never set by the monthly run: a promoter's open risk hold is read at settlement
    version: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def commission_id(self) -> str:
        """The settlement's name for a record's id (shared with commission records)."""
        return self.bonus_id

    @property
    def current_fen(self) -> int:
        return self.amount_fen - self.cancelled_fen - self.clawed_back_fen


def explain(record: BonusRecord) -> str:
    """The amount in words, for the promoter (分红说明)."""
    tier = int(record.rule.get("min_team_sales_fen", 0))
    bp = int(record.rule.get("bonus_bp", 0))
    return (f"{record.month} 团队销售额 {yuan_ungrouped(record.team_sales_fen)}，达到 {yuan_ungrouped(tier)} 档，"
            f"按 {bp // 100}.{bp % 100:02d}% 计分红 {yuan_ungrouped(record.amount_fen)}")
