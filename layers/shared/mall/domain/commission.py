"""Commission rate resolution (佣金比例) and the per-line amount, pure.

Resolution, per level and first match wins (DOMAIN.md "Commission"):
per-promoter override → product setting (``ratio``/``fixed``) → category rate → global rate;
then the promoter's level points (``settings.levels``, by ``promoter.level_id``) are added
(as bp of the base, whatever matched). The promoter passed is the beneficiary *at that
level*: its ``l1_*`` fields shape the L1 rate, its ``l2_*`` fields the L2 rate. When the L1
and L2 beneficiaries differ (they always do in an order), use ``resolve_line_rates``.

Amount per level = fixed fen × quantity + floor(base × bp / 10000), integer arithmetic only.
The cap (L1 + L2 ≤ ``cap_bp`` of the base, never above the fixed 30% limit) clamps L2 first,
then L1: the direct seller keeps what the cap allows.

The save-time checks (``product_commission_problems``, ``category_rate_problems``) refuse a
setting that could pay more than the cap at list price with the highest level points, so the
clamp only ever bites on discounted lines or after the merchant raises level points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mall.domain.catalog import Category, Product
from mall.domain.settings import BASIS_POINTS, COMMISSION_CAP_LIMIT_BP, DistributionSettings
from mall.errors import FieldProblem

RateSource = Literal["override", "product", "category", "global"]


class PromoterRates(Protocol):
    """What rate resolution reads from a promoter (``mall.domain.referral.Promoter`` fits)."""

    @property
    def level_id(self) -> str | None: ...
    @property
    def l1_override_bp(self) -> int | None: ...
    @property
    def l2_override_bp(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class LevelRate:
    """One level's rate: ``fixed_fen`` per unit plus ``ratio_bp`` of the base.

    ``mode`` ``fixed`` only when the product's fixed setting matched (its level points, if any,
    are in ``ratio_bp``); ``level_points_bp`` is the part of ``ratio_bp`` from the promoter's level."""

    mode: Literal["ratio", "fixed"]
    source: RateSource
    ratio_bp: int = 0
    fixed_fen: int = 0
    level_points_bp: int = 0

    def amount(self, base_fen: int, quantity: int) -> int:
        return self.fixed_fen * quantity + base_fen * self.ratio_bp // BASIS_POINTS

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "ratio_bp": self.ratio_bp, "fixed_fen": self.fixed_fen,
                "level_points_bp": self.level_points_bp}


_NOTHING = LevelRate(mode="ratio", source="product")


@dataclass(frozen=True, slots=True)
class ResolvedRates:
    """The rates of both levels for one product; ``enabled`` False when the product does not
    take part in distribution (both rates are then zero)."""

    l1: LevelRate
    l2: LevelRate
    enabled: bool = True

    def snapshot(self) -> dict[str, Any]:
        """The rule snapshot stored with a commission record."""
        return {"enabled": self.enabled, "l1": self.l1.as_dict(), "l2": self.l2.as_dict()}


def _level_rate(level: Literal[1, 2], *, settings: DistributionSettings, product: Product,
                category: Category | None, promoter: PromoterRates | None) -> LevelRate:
    points = 0
    override: int | None = None
    if promoter is not None:
        chosen_level = settings.level(promoter.level_id)
        points = chosen_level.l1_points_bp if level == 1 else chosen_level.l2_points_bp
        override = promoter.l1_override_bp if level == 1 else promoter.l2_override_bp
    setting = product.commission
    if override is not None:
        return LevelRate("ratio", "override", ratio_bp=override + points, level_points_bp=points)
    if setting.mode == "ratio":
        value = setting.l1 if level == 1 else setting.l2
        return LevelRate("ratio", "product", ratio_bp=value + points, level_points_bp=points)
    if setting.mode == "fixed":
        value = setting.l1 if level == 1 else setting.l2
        return LevelRate("fixed", "product", ratio_bp=points, fixed_fen=value, level_points_bp=points)
    category_rate = None
    if category is not None:
        category_rate = category.l1_rate_bp if level == 1 else category.l2_rate_bp
    if category_rate is not None:
        return LevelRate("ratio", "category", ratio_bp=category_rate + points, level_points_bp=points)
    global_rate = settings.commission.l1_rate_bp if level == 1 else settings.commission.l2_rate_bp
    return LevelRate("ratio", "global", ratio_bp=global_rate + points, level_points_bp=points)


def resolve_rates(*, settings: DistributionSettings, product: Product, category: Category | None,
                  promoter: PromoterRates | None) -> ResolvedRates:
    """Both levels' rates as ``promoter`` would get them (None: no override, no level points).
    ``category`` is the product's category (None if it has none or it was deleted)."""
    if not product.distribution_enabled:
        return ResolvedRates(l1=_NOTHING, l2=_NOTHING, enabled=False)
    return ResolvedRates(
        l1=_level_rate(1, settings=settings, product=product, category=category, promoter=promoter),
        l2=_level_rate(2, settings=settings, product=product, category=category, promoter=promoter),
    )


