"""The catalog's rules — validation, the commission cap, versions, category counts, stock, the
low-stock list, shelves and listing — through its use cases on in-memory repositories
(tests/fakes; their contract with DynamoDB: tests/integration/test_catalog_fakes_contract.py).
What only HTTP shows (routes, roles, idempotent replays, query parsing, signed image URLs,
metrics) is tested on the handlers in test_catalog_handlers.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from mall.domain.catalog import ListingFilter, ListingSort
from mall.domain.referral import Promoter
from mall.errors import Conflict, InvalidInput, NotFound
from mall.schemas.catalog import AdminProductView, ProductCreate, ProductUpdate, StockAdjustment
from mall.schemas.catalog_categories import CategoryCreate, CategoryView
from mall.schemas.catalog_public import ProductList
from mall.services.catalog.browsing import BrowseProducts, browse_products, product_detail
from mall.services.catalog.categories import create_category, delete_category, get_category, list_categories
from mall.services.catalog.common import CatalogRepositories
from mall.services.catalog.products import (
    adjust_stock,
    create_product,
    list_admin_products,
    low_stock_products,
    update_product,
)
from mall.services.catalog.stock import note_stock_levels
from tests.fakes import FakePromoterRepository, fake_catalog

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
IMAGE_ID = "a1" * 16
IMAGE = f"product-images/{IMAGE_ID}.jpg"
_serial = count(1)


@pytest.fixture
def repos() -> CatalogRepositories:
    made = fake_catalog()
    made.uploads.add(IMAGE_ID, IMAGE)  # type: ignore[attr-defined]
    return made


def _next() -> tuple[int, datetime]:
    """Ids and times that grow with each creation, as new_id and the clock do across requests."""
    n = next(_serial)
    return n, NOW + timedelta(seconds=n)


def fields_of(error: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [f.field for f in error.value.fields]


def category(repos: CatalogRepositories, name: str = "Tea", **fields: Any) -> CategoryView:
    n, at = _next()
    return create_category(repos=repos, body=CategoryCreate.model_validate({"name": name, **fields}), now=at,
                           category_id=f"c_{n:06d}")


def product(repos: CatalogRepositories, category_id: str, **fields: Any) -> AdminProductView:
    payload = {"name": "Longjing tea", "type": "physical", "category_id": category_id, "price_fen": 10_000,
               "stock": 20, "on_shelf": True, "images": [IMAGE], **fields}
    n, at = _next()
    return create_product(repos=repos, body=ProductCreate.model_validate(payload), now=at, product_id=f"p_{n:06d}",
                          by="admin:alice")


def count_of(repos: CatalogRepositories, category_id: str) -> int:
    return get_category(repos=repos, category_id=category_id).product_count


# ---- categories ------------------------------------------------------------------------------


def test_delete_needs_the_version_and_an_empty_category(repos: CatalogRepositories) -> None:
    tea = category(repos)
    product(repos, tea.category_id)
    with pytest.raises(Conflict) as refused:
        delete_category(repos=repos, category_id=tea.category_id, version=1)
    assert refused.value.code == "category_not_empty"
    empty = category(repos, "Empty")
    with pytest.raises(Conflict):
        delete_category(repos=repos, category_id=empty.category_id, version=7)
    delete_category(repos=repos, category_id=empty.category_id, version=1)
    with pytest.raises(NotFound):
        get_category(repos=repos, category_id=empty.category_id)


def test_category_rates_over_the_cap_are_refused(repos: CatalogRepositories) -> None:
    with pytest.raises(InvalidInput) as greedy:
        category(repos, "Greedy", l1_rate_bp=2000, l2_rate_bp=1500)
    assert greedy.value.code == "commission_over_cap"
    assert set(fields_of(greedy)) == {"l1_rate_bp", "l2_rate_bp"}
    assert list_categories(repos=repos).items == []


# ---- products: admin -------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field"), [
    ({"commission": {"mode": "ratio", "l1": 2500, "l2": 600}}, "commission.l1"),
    ({"commission": {"mode": "fixed", "l1": 2500, "l2": 600}}, "commission.l2"),
    ({"commission": {"mode": "inherit", "l1": 10}}, "commission"),
    ({"type": "service", "shipping_fee_fen": 500}, "shipping_fee_fen"),
    ({"category_id": "c_missing"}, "category_id"),
])
def test_invalid_products_are_refused_naming_the_field(repos: CatalogRepositories, fields: dict[str, Any],
                                                       field: str) -> None:
    tea = category(repos)
    payload = {"images": [], **fields}
    with pytest.raises(InvalidInput) as refused:
        product(repos, payload.pop("category_id", tea.category_id), **payload)
    assert field in fields_of(refused)
    assert count_of(repos, tea.category_id) == 0  # bad input changes nothing


def test_update_is_conditional_on_the_version(repos: CatalogRepositories) -> None:
    tea = category(repos)
    made = product(repos, tea.category_id)
    pid = made.product_id

    def patch(**body: Any) -> AdminProductView:
        return update_product(repos=repos, product_id=pid, body=ProductUpdate.model_validate(body), now=NOW)

    changed = patch(version=1, price_fen=12_000, per_user_limit=2)
    assert changed.version == 2 and changed.price_fen == 12_000
    assert changed.per_user_limit == 2 and changed.name == made.name
    with pytest.raises(Conflict) as lost:
        patch(version=1, name="Mine")
    assert lost.value.details["current_version"] == 2
    cleared = patch(version=2, per_user_limit=None)
    assert cleared.per_user_limit is None
    with pytest.raises(InvalidInput) as bad:
        patch(version=3, name=None)
    assert fields_of(bad)[0] == "name"
    with pytest.raises(NotFound):
        update_product(repos=repos, product_id="p_nope", body=ProductUpdate(version=1), now=NOW)


def test_a_lower_price_cannot_push_a_fixed_commission_over_the_cap(repos: CatalogRepositories) -> None:
    tea = category(repos)
    made = product(repos, tea.category_id, commission={"mode": "fixed", "l1": 2000, "l2": 1000})
    with pytest.raises(InvalidInput) as refused:
        update_product(repos=repos, product_id=made.product_id, body=ProductUpdate(version=1, price_fen=9000),
                       now=NOW)
    assert set(fields_of(refused)) == {"commission.l1", "commission.l2"}


def test_moving_a_product_moves_the_category_counts(repos: CatalogRepositories) -> None:
    tea, coffee = category(repos, "Tea"), category(repos, "Coffee")
    made = product(repos, tea.category_id)
    moved = update_product(repos=repos, product_id=made.product_id,
                           body=ProductUpdate(version=1, category_id=coffee.category_id), now=NOW)
    assert moved.category_id == coffee.category_id
    counts = {c.name: c.product_count for c in list_categories(repos=repos).items}
    assert counts == {"Tea": 0, "Coffee": 1}


def test_stock_adjustments_and_the_low_stock_list(repos: CatalogRepositories) -> None:
    tea = category(repos)
    made = product(repos, tea.category_id, stock=10, low_stock_threshold=3)
    pid = made.product_id

    def adjust(delta: int, reason: str) -> AdminProductView:
        return adjust_stock(repos=repos, product_id=pid, body=StockAdjustment(delta=delta, reason=reason),
                            by="admin:alice", now=NOW)

    with pytest.raises(Conflict) as short:
        adjust(-11, "盘点")
    assert short.value.code == "insufficient_stock"
    body = adjust(-8, "损耗")
    assert body.stock == 2 and body.low_on_stock is True
    low = low_stock_products(repos=repos, limit=20, cursor=None)
    assert [p.product_id for p in low.items] == [pid]
    adjust(5, "入库")
    assert low_stock_products(repos=repos, limit=20, cursor=None).items == []
    with pytest.raises(InvalidInput):
        adjust(0, "x")


def test_note_stock_levels_after_orders_flags_and_unflags(repos: CatalogRepositories) -> None:
    tea = category(repos)
    made = product(repos, tea.category_id, stock=4, low_stock_threshold=2)
    pid = made.product_id
    products = repos.products
    assert products.sell(pid, 3)  # type: ignore[attr-defined]
    note_stock_levels(products=products, product_ids=[pid], now=NOW)
    note_stock_levels(products=products, product_ids=[pid], now=NOW)  # repeating changes nothing
    assert [p.stock for p in low_stock_products(repos=repos, limit=20, cursor=None).items] == [1]
    products.give_back(pid, 3)  # type: ignore[attr-defined]
    note_stock_levels(products=products, product_ids=[pid, "p_unknown"], now=NOW)
    assert low_stock_products(repos=repos, limit=20, cursor=None).items == []
    again = products.get(pid)
    assert again is not None and again.sales == 0 and again.stock == 4


def test_admin_list_filters_by_shelf_and_pages(repos: CatalogRepositories) -> None:
    tea = category(repos)
    on = [product(repos, tea.category_id, name=f"On {i}") for i in range(3)]
    off = product(repos, tea.category_id, name="Off", on_shelf=False)

    def listed(shelf: Any = "all", limit: int = 20, cursor: str | None = None) -> Any:
        return list_admin_products(repos=repos, shelf=shelf, category_id=None, keyword=None, limit=limit,
                                   cursor=cursor)

    page1 = listed(limit=2)
    assert len(page1.items) == 2 and page1.next_cursor
    page2 = listed(limit=2, cursor=page1.next_cursor)
    everything = [p.product_id for p in page1.items + page2.items]
    assert everything == [off.product_id, *[p.product_id for p in reversed(on)]]
    assert [p.name for p in listed(shelf="off").items] == ["Off"]


# ---- customers -------------------------------------------------------------------------------


def _shop(repos: CatalogRepositories) -> dict[str, str]:
    tea, cups = category(repos, "Tea"), category(repos, "Cups", l1_rate_bp=2000, l2_rate_bp=500)
    made = {
        "green": product(repos, tea.category_id, name="Green tea", price_fen=3000),
        "oolong": product(repos, tea.category_id, name="Oolong tea", price_fen=8000,
                          commission={"mode": "ratio", "l1": 1500, "l2": 500}),
        "cup": product(repos, cups.category_id, name="Tea cup", price_fen=1000),
        "pot": product(repos, cups.category_id, name="Teapot", price_fen=20_000, on_shelf=False),
        "fixed": product(repos, tea.category_id, name="Gift card", type="virtual", price_fen=5000,
                         commission={"mode": "fixed", "l1": 300, "l2": 100}),
    }
    return {k: v.product_id for k, v in made.items()} | {"tea": tea.category_id, "cups": cups.category_id}


def browse(repos: CatalogRepositories, *, sort: ListingSort = "newest", limit: int = 20, cursor: str | None = None,
           viewer: str | None = None, **where: Any) -> ProductList:
    return browse_products(BrowseProducts(where=ListingFilter(**where), sort=sort, limit=limit, cursor=cursor,
                                          viewer=viewer), repos=repos)


def test_guests_browse_on_shelf_products_sorted_filtered_and_paged(repos: CatalogRepositories) -> None:
    ids = _shop(repos)
    body = browse(repos, sort="price_asc")
    assert [p.name for p in body.items] == ["Tea cup", "Green tea", "Gift card", "Oolong tea"]
    assert all(p.promoter_earn_fen is None for p in body.items)
    body = browse(repos, sort="price_desc", category_id=ids["tea"], keyword="TEA")
    assert [p.name for p in body.items] == ["Oolong tea", "Green tea"]
    body = browse(repos, min_price_fen=1000, max_price_fen=5000, sort="price_asc")
    assert [p.price_fen for p in body.items] == [1000, 3000, 5000]
    page1 = browse(repos, sort="price_asc", limit=3)
    page2 = browse(repos, sort="price_asc", limit=3, cursor=page1.next_cursor)
    assert [p.name for p in page2.items] == ["Oolong tea"] and page2.next_cursor is None
    with pytest.raises(InvalidInput) as wrong:
        browse(repos, sort="price_desc", cursor=page1.next_cursor)
    assert wrong.value.code == "invalid_cursor"
    with pytest.raises(InvalidInput):
        browse(repos, min_price_fen=9, max_price_fen=1)


def test_detail_of_an_off_shelf_or_missing_product(repos: CatalogRepositories) -> None:
    ids = _shop(repos)
    detail = product_detail(repos=repos, product_id=ids["oolong"], viewer=None)
    assert detail.category_name == "Tea" and detail.on_shelf is True
    assert detail.images == [IMAGE] and detail.cover_image == detail.images[0]
    off = product_detail(repos=repos, product_id=ids["pot"], viewer=None)
    assert off.on_shelf is False
    with pytest.raises(NotFound):
        product_detail(repos=repos, product_id="p_nothing", viewer=None)


def _promoter(repos: CatalogRepositories, user_id: str, status: str, l1_override_bp: int | None = None) -> None:
    promoters = repos.promoters
    assert isinstance(promoters, FakePromoterRepository)
    promoters.add(Promoter(user_id=user_id, code=f"C{user_id[-4:]}", status=status,  # type: ignore[arg-type]
                           level_id="basic", l1_override_bp=l1_override_bp, applied_at=NOW))


def test_an_active_promoter_sees_what_they_would_earn(repos: CatalogRepositories) -> None:
    ids = _shop(repos)
    _promoter(repos, "u_promoter0001", "active")
    _promoter(repos, "u_frozen000001", "frozen")
    body = browse(repos, sort="price_asc", viewer="u_promoter0001")
    earn = {p.name: p.promoter_earn_fen for p in body.items}
    # cup: category 20%; green: global 10%; gift card: fixed 300 fen; oolong: product 15%.
    assert earn == {"Tea cup": 200, "Green tea": 300, "Gift card": 300, "Oolong tea": 1200}
    detail = product_detail(repos=repos, product_id=ids["oolong"], viewer="u_promoter0001")
    assert detail.promoter_earn_fen == 1200
    frozen = product_detail(repos=repos, product_id=ids["oolong"], viewer="u_frozen000001")
    assert frozen.promoter_earn_fen is None


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", None])
def test_a_product_may_use_only_verified_uploads(repos: CatalogRepositories, status: str | None) -> None:
    tea = category(repos)
    other_id = "b2" * 16
    key = f"product-images/{other_id}.png"
    if status is not None:
        repos.uploads.add(other_id, key, status=status)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput) as refused:
        product(repos, tea.category_id, images=[IMAGE, key])
    assert fields_of(refused) == ["images.1"]
    created = product(repos, tea.category_id)
    with pytest.raises(InvalidInput) as refused_update:
        update_product(repos=repos, product_id=created.product_id,
                       body=ProductUpdate(version=created.version, images=[key]), now=NOW)
    assert fields_of(refused_update)[0] == "images.0"
