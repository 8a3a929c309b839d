"""Keys of a customer's cart (购物车): in the customer's own partition, one head item counting the
lines (the cap is checked on it) and one item per line (docs/data-model.md, "cart")."""

from __future__ import annotations

from mall.dal.keys.users import user_partition
from mall.dal.table import Key

#: Sort key of the cart's head (``USER#<uid>`` / ``CART``); its lines sort after it under ``CART_LINE#``.
CART_SK = "CART"
CART_LINE_PREFIX = "CART_LINE#"


def cart_key(user_id: str) -> Key:
    """``USER#<uid>`` / ``CART``: the cart's head, ``line_count`` lines."""
    return {"pk": user_partition(user_id), "sk": CART_SK}


def cart_line_key(user_id: str, line_id: str) -> Key:
    """``USER#<uid>`` / ``CART_LINE#<line_id>``: one line of the cart."""
    return {"pk": user_partition(user_id), "sk": f"{CART_LINE_PREFIX}{line_id}"}


def cart_partition(user_id: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The Query of a whole cart: the head and every line (their sort keys all begin with ``CART``)."""
    return ("pk", user_partition(user_id)), ("sk", CART_SK)
