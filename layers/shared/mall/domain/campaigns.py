"""Commission campaigns (佣金活动), pure: time-boxed boosts of the resolved rate (docs/incentives.md).

A campaign has a window (``starts_at`` ≤ t < ``ends_at``, entered in China time, stored UTC; ended
early by ``ended_at``; optionally only on some China weekdays: 周末双倍), a scope and a boost:

- scope: ``product_ids`` / ``category_ids`` select the lines, ``promoter_ids`` / ``level_ids`` /
  ``new_promoter_days`` select the beneficiary of a level (each empty/None = all; all given must
  match). A product scope with a promoter or level scope is a targeted high-commission product
  (高佣商品定向分配); a promoter scope made by the wake-up schedule is a wake-up boost.
- boost: ``points`` (bp added to the L1 and/or L2 rate, after the level points) or ``multiplier``
  (a percent applied once to the resolved rate of the level: source rate + level points, and a
  ``fixed`` product's fen per unit).

Campaigns never stack with one another: on each level of a line, of the campaigns in force that
match, the one that pays the most applies (ties: the smallest id). The cap still clamps the line
(``mall.domain.commission.line_commission``) and a campaign that could take any line over it is
refused when saved (``campaign_cap_problems``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from mall.clock import CHINA, iso, parse_instant
from mall.domain.commission import LevelRate, LineBoost, PromoterRates, ResolvedRates, resolve_line_rates
from mall.domain.commission_cap import OverrideHolder, Part, Saving, Scope, cap_inputs
from mall.domain.settings_terms import BASIS_POINTS
from mall.errors import FieldProblem, InvalidInput

if TYPE_CHECKING:
    # Types only: the settings' and campaigns' routes weigh rates without the catalog's model module.
    from mall.domain.catalog import Category, Product
    from mall.domain.settings import DistributionSettings

BoostKind = Literal["points", "multiplier"]
CampaignOrigin = Literal["merchant", "wake_up"]

#: A multiplier is a percent of the resolved rate: 200 doubles it (翻倍). Above 100, at most ×3.
MULTIPLIER_MIN_PERCENT = 101
MULTIPLIER_MAX_PERCENT = 300
#: Campaigns that no longer matter (ended this long ago) leave the book of campaigns.
KEPT_AFTER_END = timedelta(days=180)
#: ``boost_line``: a level nobody earns (no promoter, or not active at payment) takes no campaign, so a
#: campaign never cuts the other level through the cap on a line where it boosts nobody (GET /rules).
NO_BENEFICIARY_RULE = "某一级没有获得佣金的推广员（如其状态异常）时，活动加成不计入该级，也就不会因此减少另一级的佣金；"


class CampaignPromoter(Protocol):
    """What a campaign's scope reads of a beneficiary (``PromoterState`` and ``Promoter`` fit; their
    ``activated_at``, when they have one, is read for a new-promoter scope)."""

    @property
    def user_id(self) -> str: ...
    @property
    def level_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CampaignScope:
    product_ids: tuple[str, ...] = ()
    category_ids: tuple[str, ...] = ()
    promoter_ids: tuple[str, ...] = ()
    level_ids: tuple[str, ...] = ()
    #: only promoters approved (activated) less than this many days before the payment (前N天)
    new_promoter_days: int | None = None

    def matches_line(self, product_id: str, category_id: str | None) -> bool:
        return ((not self.product_ids or product_id in self.product_ids)
                and (not self.category_ids or (category_id or "") in self.category_ids))

    def matches_promoter(self, promoter: CampaignPromoter | None, at: datetime) -> bool:
        if promoter is None:
            return not (self.promoter_ids or self.level_ids or self.new_promoter_days)
        if self.promoter_ids and promoter.user_id not in self.promoter_ids:
            return False
        if self.level_ids and (promoter.level_id or "") not in self.level_ids:
            return False
        if self.new_promoter_days is not None:
            since: datetime | None = getattr(promoter, "activated_at", None)
            if since is None or at - since >= timedelta(days=self.new_promoter_days):
                return False
        return True

    @property
    def targeted(self) -> bool:
        """Some promoters only (a promoter or level scope, or new promoters)."""
        return bool(self.promoter_ids or self.level_ids or self.new_promoter_days)

    def as_dict(self) -> dict[str, Any]:
        return {"product_ids": list(self.product_ids), "category_ids": list(self.category_ids),
                "promoter_ids": list(self.promoter_ids), "level_ids": list(self.level_ids),
                "new_promoter_days": self.new_promoter_days}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CampaignScope:
        days = raw.get("new_promoter_days")
        return cls(tuple(map(str, raw.get("product_ids") or ())), tuple(map(str, raw.get("category_ids") or ())),
                   tuple(map(str, raw.get("promoter_ids") or ())), tuple(map(str, raw.get("level_ids") or ())),
                   None if days is None else int(days))


@dataclass(frozen=True, slots=True)
class Boost:
    kind: BoostKind
    l1_points_bp: int = 0
    l2_points_bp: int = 0
    multiplier_percent: int = 100

    def apply(self, rate: LevelRate, level: Literal[1, 2]) -> LevelRate:
        """``rate`` boosted once (the campaign fields are set by the caller)."""
        if self.kind == "points":
            return replace(rate, ratio_bp=rate.ratio_bp + (self.l1_points_bp if level == 1 else self.l2_points_bp))
        return replace(rate, ratio_bp=rate.ratio_bp * self.multiplier_percent // 100,
                       fixed_fen=rate.fixed_fen * self.multiplier_percent // 100)

    def adds_to(self, level: Literal[1, 2]) -> bool:
        """Whether it raises that level at all (a combination it adds nothing to is not its fault)."""
        return self.kind == "multiplier" or (self.l1_points_bp if level == 1 else self.l2_points_bp) > 0

    def scaled(self, worst: int, level: Literal[1, 2], price_fen: int | None) -> int:
        """A level's worst value (``Part.scaled`` units) boosted: points at the list price when one matters."""
        if self.kind == "multiplier":
            return worst * self.multiplier_percent // 100
        points = self.l1_points_bp if level == 1 else self.l2_points_bp
        return worst + (points if price_fen is None else points * price_fen)

    def text(self) -> str:
        if self.kind == "multiplier":
            whole, rest = divmod(self.multiplier_percent, 100)
            factor = str(whole) if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")
            return f"佣金比例×{factor}"
        parts = [f"{name}佣金比例+{_percent(bp)}" for name, bp in (("一级", self.l1_points_bp),
                                                                   ("二级", self.l2_points_bp)) if bp]
        return "，".join(parts) or "无加成"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "l1_points_bp": self.l1_points_bp, "l2_points_bp": self.l2_points_bp,
                "multiplier_percent": self.multiplier_percent}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Boost:
        kind = "multiplier" if raw.get("kind") == "multiplier" else "points"
        return cls(cast(BoostKind, kind), int(raw.get("l1_points_bp", 0)), int(raw.get("l2_points_bp", 0)),
                   int(raw.get("multiplier_percent", 100)))


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    scope: CampaignScope
    boost: Boost
    #: China weekdays it is in force on (1 = Monday … 7 = Sunday); empty: every day of the window
    weekdays: tuple[int, ...] = ()
    ended_at: datetime | None = None
    origin: CampaignOrigin = "merchant"
    version: int = 1
    created_at: datetime | None = None
    created_by: str | None = None

    @property
    def closes_at(self) -> datetime:
        """When it stops: its end, or when it was ended early."""
        return min(self.ends_at, self.ended_at) if self.ended_at is not None else self.ends_at

    def in_force(self, at: datetime) -> bool:
        if not self.starts_at <= at < self.closes_at:
            return False
        return not self.weekdays or at.astimezone(CHINA).isoweekday() in self.weekdays

    def overlaps(self, other: Campaign) -> bool:
        """Could both apply to the same level of the same line at the same time (conservative:
        weekdays and promoter scopes are not compared)."""
        if not (self.starts_at < other.closes_at and other.starts_at < self.closes_at):
            return False
        mine, theirs = self.scope, other.scope
        if mine.product_ids and theirs.product_ids and not set(mine.product_ids) & set(theirs.product_ids):
            return False
        return not (mine.category_ids and theirs.category_ids
                    and not set(mine.category_ids) & set(theirs.category_ids))

    def reference(self) -> dict[str, Any]:
        """What a commission's rule snapshot records of the campaign that shaped it."""
        return {"campaign_id": self.campaign_id, "name": self.name, "origin": self.origin,
                "boost": self.boost.as_dict()}

    def as_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "name": self.name, "starts_at": iso(self.starts_at),
                "ends_at": iso(self.ends_at), "scope": self.scope.as_dict(), "boost": self.boost.as_dict(),
                "weekdays": list(self.weekdays), "ended_at": iso(self.ended_at) if self.ended_at else None,
                "origin": self.origin, "version": self.version,
                "created_at": iso(self.created_at) if self.created_at else None, "created_by": self.created_by}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Campaign:
        def when(value: Any) -> datetime | None:
            return parse_instant(str(value)) if value else None

        origin = "wake_up" if raw.get("origin") == "wake_up" else "merchant"
        return cls(campaign_id=str(raw["campaign_id"]), name=str(raw.get("name", "")),
                   starts_at=parse_instant(str(raw["starts_at"])), ends_at=parse_instant(str(raw["ends_at"])),
                   scope=CampaignScope.from_dict(raw.get("scope") or {}), boost=Boost.from_dict(raw.get("boost") or {}),
                   weekdays=tuple(int(d) for d in raw.get("weekdays") or ()), ended_at=when(raw.get("ended_at")),
                   origin=cast(CampaignOrigin, origin), version=int(raw.get("version", 1)),
                   created_at=when(raw.get("created_at")), created_by=raw.get("created_by") or None)


