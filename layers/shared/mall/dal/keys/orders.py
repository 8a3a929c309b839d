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


def order_status_index(status: str) -> dict[str, str]:
    """The order item's own gsi3 entry in the admin's by-status list, set by every write that sets
    the status: ``ORDERS#<status>``. Its sort key is the order's ``gsi1sk`` (``<created_at>#<order_id>``,
    the buyer's list's, newest first by creation): the same value stored once, as a second copy
    would take the order item over 1 KB at shipment."""
    return {"gsi3pk": order_status_partition(status)}


def refund_sk(refund_id: str) -> str:
    return f"REFUND#{refund_id}"


def refund_key(order_id: str, refund_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": refund_sk(refund_id)}


def refunds_partition(status: str) -> str:
    return f"REFUNDS#{status}"


#: ``ORDER#<id> / PARCEL#T#<tracking_no>``: one parcel's tracking trail. It sorts after the shipment's
#: ``PARCEL#<nn>`` items, so one Query of ``PARCEL#`` reads a shipment's parcels and their trails.
TRAIL_PREFIX = "PARCEL#T#"


def trail_key(order_id: str, tracking_no: str) -> Key:
    return {"pk": order_pk(order_id), "sk": f"{TRAIL_PREFIX}{tracking_no}"}


def plan_key(order_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": PLAN_SK}


def basis_key(order_id: str) -> Key:
    return {"pk": order_pk(order_id), "sk": BASIS_SK}


#: ``PARCEL#<nn>``: the parcels of an order's shipment (their order is the admin's).
PARCEL_PREFIX = "PARCEL#"
#: The sort-key range of the shipment's parcels alone (``PARCEL#00`` … ``PARCEL#99``), without their trails.
PARCEL_RANGE = (f"{PARCEL_PREFIX}00", f"{PARCEL_PREFIX}99")
SHIPPING_UPLOAD_SK = "SHIPPING_UPLOAD"


def parcel_key(order_id: str, index: int) -> Key:
    """One parcel of the order's shipment (index 0-based, two digits: at most 15 parcels)."""
    return {"pk": order_pk(order_id), "sk": f"{PARCEL_PREFIX}{index:02d}"}


def shipping_upload_key(order_id: str) -> Key:
    """The order's shipping-information upload to WeChat: its state and WeChat's last answer."""
    return {"pk": order_pk(order_id), "sk": SHIPPING_UPLOAD_SK}


def shipping_uploads_partition(status: str) -> str:
    """gsi1 partition of the uploads in one status (the admin's failures, the reconciler's pending).
    An upload being sent (``SENDING``) stays in the ``PENDING`` partition: taking the lease rewrites
    its index entry in place instead of moving it (a delete and a put)."""
    return f"SHIPUPLOADS#{'PENDING' if status == 'SENDING' else status}"


#: Where an upload leased by a worker that moved it out of ``PENDING`` is indexed: the reconciler
#: still looks there, and the next lease takes it back to ``PENDING``.
LEASED_UPLOADS_PARTITION = "SHIPUPLOADS#SENDING"


def carrier_list_key(app_id: str) -> Key:
    """WeChat's carrier list (get_delivery_list) cached for the app, expiring by TTL."""
    return {"pk": f"WECHAT#{app_id}", "sk": "DELIVERY_LIST"}
