"""Refund items (``ORDER#<order_id>`` / ``REFUND#<refund_id>``) and the order-line amounts they move.

Every refund state change is conditional on the refund's current ``status``; when it moves money
on the order (hold, release, refund) the order update is in the same transaction. The gsi1 entry
``REFUNDS#<status>`` / ``<created_at>#<refund_id>`` follows the status (admin list by status).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mall.clock import iso
from mall.dal.audit import AuditEntry, AuditLog
from mall.dal.keys import order_key, order_pk, order_status_index, refund_key, refunds_partition
from mall.dal.order_items import order_from_item, put_history
from mall.dal.request_markers import MarkedRequest, MarkerState
from mall.dal.table import Item, Key, Page, Table, TransactionCancelled, Write
from mall.domain.fulfilment import HistoryEntry
from mall.domain.orders import Order, OrderStatus
from mall.domain.refund_ids import order_id_of_refund, refund_id_for
from mall.domain.refunds import (
    REFUNDABLE_ORDER_STATUSES,
    Refund,
    RefundKind,
    RefundLine,
    RefundPlan,
    RefundStatus,
)


def refund_from_item(item: Item) -> Refund:
    return Refund(
        refund_id=item["refund_id"], order_id=item["order_id"], buyer_id=item.get("buyer_id", ""),
        kind=item.get("kind", "customer"), status=RefundStatus(item["status"]),
        amount_fen=int(item.get("amount_fen", 0)),
        lines=tuple(RefundLine(str(line["line_id"]), int(line["amount_fen"])) for line in item.get("lines", [])),
        reason=item.get("reason", ""), created_at=item.get("created_at", ""), version=int(item.get("version", 0)),
        shipping_fen=int(item.get("shipping_fen", 0)), held_on_order=bool(item.get("held_on_order", False)),
        decided_by=item.get("decided_by"), decided_at=item.get("decided_at"), reject_reason=item.get("reject_reason"),
        wechat_refund_id=item.get("wechat_refund_id"), succeeded_at=item.get("succeeded_at"),
        closed_at=item.get("closed_at"), failure_code=item.get("failure_code"),
        failure_message=item.get("failure_message"),
    )


class _Amounts:
    """Builds one UpdateExpression that moves fen between ``refund_held_fen`` and ``refunded_fen``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {"#lines": "lines", "#held": "refund_held_fen", "#refunded": "refunded_fen",
                                      "#version": "version"}
        self.values: dict[str, Any] = {":zero": 0, ":one": 1}
        self.sets: list[str] = ["#version = if_not_exists(#version, :zero) + :one"]
        self.removes: list[str] = []
        self._n = 0

    def _value(self, amount: int) -> str:
        self._n += 1
        self.values[f":a{self._n}"] = amount
        return f":a{self._n}"

    def add(self, path: str, amount: int) -> None:
        self.sets.append(f"{path} = if_not_exists({path}, :zero) + {self._value(amount)}")

    def subtract(self, path: str, amount: int) -> None:
        self.sets.append(f"{path} = if_not_exists({path}, :zero) - {self._value(amount)}")

    def set(self, name: str, value: Any) -> None:
        self._n += 1
        self.names[f"#n{self._n}"] = name
        self.values[f":v{self._n}"] = value
        self.sets.append(f"#n{self._n} = :v{self._n}")

    @property
    def expression(self) -> str:
        return "SET " + ", ".join(self.sets) + (" REMOVE " + ", ".join(self.removes) if self.removes else "")

    def write(self, table: str, key: Key, condition: str) -> Write:
        """The update; DynamoDB refuses unused expression names and values, so only used ones go."""
        text = self.expression + " " + condition
        names = {k: v for k, v in self.names.items() if re.search(re.escape(k) + r"\b", text)}
        values = {k: v for k, v in self.values.items() if re.search(re.escape(k) + r"\b", text)}
        return Write.update(table, key, self.expression, condition=condition, names=names, values=values)