def in_force(campaigns: Iterable[Campaign], at: datetime) -> list[Campaign]:
    return [c for c in campaigns if c.in_force(at)]


def current_and_upcoming(campaigns: Iterable[Campaign], at: datetime) -> list[Campaign]:
    """Not closed yet (in force, between its weekdays, or starting later), soonest first."""
    return sorted((c for c in campaigns if c.closes_at > at), key=lambda c: (c.starts_at, c.campaign_id))


# ---- at compute: the boost of a line's levels ---------------------------------------------------


def boost_line(rates: ResolvedRates, *, campaigns: Sequence[Campaign], product_id: str, category_id: str | None,
               l1: CampaignPromoter | None, l2: CampaignPromoter | None, at: datetime, base_fen: int,
               quantity: int) -> ResolvedRates:
    """``rates`` with, on each level, the matching campaign that pays the most (module doc). The
    ``campaigns`` are those in force at ``at`` (the payment); the cap clamps later. A level whose
    beneficiary is None is never boosted (``NO_BENEFICIARY_RULE``)."""
    if not rates.enabled or not campaigns:
        return rates
    lines = [c for c in campaigns if c.scope.matches_line(product_id, category_id)]
    boosted: list[LevelRate] = []
    for level, rate, who in ((1, rates.l1, l1), (2, rates.l2, l2)):
        best = rate
        if who is None:
            # Nobody earns this level (no promoter, or not active at payment): it still takes its share
            # of the cap, at the plain rate; a boost of nobody would only cut the other level's share.
            boosted.append(best)
            continue
        best_amount = rate.amount(base_fen, quantity)
        for campaign in sorted(lines, key=lambda c: c.campaign_id):
            if not campaign.scope.matches_promoter(who, at):
                continue
            candidate = campaign.boost.apply(rate, cast(Literal[1, 2], level))
            amount = candidate.amount(base_fen, quantity)
            if amount > best_amount:
                best = replace(candidate, campaign=campaign.reference(),
                               campaign_bp=candidate.ratio_bp - rate.ratio_bp,
                               campaign_fen=candidate.fixed_fen - rate.fixed_fen)
                best_amount = amount
        boosted.append(best)
    return replace(rates, l1=boosted[0], l2=boosted[1])


