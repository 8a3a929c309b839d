"""The in-memory catalog fakes (tests/fakes) keep the contract of the DynamoDB repositories: every
assertion here runs on both, the real ones on DynamoDB Local. A fake that drifts (a refusal it
forgets, a count it does not move, an order it gets wrong) fails here, not in a service test
that trusted it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.catalog import CategoryRepository, ProductRepository
from mall.dal.media import PENDING, REJECTED, VERIFIED, MediaUploadRepository
from mall.dal.table import Table, TransactionCancelled
from mall.domain.catalog import Category, CommissionSetting, Product
from mall.domain.product_content import AfterSalesPolicy, ContentBlock, ProductAttributes, ProductContent
from mall.errors import Conflict, InvalidInput, NotFound
from tests.fakes import CatalogMemory, FakeCategoryRepository, FakeMediaUploadRepository, FakeProductRepository

NOW = datetime(2026, 11, 22, 8, 0, 0, 654321, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@dataclass
class Backend:
    categories: Any
    products: Any
    sell: Callable[[str, int], bool]  # what a committed order's reservation does to stock
    audit_actions: Callable[[], list[str]]


def _real(table: Table) -> Backend:
    products = ProductRepository(table)

    def sell(product_id: str, quantity: int) -> bool:
        try:
            table.transact([products.reserve_stock(product_id, quantity)])
        except TransactionCancelled:
            return False
        return True

    return Backend(CategoryRepository(table), products, sell,
                   lambda: sorted(str(i["action"]) for i in AuditLog(table).on(NOW)))


def _fake() -> Backend:
    memory = CatalogMemory()
    products = FakeProductRepository(memory)
    return Backend(FakeCategoryRepository(memory), products, products.sell,
                   lambda: sorted(e.action for e in memory.audit))


@pytest.fixture(params=["fake", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return _fake()
    return _real(request.getfixturevalue("table"))


def entry(action: str, entity_id: str) -> AuditEntry:
    return AuditEntry(action=action, actor="admin:test", entity_type=action.split(".", maxsplit=1)[0],
                      entity_id=entity_id)


def tea(product_id: str = "p_tea", **changes: Any) -> Product:
    base = Product(product_id=product_id, name="Longjing", type="physical", category_id="c_tea", price_fen=10_000,
                   stock=10, on_shelf=True, low_stock_threshold=3, images=["product-images/a.jpg"],
                   commission=CommissionSetting("ratio", 1000, 500), created_at=NOW)
    return replace(base, **changes)


def test_categories_create_list_update_and_delete_alike(backend: Backend) -> None:
    repo = backend.categories
    made = repo.create(Category(category_id="c_b", name="B", sort=2, l1_rate_bp=1200, created_at=NOW),
                       audit=entry("category.create", "c_b"))
    assert (made.version, made.product_count, made.created_at) == (1, 0, NOW.replace(microsecond=0))
    repo.create(Category(category_id="c_a", name="A", sort=2, created_at=NOW))
    repo.create(Category(category_id="c_z", name="Z", sort=1, created_at=NOW))
    with pytest.raises(Conflict) as exists:
        repo.create(Category(category_id="c_b", name="again", created_at=NOW), audit=entry("category.create", "x"))
    assert exists.value.code == "category_exists"
    assert [c.category_id for c in repo.list_all()] == ["c_z", "c_a", "c_b"]

    changed = repo.update(Category(category_id="c_b", name="B2", sort=0, l1_rate_bp=None, l2_rate_bp=300),
                          expected_version=1, now=LATER, audit=entry("category.update", "c_b"))
    assert (changed.name, changed.l1_rate_bp, changed.l2_rate_bp, changed.version) == ("B2", None, 300, 2)
    assert changed.updated_at == LATER.replace(microsecond=0) and changed.created_at == NOW.replace(microsecond=0)
    assert [c.category_id for c in repo.list_all()] == ["c_b", "c_z", "c_a"]
    with pytest.raises(Conflict) as stale:
        repo.update(Category(category_id="c_b", name="lost"), expected_version=1, now=LATER,
                    audit=entry("category.update", "c_b"))
    assert stale.value.code == "version_conflict"
    assert stale.value.details["current_version"] == 2 and stale.value.details["current"]["name"] == "B2"
    with pytest.raises(NotFound):
        repo.update(Category(category_id="c_nope", name="x"), expected_version=1, now=LATER)

    with pytest.raises(Conflict) as stale_delete:
        repo.delete("c_b", expected_version=1, audit=entry("category.delete", "c_b"), now=NOW)
    assert stale_delete.value.code == "version_conflict"
    repo.delete("c_b", expected_version=2, audit=entry("category.delete", "c_b"), now=NOW)
    assert repo.get("c_b", consistent=True) is None
    with pytest.raises(NotFound):
        repo.delete("c_b", expected_version=2)
    # Only the writes that happened left an audit entry.
    assert backend.audit_actions() == ["category.create", "category.delete", "category.update"]


def test_products_count_in_their_category_and_refuse_alike(backend: Backend) -> None:
    backend.categories.create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    backend.categories.create(Category(category_id="c_cups", name="Cups", sort=1, created_at=NOW))
    repo = backend.products
    with pytest.raises(InvalidInput) as no_category:
        repo.create(tea(category_id="c_nope"), audit=entry("product.create", "p_tea"))
    assert no_category.value.code == "category_not_found"
    assert [f.field for f in no_category.value.fields] == ["category_id"]

    made = repo.create(tea(sales=5, version=9), audit=entry("product.create", "p_tea"))
    assert (made.version, made.sales, made.stock_seq, made.stock) == (1, 0, 0, 10)
    assert made.created_at == made.updated_at == NOW.replace(microsecond=0)
    assert repo.get("p_tea") == made
    with pytest.raises(Conflict) as exists:
        repo.create(tea())
    assert exists.value.code == "product_exists"
    category = backend.categories.get("c_tea", consistent=True)
    assert category is not None and category.product_count == 1
    with pytest.raises(Conflict) as not_empty:
        backend.categories.delete("c_tea", expected_version=1)
    assert not_empty.value.code == "category_not_empty"

    assert backend.sell("p_tea", 4)
    edited = repo.update(replace(made, name="Longjing 2026", per_user_limit=None, stock=999), expected_version=1,
                         previous_category_id="c_tea", now=LATER, audit=entry("product.update", "p_tea"))
    assert (edited.name, edited.version, edited.stock, edited.sales, edited.stock_seq) == ("Longjing 2026", 2, 6, 4, 1)
    assert edited.updated_at == LATER.replace(microsecond=0) and edited.created_at == NOW.replace(microsecond=0)
    with pytest.raises(Conflict) as stale:
        repo.update(replace(made, name="lost"), expected_version=1, previous_category_id="c_tea", now=LATER)
    assert stale.value.code == "version_conflict" and stale.value.details["current_version"] == 2
    assert stale.value.details["current"]["name"] == "Longjing 2026"
    with pytest.raises(NotFound):
        repo.update(tea("p_nope"), expected_version=1, previous_category_id="c_tea", now=LATER)
    with pytest.raises(InvalidInput) as moved_nowhere:
        repo.update(replace(edited, category_id="c_nope"), expected_version=2, previous_category_id="c_tea",
                    now=LATER, audit=entry("product.update", "p_tea"))
    assert moved_nowhere.value.code == "category_not_found"
    unchanged = repo.get("p_tea", consistent=True)
    assert unchanged is not None and unchanged.version == 2 and unchanged.category_id == "c_tea"

    repo.update(replace(edited, category_id="c_cups"), expected_version=2, previous_category_id="c_tea", now=LATER)
    counts = {c.category_id: c.product_count for c in backend.categories.list_all()}
    assert counts == {"c_tea": 0, "c_cups": 1}
    assert backend.audit_actions() == ["product.create", "product.update"]


def test_what_a_product_says_is_read_only_with_its_detail_alike(backend: Backend) -> None:
    backend.categories.create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    said = ProductContent(attributes=ProductAttributes(weight_g=250), blocks=(ContentBlock("text", text="好茶"),),
                          after_sales=AfterSalesPolicy(True, 15, "merchant"))
    repo = backend.products
    made = repo.create(tea(content=said))
    assert made.content == said
    plain = repo.get("p_tea")
    assert plain is not None and plain.content is None  # the listing item only
    assert repo.get_detailed("p_tea").content == said
    assert repo.get_detailed("p_nope") is None
    repo.update(replace(made, name="Longjing 2026", content=None), expected_version=1, previous_category_id="c_tea",
                now=LATER)
    assert repo.get_detailed("p_tea").content == said  # an edit without content leaves it
    other = ProductContent(attributes=ProductAttributes(origin="杭州"))
    with pytest.raises(Conflict):
        repo.update(replace(made, content=other), expected_version=1, previous_category_id="c_tea", now=LATER)
    assert repo.get_detailed("p_tea").content == said  # nothing of a refused edit is written
    repo.update(replace(made, content=other), expected_version=2, previous_category_id="c_tea", now=LATER)
    detailed = repo.get_detailed("p_tea", consistent=True)
    assert detailed.content == other and detailed.name == made.name


def test_stock_never_goes_below_zero_alike(backend: Backend) -> None:
    backend.categories.create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    repo = backend.products
    repo.create(tea(stock=5))
    with pytest.raises(Conflict) as short:
        repo.adjust_stock("p_tea", delta=-6, adjustment_id="sa_1", reason="盘点", by="admin:test", now=NOW,
                          audit=entry("product.stock_adjust", "p_tea"))
    assert short.value.code == "insufficient_stock" and short.value.details == {"stock": 5}
    with pytest.raises(NotFound):
        repo.adjust_stock("p_nope", delta=1, adjustment_id="sa_2", reason="入库", by="admin:test", now=NOW)
    adjusted = repo.adjust_stock("p_tea", delta=-5, adjustment_id="sa_3", reason="损耗", by="admin:test", now=NOW,
                                 audit=entry("product.stock_adjust", "p_tea"))
    assert (adjusted.product.stock, adjusted.product.stock_seq, adjusted.product.version) == (0, 1, 1)
    assert adjusted.flagged is False  # the flag is raised by the use case, after the adjustment
    assert not backend.sell("p_tea", 1)  # sold out
    repo.adjust_stock("p_tea", delta=3, adjustment_id="sa_4", reason="入库", by="admin:test", now=NOW)
    assert backend.sell("p_tea", 3) and not backend.sell("p_tea", 1)
    off = repo.create(tea("p_off", on_shelf=False, stock=9))
    assert not backend.sell(off.product_id, 1)  # an order takes only from an on-shelf product
    assert backend.audit_actions() == ["product.stock_adjust"]


def test_shelves_price_ranges_and_batches_alike(backend: Backend) -> None:
    backend.categories.create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    repo = backend.products
    for i, price in enumerate([5001, 100, 999, 5000, 1000]):
        repo.create(tea(f"p_{i}", price_fen=price))
    repo.create(tea("p_cheap_twin", price_fen=999))
    repo.create(tea("p_off", price_fen=2000, on_shelf=False))
    found, truncated = repo.list_shelf(on_shelf=True, min_price_fen=999, max_price_fen=5000)
    assert [(p.price_fen, p.product_id) for p in found] == [(999, "p_2"), (999, "p_cheap_twin"), (1000, "p_4"),
                                                            (5000, "p_3")]
    assert not truncated
    assert [p.product_id for p in repo.list_shelf(on_shelf=False)[0]] == ["p_off"]
    assert [p.product_id for p in repo.list_shelf(on_shelf=True, min_price_fen=5001)[0]] == ["p_0"]
    assert [p.product_id for p in repo.list_shelf(on_shelf=True, max_price_fen=-5)[0]] == []
    many = repo.get_many(["p_1", "p_missing", "p_1", "p_off"])
    assert set(many) == {"p_1", "p_off"} and many["p_1"].price_fen == 100
    assert repo.get_many([]) == {}
    assert {p.product_id for p in repo.with_own_commission()} == {f"p_{i}" for i in range(5)} | {
        "p_cheap_twin", "p_off"}


def test_the_low_stock_flag_follows_the_latest_observation_alike(backend: Backend) -> None:
    backend.categories.create(Category(category_id="c_tea", name="Tea", created_at=NOW))
    repo = backend.products
    repo.create(tea("p_a", stock=2))
    repo.create(tea("p_b", stock=9))
    [seen_a, seen_b] = repo.observe_stock(["p_a", "p_missing", "p_b", "p_a"])
    assert (seen_a.product.product_id, seen_a.flagged, seen_b.product.product_id, seen_b.flagged) == (
        "p_a", False, "p_b", False)
    assert repo.record_stock_level(seen_a.product, low=True, now=NOW)
    assert repo.record_stock_level(seen_a.product, low=True, now=LATER)  # the same observation again
    assert [s.flagged for s in repo.observe_stock(["p_a", "p_b"])] == [True, False]
    assert backend.sell("p_b", 7)
    later_b = repo.get("p_b", consistent=True)
    assert later_b is not None and repo.record_stock_level(later_b, low=True, now=LATER)
    first, last_key = repo.low_stock_page(limit=1, start_key=None)
    assert first == ["p_a"] and last_key is not None
    rest, _ = repo.low_stock_page(limit=5, start_key=last_key)
    assert rest == ["p_b"]
    assert repo.low_stock_page(limit=5, start_key=None) == (["p_a", "p_b"], None)

    # An older observation (fewer stock changes) arriving late cannot lower the flag.
    assert repo.record_stock_level(replace(later_b, stock=9, stock_seq=0), low=False, now=LATER) is False
    assert repo.low_stock_page(limit=5, start_key=None)[0] == ["p_a", "p_b"]
    repo.adjust_stock("p_a", delta=8, adjustment_id="sa_1", reason="入库", by="admin:test", now=LATER)
    restocked = repo.get("p_a", consistent=True)
    assert restocked is not None and repo.record_stock_level(restocked, low=False, now=LATER)
    assert repo.low_stock_page(limit=5, start_key=None)[0] == ["p_b"]
    assert [s.flagged for s in repo.observe_stock(["p_a"])] == [False]


@pytest.fixture(params=["fake", "dynamodb"])
def uploads(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeMediaUploadRepository()
    return MediaUploadRepository(request.getfixturevalue("table"))


def test_only_verified_uploads_count_and_an_upload_settles_once_alike(uploads: Any) -> None:
    ids = [c * 32 for c in "abc"]
    for upload_id in ids:
        uploads.create(upload_id=upload_id, key=f"product-images/{upload_id}.jpg", content_type="image/jpeg",
                       by="admin:test", now=NOW)
    assert uploads.verified(ids) == set()
    assert uploads.settle(ids[0], status=VERIFIED, now=NOW, facts={"width": 800, "height": 600, "bytes": 1234})
    assert uploads.settle(ids[1], status=REJECTED, now=NOW, facts={"problem": "not an image"})
    assert not uploads.settle(ids[0], status=REJECTED, now=LATER, facts={})  # settled once, for good
    assert not uploads.settle("d" * 32, status=VERIFIED, now=NOW, facts={})
    assert uploads.verified([*ids, "d" * 32, ids[0]]) == {ids[0]}
    first = uploads.get(ids[0])
    assert first is not None and (first["status"], first["key"], first["content_type"]) == (
        VERIFIED, f"product-images/{ids[0]}.jpg", "image/jpeg")
    assert first["facts"] == {"width": 800, "height": 600, "bytes": 1234}
    pending = uploads.get(ids[2])
    assert pending is not None and pending["status"] == PENDING
    assert uploads.get("d" * 32) is None
