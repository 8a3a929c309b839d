"""The commission rate index (佣金比例索引): a copy of every rate that is not the global one — a
category's own L1/L2 rates, a product's own commission (with distribution on), a promoter's
override — in one partition (``mall.dal.keys.commission_rate_key``), so the commission cap check
of a save (settings, an override: docs/commission-cap.md) reads them all in one consistent Query
instead of one per promoter status, shelf and the categories.

Each copy is written in the same transaction as the edit of its source (the category, product or
promoter write conditional on its version), so it is never behind the source it copies; a source
without its own rate has no copy. The copies of data stored before the index existed are written
by the migration ``commission_rate_index``, which then writes ``READY``: until it has, a reader
falls back to reading the sources themselves (``RateIndex.read`` returns None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mall.dal.keys import COMMISSION_RATES_PARTITION, COMMISSION_RATES_READY_SK, commission_rate_key
from mall.dal.table import ConditionFailed, Item, Key, Table, Write

if TYPE_CHECKING:
    from mall.domain.catalog import Category, Product
    from mall.domain.commission_cap import OverrideHolder

# The catalog's rules are imported where a product's or category's copy is made or read: a promoter's
# override (applying, appointing: the referral repositories) writes its copy without them.

CATEGORY, PRODUCT, PROMOTER = "CATEGORY", "PRODUCT", "PROMOTER"


@dataclass(frozen=True, slots=True)
class RatedPromoter:
    """A promoter as the cap reads it (``mall.domain.commission_cap.OverrideHolder``)."""

    user_id: str
    l1_override_bp: int | None
    l2_override_bp: int | None


@dataclass(frozen=True, slots=True)
class Rates:
    """What the commission cap check of a save reads besides the settings."""

    categories: list[Category]
    products: list[Product]
    promoters: list[OverrideHolder]


def _has_own_rate(product: Product) -> bool:
    from mall.domain.catalog import has_own_commission

    return has_own_commission(product)


def category_copy(category: Category, *, version: int) -> Item | None:
    """The copy of ``category`` at ``version`` (None: no rate of its own)."""
    if category.l1_rate_bp is None and category.l2_rate_bp is None:
        return None
    return {**commission_rate_key(CATEGORY, category.category_id), "entity": "commission_rate", "kind": CATEGORY,
            "version": version, "category_id": category.category_id, "name": category.name,
            "l1_rate_bp": category.l1_rate_bp, "l2_rate_bp": category.l2_rate_bp}


def product_copy(product: Product, *, version: int) -> Item | None:
    """The copy of ``product`` at ``version`` (None: it inherits, or does not distribute)."""
    if not _has_own_rate(product):
        return None
    from mall.domain.catalog import priced_variants

    return {**commission_rate_key(PRODUCT, product.product_id), "entity": "commission_rate", "kind": PRODUCT,
            "version": version, "product_id": product.product_id, "name": product.name, "type": product.type,
            "category_id": product.category_id, "price_fen": product.price_fen,
            "distribution_enabled": product.distribution_enabled, "commission": product.commission.as_dict(),
            # a product with specs: each enabled SKU's price and the commission it pays (the cap's combinations)
            **({"variants": [{"price_fen": v.price_fen, "commission": v.commission.as_dict()}
                             for v in priced_variants(product)]} if product.has_specs else {})}


def promoter_copy(user_id: str, *, l1_bp: int | None, l2_bp: int | None, version: int) -> Item | None:
    """The copy of a promoter's override at ``version`` (None: no override)."""
    if l1_bp is None and l2_bp is None:
        return None
    return {**commission_rate_key(PROMOTER, user_id), "entity": "commission_rate", "kind": PROMOTER,
            "version": version, "user_id": user_id, "l1_override_bp": l1_bp, "l2_override_bp": l2_bp}


def _write(table: str, key: Key, copy: Item | None) -> Write:
    return Write.put(table, copy) if copy is not None else Write.delete(table, key)


def category_write(table: str, category: Category, *, version: int) -> Write:
    """For the transaction that writes ``category`` at ``version``: its copy, or its copy's removal."""
    return _write(table, commission_rate_key(CATEGORY, category.category_id), category_copy(category, version=version))


def category_deleted(table: str, category_id: str) -> Write:
    return Write.delete(table, commission_rate_key(CATEGORY, category_id))


def product_write(table: str, product: Product, *, version: int) -> Write:
    """For the transaction that writes ``product`` at ``version``: its copy, or its copy's removal."""
    return _write(table, commission_rate_key(PRODUCT, product.product_id), product_copy(product, version=version))


def promoter_write(table: str, user_id: str, *, l1_bp: int | None, l2_bp: int | None, version: int) -> Write:
    """For the transaction that sets a promoter's override at ``version``: its copy, or its removal."""
    return _write(table, commission_rate_key(PROMOTER, user_id),
                  promoter_copy(user_id, l1_bp=l1_bp, l2_bp=l2_bp, version=version))


def _optional(value: Any) -> int | None:
    return None if value is None else int(value)


class RateIndex:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read(self) -> Rates | None:
        """Every rate other than the global one (one consistent Query, all pages); None until the
        migration ``commission_rate_index`` has copied what was stored before the index."""
        items: list[Item] = []
        start: Key | None = None
        while True:
            page = self._table.query_where("#pk = :pk", names={"#pk": "pk"}, values={":pk": COMMISSION_RATES_PARTITION},
                                           limit=None, start_key=start, consistent=True)
            items += page.items
            start = page.last_key
            if start is None:
                break
        if not any(item["sk"] == COMMISSION_RATES_READY_SK for item in items):
            return None
        from mall.domain.catalog import Category, CommissionSetting, Product

        rates = Rates([], [], [])
        for item in items:
            kind = item.get("kind")
            if kind == CATEGORY:
                rates.categories.append(Category(category_id=str(item["category_id"]), name=str(item["name"]),
                                                 l1_rate_bp=_optional(item.get("l1_rate_bp")),
                                                 l2_rate_bp=_optional(item.get("l2_rate_bp")),
                                                 version=int(item["version"])))
            elif kind == PRODUCT:
                for variant in item.get("variants") or [item]:
                    commission = variant["commission"]
                    rates.products.append(Product(
                        product_id=str(item["product_id"]), name=str(item["name"]), type=item["type"],
                        category_id=str(item["category_id"]), price_fen=int(variant["price_fen"]), stock=0,
                        distribution_enabled=bool(item["distribution_enabled"]),
                        commission=CommissionSetting(mode=commission["mode"], l1=int(commission["l1"]),
                                                     l2=int(commission["l2"])),
                        version=int(item["version"])))
            elif kind == PROMOTER:
                rates.promoters.append(RatedPromoter(str(item["user_id"]), _optional(item.get("l1_override_bp")),
                                                     _optional(item.get("l2_override_bp"))))
        return rates

    def copy(self, copy: Item) -> bool:
        """Write a copy made from a scanned source (the migration) unless a copy of that version or
        a later one is there already (the edit that wrote it is newer than the scan): True when written."""
        try:
            self._table.put(copy, condition="attribute_not_exists(pk) OR version < :v", values={":v": copy["version"]})
        except ConditionFailed:
            return False
        return True

    def mark_ready(self) -> None:
        self._table.put({"pk": COMMISSION_RATES_PARTITION, "sk": COMMISSION_RATES_READY_SK,
                         "entity": "commission_rate_ready"})
