"""A factory of order items in the stored shape (docs/data-model.md, "orders and payment"), so the
after-payment tests never depend on the place-order code; plus checks of the factory itself."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mall.dal.order_items import order_from_item
from mall.dal.orders import address_context
from mall.dal.table import Item, Table
from mall.domain.orders import Order
from mall.integrations import pii_crypto

ADDRESS = {"name": "张三丰", "phone": "13812345678", "province": "浙江省", "city": "杭州市",
           "detail": "西湖区文三路 100 号 3 单元 1201"}


@dataclass(frozen=True)
class Line:
    type: str = "physical"
    unit_price_fen: int = 1000
    quantity: int = 1
    name: str = "棉麻衬衫"


def new_order_id() -> str:
    return "o_" + secrets.token_hex(11)


def order_item(*, order_id: str | None = None, buyer_id: str = "u_buyer", status: str = "PAID",
               lines: Sequence[Line] = (Line(),), shipping_fen: int = 0, created_at: str = "2026-11-20T08:00:00Z",
               with_address: bool = True, version: int = 2, **extra: Any) -> Item:
    """An order item as placing an order writes it (status and timestamps as asked)."""
    oid = order_id or new_order_id()
    line_items = [{
        "line_id": str(i), "product_id": f"p_{i}", "name": f"{line.name} {i}", "type": line.type, "category_id": "c_1",
        "quantity": line.quantity, "unit_price_fen": line.unit_price_fen,
        "paid_fen": line.unit_price_fen * line.quantity, "commission": {"mode": "inherit", "l1": 0, "l2": 0},
        "distribution_enabled": True, "refunded_fen": 0,
    } for i, line in enumerate(lines, start=1)]
    goods = sum(int(li["paid_fen"]) for li in line_items)  # type: ignore[call-overload]
    item: Item = {
        "pk": f"ORDER#{oid}", "sk": "ORDER", "entity": "order", "order_id": oid, "buyer_id": buyer_id,
        "status": status, "amount_fen": goods + shipping_fen, "goods_fen": goods, "shipping_fen": shipping_fen,
        "discount_fen": 0, "lines": line_items,
        "attribution": {"l1_promoter_id": None, "l2_promoter_id": None, "settings_version": 0, "basis": "none",
                        "self_purchase": False},
        "created_at": created_at, "expires_at_order": created_at, "out_trade_no": oid,
        "gsi1pk": f"BUYER#{buyer_id}", "gsi1sk": f"{created_at}#{oid}", "version": version,
        "gsi3pk": f"ORDERS#{status}",
    }
    if status not in {"CREATED", "EXPIRED"}:
        item["paid_at"] = created_at
        item["transaction_id"] = "4200" + secrets.token_hex(6)
    if with_address:
        context = address_context(oid)  # what placing an order seals the address with
        item["address"] = {
            "name_enc": pii_crypto.encrypt(ADDRESS["name"], context=context),
            "phone_enc": pii_crypto.encrypt(ADDRESS["phone"], context=context),
            "detail_enc": pii_crypto.encrypt(ADDRESS["detail"], context=context), "province": ADDRESS["province"],
            "city": ADDRESS["city"],
        }
    item.update(extra)
    return item


def put_order(table: Table, **kwargs: Any) -> Item:
    item = order_item(**kwargs)
    table.put(item)
    return item


def domain_order(**kwargs: Any) -> Order:
    kwargs.setdefault("with_address", False)
    return order_from_item(order_item(**kwargs))


def test_the_factory_builds_the_contract_shape() -> None:
    item = order_item(lines=[Line(unit_price_fen=500, quantity=2), Line(type="service", unit_price_fen=300)],
                      shipping_fen=800, with_address=False)
    assert item["amount_fen"] == 500 * 2 + 300 + 800 == item["goods_fen"] + item["shipping_fen"]
    order = order_from_item(item)
    assert [line.line_id for line in order.lines] == ["1", "2"]
    assert order.fulfilment == "physical" and order.lines[0].refundable_fen == 1000
