"""Commission rate resolution (佣金比例) and the per-line amount, pure.

Resolution, per level and first match wins (docs/business-rules.md, "Commission"): per-promoter override → product
setting (``ratio``/``fixed``) → category rate → global rate; then the promoter's level points (``settings.levels``,
by ``promoter.level_id``) are added (as bp of the base, whatever matched). The promoter passed is the beneficiary
*at that level*: its ``l1_*`` fields shape the L1 rate, its ``l2_*`` fields the L2 rate. When the L1 and L2
beneficiaries differ (they always do in an order), use ``resolve_line_rates``.

Amount per level = fixed fen × quantity + floor(base × bp / 10000), integer arithmetic only.
The cap (L1 + L2 ≤ ``cap_bp`` of the base, never above the fixed 30% limit) clamps L2 first,
then L1: the direct seller keeps what the cap allows.

The save-time check (``mall.domain.commission_cap``) refuses any combination of the two
promoters' levels, overrides and the line's rates that could pay more than the cap at list price,
so the clamp only bites on discounted ``fixed`` lines or documents stored before that check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from mall.domain.settings_terms import BASIS_POINTS, COMMISSION_CAP_LIMIT_BP
from mall.errors import FieldProblem

if TYPE_CHECKING:
    from mall.domain.catalog import Category, CommissionMode, Product, ProductType
    from mall.domain.orders import PricedOrder
    from mall.domain.settings import DistributionSettings
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
    #: the campaign that boosted this rate (``mall.domain.campaigns``): id, name, boost; what it added
    #: (``campaign_bp`` of ``ratio_bp``, ``campaign_fen`` of ``fixed_fen``)
    campaign: Mapping[str, Any] | None = None
    campaign_bp: int = 0
    campaign_fen: int = 0

    def amount(self, base_fen: int, quantity: int) -> int:
        return self.fixed_fen * quantity + base_fen * self.ratio_bp // BASIS_POINTS

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "ratio_bp": self.ratio_bp, "fixed_fen": self.fixed_fen,
                "level_points_bp": self.level_points_bp, **self.campaign_fields()}

    def campaign_fields(self) -> dict[str, Any]:
        if self.campaign is None:
            return {}
        return {"campaign": dict(self.campaign), "campaign_bp": self.campaign_bp, "campaign_fen": self.campaign_fen}


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
                       l1_promoter: PromoterRates | None, l2_promoter: PromoterRates | None,
                       boost: LineBoost | None = None, base_fen: int = 0, quantity: int = 1) -> ResolvedRates:
    """The rates of an order line whose L1 and L2 beneficiaries are different promoters, with the
    campaigns' ``boost`` (steps 1–6 of docs/incentives.md): the payment's resolution, which every
    view of a rate goes through too (``mall.domain.campaigns.rates_at``)."""
    first = resolve_rates(settings=settings, product=product, category=category, promoter=l1_promoter)
    second = resolve_rates(settings=settings, product=product, category=category, promoter=l2_promoter)
    rates = ResolvedRates(l1=first.l1, l2=second.l2, enabled=first.enabled)
    return rates if boost is None else boost(product, rates, base_fen, quantity)


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


# ---- an order line's product, as the order recorded it ---------------------------------------


def product_from_line(line: Mapping[str, Any]) -> Product:
    """The product as the order line recorded it when the order was placed: its commission
    setting (``commission {mode, l1, l2}``), whether it takes part in distribution, its category.
    Commission follows the setting in force when the buyer ordered, not a later edit."""
    from mall.domain.catalog import CommissionSetting, Product  # here: the records' repositories read no product
    snapshot = line.get("commission") or {}
    mode = str(snapshot.get("mode", "inherit"))
    mode = mode if mode in {"inherit", "ratio", "fixed"} else "inherit"
    return Product(
        product_id=str(line.get("product_id", "")), name=str(line.get("name", "")),
        type=cast("ProductType", str(line.get("type", "physical"))), category_id=str(line.get("category_id") or ""),
        price_fen=int(line.get("unit_price_fen", 0)), stock=0,
        distribution_enabled=bool(line.get("distribution_enabled", True)),
        commission=CommissionSetting(cast("CommissionMode", mode), int(snapshot.get("l1", 0)),
                                     int(snapshot.get("l2", 0))),
    )


# ---- self-purchase in ``discount`` mode (自购优惠) ----------------------------------------------


def self_purchase_discount(*, base_fen: int, quantity: int, rates: ResolvedRates, cap_bp: int) -> int:
    """The L1 amount a promoter buying for themself would earn on a line at their own rates
    (``rates`` resolved with the buyer as the promoter), clamped to the cap and floored: in
    ``discount`` mode this comes off the line's price instead, and nobody earns on the order."""
    if base_fen <= 0 or not rates.enabled:
        return 0
    return min(max(rates.l1.amount(base_fen, quantity), 0), cap_amount(base_fen, cap_bp))


