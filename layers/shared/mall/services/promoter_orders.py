"""A promoter's attributed orders (推广订单): the promoter's own list (``GET /promoter/orders``) and the
merchant's orders filtered by promoter and level (``GET /admin/orders?promoter_id=&level=``), both
from the promoter's commission records (``mall.domain.promoter_orders``). Two round trips a page: the
index Query, then one BatchGetItem of the orders and the buyers' profiles (and, for the merchant, the
promoter item, so an unknown promoter is a 404 without a third)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mall.api.cursor import cursors
from mall.dal.order_items import order_from_item
from mall.dal.promoter_orders import OrderFacts, PromoterOrderReads
from mall.domain import promoter_orders as rules
from mall.domain.masking import mask_nickname, mask_user_id
from mall.domain.orders import Order
from mall.errors import NotFound
from mall.schemas.promoter_orders import PromoterOrderPage, PromoterOrderView

if TYPE_CHECKING:
    from mall.schemas.fulfilment_admin import AdminOrderPage


def _page(reads: PromoterOrderReads, user_id: str, *, level: int | None, status: str | None, limit: int,
          cursor: str | None, check_promoter: bool) -> tuple[list[tuple[rules.OrderGroup, Order]], OrderFacts,
                                                             str | None]:
    start = cursors.decode(cursor, partition=reads.partition(user_id))
    page = reads.records(user_id, level=level, limit=rules.records_to_read(limit), start_key=start)
    groups, more = rules.page_of_groups(rules.group_records(page.items), limit=limit,
                                        more_in_index=page.last_key is not None)
    facts = reads.facts([g.order_id for g in groups], [g.buyer_id for g in groups],
                        promoter_id=user_id if check_promoter else None)
    if check_promoter and facts.promoter is None:
        raise NotFound("no such promoter", code="promoter_not_found")
    rows = [(g, order_from_item(facts.orders[g.order_id])) for g in groups if g.order_id in facts.orders]
    if status is not None:  # the order's live status: a filter of the page (a page may be short)
        rows = [(g, o) for g, o in rows if o.status.value == status]
    # After the last order shown; a page whose records were all filtered out resumes where the Query stopped.
    position = (reads.position(user_id, groups[-1].last) if groups else page.last_key) if more else None
    next_cursor = cursors.encode(position)
    return rows, facts, next_cursor


def _refunded(order: Order) -> int:
    return sum(line.refunded_fen for line in order.lines) + order.shipping_refunded_fen


def _order_fields(order: Order) -> dict[str, Any]:
    return {"order_id": order.order_id, "amount_fen": order.amount_fen, "refunded_fen": _refunded(order),
            "title": order.lines[0].name if order.lines else "", "line_count": len(order.lines),
            "created_at": order.created_at, "paid_at": order.paid_at, "shipped_at": order.shipped_at,
            "completed_at": order.completed_at}


def my_orders(reads: PromoterOrderReads, *, user_id: str, level: int | None, limit: int,
              cursor: str | None) -> PromoterOrderPage:
    """The caller's attributed orders, newest first, the buyer masked."""
    rows, facts, next_cursor = _page(reads, user_id, level=level, status=None, limit=limit, cursor=cursor,
                                     check_promoter=False)
    items = [PromoterOrderView(
        **_order_fields(order), level=1 if group.level == 1 else 2,
        status=rules.promoter_status(order.status.value), order_status=order.status.value,
        buyer=mask_nickname(facts.nicknames.get(group.buyer_id)), buyer_id=mask_user_id(group.buyer_id),
        base_fen=group.base_fen, commission_fen=group.commission_fen) for group, order in rows]
    return PromoterOrderPage(items=items, next_cursor=next_cursor)


def admin_orders_by_promoter(reads: PromoterOrderReads, *, promoter_id: str, level: int | None, status: str | None,
                             limit: int, cursor: str | None) -> AdminOrderPage:
    """The merchant's orders of one promoter (optionally one level and one status), newest first;
    404 for someone who never applied."""
    # Imported here: the merchant's order views (with the refunds' and tracking views) are not the promoter's.
    from mall.schemas.fulfilment_admin import AdminOrderPage, AdminOrderSummary

    rows, _, next_cursor = _page(reads, promoter_id, level=level, status=status, limit=limit, cursor=cursor,
                                 check_promoter=True)
    items = [AdminOrderSummary(
        **_order_fields(order), status=order.status.value, fulfilment=order.fulfilment, buyer_id=order.buyer_id,
        promoter_id=promoter_id, level=group.level, commission_fen=group.commission_fen) for group, order in rows]
    return AdminOrderPage(items=items, next_cursor=next_cursor)
