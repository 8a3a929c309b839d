"""The commission cap at save time: every combination of two promoters, their levels and overrides,
with the global, category and product rates a line can resolve (pure, with properties)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mall.dal.settings import _from_item
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.commission import cap_amount, resolve_line_rates
from mall.domain.commission_cap import SAVING_SETTINGS, Saving, cap_problems
from mall.domain.settings import CommissionRates, DistributionSettings, PromoterLevel


@dataclass(frozen=True)
class Holder:
    """A promoter as rate resolution and the cap read it."""

    user_id: str
    level_id: str | None
    l1_override_bp: int | None = None
    l2_override_bp: int | None = None


def make_settings(l1: int = 1000, l2: int = 500, cap: int = 3000,
                  points: tuple[tuple[int, int], ...] = ((0, 0),)) -> DistributionSettings:
    return DistributionSettings.model_construct(
        commission=CommissionRates(l1_rate_bp=l1, l2_rate_bp=l2, cap_bp=cap),
        levels=[PromoterLevel(id=f"lv{i}", name=f"等级{i}", l1_points_bp=p1, l2_points_bp=p2)
                for i, (p1, p2) in enumerate(points)])


def product(pid: str = "p1", category_id: str = "c1", mode: str = "inherit", l1: int = 0, l2: int = 0, *,
            price_fen: int = 10_000) -> Product:
    return Product(product_id=pid, name=pid, type="physical", category_id=category_id, price_fen=price_fen,
                   stock=1, commission=CommissionSetting(mode, l1, l2))  # type: ignore[arg-type]


# ---- the two combinations a one-level-at-a-time check let through ----------------------------


def test_two_levels_points_are_refused_together_in_the_settings_document() -> None:
    """10% + 5% global; one level adds 10% at L1, another 10% at L2: a line with a top-L1 seller
    under a top-L2 parent wants 35%. Each level alone stays at 25%."""
    with pytest.raises(ValidationError) as caught:
        DistributionSettings.model_validate({"levels": [
            {"id": "basic", "name": "普通"}, {"id": "seller", "name": "销售", "l1_points_bp": 1000},
            {"id": "coach", "name": "教练", "l2_points_bp": 1000}]})
    found = {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}
    assert {"levels.1.l1_points_bp", "levels.2.l2_points_bp"} <= set(found)
    assert ("levels[seller].l1_points_bp 10%" in found["levels.1.l1_points_bp"]
            and "levels[coach].l2_points_bp 10%" in found["levels.1.l1_points_bp"]
            and "= 35% > commission.cap_bp 30%" in found["levels.1.l1_points_bp"])


def test_an_override_with_a_category_l2_rate_is_refused_naming_both() -> None:
    settings = make_settings()
    category = Category(category_id="c1", name="茶", l1_rate_bp=1000, l2_rate_bp=1500)
    promoter = Holder("u1", "lv0", l1_override_bp=1600)
    problems = cap_problems(settings=settings, categories=[category], promoters=[promoter],
                            saving=Saving("override", "u1"))
    assert [p.field for p in problems] == ["l1_override_bp"]
    assert ("promoters[u1].l1_override_bp 16%" in problems[0].reason
            and "categories[c1].l2_rate_bp 15%" in problems[0].reason and "= 31%" in problems[0].reason)
    # The same combination refuses the category when it is the one being saved.
    problems = cap_problems(settings=settings, categories=[category], promoters=[promoter],
                            saving=Saving("category", "c1"))
    assert [p.field for p in problems] == ["l2_rate_bp"]


def test_a_combination_not_involving_the_saved_thing_is_not_its_fault() -> None:
    settings = make_settings()
    greedy = Category(category_id="c9", name="旧", l1_rate_bp=2000, l2_rate_bp=1500)  # stored before the check
    fine = Category(category_id="c1", name="茶", l1_rate_bp=1000, l2_rate_bp=1000)
    assert cap_problems(settings=settings, categories=[greedy, fine], saving=Saving("category", "c1")) == []
    # Saving the settings re-checks every stored scope: the cap is one of the parts.
    lowered = make_settings(cap=2500)
    assert cap_problems(settings=lowered, categories=[greedy], saving=SAVING_SETTINGS)


def test_a_fixed_setting_is_compared_at_the_list_price_with_another_promoters_override() -> None:
    settings = make_settings(points=((0, 0), (200, 0)))
    fixed = product(mode="fixed", l1=1500, l2=500, price_fen=10_000)  # ¥15 + ¥5 of ¥100 = 20%
    assert cap_problems(settings=settings, products=[fixed], saving=Saving("product", "p1")) == []
    promoter = Holder("u2", "lv0", l2_override_bp=1000)  # 15 + 2 + 10 = 27% ≤ 30%
    assert cap_problems(settings=settings, products=[fixed], promoters=[promoter],
                        saving=Saving("product", "p1")) == []
    promoter = Holder("u2", "lv0", l2_override_bp=1400)  # 15 + 2 + 14 = 31%
    problems = cap_problems(settings=settings, products=[fixed], promoters=[promoter],
                            saving=Saving("product", "p1"))
    assert [p.field for p in problems] == ["commission.l1"]
    assert "products[p1].commission.l1 1500 fen/unit" in problems[0].reason and "3100 fen" in problems[0].reason


# ---- properties: what is accepted never computes above the cap; what is refused can -----------

RATE = st.integers(min_value=0, max_value=1500)
POINTS = st.integers(min_value=0, max_value=800)


@st.composite
def configurations(draw: st.DrawFn) -> tuple[DistributionSettings, list[Category], list[Product], list[Holder]]:
    points = tuple(draw(st.lists(st.tuples(POINTS, POINTS), min_size=1, max_size=4)))
    settings = make_settings(draw(RATE), draw(RATE), draw(st.integers(min_value=0, max_value=3000)), points)
    categories = [Category(category_id=f"c{i}", name=f"类{i}", l1_rate_bp=draw(st.none() | RATE),
                           l2_rate_bp=draw(st.none() | RATE)) for i in range(draw(st.integers(0, 3)))]
    products: list[Product] = []
    for i in range(draw(st.integers(0, 4))):
        mode = draw(st.sampled_from(["inherit", "ratio", "fixed"]))
        l1, l2 = (0, 0) if mode == "inherit" else (draw(RATE), draw(RATE))
        category = draw(st.sampled_from([c.category_id for c in categories] + ["gone"]))
        products.append(product(f"p{i}", category, mode, l1, l2, price_fen=draw(st.integers(1, 50_000))))
    holders = [Holder(f"u{i}", draw(st.sampled_from([lv.id for lv in settings.levels])),
                      draw(st.none() | RATE), draw(st.none() | RATE)) for i in range(draw(st.integers(0, 3)))]
    return settings, categories, products, holders


def _promoters(settings: DistributionSettings, holders: list[Holder]) -> list[Holder]:
    """Every promoter a line can have: one with no override at every level, and every
    override holder at every level (a level changes without its override being re-checked)."""
    levels = [lv.id for lv in settings.levels]
    return [Holder("plain", lv) for lv in levels] + [
        Holder(h.user_id, lv, h.l1_override_bp, h.l2_override_bp) for h in holders for lv in levels]


def _worst_line(settings: DistributionSettings, categories: list[Category], products: list[Product],
                holders: list[Holder]) -> tuple[int, int]:
    """The most L1 + L2 any pair of promoters wants on a line of any product at list price, and that
    line's cap (both in fen): the inherit products stand for every category and for none."""
    by_id = {c.category_id: c for c in categories}
    lines = products + [product(f"any-{c}", c) for c in [*by_id, "gone"]]
    worst = (0, 0)
    promoters = _promoters(settings, holders)
    for item in lines:
        for quantity in (1, 3):
            base = item.price_fen * quantity
            for first in promoters:
                for second in promoters:
                    rates = resolve_line_rates(settings=settings, product=item, category=by_id.get(item.category_id),
                                               l1_promoter=first, l2_promoter=second)
                    wanted = rates.l1.amount(base, quantity) + rates.l2.amount(base, quantity)
                    ceiling = cap_amount(base, settings.commission.cap_bp)
                    if wanted - ceiling > worst[0] - worst[1]:
                        worst = (wanted, ceiling)
    return worst


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configurations())
def test_an_accepted_configuration_never_wants_more_than_the_cap(
        config: tuple[DistributionSettings, list[Category], list[Product], list[Holder]]) -> None:
    settings_, categories, products, holders = config
    refused = cap_problems(settings=settings_, categories=categories, products=products, promoters=holders,
                           saving=SAVING_SETTINGS)
    wanted, ceiling = _worst_line(settings_, categories, products, holders)
    if not refused:
        assert wanted <= ceiling


