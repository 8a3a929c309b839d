"""Browsing as a promoter: what each SKU earns, the price range, and ranking or filtering the shop by
what the caller earns (active promoters only; anyone else is told so with a 422)."""

from __future__ import annotations

import pytest

from mall.errors import InvalidInput
from mall.services.catalog.browsing import product_detail
from mall.services.catalog.common import CatalogRepositories
from tests.fakes import fake_catalog
from tests.unit.test_catalog_services import IMAGE, IMAGE_ID, _promoter, browse, category, product

SIZES = {"name": "规格", "values": ["250g", "500g"]}


@pytest.fixture
def repos() -> CatalogRepositories:
    made = fake_catalog()
    made.uploads.add(IMAGE_ID, IMAGE)  # type: ignore[attr-defined]
    return made


def _shop(repos: CatalogRepositories) -> dict[str, str]:
    tea = category(repos, "Tea")  # the global rates: L1 10%
    made = {
        "cheap": product(repos, tea.category_id, name="Green tea", price_fen=3_000),
        "rich": product(repos, tea.category_id, name="Oolong tea", price_fen=8_000,
                        commission={"mode": "ratio", "l1": 2000, "l2": 500}),
        "sized": product(repos, tea.category_id, name="Longjing", price_fen=None, specs=[SIZES], skus=[
            {"options": ["250g"], "price_fen": 5_000, "stock": 3},
            {"options": ["500g"], "price_fen": 9_000, "stock": 3,
             "commission": {"mode": "fixed", "l1": 2_500, "l2": 0}}]),
    }
    return {k: v.product_id for k, v in made.items()}


def test_a_promoter_sees_each_skus_earning_and_the_range(repos: CatalogRepositories) -> None:
    ids = _shop(repos)
    _promoter(repos, "u_promoter0001", "active")
    detail = product_detail(repos=repos, product_id=ids["sized"], viewer="u_promoter0001")
    assert (detail.price_fen, detail.max_price_fen) == (5_000, 9_000)
    assert {s.label: s.promoter_earn_fen for s in detail.skus} == {"250g": 500, "500g": 2_500}
    assert (detail.promoter_earn_fen, detail.promoter_earn_max_fen) == (500, 2_500)
    guest = product_detail(repos=repos, product_id=ids["sized"], viewer=None)
    assert all(s.promoter_earn_fen is None for s in guest.skus) and guest.promoter_earn_max_fen is None
    assert [s.available for s in guest.skus] == [True, True]


def test_a_promoter_ranks_and_filters_the_shop_by_what_they_earn(repos: CatalogRepositories) -> None:
    _shop(repos)
    _promoter(repos, "u_promoter0001", "active")
    ranked = browse(repos, sort="commission_desc", viewer="u_promoter0001")
    # best-paying SKU: Longjing 500g 2500 fen; Oolong 20% of 8000 = 1600; Green tea 10% of 3000 = 300
    assert [(p.name, p.promoter_earn_max_fen) for p in ranked.items] == [
        ("Longjing", 2_500), ("Oolong tea", 1_600), ("Green tea", 300)]
    first = browse(repos, sort="commission_desc", viewer="u_promoter0001", limit=2)
    rest = browse(repos, sort="commission_desc", viewer="u_promoter0001", limit=2, cursor=first.next_cursor)
    assert [p.name for p in first.items + rest.items] == ["Longjing", "Oolong tea", "Green tea"]
    floor = browse(repos, sort="price_asc", viewer="u_promoter0001", min_commission_fen=1_000)
    assert [p.name for p in floor.items] == ["Longjing", "Oolong tea"]


@pytest.mark.parametrize("viewer", [None, "u_frozen000001", "u_customer0001"])
def test_anyone_but_an_active_promoter_asking_to_rank_by_earnings_gets_a_422(repos: CatalogRepositories,
                                                                            viewer: str | None) -> None:
    _shop(repos)
    _promoter(repos, "u_frozen000001", "frozen")
    with pytest.raises(InvalidInput) as sort:
        browse(repos, sort="commission_desc", viewer=viewer)
    assert sort.value.code == "promoter_only" and [f.field for f in sort.value.fields] == ["query:sort"]
    with pytest.raises(InvalidInput) as floor:
        browse(repos, viewer=viewer, min_commission_fen=1)
    assert [f.field for f in floor.value.fields] == ["query:min_commission_fen"]
    assert len(browse(repos, sort="price_asc", viewer=viewer).items) == 3