def campaign_boost(campaigns: Sequence[Campaign], *, at: datetime, l1: CampaignPromoter | None,
                   l2: CampaignPromoter | None) -> LineBoost:
    """The ``boost`` of ``decide_order_commissions`` for an order paid at ``at`` with ``campaigns`` in force."""

    def boost(product: Product, rates: ResolvedRates, base_fen: int, quantity: int) -> ResolvedRates:
        return boost_line(rates, campaigns=campaigns, product_id=product.product_id, category_id=product.category_id,
                          l1=l1, l2=l2, at=at, base_fen=base_fen, quantity=quantity)

    return boost


class RatedPromoter(PromoterRates, CampaignPromoter, Protocol):
    """A promoter as both the rates and a campaign's scope read them (``Promoter`` fits)."""


def rates_at(*, settings: DistributionSettings, product: Product, category: Category | None,
             promoter: RatedPromoter | None, campaigns: Iterable[Campaign], at: datetime, base_fen: int,
             quantity: int = 1) -> ResolvedRates:
    """What ``promoter`` would be paid on a line bought at ``at``: L1 when their own customer buys,
    L2 when a customer of their direct member does. The payment's own resolution
    (``resolve_line_rates`` with ``campaign_boost`` of the campaigns in force at ``at``), with the
    promoter as the beneficiary of both levels; ``line_commission`` then clamps as at payment.
    Every place a promoter's rate is shown or applied before payment reads it from here."""
    boost = campaign_boost(in_force(campaigns, at), at=at, l1=promoter, l2=promoter)
    return resolve_line_rates(settings=settings, product=product, category=category, l1_promoter=promoter,
                              l2_promoter=promoter, boost=boost, base_fen=base_fen, quantity=quantity)


# ---- at save: the cap, every combination -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogRates:
    """Every rate other than the global one (``mall.dal.commission_rates.Rates`` fits)."""

    categories: Sequence[Any] = ()
    products: Sequence[Any] = ()
    promoters: Sequence[OverrideHolder] = ()


def _worst(parts: Iterable[Part], price: int | None) -> Part:
    return max(parts, key=lambda p: p.scaled(price), default=Part("0"))


def _boost_field(campaign: Campaign, level: Literal[1, 2]) -> str:
    if campaign.boost.kind == "multiplier":
        return "boost.multiplier_percent"
    return f"boost.l{level}_points_bp"


