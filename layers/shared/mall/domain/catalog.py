"""The catalog (商品目录): categories (商品分类), products (商品), and the pure rules about them.

Money is integer fen; commission rates are basis points (``1000`` = 10%). A product's
``commission`` setting is ``inherit`` (use the category's or the global rates), ``ratio``
(L1/L2 in bp of the line's base) or ``fixed`` (L1/L2 in fen per unit). Whether a setting is
allowed (the cap) is decided in ``mall.domain.commission``; this module holds the entities,
the product invariants and the in-memory listing (filter, sort, keyset page) that customer
and admin lists use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mall.domain.product_content import ProductContent
from mall.errors import FieldProblem

if TYPE_CHECKING:
    pass

ProductType = Literal["physical", "service", "virtual"]  # 实物 / 服务(核销) / 虚拟
CommissionMode = Literal["inherit", "ratio", "fixed"]
ListingSort = Literal["newest", "price_asc", "price_desc", "sales_desc", "hot", "commission_desc"]

PRODUCT_TYPES: tuple[ProductType, ...] = ("physical", "service", "virtual")
COMMISSION_MODES: tuple[CommissionMode, ...] = ("inherit", "ratio", "fixed")
LISTING_SORTS: tuple[ListingSort, ...] = ("newest", "price_asc", "price_desc", "sales_desc", "hot")
#: Sorts and filters that rank by what the caller would earn: only an active promoter earns.
PROMOTER_SORTS: frozenset[ListingSort] = frozenset({"commission_desc"})


@dataclass(frozen=True, slots=True)
class CommissionSetting:
    """A product's commission setting (商品佣金设置). ``l1``/``l2``: bp for ``ratio``, fen per unit
    for ``fixed``, both 0 for ``inherit``."""

    mode: CommissionMode = "inherit"
    l1: int = 0
    l2: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "l1": self.l1, "l2": self.l2}


@dataclass(frozen=True, slots=True)
class Spec:
    """规格项: one dimension a buyer chooses along (出行人: 成人 / 儿童 / 老人)."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sku:
    """One sellable combination of spec values (``options``, one per spec, in the specs' order)
    with its own price and stock; ``commission`` None inherits the product's setting.
    ``per_user_limit`` (限购) None: only the product's limit applies (it counts every SKU together);
    a SKU's own limit counts that SKU's units and applies on top of the product's.
    SKUs are never removed from a product (an order line names its position), only disabled."""

    sku_id: str
    options: tuple[str, ...]
    price_fen: int
    stock: int
    sales: int = 0
    commission: CommissionSetting | None = None
    enabled: bool = True
    per_user_limit: int | None = None

    @property
    def label(self) -> str:
        return "/".join(self.options)


#: What ``GET /rules`` tells promoters of SKUs: a line pays its SKU's commission (``Product.for_sku``),
#: and the cap holds per SKU, at its own price (``priced_variants``).
SKU_COMMISSION_RULE = ("同一商品的不同规格（如成人/儿童、250g/500g）价格不同，可以单独设置佣金；未单独设置的规格"
                       "按商品的佣金设置计算。佣金按所购规格的实付金额计算，佣金上限对每个规格分别适用。")

#: The one SKU of a product without specs: its price and stock are the product's top-level fields.
DEFAULT_SKU_ID = "default"
MAX_SPECS = 3
MAX_SPEC_VALUES = 10
MAX_SKUS = 60