def apply_line_discounts(priced: PricedOrder, discounts: Mapping[str, int]) -> PricedOrder:
    """``priced`` with ``discounts`` (fen per ``line_id``) taken off the lines' ``paid_fen``:
    the order's ``discount_fen`` grows by as much and ``amount_fen`` shrinks by as much. A
    discount never takes a line below zero."""
    lines = tuple(replace(line, paid_fen=line.paid_fen - min(max(discounts.get(line.line_id, 0), 0), line.paid_fen))
                  for line in priced.lines)
    paid = sum(line.paid_fen for line in lines)
    # replace(), not the class: the order rules are imported for annotations only (the catalog's readers).
    return replace(priced, lines=lines, discount_fen=priced.goods_fen - paid, amount_fen=paid + priced.shipping_fen)


# ---- the commission of an order: who earns what on each line ---------------------------------

Outcome = Literal["earn", "zero", "inactive", "disabled"]


@dataclass(frozen=True, slots=True)
class LevelDecision:
    """What one level of one line earns. ``earn`` becomes a commission record; ``zero`` (the
    amount floors to 0 fen), ``inactive`` (the beneficiary is not an active promoter: the level
    is not paid, never shifted up) and ``disabled`` (the product takes no part in distribution)
    create nothing. ``rule`` is the snapshot that explains the amount."""

    line_id: str
    level: Literal[1, 2]
    beneficiary_id: str
    outcome: Outcome
    amount_fen: int
    rule: dict[str, Any]


class LineBoost(Protocol):
    """Boosts a line's resolved rates (campaigns): (product, rates, base fen, quantity) → rates."""

    def __call__(self, product: Product, rates: ResolvedRates, base_fen: int, quantity: int) -> ResolvedRates: ...


class Beneficiary(PromoterRates, Protocol):
    """A promoter as commission reads them (``mall.domain.referral.Promoter`` fits)."""

    @property
    def user_id(self) -> str: ...
    @property
    def is_active(self) -> bool: ...


def _rule(line: Mapping[str, Any], level: Literal[1, 2], rate: LevelRate, *, base_fen: int, quantity: int,
          wanted: int, amount: int, cap_bp: int, level_id: str, context: Mapping[str, Any]) -> dict[str, Any]:
    snapshot = line.get("commission") or {}
    return {
        "level": level, "base_fen": base_fen, "quantity": quantity,
        "unit_price_fen": int(line.get("unit_price_fen", 0)),
        "source": rate.source, "mode": rate.mode, "ratio_bp": rate.ratio_bp, "fixed_fen": rate.fixed_fen,
        "level_points_bp": rate.level_points_bp, "level_id": level_id,
        "product_mode": str(snapshot.get("mode", "inherit")), "category_id": line.get("category_id"),
        "cap_bp": min(max(cap_bp, 0), COMMISSION_CAP_LIMIT_BP), "cap_fen": cap_amount(base_fen, cap_bp),
        "wanted_fen": wanted, "capped": amount != wanted, **rate.campaign_fields(), **context,
        # A coupon's share of the line, already off the base: the base is what was really paid.
        **({"coupon_fen": int(line["coupon_fen"])} if line.get("coupon_fen") else {}),
    }