def campaign_cap_problems(campaign: Campaign, *, others: Iterable[Campaign], settings: DistributionSettings,
                          rates: CatalogRates) -> list[FieldProblem]:
    """Refuse ``campaign`` when, on some line, L1 + L2 could want more than the cap with it.

    Every combination: each scope the campaign can reach (the global rates, every category's
    rates, every product's own setting and SKU, at list price for ``fixed``) × the highest
    per-promoter override or scope rate × the highest level points, per level; one level boosted
    by this campaign and the other by the strongest campaign (this one included) that can be in
    force at the same time on the same lines (campaigns do not stack, but the two levels are two
    promoters who may fall in two campaigns' scopes; a campaign for one promoter only boosts one
    level of a line)."""
    inputs = cap_inputs(settings=settings, categories=rates.categories, products=rates.products,
                        promoters=rates.promoters, saving=Saving("campaign"))
    company = [campaign, *(c for c in others if c.campaign_id != campaign.campaign_id and c.overlaps(campaign))]
    # One chosen promoter is never both levels of a line: then the other level is boosted by others only.
    beside = company[1:] if len(campaign.scope.promoter_ids) == 1 else company
    scope = campaign.scope
    problems: dict[str, str] = {}
    cap = inputs.cap.bp
    for candidate in _reached(inputs.scopes, scope, rates):
        price = candidate.price_fen
        limit = cap if price is None else cap * price
        worst1 = (_worst([candidate.l1, *inputs.l1_overrides], price).scaled(price)
                  + _worst(inputs.l1_points, price).scaled(price))
        worst2 = (_worst([candidate.l2, *inputs.l2_overrides], price).scaled(price)
                  + _worst(inputs.l2_points, price).scaled(price))
        best1 = max((c.boost.scaled(worst1, 1, price) for c in beside), default=worst1)
        best2 = max((c.boost.scaled(worst2, 2, price) for c in beside), default=worst2)
        for level, total in ((1, campaign.boost.scaled(worst1, 1, price) + best2),
                             (2, best1 + campaign.boost.scaled(worst2, 2, price))):
            if total <= limit or not campaign.boost.adds_to(cast(Literal[1, 2], level)):
                continue
            field_name = _boost_field(campaign, cast(Literal[1, 2], level))
            amount = (f"{_percent(total)}" if price is None
                      else f"{total // BASIS_POINTS} fen of the price {price} fen")
            problems.setdefault(field_name, (
                f"{candidate.label}: with the highest rate, override and level points, this boost and the "
                f"strongest campaign that can run with it, L1 + L2 could reach {amount}, over the cap of "
                f"{_percent(cap)}"))
    return [FieldProblem(name, reason) for name, reason in problems.items()]


def refuse_open_campaigns_over_cap(campaigns: Iterable[Campaign], *, settings: DistributionSettings,
                                   rates: CatalogRates, now: datetime | None, fields: Sequence[str],
                                   code: str = "commission_over_cap") -> None:
    """422 on ``fields`` (the saved rate, cap or points) when, with the rates about to be saved, a
    campaign not over at ``now`` could take some line over the cap."""
    open_ones = [c for c in campaigns if now is None or c.closes_at > now]
    for campaign in open_ones:
        excess = campaign_cap_problems(campaign, others=open_ones, settings=settings, rates=rates)
        if excess:
            reason = f"campaign {campaign.campaign_id} ({campaign.name}): {excess[0].reason}"
            raise InvalidInput("with this change a commission campaign could pay more than the cap", code=code,
                               fields=[FieldProblem(name, reason) for name in fields])


def _reached(scopes: Sequence[Scope], scope: CampaignScope, rates: CatalogRates) -> list[Scope]:
    """The rate scopes the campaign's lines can resolve from (the global one always: a scoped
    product may inherit it)."""
    if not scope.product_ids and not scope.category_ids:
        return list(scopes)
    wanted_products = {f"products[{pid}]" for pid in scope.product_ids}
    categories_in = set(scope.category_ids)
    products_in_categories = {f"products[{p.product_id}]" for p in rates.products if p.category_id in categories_in}
    reached: list[Scope] = []
    for candidate in scopes:
        label = candidate.label
        if label == "global rates" or label.startswith("products inheriting"):
            # a scoped product may inherit any category's rates (its category is not read here)
            if label == "global rates" or scope.product_ids or any(
                    label == f"products inheriting categories[{cid}]" for cid in categories_in):
                reached.append(candidate)
        elif label in wanted_products or (not scope.product_ids and label in products_in_categories):
            reached.append(candidate)
    return reached


def _percent(bp: int) -> str:
    whole, cents = divmod(bp, 100)
    return f"{whole}%" if cents == 0 else f"{whole}.{cents:02d}".rstrip("0") + "%"
