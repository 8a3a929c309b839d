"""The commission cap at save time (佣金上限校验), pure: every combination, not one level at a time.

On an order line, level 1 and level 2 are two different promoters, possibly at different levels,
and either may carry a per-promoter override (专属佣金比例). What the two levels share is the
line's product, so rates are grouped in *scopes*: lines that resolve their rates from the same
place (the global rates; one category's rates for the products that inherit them; one product's
own ``ratio``/``fixed`` setting). In each scope the worst line is

    max(scope L1 rate, every L1 override) + max L1 points of any level
  + max(scope L2 rate, every L2 override) + max L2 points of any level

and it must stay within ``cap_bp`` (a ``fixed`` amount is compared at the product's list price,
in integers). A save (settings, a category, a product, an override) is refused when a combination
that *involves what is being saved* goes over: each part carries the location of its field in the
request being saved (``loc``), or None when it is stored elsewhere. A combination made only of
parts stored elsewhere was accepted before and is not the saved thing's fault, so it is not
reported (except when the settings themselves are saved: the cap is then one of the parts).

The clamp at compute (``mall.domain.commission.line_commission``) stays as the second line: a
discounted line can still push a ``fixed`` amount over the cap of what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product as every
from typing import TYPE_CHECKING, Protocol

from mall.errors import FieldProblem

if TYPE_CHECKING:
    # Types only: the settings' and campaigns' routes weigh rates without the catalog's model module.
    from mall.domain.catalog import Category, Product
    from mall.domain.settings import DistributionSettings

_BASIS_POINTS = 10_000

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """One summand of a line's L1 + L2: ``bp`` of the base plus ``fen`` per unit (a product's
    ``fixed`` setting). ``label`` names it in messages; ``loc`` is its field in the request being
    saved (None: stored elsewhere)."""

    label: str
    bp: int = 0
    fen: int = 0
    loc: Loc | None = None

    def scaled(self, price_fen: int | None) -> int:
        """Its value in ``fen × 10000`` at ``price_fen`` (bp when no price matters)."""
        if price_fen is None:
            return self.bp
        return self.fen * _BASIS_POINTS + self.bp * price_fen

    def text(self) -> str:
        if self.fen:
            return f"{self.label} {self.fen} fen/unit"
        return f"{self.label} {_percent(self.bp)}"


@dataclass(frozen=True, slots=True)
class Scope:
    """Lines whose two levels resolve from the same rates. ``price_fen``: the list price a
    ``fixed`` setting is compared at (None for rates only)."""

    label: str
    l1: Part
    l2: Part
    price_fen: int | None = None


@dataclass(frozen=True, slots=True)
class CapInputs:
    cap: Part
    l1_points: Sequence[Part]
    l2_points: Sequence[Part]
    l1_overrides: Sequence[Part] = ()
    l2_overrides: Sequence[Part] = ()
    scopes: Sequence[Scope] = ()


@dataclass(frozen=True, slots=True)
class CapExcess:
    """The worst combination of one scope that involves what is being saved."""

    scope: Scope
    l1: Part
    l1_points: Part
    l2: Part
    l2_points: Part
    cap: Part

    @property
    def parts(self) -> tuple[Part, Part, Part, Part]:
        return self.l1, self.l1_points, self.l2, self.l2_points

    def message(self) -> str:
        price = self.scope.price_fen
        total = sum(part.scaled(price) for part in self.parts)
        if price is None:
            amount = f"{_percent(total)} > {self.cap.label} {_percent(self.cap.bp)}"
        else:
            amount = (f"{_fen(total)} fen > {self.cap.label} {_percent(self.cap.bp)} = "
                      f"{_fen(self.cap.bp * price)} fen of the price {price} fen")
        return f"{self.scope.label}: {_split_levels(self)} = {amount}"

    def located(self) -> list[Loc]:
        """The saved fields that make up this combination (those adding something; the cap
        when nothing else of it is being saved)."""
        found = [part.loc for part in self.parts if part.loc is not None and (part.bp or part.fen)]
        if not found and self.cap.loc is not None:
            found.append(self.cap.loc)
        return list(dict.fromkeys(found))


def _split_levels(excess: CapExcess) -> str:
    first = " + ".join(p.text() for p in (excess.l1, excess.l1_points) if p.bp or p.fen) or "0"
    second = " + ".join(p.text() for p in (excess.l2, excess.l2_points) if p.bp or p.fen) or "0"
    return f"L1 ({first}) + L2 ({second})"


def _percent(bp: int) -> str:
    whole, cents = divmod(bp, 100)
    return f"{whole}%" if cents == 0 else f"{whole}.{cents:02d}".rstrip("0") + "%"


def _fen(scaled: int) -> str:
    whole, rest = divmod(scaled, _BASIS_POINTS)
    return str(whole) if rest == 0 else f"{scaled / _BASIS_POINTS:.4f}".rstrip("0")


def _best(parts: Iterable[Part], price: int | None) -> list[Part]:
    """The largest part, and the largest of those being saved when it is not the largest:
    enough to find the worst combination that involves the saved thing."""
    ordered = sorted(parts, key=lambda p: (p.scaled(price), p.loc is not None), reverse=True)
    if not ordered:
        return []
    chosen = [ordered[0]]
    if ordered[0].loc is None:
        chosen += [p for p in ordered if p.loc is not None][:1]
    return chosen


def cap_excesses(inputs: CapInputs) -> list[CapExcess]:
    """Per scope, the worst combination over the cap that involves a saved part (or any, when the
    cap itself is being saved). Empty: no accepted line can want more than the cap."""
    found: list[CapExcess] = []
    zero = Part("no level points")
    for scope in inputs.scopes:
        price = scope.price_fen
        limit = inputs.cap.bp if price is None else inputs.cap.bp * price
        options = (_best([scope.l1, *inputs.l1_overrides], price), _best(inputs.l1_points, price) or [zero],
                   _best([scope.l2, *inputs.l2_overrides], price), _best(inputs.l2_points, price) or [zero])
        worst: tuple[int, CapExcess] | None = None
        for l1, p1, l2, p2 in every(*options):
            excess = CapExcess(scope=scope, l1=l1, l1_points=p1, l2=l2, l2_points=p2, cap=inputs.cap)
            total = sum(part.scaled(price) for part in excess.parts)
            if total <= limit or not (inputs.cap.loc is not None or any(p.loc is not None for p in excess.parts)):
                continue
            if worst is None or total > worst[0]:
                worst = (total, excess)
        if worst is not None:
            found.append(worst[1])
    return found


def field_problems(excesses: Iterable[CapExcess]) -> list[FieldProblem]:
    """One problem per saved field involved, naming the whole combination (first excess wins)."""
    problems: dict[str, str] = {}
    for excess in excesses:
        for loc in excess.located():
            problems.setdefault(".".join(str(step) for step in loc), excess.message())
    return [FieldProblem(name, reason) for name, reason in problems.items()]


# ---- the inputs, from the domain's entities ----------------------------------------------------


class OverrideHolder(Protocol):
    """A promoter as the cap reads it (``mall.domain.referral.Promoter`` fits)."""

    @property
    def user_id(self) -> str: ...
    @property
    def l1_override_bp(self) -> int | None: ...
    @property
    def l2_override_bp(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Saving:
    """What is being saved: ``settings``, or the ``category`` / ``product`` / ``override`` with ``key``.
    Its parts get the location of their field in that request."""

    kind: str
    key: str = ""


SAVING_SETTINGS = Saving("settings")


def cap_inputs(*, settings: DistributionSettings, categories: Iterable[Category] = (),
               products: Iterable[Product] = (), promoters: Iterable[OverrideHolder] = (),
               saving: Saving) -> CapInputs:
    """The scopes and parts of the catalog and overrides given, located for ``saving``. The
    global scope is always there (products without a category, or whose category has no rates)."""
    own = saving.kind == "settings"
    rates = settings.commission
    global_l1 = Part("commission.l1_rate_bp", bp=rates.l1_rate_bp, loc=("commission", "l1_rate_bp") if own else None)
    global_l2 = Part("commission.l2_rate_bp", bp=rates.l2_rate_bp, loc=("commission", "l2_rate_bp") if own else None)
    scopes = [Scope("global rates", global_l1, global_l2)]
    for category in categories:
        if category.l1_rate_bp is None and category.l2_rate_bp is None:
            continue
        mine = saving.kind == "category" and saving.key == category.category_id
        name = f"categories[{category.category_id}]"
        l1 = global_l1 if category.l1_rate_bp is None else Part(
            f"{name}.l1_rate_bp", bp=category.l1_rate_bp, loc=("l1_rate_bp",) if mine else None)
        l2 = global_l2 if category.l2_rate_bp is None else Part(
            f"{name}.l2_rate_bp", bp=category.l2_rate_bp, loc=("l2_rate_bp",) if mine else None)
        scopes.append(Scope(f"products inheriting {name}", l1, l2))
    for item in products:
        setting = item.commission
        if setting.mode == "inherit" or not item.distribution_enabled:
            continue
        mine = saving.kind == "product" and saving.key == item.product_id
        name = f"products[{item.product_id}].commission"
        fixed = setting.mode == "fixed"
        parts = [Part(f"{name}.{field}", bp=0 if fixed else value, fen=value if fixed else 0,
                      loc=("commission", field) if mine else None)
                 for field, value in (("l1", setting.l1), ("l2", setting.l2))]
        scopes.append(Scope(f"products[{item.product_id}]", parts[0], parts[1],
                            price_fen=item.price_fen if fixed else None))
    l1_overrides: list[Part] = []
    l2_overrides: list[Part] = []
    for promoter in promoters:
        mine = saving.kind == "override" and saving.key == promoter.user_id
        name = f"promoters[{promoter.user_id}]"
        if promoter.l1_override_bp is not None:
            l1_overrides.append(Part(f"{name}.l1_override_bp", bp=promoter.l1_override_bp,
                                     loc=("l1_override_bp",) if mine else None))
        if promoter.l2_override_bp is not None:
            l2_overrides.append(Part(f"{name}.l2_override_bp", bp=promoter.l2_override_bp,
                                     loc=("l2_override_bp",) if mine else None))
    levels = list(enumerate(settings.levels))
    return CapInputs(
        cap=Part("commission.cap_bp", bp=rates.cap_bp, loc=("commission", "cap_bp") if own else None),
        l1_points=[Part(f"levels[{level.id}].l1_points_bp", bp=level.l1_points_bp,
                        loc=("levels", index, "l1_points_bp") if own else None) for index, level in levels],
        l2_points=[Part(f"levels[{level.id}].l2_points_bp", bp=level.l2_points_bp,
                        loc=("levels", index, "l2_points_bp") if own else None) for index, level in levels],
        l1_overrides=l1_overrides, l2_overrides=l2_overrides, scopes=scopes)


def cap_problems(*, settings: DistributionSettings, categories: Iterable[Category] = (),
                 products: Iterable[Product] = (), promoters: Iterable[OverrideHolder] = (),
                 saving: Saving) -> list[FieldProblem]:
    """The 422 fields of a save whose combinations could pay more than the cap (empty: allowed)."""
    return field_problems(cap_excesses(cap_inputs(settings=settings, categories=categories, products=products,
                                                  promoters=promoters, saving=saving)))
