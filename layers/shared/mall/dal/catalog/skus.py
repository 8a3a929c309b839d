"""How a product's specs and SKUs are stored in its item (``specs``, ``skus``, ``sku_commission``)."""

from __future__ import annotations

from typing import Any

from mall.dal.table import Item
from mall.domain.catalog import DEFAULT_SKU_ID, CommissionSetting, Product, Sku


def commission_from(value: Any) -> CommissionSetting:
    value = value or {}
    return CommissionSetting(mode=value.get("mode", "inherit"), l1=int(value.get("l1", 0)), l2=int(value.get("l2", 0)))


def sku_from(value: Item) -> Sku:
    own = value.get("commission")
    return Sku(sku_id=str(value["sku_id"]), options=tuple(value.get("options", [])),
               price_fen=int(value.get("price_fen", 0)), stock=int(value.get("stock", 0)),
               sales=int(value.get("sales", 0)), commission=commission_from(own) if own else None,
               enabled=bool(value.get("enabled", True)),
               # SKUs stored before SKUs had limits have none: only the product's limit applies
               per_user_limit=None if value.get("per_user_limit") is None else int(value["per_user_limit"]))


def sku_item(sku: Sku) -> dict[str, Any]:
    """A SKU as stored in its product's ``skus`` list."""
    item: dict[str, Any] = {"sku_id": sku.sku_id, "options": list(sku.options), "price_fen": sku.price_fen,
                            "stock": sku.stock, "sales": sku.sales, "enabled": sku.enabled}
    if sku.commission is not None:
        item["commission"] = sku.commission.as_dict()
    if sku.per_user_limit is not None:
        item["per_user_limit"] = sku.per_user_limit
    return item


def sku_values(product: Product) -> dict[str, Any]:
    """``specs`` and ``skus`` as stored. A product without specs stores its one default SKU by id
    only: its price and stock stay at the top level, where clients without SKUs read them."""
    if not product.has_specs:
        return {"specs": [], "skus": [{"sku_id": DEFAULT_SKU_ID}]}
    return {"specs": [{"name": s.name, "values": list(s.values)} for s in product.specs],
            "skus": [sku_item(s) for s in product.skus],
            # found by the cap check of a settings save (``with_own_commission``) without reading every product
            "sku_commission": any(s.commission is not None for s in product.skus)}
