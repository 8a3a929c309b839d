"""In-memory fakes of the catalog's repositories (``mall.dal.catalog``).

Same public methods, results and refusals as the DynamoDB repositories for what the catalog's
use cases call: conditional creates, version-checked updates and deletes, the category's product
count moved in the same "transaction", stock that never goes below zero, the low-stock flag that
an older observation cannot overwrite, second-precision times (what the table stores). Every
write either happens whole or raises before changing anything, like a transaction.

``tests/integration/test_catalog_fakes_contract.py`` runs the same assertions on these and on
the real repositories over DynamoDB Local, so the two cannot drift apart.

Not faked: ``reserve_stock`` / ``release_stock`` (they return ``Write`` objects for the order's
own transaction, which only a table can run); use ``sell`` / ``give_back`` to move stock the way
an order would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mall.clock import iso, parse_instant
from mall.dal.audit import AuditEntry
from mall.dal.catalog import (
    MAX_CATEGORIES,
    MAX_LISTED_PRODUCTS,
    ProductPage,
    SkuTake,
    StockObservation,
    Viewer,
    category_state,
    product_state,
)
from mall.dal.keys import LOW_STOCK_PARTITION, low_stock_key
from mall.domain.catalog import Category, Product
from mall.domain.product_content import ProductContent
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound

Key = dict[str, Any]


def _stored(moment: datetime | None) -> datetime | None:
    """A time as the table gives it back (ISO text, second precision)."""
    return parse_instant(iso(moment)) if moment else None


@dataclass
class LowStockFlag:
    """The product's ``LOWSTOCK`` item: the last observation written, flagged while ``flagged_at``."""

    stock: int
    threshold: int
    stock_seq: int
    product_version: int
    observed_at: str
    flagged_at: str | None = None


@dataclass
class CatalogMemory:
    """What the fakes share (one table's worth of catalog items), and what tests may inspect."""

    categories: dict[str, Category] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    flags: dict[str, LowStockFlag] = field(default_factory=dict)
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    #: Audit entries written with a change (only when the change itself was written).
    audit: list[AuditEntry] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


def _category_conflict(category_id: str, current: Category | None, expected_version: int) -> Exception:
    if current is None:
        return NotFound(f"no category {category_id}", code="category_not_found")
    return Conflict(f"category {category_id} changed since version {expected_version}; reload version "
                    f"{current.version} and retry", code="version_conflict",
                    details={"current_version": current.version, "current": category_state(current)})


def _product_conflict(product_id: str, current: Product | None, expected_version: int) -> Exception:
    if current is None:
        return NotFound(f"no product {product_id}", code="product_not_found")
    return Conflict(f"product {product_id} changed since version {expected_version}; reload version "
                    f"{current.version} and retry", code="version_conflict",
                    details={"current_version": current.version, "current": product_state(current)})


def _no_such_category() -> InvalidInput:
    return InvalidInput("the category does not exist", code="category_not_found",
                        fields=[FieldProblem("category_id", "no such category")])


class FakeCategoryRepository:
    def __init__(self, memory: CatalogMemory | None = None) -> None:
        self.memory = memory or CatalogMemory()

    def get(self, category_id: str, *, consistent: bool = False) -> Category | None:
        return self.memory.categories.get(category_id)

    def list_all(self) -> list[Category]:
        """Every category in display order (the index sorts by ``<sort 6 digits>#<id>``)."""
        ordered = sorted(self.memory.categories.values(), key=lambda c: f"{c.sort:06d}#{c.category_id}")
        return ordered[:MAX_CATEGORIES]

    def create(self, category: Category, *, audit: AuditEntry | None = None) -> Category:
        with self.memory.lock:
            if category.category_id in self.memory.categories:
                raise Conflict(f"category {category.category_id} already exists", code="category_exists")
            created = _stored(category.created_at)
            stored = replace(category, product_count=0, version=1, created_at=created, updated_at=created)
            self.memory.categories[category.category_id] = stored
            self._audit(audit)
            return stored

    def update(self, category: Category, *, expected_version: int, now: datetime,
               audit: AuditEntry | None = None) -> Category:
        with self.memory.lock:
            current = self.memory.categories.get(category.category_id)
            if current is None or current.version != expected_version:
                raise _category_conflict(category.category_id, current, expected_version)
            stored = replace(current, name=category.name, sort=category.sort, l1_rate_bp=category.l1_rate_bp,
                             l2_rate_bp=category.l2_rate_bp, version=expected_version + 1, updated_at=_stored(now))
            self.memory.categories[category.category_id] = stored
            self._audit(audit)
            return stored

    def delete(self, category_id: str, *, expected_version: int, audit: AuditEntry | None = None,
               now: datetime | None = None) -> None:
        with self.memory.lock:
            current = self.memory.categories.get(category_id)
            if current is not None and current.version == expected_version and current.product_count != 0:
                raise Conflict(f"category {category_id} still has {current.product_count} products; move them first",
                               code="category_not_empty", details={"current": category_state(current)})
            if current is None or current.version != expected_version:
                raise _category_conflict(category_id, current, expected_version)
            del self.memory.categories[category_id]
            self._audit(audit)

    def _audit(self, entry: AuditEntry | None) -> None:
        if entry is not None:
            self.memory.audit.append(entry)


