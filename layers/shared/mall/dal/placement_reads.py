"""What placing an order reads, in as few round trips as its keys allow.

One ``BatchGetItem`` holds every key known from the request: the ``Idempotency-Key``
marker, the buyer's profile, binding and promoter record, the products with their low-stock
flags, the buyer's purchase counters of those products and the settings in force. Only a bound
buyer needs more: their parent's promoter record and binding (one more batch). The grandparent's
promoter record is not read: whether they earn L2 rests on their status, which the order's
transaction checks (``grandparent_check``) — the two earning levels, never further."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mall.dal.catalog.product_items import product_from_item
from mall.dal.catalog.products import StockObservation
from mall.dal.identity import _customer_from_item
from mall.dal.keys import (
    SETTINGS_CURRENT_KEY,
    address_book_key,
    binding_key,
    cart_line_key,
    customer_profile_key,
    low_stock_key,
    product_key,
    promoter_key,
    purchase_key,
    sku_purchase_key,
    user_coupon_key,
)
from mall.dal.referral import binding_from_item, promoter_from_item
from mall.dal.request_markers import MarkedRequest, MarkerState
from mall.dal.settings import SettingsVersion, current_from_item
from mall.dal.table import Item, Key, Table, Write
from mall.domain.catalog import Product
from mall.domain.identity import Customer
from mall.domain.referral import Promoter

if TYPE_CHECKING:
    from mall.domain.address_book import AddressBook
    from mall.domain.cart import CartLine
    from mall.domain.coupons import Coupon


def _k(key: Key) -> tuple[str, str]:
    return str(key["pk"]), str(key["sk"])


@dataclass(frozen=True)
class PlacementFacts:
    """Everything placing the order decides from, as read."""

    marker: MarkerState | None
    customer: Customer | None
    products: dict[str, Product]
    flagged: frozenset[str]
    reserved: dict[str, int]
    current: SettingsVersion
    buyer_parent: str | None
    parent_of: dict[str, str | None] = field(default_factory=dict)
    promoters: dict[str, Promoter] = field(default_factory=dict)
    #: The buyer's grandparent when their promoter record was not read (its status is checked at commit).
    unread_grandparent: str | None = None
    #: The buyer's cart lines the request names (``cart_line_ids``) that exist, by line id.
    cart_lines: dict[str, CartLine] = field(default_factory=dict)
    #: The buyer's address book, read only when the order names a saved address.
    address_book: AddressBook | None = None
    #: The buyer's units per (product, SKU) on the SKU counters of the lines naming a SKU (0: none).
    sku_reserved: dict[tuple[str, str], int] = field(default_factory=dict)
    #: The buyer's coupon the order names (None: none named, or the buyer holds no such coupon).
    coupon: Coupon | None = None

    def promoters_assuming(self, *, grandparent_active: bool) -> dict[str, Promoter]:
        """The promoters involved, the unread grandparent standing in as active or absent (only its
        status counts for attribution: who earns, not at which rate, which the payment decides)."""
        uid = self.unread_grandparent
        if uid is None or not grandparent_active:
            return self.promoters
        return {**self.promoters, uid: Promoter(user_id=uid, code="", status="active", level_id="")}

    def stock_after(self, quantities: dict[str, int]) -> list[StockObservation]:
        """The products as this order leaves them, from the stock read before it (the low-stock flag's
        observation without a read after the commit; a concurrent order's own observation is newer)."""
        seen: list[StockObservation] = []
        for product_id, quantity in quantities.items():
            product = self.products.get(product_id)
            if product is not None:
                after = replace(product, stock=product.stock - quantity, stock_seq=product.stock_seq + 1)
                seen.append(StockObservation(after, product_id in self.flagged))
        return seen


class PlacementReads:
    def __init__(self, table: Table) -> None:
        self._table = table

    def read(self, *, buyer_id: str, product_ids: Sequence[str], request: MarkedRequest | None,
             cart_line_ids: Sequence[str] = (), with_address_book: bool = False,
             sku_lines: Sequence[tuple[str, str]] = (), coupon_id: str | None = None,
             consistent: bool = True) -> PlacementFacts:
        """The facts of a placement (``consistent``: strongly consistent reads, else eventually
        consistent ones at half the units, which ``mall.services.orders`` explains): one round trip
        for an unbound buyer, two for a buyer with a parent. The cart lines an order
        checks out are named by the request, so they ride in the first batch; ``with_address_book``:
        the buyer's address book comes in the first batch too (its key is the buyer's). ``sku_lines``:
        the (product, SKU) the lines name, whose SKU counters ride in the first batch as well (whether a
        SKU has a limit of its own is known only once its product is read; an unused counter is one
        more small item in the same request). ``coupon_id``: the buyer's coupon rides in the first batch
        too (it carries its terms: no template is read)."""
        ids = list(dict.fromkeys(product_ids))
        keys: list[Key] = [SETTINGS_CURRENT_KEY, customer_profile_key(buyer_id), binding_key(buyer_id),
                           promoter_key(buyer_id)]
        keys += [k for pid in ids for k in (product_key(pid), low_stock_key(pid), purchase_key(buyer_id, pid))]
        keys += [cart_line_key(buyer_id, line_id) for line_id in dict.fromkeys(cart_line_ids)]
        pairs = list(dict.fromkeys(sku_lines))
        keys += [sku_purchase_key(buyer_id, pid, sku_id) for pid, sku_id in pairs]
        if request is not None:
            keys.append(request.marker.key)
        if with_address_book:
            keys.append(address_book_key(buyer_id))
        if coupon_id is not None:
            keys.append(user_coupon_key(buyer_id, coupon_id))
        items = self._table.batch_get(keys, consistent=consistent)
        first = {_k(i): i for i in items}
        profile = first.get(_k(customer_profile_key(buyer_id)))
        binding = first.get(_k(binding_key(buyer_id)))
        buyer_parent = binding_from_item(binding).parent_id if binding else None
        promoters: dict[str, Promoter] = {}
        if (item := first.get(_k(promoter_key(buyer_id)))) is not None:
            promoters[buyer_id] = promoter_from_item(item)
        parent_of: dict[str, str | None] = {}
        grandparent = None
        if buyer_parent is not None:
            grandparent = parent_of[buyer_parent] = self._parent(buyer_parent, promoters, consistent=consistent)
        products = {pid: product_from_item(i) for pid in ids if (i := first.get(_k(product_key(pid)))) is not None}
        return PlacementFacts(
            marker=request.found(items) if request is not None else None,
            customer=_customer_from_item(profile) if profile else None,
            products=products,
            flagged=frozenset(pid for pid in ids if (first.get(_k(low_stock_key(pid))) or {}).get("gsi1pk")),
            reserved={pid: int(_get(first, purchase_key(buyer_id, pid)).get("reserved_quantity", 0)) for pid in ids},
            current=current_from_item(first.get(_k(SETTINGS_CURRENT_KEY))),
            buyer_parent=buyer_parent, parent_of=parent_of, promoters=promoters,
            unread_grandparent=grandparent if grandparent is not None and grandparent not in promoters else None,
            cart_lines=_cart_lines(first, buyer_id, cart_line_ids) if cart_line_ids else {},
            address_book=_address_book(first, buyer_id) if with_address_book else None,
            sku_reserved={(pid, sku_id): int(_get(first, sku_purchase_key(buyer_id, pid, sku_id))
                                             .get("reserved_quantity", 0)) for pid, sku_id in pairs},
            coupon=_coupon(first, buyer_id, coupon_id) if coupon_id is not None else None)

    def _parent(self, parent: str, promoters: dict[str, Promoter], *, consistent: bool) -> str | None:
        """Reads the parent's promoter record and binding; fills ``promoters`` and returns the grandparent."""
        second = {_k(i): i for i in self._table.batch_get([promoter_key(parent), binding_key(parent)],
                                                            consistent=consistent)}
        if (item := second.get(_k(promoter_key(parent)))) is not None:
            promoters[parent] = promoter_from_item(item)
        above = second.get(_k(binding_key(parent)))
        return str(above["parent_id"]) if above else None

    def grandparent_check(self, user_id: str, *, active: bool) -> Write:
        """The order's transaction holds only if ``user_id``'s promoter record is (not) active, as
        the attribution assumed."""
        if active:
            return Write.check(self._table.name, promoter_key(user_id), "#s = :active",
                               names={"#s": "status"}, values={":active": "active"})
        return Write.check(self._table.name, promoter_key(user_id), "attribute_not_exists(pk) OR #s <> :active",
                           names={"#s": "status"}, values={":active": "active"})

    @staticmethod
    def promoter_in(item: Item | None) -> Promoter | None:
        """The promoter record a cancelled transaction returned (None: there is none)."""
        return promoter_from_item(item) if item else None


def _get(found: dict[tuple[str, str], Item], key: Key) -> Item:
    return found.get(_k(key)) or {}


# The cart's, the address book's and the coupons' items are read only by an order that names them: their
# modules are imported then, not at every placing function's cold start.

def _cart_lines(found: dict[tuple[str, str], Item], buyer_id: str, line_ids: Sequence[str]) -> dict[str, CartLine]:
    from mall.dal.cart import cart_line_from_item

    return {line_id: cart_line_from_item(item) for line_id in dict.fromkeys(line_ids)
            if (item := found.get(_k(cart_line_key(buyer_id, line_id)))) is not None}


def _address_book(found: dict[tuple[str, str], Item], buyer_id: str) -> AddressBook:
    from mall.dal.address_book import book_from_item

    return book_from_item(buyer_id, found.get(_k(address_book_key(buyer_id))))


def _coupon(found: dict[tuple[str, str], Item], buyer_id: str, coupon_id: str) -> Coupon | None:
    from mall.dal.coupons import coupon_from_item

    item = found.get(_k(user_coupon_key(buyer_id, coupon_id)))
    return coupon_from_item(item) if item is not None else None
