"""Catalog rules and the in-memory listing (mall.domain.catalog): pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mall.domain.catalog import (
    LISTING_SORTS,
    CommissionSetting,
    ListingFilter,
    ListingSort,
    Product,
    is_low_stock,
    product_problems,
    select_page,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def make(index: int, *, price: int, sales: int = 0, category: str = "c_a", name: str | None = None,
         on_shelf: bool = True) -> Product:
    return Product(product_id=f"p_{index:03d}", name=name or f"Item {index}", type="physical", category_id=category,
                   price_fen=price, stock=10, sales=sales, on_shelf=on_shelf,
                   created_at=T0 + timedelta(minutes=index))


CATALOG = [
    make(1, price=500, sales=3, name="Green tea"),
    make(2, price=1500, sales=9, category="c_b", name="Oolong TEA"),
    make(3, price=1500, sales=1, name="Coffee beans"),
    make(4, price=200, sales=9, category="c_b", name="Tea cup"),
    make(5, price=9900, sales=0, name="Teapot", on_shelf=False),
]


def ids(products: list[Product]) -> list[str]:
    return [p.product_id for p in products]


def test_low_stock_is_at_or_below_the_threshold() -> None:
    assert is_low_stock(5, 5) and is_low_stock(0, 0) and not is_low_stock(6, 5) and not is_low_stock(1, 0)


def test_product_invariants() -> None:
    ok = make(1, price=100)
    assert product_problems(ok) == []
    service = replace(ok, type="service", shipping_fee_fen=800)
    assert [p.field for p in product_problems(service)] == ["shipping_fee_fen"]
    inherit_with_values = replace(ok, commission=CommissionSetting("inherit", 100, 0))
    assert [p.field for p in product_problems(inherit_with_values)] == ["commission"]
    assert [p.field for p in product_problems(replace(ok, per_user_limit=0))] == ["per_user_limit"]


def test_sorts() -> None:
    shop = ListingFilter(on_shelf=True)
    assert ids(select_page(CATALOG, where=shop, sort="price_asc", limit=10)[0]) == ["p_004", "p_001", "p_002", "p_003"]
    assert ids(select_page(CATALOG, where=shop, sort="price_desc", limit=10)[0]) == ["p_002", "p_003", "p_001", "p_004"]
    assert ids(select_page(CATALOG, where=shop, sort="sales_desc", limit=10)[0]) == ["p_002", "p_004", "p_001", "p_003"]
    assert ids(select_page(CATALOG, where=shop, sort="newest", limit=10)[0]) == ["p_004", "p_003", "p_002", "p_001"]


def test_filters() -> None:
    def found(where: ListingFilter) -> list[str]:
        return ids(select_page(CATALOG, where=where, sort="price_asc", limit=10)[0])

    assert found(ListingFilter(on_shelf=True, category_id="c_b")) == ["p_004", "p_002"]
    assert found(ListingFilter(on_shelf=True, min_price_fen=500, max_price_fen=1500)) == ["p_001", "p_002", "p_003"]
    assert found(ListingFilter(on_shelf=True, keyword="  tea ")) == ["p_004", "p_001", "p_002"]
    assert found(ListingFilter(keyword="tea")) == ["p_004", "p_001", "p_002", "p_005"]  # admin: both shelves
    assert found(ListingFilter(on_shelf=False)) == ["p_005"]


def test_pages_follow_the_keyset() -> None:
    shop = ListingFilter(on_shelf=True)
    first, after = select_page(CATALOG, where=shop, sort="price_desc", limit=2)
    assert ids(first) == ["p_002", "p_003"] and after == (-1500, "p_003")
    second, after = select_page(CATALOG, where=shop, sort="price_desc", limit=2, after=list(after))
    assert ids(second) == ["p_001", "p_004"] and after is None


def test_a_cursor_resumes_after_the_list_changed() -> None:
    shop = ListingFilter(on_shelf=True)
    _, after = select_page(CATALOG, where=shop, sort="price_asc", limit=2)
    assert after is not None
    changed = [*CATALOG, make(6, price=100), make(7, price=1000)]  # one before the cursor, one after
    second, _ = select_page(changed, where=shop, sort="price_asc", limit=10, after=list(after))
    assert ids(second) == ["p_007", "p_002", "p_003"]


def test_the_fingerprint_distinguishes_lists() -> None:
    a = ListingFilter(on_shelf=True, keyword="Tea").fingerprint("price_asc")
    assert a == ListingFilter(on_shelf=True, keyword=" tea").fingerprint("price_asc")
    assert a != ListingFilter(on_shelf=True, keyword="tea").fingerprint("price_desc")
    assert a != ListingFilter(on_shelf=True, keyword="tea", category_id="c_a").fingerprint("price_asc")


products = st.lists(
    st.builds(lambda i, price, sales: make(i, price=price, sales=sales),
              st.integers(min_value=0, max_value=999), st.integers(min_value=1, max_value=5000),
              st.integers(min_value=0, max_value=50)),
    max_size=40, unique_by=lambda p: p.product_id)


@given(catalog=products, sort=st.sampled_from(LISTING_SORTS), limit=st.integers(min_value=1, max_value=7))
def test_paging_through_returns_every_match_once_in_order(catalog: list[Product], sort: ListingSort,
                                                          limit: int) -> None:
    where = ListingFilter(on_shelf=True)
    everything, _ = select_page(catalog, where=where, sort=sort, limit=1000)
    seen: list[Product] = []
    after = None
    for _ in range(100):
        page, next_after = select_page(catalog, where=where, sort=sort, limit=limit,
                                       after=list(after) if after else None)
        assert len(page) <= limit
        seen.extend(page)
        if next_after is None:
            break
        after = next_after
    assert ids(seen) == ids(everything)
    assert len(set(ids(seen))) == len(seen) == len(catalog)