@dataclass(frozen=True, slots=True)
class Category:
    """商品分类 with its own optional L1/L2 rates (None: fall back to the global rate)."""

    category_id: str
    name: str
    l1_rate_bp: int | None = None
    l2_rate_bp: int | None = None
    sort: int = 0
    product_count: int = 0
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """商品. ``stock`` and ``sales`` change with orders (atomic ``ADD``s, no version bump);
    ``version`` counts the admin's edits, so two admins editing cannot lose an update.
    ``stock_seq`` counts stock changes, so the low-stock flag is never overwritten by an
    older observation."""

    product_id: str
    name: str
    type: ProductType
    category_id: str
    price_fen: int
    stock: int
    images: list[str] = field(default_factory=list)
    description: str = ""
    shipping_fee_fen: int = 0
    per_user_limit: int | None = None
    on_shelf: bool = False
    low_stock_threshold: int = 0
    distribution_enabled: bool = True
    commission: CommissionSetting = CommissionSetting()
    sales: int = 0
    version: int = 1
    stock_seq: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: What the product page says (its own item); None where only the listing fields were read.
    content: ProductContent | None = None
    #: 定时上下架: when the schedule puts it on / takes it off the shelf (None: no such change planned).
    on_shelf_at: datetime | None = None
    off_shelf_at: datetime | None = None
    #: 爆款: 0 is not hot; a greater rank lists first under the ``hot`` sort.
    hot_rank: int = 0
    #: 规格: empty for a single-SKU product (its price and stock are ``price_fen`` / ``stock``).
    #: With specs, ``skus`` hold each price and stock, ``price_fen`` is the lowest enabled SKU's
    #: price and ``stock`` the total of the SKUs' stock (the low-stock flag watches that total).
    specs: tuple[Spec, ...] = ()
    skus: tuple[Sku, ...] = ()

    @property
    def is_low_on_stock(self) -> bool:
        return is_low_stock(self.stock, self.low_stock_threshold)

    def shown_on_shelf(self, now: datetime) -> bool:
        """On the shelf as customers see it at ``now``: a product past its off time is off even
        before the schedule has taken it off (the schedule runs every minute, reads run any time)."""
        return self.on_shelf and not (self.off_shelf_at is not None and self.off_shelf_at <= now)
    @property
    def has_specs(self) -> bool:
        return bool(self.specs)

    def sellable_skus(self) -> tuple[Sku, ...]:
        """The SKUs a buyer can choose: a product without specs has its one default SKU."""
        if not self.has_specs:
            return (Sku(DEFAULT_SKU_ID, (), self.price_fen, self.stock, self.sales),)
        return tuple(s for s in self.skus if s.enabled)

    def sku_index(self, sku_id: str) -> int | None:
        """Where the SKU sits in ``skus`` (None: no such SKU, or a product without specs)."""
        for index, sku in enumerate(self.skus):
            if sku.sku_id == sku_id:
                return index
        return None

    def price_range(self) -> tuple[int, int]:
        prices = [s.price_fen for s in self.sellable_skus()] or [self.price_fen]
        return min(prices), max(prices)

    def for_sku(self, sku: Sku) -> Product:
        """The product as one of its SKUs sells it: the SKU's price, stock and (own or inherited)
        commission; what pricing, the commission preview and the cap check read per SKU."""
        return replace(self, price_fen=sku.price_fen, stock=sku.stock,
                       commission=sku.commission if sku.commission is not None else self.commission)


def priced_variants(product: Product) -> list[Product]:
    """The product as each enabled SKU sells it (itself without specs): what the commission cap
    checks, since a SKU's price and own commission make a combination of their own."""
    if not product.has_specs:
        return [product]
    return [product.for_sku(sku) for sku in product.skus if sku.enabled]


def has_own_commission(product: Product) -> bool:
    """It (or one of its enabled SKUs) pays a commission setting of its own, and distributes."""
    return product.distribution_enabled and any(v.commission.mode != "inherit" for v in priced_variants(product))


def with_sku_totals(product: Product) -> Product:
    """A product with specs as its SKUs make it: lowest enabled price, total stock and sales."""
    if not product.has_specs or not product.skus:
        return product
    enabled = [s.price_fen for s in product.skus if s.enabled]
    return replace(product, price_fen=min(enabled) if enabled else product.price_fen,
                   stock=sum(s.stock for s in product.skus), sales=sum(s.sales for s in product.skus))


def is_low_stock(stock: int, threshold: int) -> bool:
    """库存预警: at or below the threshold (a threshold of 0 flags sold-out products)."""
    return stock <= threshold


def product_problems(product: Product) -> list[FieldProblem]:
    """Invariants of a product that do not depend on settings (the cap is checked separately)."""
    problems: list[FieldProblem] = []
    if product.type != "physical" and product.shipping_fee_fen != 0:
        problems.append(FieldProblem("shipping_fee_fen", f"must be 0 for {product.type} goods (nothing is shipped)"))
    if product.commission.mode == "inherit" and (product.commission.l1 or product.commission.l2):
        problems.append(FieldProblem("commission", "l1 and l2 must be 0 (or omitted) when mode is 'inherit'"))
    if product.per_user_limit is not None and product.per_user_limit < 1:
        problems.append(FieldProblem("per_user_limit", "must be at least 1, or null for no limit"))
    problems += shelf_schedule_problems(product.on_shelf_at, product.off_shelf_at)
    if product.hot_rank < 0:
        problems.append(FieldProblem("hot_rank", "must be 0 (not hot) or more"))
    return problems


# ---- 定时上下架: the shelf schedule ------------------------------------------------------------


def shelf_schedule_problems(on_shelf_at: datetime | None, off_shelf_at: datetime | None) -> list[FieldProblem]:
    """Both times, when both are set, must take the product off after putting it on."""
    if on_shelf_at is not None and off_shelf_at is not None and off_shelf_at <= on_shelf_at:
        return [FieldProblem("off_shelf_at", "must be after on_shelf_at")]
    return []


@dataclass(frozen=True, slots=True)
class ShelfChange:
    """What the schedule does to one product when it runs at some moment: the shelf it ends on
    and the planned times it consumes (a consumed time is cleared, so a later manual change of
    the shelf is never undone by an old plan)."""

    on_shelf: bool
    clears_on: bool
    clears_off: bool


