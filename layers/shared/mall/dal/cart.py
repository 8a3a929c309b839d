"""The cart's items (``mall.dal.keys.cart``): a head counting the lines and one item per line, in the
customer's own partition. A line is created or removed only together with the head's count (one
transaction, conditional on the line as read), so the count is exact and the cap holds under
concurrent adds; a quantity change touches the line alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mall.dal.catalog.product_items import product_from_item
from mall.dal.keys import (
    CART_LINE_PREFIX,
    cart_key,
    cart_line_key,
    cart_partition,
    product_key,
    purchase_key,
    sku_purchase_key,
)
from mall.dal.request_markers import MarkedRequest, MarkerState
from mall.dal.table import ConditionFailed, Item, Key, Table, TransactionCancelled, Write, key_pair
from mall.domain.cart import MAX_CART_LINES, CartLine
from mall.domain.catalog import Product

__all__ = ["AddFacts", "CartRepository", "CatalogNow", "ConditionFailed", "TransactionCancelled", "cart_line_from_item"]


def cart_line_from_item(item: Item) -> CartLine:
    sku = item.get("sku_id")
    return CartLine(line_id=str(item["line_id"]), product_id=str(item["product_id"]),
                    sku_id=str(sku) if sku is not None else None, quantity=int(item["quantity"]),
                    added_price_fen=int(item["added_price_fen"]), added_at=str(item["added_at"]),
                    updated_at=str(item["updated_at"]), version=int(item.get("version", 1)))


def _line_item(user_id: str, line: CartLine) -> Item:
    return {**cart_line_key(user_id, line.line_id), "entity": "cart_line", "user_id": user_id,
            "line_id": line.line_id, "product_id": line.product_id, "sku_id": line.sku_id,
            "quantity": line.quantity, "added_price_fen": line.added_price_fen, "added_at": line.added_at,
            "updated_at": line.updated_at, "version": line.version}


@dataclass(frozen=True)
class CatalogNow:
    """The products of some cart lines as they are now, and the customer's purchase counters of them."""

    products: dict[str, Product]
    bought: dict[str, int]
    #: the customer's units per (product, SKU) on the counters of SKUs with a limit of their own
    sku_bought: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class AddFacts:
    """What adding to a cart decides from, read in one batch."""

    line: CartLine | None
    line_count: int
    catalog: CatalogNow
    marker: MarkerState | None


class CartRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def lines(self, user_id: str) -> list[CartLine]:
        """Every line of the cart (one Query: the head and at most ``MAX_CART_LINES`` small items)."""
        (pk_name, pk), (sk_name, prefix) = cart_partition(user_id)
        page = self._table.query_where("#pk = :pk AND begins_with(#sk, :sk)", names={"#pk": pk_name, "#sk": sk_name},
                                       values={":pk": pk, ":sk": prefix}, limit=None, consistent=True)
        return [cart_line_from_item(i) for i in page.items if str(i["sk"]).startswith(CART_LINE_PREFIX)]

    def _catalog_keys(self, user_id: str, product_ids: Iterable[str],
                      skus: Iterable[tuple[str, str]] = ()) -> list[Key]:
        # A SKU's counter is read whether or not the SKU has a limit of its own: that is known only
        # once its product is read, and one more small key rides in the same batch.
        return [*(k for pid in dict.fromkeys(product_ids) for k in (product_key(pid), purchase_key(user_id, pid))),
                *(sku_purchase_key(user_id, pid, sku_id) for pid, sku_id in dict.fromkeys(skus))]

    @staticmethod
    def _catalog_of(user_id: str, product_ids: Iterable[str], found: dict[tuple[str, str], Item],
                    skus: Iterable[tuple[str, str]] = ()) -> CatalogNow:
        ids = list(dict.fromkeys(product_ids))
        products = {pid: product_from_item(i) for pid in ids if (i := found.get(key_pair(product_key(pid))))}
        bought = {pid: int((found.get(key_pair(purchase_key(user_id, pid))) or {}).get("reserved_quantity", 0))
                  for pid in ids}
        sku_bought = {(pid, sku_id): int((found.get(key_pair(sku_purchase_key(user_id, pid, sku_id))) or {})
                                         .get("reserved_quantity", 0)) for pid, sku_id in dict.fromkeys(skus)}
        return CatalogNow(products, bought, sku_bought)

    def catalog_now(self, user_id: str, product_ids: Sequence[str],
                    skus: Sequence[tuple[str, str]] = ()) -> CatalogNow:
        """The products and the customer's counters of them and of the (product, SKU) ``skus`` (one
        BatchGetItem: 2 keys per product, 1 per SKU, up to 100 keys)."""
        if not product_ids:
            return CatalogNow({}, {})
        found = {key_pair(i): i for i in self._table.batch_get(self._catalog_keys(user_id, product_ids, skus))}
        return self._catalog_of(user_id, product_ids, found, skus)

    def add_facts(self, user_id: str, *, product_id: str, line_id: str, request: MarkedRequest | None,
                  sku_id: str | None = None) -> AddFacts:
        """The line, the head, the product and its counters, and the request's marker: one consistent batch."""
        skus = [(product_id, sku_id)] if sku_id is not None else []
        keys = [cart_key(user_id), cart_line_key(user_id, line_id), *self._catalog_keys(user_id, [product_id], skus)]
        if request is not None:
            keys.append(request.marker.key)
        items = self._table.batch_get(keys, consistent=True)
        found = {key_pair(i): i for i in items}
        line = found.get(key_pair(cart_line_key(user_id, line_id)))
        head = found.get(key_pair(cart_key(user_id))) or {}
        return AddFacts(line=cart_line_from_item(line) if line else None, line_count=int(head.get("line_count", 0)),
                        catalog=self._catalog_of(user_id, [product_id], found, skus),
                        marker=request.found(items) if request is not None else None)

    def save_added(self, user_id: str, line: CartLine, *, existed: CartLine | None,
                   extra: Sequence[Write] = ()) -> None:
        """The added line, conditional on the line as read: a new line counts in the head under the cap.
        Raises ``TransactionCancelled`` (the line changed, the cart filled, or an ``extra`` condition)."""
        name = self._table.name
        if existed is None:
            writes = [Write.put(name, _line_item(user_id, line), condition="attribute_not_exists(pk)"),
                      Write.update(name, cart_key(user_id), "SET entity = :e ADD line_count :one",
                                   condition="attribute_not_exists(line_count) OR line_count < :max",
                                   values={":e": "cart", ":one": 1, ":max": MAX_CART_LINES})]
        else:
            writes = [Write.put(name, _line_item(user_id, line), condition="version = :v",
                                values={":v": existed.version})]
        self._table.transact([*writes, *extra])

    def set_quantity(self, user_id: str, line_id: str, *, quantity: int, at: str,
                     expected_version: int | None) -> CartLine:
        """The line's new quantity. Raises ``ConditionFailed`` with the
        current item (None: no such line) when absent or not at ``expected_version``."""
        condition = "attribute_exists(pk)"
        values: dict[str, Any] = {":q": quantity, ":at": at, ":one": 1}
        if expected_version is not None:
            condition += " AND version = :v"
            values[":v"] = expected_version
        item = self._table.update(cart_line_key(user_id, line_id),
                                  "SET quantity = :q, updated_at = :at ADD version :one",
                                  condition=condition, values=values)
        return cart_line_from_item(item)

    def remove(self, user_id: str, line_id: str) -> bool:
        """Removes the line and counts it out of the head; False when there was no such line."""
        name = self._table.name
        try:
            self._table.transact([
                Write.delete(name, cart_line_key(user_id, line_id), condition="attribute_exists(pk)"),
                Write.update(name, cart_key(user_id), "ADD line_count :minus", values={":minus": -1})])
        except TransactionCancelled as exc:
            if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def checkout_writes(self, user_id: str, lines: Sequence[CartLine]) -> list[Write]:
        """The removal of checked-out lines, for the order's own transaction: each conditional on the
        line as read (a line changed or removed meanwhile cancels the order), and the head's count."""
        name = self._table.name
        writes = [Write.delete(name, cart_line_key(user_id, line.line_id), condition="version = :v",
                               values={":v": line.version}) for line in lines]
        if lines:
            writes.append(Write.update(name, cart_key(user_id), "ADD line_count :minus",
                                       values={":minus": -len(lines)}))
        return writes
