"""限购: per-customer purchase limits. A product's ``per_user_limit`` counts the customer's units of
every SKU of it together; a SKU's own ``per_user_limit`` counts that SKU's units alone, on top of
the product's. Placing an order checks both from the counters read before (a cheap, clear refusal);
the order's transaction checks them again, atomically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mall.errors import Conflict

if TYPE_CHECKING:
    from mall.domain.skus import ChosenSku


def check_purchase_limits(product_id: str, name: str, product_limit: int | None, sku: ChosenSku | None, *,
                          quantity: int, already: int, sku_reserved: Mapping[tuple[str, str], int]) -> None:
    """Raises 409 ``purchase_limit_exceeded`` when ``quantity`` more would pass either limit
    (``details.sku_id`` names the SKU whose own limit it is). ``already``: the customer's units of
    the product; ``sku_reserved``: their units per (product, SKU) of SKUs with a limit of their own."""
    if product_limit is not None and already + quantity > product_limit:
        raise Conflict(f"product {product_id} is limited to {product_limit} per customer",
                       code="purchase_limit_exceeded",
                       details={"product_id": product_id, "limit": product_limit, "already": already})
    if sku is None or sku.per_user_limit is None:
        return
    sku_already = sku_reserved.get((product_id, sku.sku_id), 0)
    if sku_already + quantity > sku.per_user_limit:
        raise Conflict(f"{name} {sku.label} is limited to {sku.per_user_limit} per customer",
                       code="purchase_limit_exceeded",
                       details={"product_id": product_id, "sku_id": sku.sku_id, "limit": sku.per_user_limit,
                                "already": sku_already})