def next_shelf_due(product: Product) -> datetime | None:
    """The earliest planned time still to apply (the schedule's index sorts on it)."""
    times = [t for t in (product.on_shelf_at, product.off_shelf_at) if t is not None]
    return min(times) if times else None


def due_shelf_change(product: Product, now: datetime) -> ShelfChange | None:
    """The change due at ``now`` (None: nothing due). When both times have passed, the later
    wins: the off time is after the on time, so the product ends off the shelf."""
    on_due = product.on_shelf_at is not None and product.on_shelf_at <= now
    off_due = product.off_shelf_at is not None and product.off_shelf_at <= now
    if not on_due and not off_due:
        return None
    return ShelfChange(on_shelf=not off_due and on_due, clears_on=on_due, clears_off=off_due)


def apply_shelf_change(product: Product, change: ShelfChange) -> Product:
    """``product`` after ``change`` (the schedule's conditional update writes exactly this)."""
    return replace(product, on_shelf=change.on_shelf,
                   on_shelf_at=None if change.clears_on else product.on_shelf_at,
                   off_shelf_at=None if change.clears_off else product.off_shelf_at)


# ---- listing: filter, sort and page in memory ------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingFilter:
    """What a list asks for. ``on_shelf`` None means both (admin lists)."""

    category_id: str | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    keyword: str | None = None
    on_shelf: bool | None = None
    #: For customers' lists: the moment the list is read, so a product past its off time is left
    #: out even before the schedule took it off. None (admin lists): the stored shelf only.
    now: datetime | None = None
    #: what the caller earns at L1 on the product's best-paying SKU (promoters only; see ``select_page``)
    min_commission_fen: int | None = None

    def matches(self, product: Product) -> bool:
        if self.on_shelf is not None and product.on_shelf != self.on_shelf:
            return False
        if self.now is not None and not product.shown_on_shelf(self.now):
            return False
        if self.category_id is not None and product.category_id != self.category_id:
            return False
        if self.min_price_fen is not None and product.price_fen < self.min_price_fen:
            return False
        if self.max_price_fen is not None and product.price_fen > self.max_price_fen:
            return False
        keyword = (self.keyword or "").strip().casefold()
        return not keyword or keyword in product.name.casefold()

    def fingerprint(self, sort: ListingSort) -> str:
        """Identifies the list a cursor belongs to (a cursor is refused on another list)."""
        return "|".join(str(v) for v in (sort, self.category_id, self.min_price_fen, self.max_price_fen,
                                         (self.keyword or "").strip().casefold(), self.on_shelf,
                                         self.min_commission_fen))


SortKey = tuple[int | str, ...]


#: What the caller would earn at L1 on one unit of a product's best-paying SKU.
Earning = Callable[[Product], int]


def _sort_key(sort: ListingSort, earn: Earning | None = None) -> tuple[Callable[[Product], SortKey], bool]:
    """The key and direction of each sort. The product id breaks ties, so the order is total
    and a keyset cursor (the last key returned) resumes exactly where the page ended."""
    if sort == "commission_desc":
        if earn is None:
            raise ValueError("sorting by commission needs what the caller earns")
        return (lambda p: (-earn(p), p.product_id)), False
    if sort == "price_asc":
        return (lambda p: (p.price_fen, p.product_id)), False
    if sort == "price_desc":
        return (lambda p: (-p.price_fen, p.product_id)), False
    if sort == "sales_desc":
        return (lambda p: (-p.sales, p.product_id)), False
    if sort == "hot":
        # 爆款 first, by rank; then the best sellers, as sales_desc lists them.
        return (lambda p: (-p.hot_rank, -p.sales, p.product_id)), False
    # Ids are time-ordered (mall.ids.new_id), so the newest has the greatest (created_at, id).
    return (lambda p: (p.created_at.isoformat() if p.created_at else "", p.product_id)), True


def select_page(products: Iterable[Product], *, where: ListingFilter, sort: ListingSort, limit: int,
                after: Sequence[int | str] | None = None,
                earn: Earning | None = None) -> tuple[list[Product], SortKey | None]:
    """Filter, sort and return one page after the keyset ``after``, and the next page's keyset
    (None on the last page). Products that change between pages (a price edit, new sales)
    may move; the keyset never repeats or skips one whose key did not change. ``earn``: what
    the caller earns per product (the commission sort and ``min_commission_fen``)."""
    key, descending = _sort_key(sort, earn)
    floor = where.min_commission_fen

    def wanted(p: Product) -> bool:
        return where.matches(p) and (floor is None or (earn is not None and earn(p) >= floor))

    chosen = sorted((p for p in products if wanted(p)), key=key, reverse=descending)
    if after is not None:
        last = tuple(after)
        chosen = [p for p in chosen if (key(p) < last if descending else key(p) > last)]
    page = chosen[:limit]
    more = len(chosen) > limit
    return page, (key(page[-1]) if more and page else None)