def resolve_line_rates(*, settings: DistributionSettings, product: Product, category: Category | None,
                       l1_promoter: PromoterRates | None, l2_promoter: PromoterRates | None) -> ResolvedRates:
    """The rates of an order line whose L1 and L2 beneficiaries are different promoters."""
    first = resolve_rates(settings=settings, product=product, category=category, promoter=l1_promoter)
    second = resolve_rates(settings=settings, product=product, category=category, promoter=l2_promoter)
    return ResolvedRates(l1=first.l1, l2=second.l2, enabled=first.enabled)


def cap_amount(base_fen: int, cap_bp: int) -> int:
    """The most L1 + L2 may pay on ``base_fen``; a cap above the fixed limit counts as the limit."""
    return base_fen * min(max(cap_bp, 0), COMMISSION_CAP_LIMIT_BP) // BASIS_POINTS


def line_commission(base_fen: int, quantity: int, rates: ResolvedRates, cap_bp: int) -> tuple[int, int, bool]:
    """(L1 fen, L2 fen, capped) for a line with ``base_fen`` paid (after discounts, without
    shipping) for ``quantity`` units. Floors to the fen; never negative; L1 + L2 ≤ the cap."""
    if base_fen < 0:
        raise ValueError("base_fen must not be negative")
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    if not rates.enabled:
        return 0, 0, False
    wanted_l1 = max(rates.l1.amount(base_fen, quantity), 0)
    wanted_l2 = max(rates.l2.amount(base_fen, quantity), 0)
    ceiling = cap_amount(base_fen, cap_bp)
    l1 = min(wanted_l1, ceiling)
    l2 = min(wanted_l2, ceiling - l1)
    return l1, l2, (l1, l2) != (wanted_l1, wanted_l2)


# ---- save-time checks ------------------------------------------------------------------------


def highest_level_points(settings: DistributionSettings) -> tuple[int, int]:
    """The most points any level adds at L1 and at L2. The L1 and L2 beneficiaries are different
    promoters, possibly of different levels, so the worst case takes each maximum separately."""
    return (max(level.l1_points_bp for level in settings.levels),
            max(level.l2_points_bp for level in settings.levels))


def _percent(bp: int) -> str:
    whole, cents = divmod(bp, 100)
    return f"{whole}%" if cents == 0 else f"{whole}.{cents:02d}".rstrip("0") + "%"


def product_commission_problems(product: Product, settings: DistributionSettings) -> list[FieldProblem]:
    """Refuse a ``ratio``/``fixed`` setting that could pay more than ``cap_bp`` of the list price."""
    setting = product.commission
    if setting.mode == "inherit" or not product.distribution_enabled:
        return []
    cap = settings.commission.cap_bp
    p1, p2 = highest_level_points(settings)
    if setting.mode == "ratio":
        worst = setting.l1 + setting.l2 + p1 + p2
        if worst <= cap:
            return []
        reason = (f"L1 {setting.l1} bp + L2 {setting.l2} bp + the highest level points ({p1 + p2} bp) = {worst} bp "
                  f"exceeds the cap of {cap} bp ({_percent(cap)} of the price)")
    else:
        # fen per unit + points of the price ≤ cap of the price, compared in integers.
        worst_scaled = (setting.l1 + setting.l2) * BASIS_POINTS + (p1 + p2) * product.price_fen
        if worst_scaled <= cap * product.price_fen:
            return []
        allowed = max(product.price_fen * (cap - p1 - p2) // BASIS_POINTS, 0)
        reason = (f"L1 {setting.l1} fen + L2 {setting.l2} fen per unit (with the highest level points of "
                  f"{p1 + p2} bp) exceeds the cap of {_percent(cap)} of the price {product.price_fen} fen: at most "
                  f"{allowed} fen per unit in total")
    return [FieldProblem("commission.l1", reason), FieldProblem("commission.l2", reason)]


def category_rate_problems(l1_rate_bp: int | None, l2_rate_bp: int | None,
                           settings: DistributionSettings) -> list[FieldProblem]:
    """Refuse category rates that, with the global rate for a level left unset and the highest
    level points, could pay more than the cap."""
    if l1_rate_bp is None and l2_rate_bp is None:
        return []
    cap = settings.commission.cap_bp
    p1, p2 = highest_level_points(settings)
    l1 = settings.commission.l1_rate_bp if l1_rate_bp is None else l1_rate_bp
    l2 = settings.commission.l2_rate_bp if l2_rate_bp is None else l2_rate_bp
    worst = l1 + l2 + p1 + p2
    if worst <= cap:
        return []
    reason = (f"L1 {l1} bp + L2 {l2} bp + the highest level points ({p1 + p2} bp) = {worst} bp exceeds the cap "
              f"of {cap} bp ({_percent(cap)})")
    fields = [name for name, value in (("l1_rate_bp", l1_rate_bp), ("l2_rate_bp", l2_rate_bp)) if value is not None]
    return [FieldProblem(name, reason) for name in fields]