def _requested_item(order: Order, plan: RefundPlan, *, refund_id: str, kind: RefundKind, reason: str, at: str,
                    requested_by: str) -> Item:
    """A REQUESTED refund whose amounts are held on the order."""
    return {
        **refund_key(order.order_id, refund_id), "entity": "refund", "refund_id": refund_id,
        "order_id": order.order_id, "buyer_id": order.buyer_id, "kind": kind.value,
        "status": RefundStatus.REQUESTED.value, "amount_fen": plan.amount_fen, "shipping_fen": plan.shipping_fen,
        "lines": [{"line_id": line.line_id, "amount_fen": line.amount_fen} for line in plan.lines],
        "reason": reason, "created_at": at, "requested_by": requested_by, "held_on_order": True,
        "gsi1pk": refunds_partition(RefundStatus.REQUESTED.value), "gsi1sk": f"{at}#{refund_id}", "version": 1,
    }


def _line(index: int, attribute: str) -> str:
    return f"#lines[{index}].{attribute}"


class RefundRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # ---- reads ----------------------------------------------------------------------------

    def get(self, refund_id: str) -> Refund | None:
        order_id = order_id_of_refund(refund_id)
        if order_id is None:
            return None
        item = self._table.get(refund_key(order_id, refund_id), consistent=True)
        return refund_from_item(item) if item else None

    def list_for_order(self, order_id: str) -> list[Refund]:
        page = self._table.query(partition=("pk", order_pk(order_id)), sort_prefix=("sk", "REFUND#"), limit=100)
        return sorted((refund_from_item(i) for i in page.items), key=lambda r: r.created_at, reverse=True)

    def list_by_status(self, status: str, *, limit: int, start_key: Key | None) -> Page:
        return self._table.query_where("#pk = :pk", names={"#pk": "gsi1pk"},
                                       values={":pk": refunds_partition(status)}, index="gsi1", limit=limit,
                                       start_key=start_key, newest_first=True)

    # ---- the request: hold the amounts ----------------------------------------------------

    def order_and_marker(self, order_id: str, request: MarkedRequest) -> tuple[Order | None, MarkerState | None]:
        """The order and the request's ``Idempotency-Key`` marker, in one consistent BatchGetItem."""
        wanted = order_key(order_id)
        items = self._table.batch_get([wanted, request.marker.key], consistent=True)
        found = next((i for i in items if i["pk"] == wanted["pk"] and i["sk"] == wanted["sk"]), None)
        order = order_from_item(found) if found and found.get("entity", "order") == "order" else None
        return order, request.found(items)

    def create(self, order: Order, plan: RefundPlan, *, refund_id: str, reason: str, now: datetime,
               requested_by: str, marked: MarkedRequest | None = None,
               response: Callable[[Refund], str] | None = None) -> Refund:
        """Put the REQUESTED refund and hold its amounts on the order lines, conditional on the
        order's version (the amounts were computed from it). With ``marked``, the request's
        idempotency marker holding ``response(refund)`` is written last in the same transaction.
        Raises ``TransactionCancelled``."""
        item = _requested_item(order, plan, refund_id=refund_id, kind=RefundKind.CUSTOMER, reason=reason,
                               at=iso(now), requested_by=requested_by)
        amounts = _Amounts()
        for line in plan.lines:
            amounts.add(_line(line.index, "#held"), line.amount_fen)
        if plan.shipping_fen:
            amounts.add("shipping_refund_held_fen", plan.shipping_fen)
        amounts.add("refund_count", 1)
        amounts.values[":v"] = order.version
        amounts.names["#status"] = "status"
        statuses = sorted(REFUNDABLE_ORDER_STATUSES)
        for i, status in enumerate(statuses):
            amounts.values[f":st{i}"] = status
        condition = (f"#version = :v AND #status IN ({', '.join(f':st{i}' for i in range(len(statuses)))})")
        refund = refund_from_item(item)
        writes = [amounts.write(self._table.name, order_key(order.order_id), condition),
                  Write.put(self._table.name, item, condition="attribute_not_exists(pk)")]
        if marked is not None and response is not None:
            writes.append(marked.put(response(refund)))
        self._table.transact(writes)
        return refund

    # ---- status changes -------------------------------------------------------------------

    def _refund_update(self, refund: Refund, *, to: RefundStatus, from_statuses: tuple[RefundStatus, ...],
                       sets: dict[str, Any]) -> Write:
        names = {"#status": "status", "#version": "version", "#g": "gsi1pk"}
        values: dict[str, Any] = {":to": to.value, ":g": refunds_partition(to.value), ":one": 1, ":zero": 0}
        assignments = ["#status = :to", "#g = :g", "#version = if_not_exists(#version, :zero) + :one"]
        for i, (name, value) in enumerate(sets.items()):
            if value is None:
                continue
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            if name == "wechat_refund_id":  # the API's answer and the notification may race to record it
                assignments.append(f"#f{i} = if_not_exists(#f{i}, :f{i})")
            else:
                assignments.append(f"#f{i} = :f{i}")
        allowed = []
        for i, status in enumerate(from_statuses):
            values[f":from{i}"] = status.value
            allowed.append(f":from{i}")
        return Write.update(self._table.name, refund_key(refund.order_id, refund.refund_id),
                            "SET " + ", ".join(assignments), condition=f"#status IN ({', '.join(allowed)})",
                            names=names, values=values)

    def append_audit(self, entry: AuditEntry, now: datetime) -> None:
        """An audit entry on its own (an action that changes no refund, such as a re-sent approval)."""
        AuditLog(self._table).append(entry, now)

    def approve(self, refund: Refund, *, by: str, now: datetime, audit: AuditEntry | None = None) -> None:
        """REQUESTED → PROCESSING (before WeChat Pay is called, so a fast notification finds it), with
        the admin's audit entry in the same transaction."""
        self._table.transact([self._refund_update(refund, to=RefundStatus.PROCESSING,
                                                  from_statuses=(RefundStatus.REQUESTED,),
                                                  sets={"decided_by": by, "decided_at": iso(now)}),
                              *([AuditLog(self._table).write(audit, now)] if audit is not None else [])])

    def _release(self, order: Order, plan: RefundPlan) -> Write:
        amounts = _Amounts()
        for line in plan.lines:
            amounts.subtract(_line(line.index, "#held"), line.amount_fen)
        if plan.shipping_fen:
            amounts.subtract("shipping_refund_held_fen", plan.shipping_fen)
        return amounts.write(self._table.name, order_key(order.order_id), "attribute_exists(pk)")

    def reject(self, refund: Refund, order: Order, plan: RefundPlan, *, by: str, reason: str, now: datetime,
               audit: AuditEntry | None = None) -> None:
        """REQUESTED → REJECTED, releasing the held amounts (and the admin's audit entry)."""
        writes = [self._refund_update(refund, to=RefundStatus.REJECTED, from_statuses=(RefundStatus.REQUESTED,),
                                      sets={"decided_by": by, "decided_at": iso(now), "reject_reason": reason})]
        if refund.held_on_order:
            writes.append(self._release(order, plan))
        if audit is not None:
            writes.append(AuditLog(self._table).write(audit, now))
        self._table.transact(writes)

    def close(self, refund: Refund, order: Order, plan: RefundPlan, *, now: datetime, code: str | None = None,
              message: str | None = None, wechat_refund_id: str | None = None) -> None:
        """PROCESSING/FAILED → CLOSED (REFUND.CLOSED, or WeChat Pay refused the request): release."""
        writes = [self._refund_update(refund, to=RefundStatus.CLOSED,
                                      from_statuses=(RefundStatus.PROCESSING, RefundStatus.FAILED),
                                      sets={"closed_at": iso(now), "failure_code": code, "failure_message": message,
                                            "wechat_refund_id": wechat_refund_id})]
        if refund.held_on_order:
            writes.append(self._release(order, plan))
        self._table.transact(writes)

    def fail(self, refund: Refund, *, now: datetime, wechat_refund_id: str | None) -> None:
        """PROCESSING → FAILED (REFUND.ABNORMAL): the amounts stay held."""
        self._table.transact([self._refund_update(
            refund, to=RefundStatus.FAILED, from_statuses=(RefundStatus.PROCESSING,),
            sets={"failed_at": iso(now), "failure_code": "ABNORMAL",
                  "failure_message": "WeChat Pay could not return the money (退款异常): handle it at the merchant "
                                     "platform", "wechat_refund_id": wechat_refund_id})])

    def succeed(self, refund: Refund, order: Order, plan: RefundPlan, *, now: datetime,
                wechat_refund_id: str | None, close_order: bool, shipping_due_fen: int = 0,
                coupon_back: bool = False) -> None:
        """PROCESSING/FAILED → SUCCEEDED and, in the same transaction, each line's amount into its
        ``refunded_fen`` (out of ``refund_held_fen``). When nothing paid is left the order closes too,
        conditional on the version read (so the decision was made on current amounts).
        ``shipping_due_fen``: this success leaves every line refunded but not the shipping, so the
        shipping refund (REQUESTED, held) is opened too, also conditional on the version read.
        ``coupon_back``: the closing order's coupon returns to the buyer (the refund setting allowed it)."""
        at = iso(now)
        amounts = _Amounts()
        for line in plan.lines:
            amounts.add(_line(line.index, "#refunded"), line.amount_fen)
            if refund.held_on_order:
                amounts.subtract(_line(line.index, "#held"), line.amount_fen)
        if plan.shipping_fen:
            amounts.add("shipping_refunded_fen", plan.shipping_fen)
            if refund.held_on_order:
                amounts.subtract("shipping_refund_held_fen", plan.shipping_fen)
        writes = [self._refund_update(refund, to=RefundStatus.SUCCEEDED,
                                      from_statuses=(RefundStatus.PROCESSING, RefundStatus.FAILED),
                                      sets={"succeeded_at": at, "wechat_refund_id": wechat_refund_id})]
        if shipping_due_fen > 0 and not close_order:
            shipping_id = refund_id_for(order.order_id, order.refund_count + 1)
            shipping_plan = RefundPlan(lines=(), shipping_fen=shipping_due_fen)
            writes.append(Write.put(self._table.name, _requested_item(
                order, shipping_plan, refund_id=shipping_id, kind=RefundKind.SHIPPING,
                reason=f"运费退还：订单商品已全部退款（{refund.refund_id}）", at=at, requested_by="system"),
                condition="attribute_not_exists(pk)"))
            amounts.add("shipping_refund_held_fen", shipping_due_fen)
            amounts.add("refund_count", 1)
            amounts.values[":v"] = order.version
            writes.append(amounts.write(self._table.name, order_key(order.order_id), "#version = :v"))
        elif close_order:
            amounts.set("status", OrderStatus.CLOSED.value)
            amounts.set("closed_at", at)
            for name, value in order_status_index(OrderStatus.CLOSED).items():
                amounts.set(name, value)  # the by-status list (gsi3) follows in the same write
            amounts.removes += ["gsi2pk", "gsi2sk"]  # out of the auto-confirm index, if it was shipped
            amounts.values[":v"] = order.version
            writes.append(amounts.write(self._table.name, order_key(order.order_id), "#version = :v"))
            closed = HistoryEntry(OrderStatus.CLOSED, at, "refund", f"refunded in full ({refund.refund_id})")
            writes.append(put_history(self._table.name, order.order_id, closed))
            if coupon_back:  # the order's coupon back to the buyer: it closes once (conditional on its version)
                # Imported here: only a refund closing an order with its coupon needs the coupons' rules.
                from mall.dal.coupons import CouponRepository

                writes.append(CouponRepository(self._table).give_back_write(
                    order.buyer_id, str((order.extra or {})["coupon"]["coupon_id"]), order_id=order.order_id))
        else:
            writes.append(amounts.write(self._table.name, order_key(order.order_id), "attribute_exists(pk)"))
        self._table.transact(writes)

    def record_wechat_refund_id(self, refund: Refund, wechat_refund_id: str) -> None:
        """WeChat Pay's refund id from the API's answer (kept if a notification recorded it first)."""
        self._table.update(refund_key(refund.order_id, refund.refund_id),
                           "SET wechat_refund_id = if_not_exists(wechat_refund_id, :w)",
                           condition="attribute_exists(pk)", values={":w": wechat_refund_id})

    def record_error(self, refund: Refund, *, code: str, message: str, now: datetime) -> None:
        self._table.update(refund_key(refund.order_id, refund.refund_id),
                           "SET last_error_code = :c, last_error_message = :m, last_error_at = :t",
                           condition="attribute_exists(pk)", values={":c": code, ":m": message[:200], ":t": iso(now)})


__all__ = ["RefundRepository", "TransactionCancelled", "refund_from_item"]