@settings(max_examples=150, deadline=None)
@given(configurations())
def test_a_refused_rate_only_configuration_has_a_line_over_the_cap(
        config: tuple[DistributionSettings, list[Category], list[Product], list[Holder]]) -> None:
    """Not stricter than needed: with rates only (no fixed amounts) and a ¥100 line, a refusal
    always has a pair of promoters whose line wants more than the cap."""
    settings_, categories, products, holders = config
    products = [p for p in products if p.commission.mode != "fixed"]
    products = [replace(p, price_fen=10_000) for p in products]
    refused = cap_problems(settings=settings_, categories=categories, products=products, promoters=holders,
                           saving=SAVING_SETTINGS)
    wanted, ceiling = _worst_line(settings_, categories, products, holders)
    assert bool(refused) == (wanted > ceiling)


@settings(max_examples=100, deadline=None)
@given(configurations(), st.sampled_from(["category", "product", "override"]))
def test_saving_one_thing_refuses_exactly_the_combinations_it_takes_part_in(
        config: tuple[DistributionSettings, list[Category], list[Product], list[Holder]], kind: str) -> None:
    """A configuration built by saves that each passed their own check is one the settings
    check accepts too: every combination involves what was saved last, or was checked before."""
    settings_, categories, products, holders = config
    if cap_problems(settings=settings_, saving=SAVING_SETTINGS):
        return  # the settings themselves would be refused
    accepted_c: list[Category] = []
    accepted_p: list[Product] = []
    accepted_h: list[Holder] = []
    order: list[tuple[str, object]] = [("category", c) for c in categories] + [("product", p) for p in products] \
        + [("override", h) for h in holders]
    if kind == "override":
        order.reverse()
    for what, thing in order:
        if isinstance(thing, Category):
            ok = not cap_problems(settings=settings_, categories=[thing], promoters=accepted_h,
                                  saving=Saving("category", thing.category_id))
            accepted_c += [thing] if ok else []
        elif isinstance(thing, Product):
            ok = not cap_problems(settings=settings_, products=[thing], promoters=accepted_h,
                                  saving=Saving("product", thing.product_id))
            accepted_p += [thing] if ok else []
        elif isinstance(thing, Holder):
            ok = not cap_problems(settings=settings_, categories=accepted_c, products=accepted_p,
                                  promoters=[*accepted_h, thing], saving=Saving("override", thing.user_id))
            accepted_h += [thing] if ok else []
        assert what in {"category", "product", "override"}
    assert not cap_problems(settings=settings_, categories=accepted_c, products=accepted_p, promoters=accepted_h,
                            saving=SAVING_SETTINGS)


def test_a_version_stored_under_the_narrower_check_still_loads() -> None:
    """Stored documents are read back without the save-time rule: a version saved before it must not
    turn every read of the settings into an error (the clamp at compute keeps its lines in the cap)."""
    document = {"levels": [{"id": "basic", "name": "普通"}, {"id": "seller", "name": "销售", "l1_points_bp": 1000},
                           {"id": "coach", "name": "教练", "l2_points_bp": 1000}]}
    loaded = _from_item({"version": 3, "document": document})
    assert loaded.version == 3 and loaded.settings.level("coach").l2_points_bp == 1000
    with pytest.raises(ValidationError):
        DistributionSettings.model_validate(document)
