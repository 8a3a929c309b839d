"""A refund as its views show it (the buyer's and the admin's), apart from the refund use cases
(``mall.services.refunds``, which bring the coupon rules and WeChat Pay's refund resource) so that
an order's detail shows its refunds without loading those."""

from __future__ import annotations

from typing import Any

from mall.domain.refunds import Refund
from mall.schemas.refund_view import RefundLineView, RefundView

#: The refund's fields the views show, copied by name from the domain ``Refund`` (one list: the schema's).
_VIEW_FIELDS = tuple(name for name in RefundView.model_fields if name != "lines")


def refund_view(refund: Refund, *, for_buyer: bool) -> RefundView:
    shown: dict[str, Any] = {name: getattr(refund, name) for name in _VIEW_FIELDS}
    if for_buyer:
        shown["decided_by"] = None  # the buyer does not need the admin's name
    return RefundView(**shown, lines=[RefundLineView(line_id=line.line_id, amount_fen=line.amount_fen)
                                      for line in refund.lines])