class FakeProductRepository:
    def __init__(self, memory: CatalogMemory | None = None) -> None:
        self.memory = memory or CatalogMemory()

    def get(self, product_id: str, *, consistent: bool = False) -> Product | None:
        product = self.memory.products.get(product_id)
        # Only the listing item, as the table's ``get``: the content is ``get_detailed``'s.
        return replace(product, images=list(product.images), content=None) if product else None

    def get_detailed(self, product_id: str, *, consistent: bool = False) -> Product | None:
        product = self.memory.products.get(product_id)
        if product is None:
            return None
        return replace(product, images=list(product.images), content=product.content or ProductContent())

    def get_many(self, product_ids: Iterable[str], *, consistent: bool = False) -> dict[str, Product]:
        found = (self.get(pid) for pid in dict.fromkeys(product_ids))
        return {p.product_id: p for p in found if p is not None}

    def create(self, product: Product, *, audit: AuditEntry | None = None) -> Product:
        with self.memory.lock:
            category = self.memory.categories.get(product.category_id)
            if category is None:  # the table reports the category's condition first
                raise _no_such_category()
            if product.product_id in self.memory.products:
                raise Conflict(f"product {product.product_id} already exists", code="product_exists")
            created = _stored(product.created_at)
            stored = replace(product, images=list(product.images), sales=0, stock_seq=0, version=1,
                             created_at=created, updated_at=created)
            self.memory.products[product.product_id] = stored
            self.memory.categories[category.category_id] = replace(category,
                                                                   product_count=category.product_count + 1)
            self._audit(audit)
            found = self.get(product.product_id) or stored
            return replace(found, content=product.content)

    def update(self, product: Product, *, expected_version: int, previous_category_id: str, now: datetime,
               audit: AuditEntry | None = None, skus_changed: bool = False) -> Product:
        with self.memory.lock:
            current = self.memory.products.get(product.product_id)
            if current is None or current.version != expected_version:
                raise _product_conflict(product.product_id, current, expected_version)
            if skus_changed and current.stock_seq != product.stock_seq:
                raise Conflict("the stock moved while its SKUs were edited; retry", code="stock_changed")
            moved = product.category_id != previous_category_id
            if moved and product.category_id not in self.memory.categories:
                raise _no_such_category()
            if moved and previous_category_id not in self.memory.categories:
                raise RuntimeError(f"transaction cancelled: no category {previous_category_id} to move from")
            # Stock, sales and their sequence belong to the atomic stock updates: kept as stored.
            kept = replace(product, specs=current.specs, skus=current.skus, stock=current.stock,
                           sales=current.sales, stock_seq=current.stock_seq) if not skus_changed else \
                replace(product, stock_seq=current.stock_seq + 1)
            self.memory.products[product.product_id] = replace(
                kept, images=list(product.images), version=expected_version + 1, created_at=current.created_at,
                updated_at=_stored(now), content=product.content if product.content is not None else current.content)
            if moved:
                self._count(previous_category_id, -1)
                self._count(product.category_id, +1)
            self._audit(audit)
            written = self.get(product.product_id)
            assert written is not None
            return replace(written, content=product.content)

    def adjust_stock(self, product_id: str, *, delta: int, adjustment_id: str, reason: str, by: str,
                     now: datetime, audit: AuditEntry | None = None,
                     sku: SkuTake | None = None) -> StockObservation:
        with self.memory.lock:
            current = self.memory.products.get(product_id)
            if current is None:
                raise NotFound(f"no product {product_id}", code="product_not_found")
            have = current.skus[sku.index].stock if sku is not None else current.stock
            if delta < 0 and have < -delta:
                raise Conflict(f"only {have} in stock; cannot remove {-delta}", code="insufficient_stock",
                               details={"stock": have})
            skus = current.skus
            if sku is not None:
                skus = tuple(replace(s, stock=s.stock + delta) if i == sku.index else s for i, s in enumerate(skus))
            self.memory.products[product_id] = replace(current, stock=current.stock + delta, skus=skus,
                                                       stock_seq=current.stock_seq + 1)
            self.memory.adjustments.append({"product_id": product_id, "adjustment_id": adjustment_id,
                                            "delta": delta, "reason": reason, "by": by, "at": iso(now)})
            self._audit(audit)
            adjusted = self.get(product_id)
            assert adjusted is not None
            return StockObservation(adjusted, self._flagged(product_id))

    # -- what an order does to stock (the real ones are parts of the order's transaction) ----

    def sell(self, product_id: str, quantity: int) -> bool:
        """``reserve_stock`` committed: only from an on-shelf product with enough stock."""
        with self.memory.lock:
            current = self.memory.products.get(product_id)
            if current is None or not current.on_shelf or current.stock < quantity:
                return False
            self.memory.products[product_id] = replace(current, stock=current.stock - quantity,
                                                       sales=current.sales + quantity,
                                                       stock_seq=current.stock_seq + 1)
            return True

    def give_back(self, product_id: str, quantity: int) -> None:
        """``release_stock`` committed."""
        with self.memory.lock:
            current = self.memory.products[product_id]
            self.memory.products[product_id] = replace(current, stock=current.stock + quantity,
                                                       sales=current.sales - quantity,
                                                       stock_seq=current.stock_seq + 1)

    # -- lists ---------------------------------------------------------------------------------

    def list_shelf(self, *, on_shelf: bool, min_price_fen: int | None = None,
                   max_price_fen: int | None = None) -> tuple[list[Product], bool]:
        low = None if min_price_fen is None else max(min_price_fen, 0)
        high = None if max_price_fen is None else max(max_price_fen, 0)
        shelf = sorted((p for p in self.memory.products.values() if p.on_shelf == on_shelf
                        and (low is None or p.price_fen >= low) and (high is None or p.price_fen <= high)),
                       key=lambda p: (p.price_fen, p.product_id))
        found = [replace(p, images=list(p.images)) for p in shelf]
        return found[:MAX_LISTED_PRODUCTS], len(found) > MAX_LISTED_PRODUCTS

    def with_own_commission(self) -> list[Product]:
        return [p for p in self.memory.products.values() if p.commission.mode != "inherit"]

    # -- low stock -----------------------------------------------------------------------------

    def observe_stock(self, product_ids: Iterable[str]) -> list[StockObservation]:
        ids = list(dict.fromkeys(product_ids))
        return [StockObservation(product, self._flagged(pid))
                for pid in ids if (product := self.get(pid)) is not None]

    def record_stock_level(self, product: Product, *, low: bool, now: datetime) -> bool:
        with self.memory.lock:
            flag = self.memory.flags.get(product.product_id)
            newer = flag is None or flag.stock_seq < product.stock_seq or (
                flag.stock_seq == product.stock_seq and flag.product_version <= product.version)
            if not newer:
                return False
            flagged_at = (flag.flagged_at if flag and flag.flagged_at else iso(now)) if low else None
            self.memory.flags[product.product_id] = LowStockFlag(
                stock=product.stock, threshold=product.low_stock_threshold, stock_seq=product.stock_seq,
                product_version=product.version, observed_at=iso(now), flagged_at=flagged_at)
            return True

    def low_stock_page(self, *, limit: int, start_key: Key | None) -> tuple[list[str], Key | None]:
        """Flagged ids, longest flagged first; a page's last key is an index key as the table's is."""
        ordered = sorted((f"{flag.flagged_at}#{pid}", pid) for pid, flag in self.memory.flags.items()
                         if flag.flagged_at)
        if start_key is not None:
            ordered = [entry for entry in ordered if entry[0] > start_key["gsi1sk"]]
        page = ordered[:limit]
        last = None
        if page and len(page) == limit:
            sort, pid = page[-1]
            last = {**low_stock_key(pid), "gsi1pk": LOW_STOCK_PARTITION, "gsi1sk": sort}
        return [pid for _, pid in page], last

    def _flagged(self, product_id: str) -> bool:
        flag = self.memory.flags.get(product_id)
        return flag is not None and flag.flagged_at is not None

    def _count(self, category_id: str, change: int) -> None:
        category = self.memory.categories[category_id]
        self.memory.categories[category_id] = replace(category, product_count=category.product_count + change)

    def _audit(self, entry: AuditEntry | None) -> None:
        if entry is not None:
            self.memory.audit.append(entry)


class FakeProductPageReads:
    """The product page's reads over the other fakes (``mall.dal.catalog.ProductPageReads``)."""

    def __init__(self, products: Any, categories: Any, promoters: Any, settings: Any) -> None:
        self._products, self._categories, self._promoters, self._settings = products, categories, promoters, settings

    def read(self, product_id: str, *, viewer: str | None) -> ProductPage:
        product = self._products.get_detailed(product_id)
        if product is None:
            return ProductPage(product=None)
        return ProductPage(product=product, category=self._categories.get(product.category_id),
                           promoter=self._promoters.get(viewer) if viewer else None,
                           settings=self._settings.current().settings if viewer else None)

    def viewer(self, user_id: str) -> Viewer:
        return Viewer(promoter=self._promoters.get(user_id), settings=self._settings.current().settings)
