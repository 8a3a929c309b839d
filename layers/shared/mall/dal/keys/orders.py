"""Keys of an order's partition ``ORDER#<order_id>`` and the indexes around it: the order, its
history, auto-confirm entry, refunds, commission plan and basis, the unpaid marker, buyers' lists
(docs/data-model.md, "orders and payment", "after payment")."""

from __future__ import annotations

from mall.dal.keys.users import user_partition
from mall.dal.table import Key

UNPAID_INDEX = "UNPAID_ORDERS"
ORDER_SK = "ORDER"
AUTO_CONFIRM_SK = "AUTOCONFIRM"
AUTO_CONFIRM_PARTITION = "AUTOCONFIRM"
STATUS_SK = "STATUS"
PLAN_SK = "COMMISSION_PLAN"
BASIS_SK = "COMMISSION_BASIS"


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def order_key(order_id: str) -> dict[str, str]:
    return {"pk": order_pk(order_id), "sk": ORDER_SK}


def order_address_key(order_id: str) -> Key:
    """The order's delivery address, kept apart from the order (written once when it is placed)."""
    return {"pk": order_pk(order_id), "sk": "ADDRESS"}


def auto_confirm_key(order_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": AUTO_CONFIRM_SK}


def order_history_sk(at: str, status: str) -> str:
    """``HISTORY#<at>#<status>``: one transition of the order."""
    return f"HISTORY#{at}#{status}"


def unpaid_marker_key(order_id: str) -> dict[str, str]:
    return {"pk": f"UNPAID#{order_id}", "sk": "UNPAID"}


def purchase_key(user_id: str, product_id: str) -> dict[str, str]:
    return {"pk": user_partition(user_id), "sk": f"PURCHASE#{product_id}"}


def sku_purchase_key(user_id: str, product_id: str, sku_id: str) -> dict[str, str]:
    """The buyer's counter of one SKU with a purchase limit of its own (next to the product's counter)."""
    return {"pk": user_partition(user_id), "sk": f"PURCHASE#{product_id}#SKU#{sku_id}"}


def buyer_partition(buyer_id: str) -> str:
    return f"BUYER#{buyer_id}"


#: Every order's gsi1 sort key under ``BUYER#<uid>`` (``<created_at>#<order_id>``, an ISO time first)
#: sorts at or above this; the address items' and share visits' entries (``!…``) sort below it.
BUYER_ORDERS_FLOOR = "0"


def buyer_address_sort_key(created_at: str, order_id: str) -> str:
    """gsi1 sort key of an order's address item under ``BUYER#<uid>``. ``!`` sorts before every
    ISO time, so a newest-first list of the buyer's orders meets it only after the last order."""
    return f"!ADDRESS#{created_at}#{order_id}"


def order_status_partition(status: str) -> str:
    return f"ORDERS#{status}"


def refund_sk(refund_id: str) -> str:
    return f"REFUND#{refund_id}"


def refund_key(order_id: str, refund_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": refund_sk(refund_id)}


def refunds_partition(status: str) -> str:
    return f"REFUNDS#{status}"


#: ``ORDER#<id> / PARCEL#<tracking_no>``: one parcel's tracking trail (a shipment may have several).
PARCEL_PREFIX = "PARCEL#"


def parcel_key(order_id: str, tracking_no: str) -> Key:
    return {"pk": order_pk(order_id), "sk": f"{PARCEL_PREFIX}{tracking_no}"}


def plan_key(order_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": PLAN_SK}


def basis_key(order_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": BASIS_SK}
