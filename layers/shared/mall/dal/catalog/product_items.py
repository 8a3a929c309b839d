"""How a product is stored (商品 item): the product item as a ``Product`` and back, its keys on the
shelf and schedule indexes, what an admin edits of it, and its page's own item. Used by the
product repository and by every read that batches a product with other items."""

from __future__ import annotations

from typing import Any

from mall.clock import iso
from mall.dal.catalog.common import PRICE_DIGITS, instant_or_none
from mall.dal.catalog.skus import sku_from, sku_values
from mall.dal.keys import SHELF_PLAN_PARTITION, product_detail_key, shelf_partition
from mall.dal.table import Item
from mall.domain.catalog import CommissionSetting, Product, Spec, next_shelf_due, with_sku_totals
from mall.domain.product_content import ProductContent, content_from_dict


def product_from_item(item: Item) -> Product:
    commission = item.get("commission") or {}
    specs = tuple(Spec(str(s["name"]), tuple(s.get("values", []))) for s in item.get("specs") or [])
    return with_sku_totals(Product(
        product_id=item["product_id"], name=item["name"], type=item["type"], category_id=item["category_id"],
        price_fen=int(item["price_fen"]), stock=int(item.get("stock", 0)), images=list(item.get("images", [])),
        description=item.get("description", ""), shipping_fee_fen=int(item.get("shipping_fee_fen", 0)),
        per_user_limit=item.get("per_user_limit"), on_shelf=bool(item.get("on_shelf", False)),
        low_stock_threshold=int(item.get("low_stock_threshold", 0)),
        distribution_enabled=bool(item.get("distribution_enabled", True)),
        commission=CommissionSetting(mode=commission.get("mode", "inherit"), l1=int(commission.get("l1", 0)),
                                     l2=int(commission.get("l2", 0))),
        sales=int(item.get("sales", 0)), version=int(item.get("version", 1)),
        stock_seq=int(item.get("stock_seq", 0)), created_at=instant_or_none(item.get("created_at")),
        updated_at=instant_or_none(item.get("updated_at")),
        on_shelf_at=instant_or_none(item.get("on_shelf_at")), off_shelf_at=instant_or_none(item.get("off_shelf_at")),
        hot_rank=int(item.get("hot_rank", 0)),
        specs=specs, skus=tuple(sku_from(s) for s in item.get("skus") or []) if specs else (),
    ))


def product_state(product: Product) -> dict[str, Any]:
    """The product's editable state as JSON-safe values (a 409's ``details.current``)."""
    return {"product_id": product.product_id, "name": product.name, "type": product.type,
            "category_id": product.category_id, "price_fen": product.price_fen, "stock": product.stock,
            "on_shelf": product.on_shelf, "commission": product.commission.as_dict(), "version": product.version}


def listing_keys(product: Product) -> dict[str, str | None]:
    """Its place on its shelf (gsi1) and, while a shelf change is planned, in the schedule's
    partition by its next planned time (gsi2; None: removed, the index is sparse)."""
    due = next_shelf_due(product)
    return {"gsi1pk": shelf_partition(product.on_shelf),
            "gsi1sk": f"{product.price_fen:0{PRICE_DIGITS}d}#{product.product_id}",
            "gsi2pk": SHELF_PLAN_PARTITION if due else None,
            "gsi2sk": f"{iso(due)}#{product.product_id}" if due else None}


#: The fields an admin edits; stock, sales and stock_seq belong to the atomic stock updates.
EDITABLE = ("name", "type", "category_id", "images", "description", "price_fen", "shipping_fee_fen",
             "per_user_limit", "on_shelf", "low_stock_threshold", "distribution_enabled", "commission",
             "on_shelf_at", "off_shelf_at", "hot_rank")


def editable_values(product: Product) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(product, name) for name in EDITABLE}
    values["commission"] = product.commission.as_dict()
    values["images"] = list(product.images)
    for name in ("on_shelf_at", "off_shelf_at"):
        moment = values[name]
        values[name] = iso(moment) if moment is not None else None
    return values


def editable_state(product: Product) -> dict[str, Any]:
    """What an admin edits of a product, as JSON-safe values (the audit trail's before/after)."""
    values = editable_values(product)
    if product.has_specs:
        values.update(sku_values(product))
    return values


def detail_item(product_id: str, content: ProductContent, *, version: int) -> Item:
    """The product page's own item: lists never read it, so it may grow without slowing them."""
    return {**product_detail_key(product_id), "entity": "product_detail", "product_id": product_id,
            **content.as_dict(), "product_version": version}


def content_from_item(item: Item | None) -> ProductContent:
    return content_from_dict(dict(item) if item else None)
