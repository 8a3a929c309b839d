"""Products (商品): ``PRODUCT#<id>`` / ``PRODUCT`` on a shelf partition of gsi1, their
stock adjustments and their low-stock flag (the table in ``mall.dal.catalog``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mall.clock import iso, utc_now
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.catalog.common import MAX_LISTED_PRODUCTS, PRICE_DIGITS, query_partition
from mall.dal.catalog.product_items import (
    content_from_item,
    detail_item,
    editable_values,
    listing_keys,
    product_from_item,
    product_state,
)
from mall.dal.catalog.skus import sku_from, sku_values
from mall.dal.commission_rates import product_copy, product_write
from mall.dal.keys import (
    LOW_STOCK_PARTITION,
    SHELF_PLAN_PARTITION,
    category_key,
    low_stock_key,
    product_detail_key,
    product_key,
    shelf_partition,
    stock_adjustment_key,
)
from mall.dal.table import ConditionFailed, Item, Key, Table, TransactionCancelled, Write
from mall.domain.catalog import (
    Product,
    Sku,
    priced_variants,
)
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound


@dataclass(frozen=True, slots=True)
class SkuTake:
    """Units of one SKU of a product with specs, at its position in the product's ``skus``."""

    index: int
    sku_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class StockObservation:
    """A product as just read (consistently) and whether its low-stock flag is raised now."""

    product: Product
    flagged: bool


class ProductRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, product_id: str, *, consistent: bool = False) -> Product | None:
        item = self._table.get(product_key(product_id), consistent=consistent)
        return product_from_item(item) if item else None

    def get_many(self, product_ids: Iterable[str], *, consistent: bool = False) -> dict[str, Product]:
        """The products that exist among ``product_ids`` (one BatchGetItem per 100)."""
        keys = [product_key(pid) for pid in dict.fromkeys(product_ids)]
        if not keys:
            return {}
        items = self._table.batch_get(keys, consistent=consistent)
        return {p.product_id: p for p in map(product_from_item, items)}

    def create(self, product: Product, *, audit: AuditEntry | None = None) -> Product:
        """Put the product and count it in its category, atomically (the category must exist); with
        ``audit``, its audit entry in the same transaction."""
        created = iso(product.created_at) if product.created_at else None
        listed = {name: value for name, value in listing_keys(product).items() if value is not None}
        item: dict[str, Any] = {
            **product_key(product.product_id), "entity": "product", **listed,
            "product_id": product.product_id, **editable_values(product), **sku_values(product),
            "stock": product.stock, "sales": 0,
            "stock_seq": 0, "version": 1, "created_at": created, "updated_at": created,
        }
        copy = product_copy(product, version=1)
        try:
            self._table.transact([
                Write.put(self._table.name, item, condition="attribute_not_exists(pk)"),
                Write.update(self._table.name, category_key(product.category_id), "ADD product_count :one",
                             condition="attribute_exists(pk)", values={":one": 1}),
                *([AuditLog(self._table).write(audit, product.created_at or utc_now())] if audit else []),
                *([Write.put(self._table.name, copy)] if copy is not None else []),
                *([Write.put(self._table.name, detail_item(product.product_id, product.content, version=1))]
                  if product.content is not None else []),
            ])
        except TransactionCancelled as exc:
            if 1 in exc.conditional_failures:
                raise InvalidInput("the category does not exist", code="category_not_found",
                                   fields=[FieldProblem("category_id", "no such category")]) from exc
            raise Conflict(f"product {product.product_id} already exists", code="product_exists") from exc
        return replace(product_from_item(item), content=product.content)

    def get_detailed(self, product_id: str, *, consistent: bool = False) -> Product | None:
        """The product with ``content`` (what its page says), in one BatchGetItem."""
        items = self._table.batch_get([product_key(product_id), product_detail_key(product_id)],
                                      consistent=consistent)
        found = {str(i["sk"]): i for i in items}
        if "PRODUCT" not in found:
            return None
        return replace(product_from_item(found["PRODUCT"]), content=content_from_item(found.get("DETAIL")))

    def update(self, product: Product, *, expected_version: int, previous_category_id: str,
               now: datetime, audit: AuditEntry | None = None, skus_changed: bool = False) -> Product:
        """Write the editable fields of ``product`` if nobody edited it since ``expected_version``.
        A change of category moves the product between the categories' counts in one transaction;
        ``audit`` (its audit entry) is in the same transaction. With ``skus_changed``, the specs and
        SKUs (their stock as read) are written too, only if no order or adjustment moved the stock
        since the read (``stock_seq``): a 409 then, never a lost stock change."""
        values: dict[str, Any] = {":expected": expected_version, ":new": expected_version + 1, ":now": iso(now)}
        names: dict[str, str] = {}
        sets = ["version = :new", "updated_at = :now"]
        removes: list[str] = []
        condition = "version = :expected"
        fields = {**editable_values(product), **listing_keys(product)}
        if skus_changed:
            fields.update({**sku_values(product), "stock": product.stock, "sales": product.sales,
                           "stock_seq": product.stock_seq + 1})
            condition += " AND (stock_seq = :seq OR (attribute_not_exists(stock_seq) AND :seq = :zero))"
            values.update({":seq": product.stock_seq, ":zero": 0})
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            if value is None:
                removes.append(f"#f{index}")
            else:
                sets.append(f"#f{index} = :f{index}")
                values[f":f{index}"] = value
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        key = product_key(product.product_id)
        writes = [Write.update(self._table.name, key, expression, condition=condition, names=names,
                               values=values)]
        if product.category_id != previous_category_id:
            writes += [
                Write.update(self._table.name, category_key(previous_category_id), "ADD product_count :minus",
                             condition="attribute_exists(pk)", values={":minus": -1}),
                Write.update(self._table.name, category_key(product.category_id), "ADD product_count :one",
                             condition="attribute_exists(pk)", values={":one": 1}),
            ]
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        # The rate index's copy rides in the same transaction (docs: mall.dal.commission_rates).
        writes.append(product_write(self._table.name, product, version=expected_version + 1))
        if product.content is not None:  # only when the edit changed what the page says
            writes.append(Write.put(self._table.name, detail_item(product.product_id, product.content,
                                                                  version=expected_version + 1)))
        try:
            self._table.transact(writes)
        except TransactionCancelled as exc:
            if 0 in exc.conditional_failures:
                raise _product_conflict(product.product_id, exc.items[0], expected_version) from exc
            if 2 in exc.conditional_failures and product.category_id != previous_category_id:
                raise InvalidInput("the category does not exist", code="category_not_found",
                                   fields=[FieldProblem("category_id", "no such category")]) from exc
            raise
        moved = self.get(product.product_id, consistent=True)
        if moved is None:  # pragma: no cover - products are never deleted
            raise NotFound(f"no product {product.product_id}", code="product_not_found")
        return replace(moved, content=product.content)

    def adjust_stock(self, product_id: str, *, delta: int, adjustment_id: str, reason: str, by: str,
                     now: datetime, audit: AuditEntry | None = None, sku: SkuTake | None = None) -> StockObservation:
        """Add ``delta`` (negative to remove) to the stock and record who did it and why, and answer
        the product as it now is with its low-stock flag (one consistent read serves the answer and
        the flag's update).
        A delta, not a new value: orders change the stock concurrently and an ``ADD`` loses none
        of their changes. The stock never goes below zero. ``sku`` (its ``quantity`` unused): the
        SKU of a product with specs whose stock moves, with the product's total."""
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {":d": delta, ":one": 1}
        expression = "ADD stock :d, stock_seq :one"
        if sku is not None:
            at = f"skus[{sku.index}]"
            expression = f"SET {at}.stock = {at}.stock + :d " + expression
            condition += f" AND {at}.sku_id = :sid"
            values[":sid"] = sku.sku_id
        if delta < 0:
            condition += " AND stock >= :need" + (f" AND skus[{sku.index}].stock >= :need" if sku else "")
            values[":need"] = -delta
        log = {**stock_adjustment_key(product_id, iso(now), adjustment_id),
               "entity": "stock_adjustment", "product_id": product_id, "adjustment_id": adjustment_id,
               "delta": delta, "reason": reason, "by": by, "at": iso(now),
               **({"sku_id": sku.sku_id} if sku else {})}
        try:
            self._table.transact([
                Write.update(self._table.name, product_key(product_id), expression,
                             condition=condition, values=values),
                Write.put(self._table.name, log, condition="attribute_not_exists(pk)"),
                *([AuditLog(self._table).write(audit, now)] if audit else []),
            ])
        except TransactionCancelled as exc:
            if 0 in exc.conditional_failures:
                current = exc.items[0]
                if current is None:
                    raise NotFound(f"no product {product_id}", code="product_not_found") from exc
                stock = product_from_item(current).for_sku(_sku_at(current, sku)).stock if sku else \
                    int(current.get("stock", 0))
                raise Conflict(f"only {stock} in stock; cannot remove {-delta}", code="insufficient_stock",
                               details={"stock": stock}) from exc
            raise
        seen = self.observe_stock([product_id])
        if not seen:  # pragma: no cover - products are never deleted
            raise NotFound(f"no product {product_id}", code="product_not_found")
        return seen[0]

    # -- the order transaction's parts (placing an order puts these in its TransactWriteItems) --

    def reserve_stock(self, product_id: str, quantity: int, skus: Sequence[SkuTake] = (), *,
                      now: datetime | None = None, version: int | None = None) -> Write:
        """Take ``quantity`` units for an order: only from an on-shelf product with enough stock and,
        with ``now`` (the order's time), not past a planned off time (定时下架) the schedule has not
        applied yet: an order read a moment before that time cannot commit after it.
        ``skus``: for a product with specs, the units per SKU (they add up to ``quantity``), each
        taken only from that enabled SKU at that position with enough stock of its own.
        ``version``: only if no edit of the admin's (price, limit, type, SKUs …: every edit counts
        ``version``) came after the product the order was priced from; orders and stock changes
        leave ``version`` alone, so buyers never refuse each other here.
        In a transaction, a failure leaves this item (``ALL_OLD``) in the cancellation reasons."""
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        sets = ["stock = stock - :q"]
        values: dict[str, Any] = {":q": quantity, ":true": True, ":one": 1}
        condition = "on_shelf = :true AND stock >= :q"
        if version is not None:  # an item written before ``version`` existed reads as version 1
            condition += " AND (version = :version OR (attribute_not_exists(version) AND :version = :one))"
            values[":version"] = version
        if now is not None:
            condition += " AND (attribute_not_exists(off_shelf_at) OR off_shelf_at > :now)"
            values[":now"] = iso(now)
        for n, take in enumerate(skus):
            at = f"skus[{take.index}]"
            sets += [f"{at}.stock = {at}.stock - :q{n}", f"{at}.sales = {at}.sales + :q{n}"]
            condition += f" AND {at}.sku_id = :s{n} AND {at}.enabled = :true AND {at}.stock >= :q{n}"
            values.update({f":q{n}": take.quantity, f":s{n}": take.sku_id})
        return Write.update(self._table.name, product_key(product_id),
                            "SET " + ", ".join(sets) + " ADD sales :q, stock_seq :one",
                            condition=condition, values=values)

    def release_stock(self, product_id: str, quantity: int, skus: Sequence[SkuTake] = ()) -> Write:
        """Give back what an expired or cancelled order reserved (also off shelf: stock is stock),
        to the SKUs it was taken from (their positions never change: SKUs are only disabled)."""
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        sets: list[str] = []
        values: dict[str, Any] = {":q": quantity, ":minus": -quantity, ":one": 1}
        for n, take in enumerate(skus):
            at = f"skus[{take.index}]"
            sets += [f"{at}.stock = {at}.stock + :q{n}", f"{at}.sales = {at}.sales - :q{n}"]
            values[f":q{n}"] = take.quantity
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD stock :q, sales :minus, stock_seq :one"
        return Write.update(self._table.name, product_key(product_id), expression,
                            condition="attribute_exists(pk)", values=values)

    # -- lists ---------------------------------------------------------------------------------

    def list_shelf(self, *, on_shelf: bool, min_price_fen: int | None = None,
                   max_price_fen: int | None = None) -> tuple[list[Product], bool]:
        """Every product of one shelf partition (price range as a key condition). Returns the
        products and whether the ceiling cut the list short."""
        low = None if min_price_fen is None else f"{max(min_price_fen, 0):0{PRICE_DIGITS}d}#"
        high = None if max_price_fen is None else f"{max(max_price_fen, 0):0{PRICE_DIGITS}d}#~"
        items, truncated = query_partition(self._table, partition=shelf_partition(on_shelf),
                                           ceiling=MAX_LISTED_PRODUCTS, sort_from=low, sort_to=high)
        return [product_from_item(i) for i in items], truncated

    def with_own_commission(self) -> list[Product]:
        """Every product with its own ``ratio``/``fixed`` commission setting (its own or a SKU's),
        both shelves, every page (the commission cap check of a settings or override save), one
        entry per enabled SKU of a product with specs. The filter runs on the server, so only
        those products cross the wire; the read still covers the whole catalog."""
        found: list[Product] = []
        for on_shelf in (True, False):
            start: Key | None = None
            while True:
                page = self._table.query_where(
                    "#pk = :pk", names={"#pk": "gsi1pk", "#c": "commission", "#m": "mode"},
                    values={":pk": shelf_partition(on_shelf), ":inherit": "inherit", ":true": True}, index="gsi1",
                    limit=None, start_key=start, filter_expression="#c.#m <> :inherit OR sku_commission = :true")
                found += [v for i in page.items for v in priced_variants(product_from_item(i))]
                start = page.last_key
                if start is None:
                    break
        return found

    def due_for_shelf_change(self, now: datetime, *, limit: int = 200) -> list[Product]:
        """Products whose next planned shelf change is due at ``now``, read consistently (the
        index is eventually consistent; the product itself decides what is due), oldest due first."""
        page = self._table.query_where("#pk = :pk AND #sk <= :until",
                                       names={"#pk": "gsi2pk", "#sk": "gsi2sk"},
                                       values={":pk": SHELF_PLAN_PARTITION, ":until": f"{iso(now)}#~"},
                                       index="gsi2", limit=limit)
        ids = [str(item["product_id"]) for item in page.items]
        found = self.get_many(ids, consistent=True)
        return [found[pid] for pid in ids if pid in found]

    # -- low stock -----------------------------------------------------------------------------

    def observe_stock(self, product_ids: Iterable[str]) -> list[StockObservation]:
        """Each product (consistent read) with its flag, in one BatchGetItem."""
        ids = list(dict.fromkeys(product_ids))
        keys = [k for pid in ids for k in (product_key(pid), low_stock_key(pid))]
        items = self._table.batch_get(keys, consistent=True) if keys else []
        products = {i["product_id"]: product_from_item(i) for i in items if i["sk"] == "PRODUCT"}
        flagged = {i["product_id"] for i in items if i["sk"] == "LOWSTOCK" and i.get("gsi1pk")}
        return [StockObservation(products[pid], pid in flagged) for pid in ids if pid in products]

    def record_stock_level(self, product: Product, *, low: bool, now: datetime) -> bool:
        """Raise or lower the product's low-stock flag as observed in ``product``. Written only if
        no later observation (greater ``stock_seq``, or same and a newer edit) was written first;
        returns whether it was written."""
        sets = ["entity = :entity", "product_id = :id", "stock = :stock", "threshold = :threshold",
                "stock_seq = :seq", "product_version = :version", "observed_at = :now"]
        values: dict[str, Any] = {":entity": "low_stock_flag", ":id": product.product_id, ":stock": product.stock,
                                  ":threshold": product.low_stock_threshold, ":seq": product.stock_seq,
                                  ":version": product.version, ":now": iso(now)}
        if low:
            sets += ["gsi1pk = :partition", "flagged_at = if_not_exists(flagged_at, :now)",
                     "gsi1sk = if_not_exists(gsi1sk, :sort)"]
            values[":partition"] = LOW_STOCK_PARTITION
            values[":sort"] = f"{iso(now)}#{product.product_id}"
            expression = "SET " + ", ".join(sets)
        else:
            expression = "SET " + ", ".join(sets) + " REMOVE gsi1pk, gsi1sk, flagged_at"
        try:
            self._table.update(
                low_stock_key(product.product_id), expression,
                condition="attribute_not_exists(stock_seq) OR stock_seq < :seq OR "
                          "(stock_seq = :seq AND product_version <= :version)",
                values=values)
        except ConditionFailed:
            return False
        return True

    def low_stock_page(self, *, limit: int, start_key: Key | None) -> tuple[list[str], Key | None]:
        """Ids of flagged products, longest flagged first, one page."""
        page = self._table.query(partition=("gsi1pk", LOW_STOCK_PARTITION), index="gsi1", limit=limit,
                                 start_key=start_key)
        return [item["product_id"] for item in page.items], page.last_key


def _sku_at(item: Item, take: SkuTake) -> Sku:
    skus = item.get("skus") or []
    return sku_from(skus[take.index]) if take.index < len(skus) else Sku(take.sku_id, (), 0, 0)


def _product_conflict(product_id: str, current: Item | None, expected_version: int) -> Exception:
    if current is None:
        return NotFound(f"no product {product_id}", code="product_not_found")
    state = product_from_item(current)
    if state.version == expected_version:
        return Conflict(f"the stock of product {product_id} moved while its SKUs were edited; retry",
                        code="stock_changed", details={"current_version": state.version,
                                                       "current": product_state(state)})
    return Conflict(f"product {product_id} changed since version {expected_version}; reload version "
                    f"{state.version} and retry", code="version_conflict",
                    details={"current_version": state.version, "current": product_state(state)})
