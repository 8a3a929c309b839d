"""Refund numbers (WeChat Pay's ``out_refund_no``) and the order each belongs to. Pure.

Apart from the refund and order rules, so that a module needing only a number (the customer's
profile listing the refunds an order can hold) does not load those rules; ``mall.domain.refunds``
and ``mall.domain.orders`` re-export them."""

from __future__ import annotations


def refund_id_for(order_id: str, sequence: int) -> str:
    """``<order_id>-r<n>``: the WeChat Pay ``out_refund_no``. ``n`` is the order's refund counter,
    taken in the version-conditioned request transaction, so each number is used once; approving
    again re-sends the same number, which WeChat Pay deduplicates."""
    return f"{order_id}-r{sequence}"


def paid_after_expiry_refund_id(order_id: str) -> str:
    """Deterministic ``out_refund_no``: a repeated notification can never start a second refund."""
    return f"rx{order_id}"


def order_id_of_refund(refund_id: str) -> str | None:
    """The order a refund number belongs to (``rx<order_id>`` is the paid-after-expiry refund)."""
    if refund_id.startswith("rx") and len(refund_id) > 2:
        return refund_id[2:]
    head, sep, tail = refund_id.rpartition("-r")
    if sep and head and tail.isdigit():
        return head
    return None