def decide_order_commissions(*, lines: Sequence[Mapping[str, Any]], l1: Beneficiary | None, l2: Beneficiary | None,
                             l1_id: str | None, l2_id: str | None, settings: DistributionSettings,
                             categories: Mapping[str, Category], context: Mapping[str, Any],
                             boost: LineBoost | None = None) -> list[LevelDecision]:
    """Per line and per earning level, what the order's attribution earns (docs/business-rules.md, "Commission").

    ``l1_id`` / ``l2_id`` are the attribution's beneficiaries (the only two levels that can ever
    earn); ``l1`` / ``l2`` their promoter records as read now (None: no record, so not active).
    Amounts are computed with both levels' rates so the cap clamps L2 first, then L1, whether or
    not each level is paid: an unpaid level never moves money to the other. ``context`` goes into
    every rule snapshot (settings version, attribution basis, self-purchase). ``boost`` applies the
    campaigns in force at payment to a line's resolved rates (``mall.domain.campaigns.boost_line``)."""
    if l2_id is not None and l2_id == l1_id:
        l2_id, l2 = None, None  # one promoter is never paid twice on a line
    cap_bp = settings.commission.cap_bp
    decisions: list[LevelDecision] = []
    for line in lines:
        product = product_from_line(line)
        base = max(int(line.get("paid_fen", 0)), 0)
        quantity = max(int(line.get("quantity", 1)), 1)
        rates = resolve_line_rates(settings=settings, product=product, category=categories.get(product.category_id),
                                   l1_promoter=l1, l2_promoter=l2, boost=boost, base_fen=base, quantity=quantity)
        wanted_l1 = max(rates.l1.amount(base, quantity), 0) if rates.enabled else 0
        wanted_l2 = max(rates.l2.amount(base, quantity), 0) if rates.enabled else 0
        amount_l1, amount_l2, _ = line_commission(base, quantity, rates, cap_bp)
        for level, uid, who, rate, wanted, computed in ((1, l1_id, l1, rates.l1, wanted_l1, amount_l1),
                                                       (2, l2_id, l2, rates.l2, wanted_l2, amount_l2)):
            if uid is None:
                continue
            level_id = settings.level(who.level_id if who is not None else None).id
            rule = _rule(line, cast(Literal[1, 2], level), rate, base_fen=base, quantity=quantity, wanted=wanted,
                         amount=computed, cap_bp=cap_bp, level_id=level_id, context=context)
            outcome: Outcome = "earn"
            amount = computed
            if not rates.enabled:
                outcome, amount = "disabled", 0
            elif who is None or not who.is_active:
                outcome, amount = "inactive", 0
            elif computed <= 0:
                outcome, amount = "zero", 0
            decisions.append(LevelDecision(line_id=str(line["line_id"]), level=cast(Literal[1, 2], level),
                                           beneficiary_id=uid, outcome=outcome, amount_fen=amount, rule=rule))
    return decisions


# ---- whether an order earns commission ------------------------------------------------------

_NOT_PAID = frozenset({"CREATED", "EXPIRED", "PAID_AFTER_EXPIRY"})


def ever_paid(order: Mapping[str, Any]) -> bool:
    """Paid at some point and not refunded as paid-after-expiry: such an order earns commission."""
    return bool(order.get("paid_at")) and order.get("status") not in _NOT_PAID


def explain_rule(rule: Mapping[str, Any], amount_fen: int) -> str:
    """The computation of a record in words, from its rule snapshot (for the promoter)."""
    base, quantity = int(rule.get("base_fen", 0)), int(rule.get("quantity", 1))
    ratio, fixed = int(rule.get("ratio_bp", 0)), int(rule.get("fixed_fen", 0))
    points = int(rule.get("level_points_bp", 0))
    parts = []
    if rule.get("mode") == "fixed":
        parts.append(f"{quantity} × {fixed} fen")
        if ratio:
            parts.append(f"{_percent(ratio)} of {base} fen")
    else:
        parts.append(f"{_percent(ratio)} of {base} fen")
    text = (f"L{rule.get('level', '?')}: " + " + ".join(parts)
            + f" = {int(rule.get('wanted_fen', amount_fen))} fen ({rule.get('source', '?')} rate")
    if points:
        text += f", {_percent(points)} of it from your level"
    campaign = rule.get("campaign")
    if isinstance(campaign, Mapping):
        added = int(rule.get("campaign_bp", 0))
        extra = f"{_percent(added)}" if added else ""
        if int(rule.get("campaign_fen", 0)):
            extra = " + ".join(filter(None, [extra, f"{int(rule['campaign_fen'])} fen/unit"]))
        text += f", {extra or 'nothing'} of it from the campaign “{campaign.get('name', '')}”"
    text += ")"
    if rule.get("capped"):
        text += f"; {amount_fen} fen after the {_percent(int(rule.get('cap_bp', 0)))} cap on L1 + L2"
    return text
