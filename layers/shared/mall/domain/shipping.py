"""Parcels and WeChat's shipping-information upload (小程序发货信息管理服务). Pure: no I/O.

A shipment is one or several parcels (包裹): unified delivery (统一发货) is one parcel carrying every
line, split delivery (分拆发货) is 2..15 parcels, each naming the lines it carries. A parcel is
``order_id`` + ``index`` (0-based, in the order the admin gave) + ``carrier_id`` (an id of WeChat's
``get_delivery_list``) + ``tracking_no``. After shipping (express), after the 核销 of a service order
(self-pickup) and on delivery of a virtual order, the order's shipping information is uploaded to
WeChat once (``upload_shipping_info``); docs/shipping.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Final

from mall.clock import CHINA
from mall.domain.orders import PHYSICAL, Order
from mall.errors import Conflict, FieldProblem, InvalidInput

#: WeChat: a payment is split into at most 15 parcels.
MAX_PARCELS: Final = 15
#: ``item_desc``: at most 120 characters.
ITEM_DESC_MAX: Final = 120
#: Carriers whose parcels WeChat accepts only with a (masked) receiver contact: 顺丰速运.
CONTACT_REQUIRED_CARRIERS: Final = frozenset({"SF"})
#: WeChat allows one change of an uploaded shipment per payment (重新发货机会); the first upload is
#: revision 1, the change revision 2.
MAX_REVISION: Final = 2


class LogisticsType(IntEnum):
    EXPRESS = 1
    SAME_CITY = 2
    VIRTUAL = 3
    SELF_PICKUP = 4


class DeliveryMode(IntEnum):
    UNIFIED = 1
    SPLIT = 2


class UploadStatus(StrEnum):
    PENDING = "PENDING"      # decided, not answered yet (queued, or being retried)
    SENDING = "SENDING"      # a worker holds the lease and is calling WeChat
    UPLOADED = "UPLOADED"    # WeChat accepted it
    FAILED = "FAILED"        # WeChat refused it for a reason a retry of the same body cannot fix


@dataclass(frozen=True, slots=True)
class Parcel:
    """One parcel of a shipment; ``line_ids`` the order lines it carries."""

    order_id: str
    index: int
    carrier_id: str
    tracking_no: str
    line_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParcelRequest:
    carrier_id: str
    tracking_no: str
    line_ids: tuple[str, ...] = ()


def plan_parcels(order: Order, requested: Sequence[ParcelRequest], *, known_carriers: Mapping[str, str]) -> \
        tuple[Parcel, ...]:
    """The parcels of a shipment of ``order``, or ``InvalidInput`` naming the field
    (``parcels.<i>.carrier_id``, ``parcels.<i>.line_ids.<j>``, ``parcels``). One parcel with no
    lines named carries every physical line; with several parcels each names its lines, every
    physical line still deliverable travels in one, and no line travels in two."""
    problems: list[FieldProblem] = []
    if not requested:
        problems.append(FieldProblem("parcels", "at least one parcel"))
    if len(requested) > MAX_PARCELS:
        problems.append(FieldProblem("parcels", f"at most {MAX_PARCELS} parcels (WeChat's limit)"))
    if problems:
        raise InvalidInput("the parcels are not valid", code="invalid_parcels", fields=problems)
    physical = [line.line_id for line in order.lines if line.type == PHYSICAL]
    deliverable = {line.line_id for line in order.lines if line.type == PHYSICAL and line.refundable_fen > 0}
    seen: dict[str, int] = {}
    tracking: set[tuple[str, str]] = set()
    parcels: list[Parcel] = []
    for index, parcel in enumerate(requested):
        if parcel.carrier_id not in known_carriers:
            problems.append(FieldProblem(f"parcels.{index}.carrier_id",
                                         f"unknown carrier {parcel.carrier_id!r} (see GET /admin/shipping/carriers)"))
        if (parcel.carrier_id, parcel.tracking_no) in tracking:
            problems.append(FieldProblem(f"parcels.{index}.tracking_no", "the same parcel twice"))
        tracking.add((parcel.carrier_id, parcel.tracking_no))
        lines = parcel.line_ids or (tuple(physical) if len(requested) == 1 else ())
        problems += _line_problems(index, lines, physical, seen)
        parcels.append(Parcel(order.order_id, index, parcel.carrier_id, parcel.tracking_no, tuple(lines)))
    missing = sorted(deliverable - set(seen))
    if missing and not problems:
        problems.append(FieldProblem("parcels", f"lines {missing} travel in no parcel"))
    if problems:
        raise InvalidInput("the parcels are not valid", code="invalid_parcels", fields=problems)
    return tuple(parcels)


def _line_problems(index: int, lines: Sequence[str], physical: Sequence[str], seen: dict[str, int]) -> \
        list[FieldProblem]:
    """What is wrong with parcel ``index``'s lines; records in ``seen`` where each line travels."""
    if not lines:
        return [FieldProblem(f"parcels.{index}.line_ids", "name the lines this parcel carries")]
    problems: list[FieldProblem] = []
    for position, line_id in enumerate(lines):
        if line_id not in physical:
            problems.append(FieldProblem(f"parcels.{index}.line_ids.{position}",
                                         f"{line_id!r} is not a physical line of this order"))
        elif line_id in seen and seen[line_id] != index:
            problems.append(FieldProblem(f"parcels.{index}.line_ids.{position}",
                                         f"line {line_id!r} is already in parcel {seen[line_id]}"))
        else:
            seen[line_id] = index
    return problems


def correction_revision(status: UploadStatus | None, revision: int) -> int:
    """The upload revision that carries a shipped order's corrected parcels. WeChat allows one change
    of an uploaded shipment per payment, and only before the buyer confirms receipt (the caller
    refuses a completed order): an upload WeChat has not accepted spent nothing and keeps its revision."""
    if status is None:
        return 1
    if status in (UploadStatus.PENDING, UploadStatus.SENDING):
        raise Conflict("the shipment is being uploaded to WeChat; correct it in a minute", code="upload_in_progress")
    if status == UploadStatus.FAILED:
        return revision
    if revision >= MAX_REVISION:
        raise Conflict("WeChat allows one change of a shipment, and it is used", code="shipment_change_used",
                       details={"revision": revision})
    return revision + 1


# ---- the upload -------------------------------------------------------------------------------

def logistics_type_of(order: Order) -> LogisticsType:
    """Physical goods travel by express; a service order is 核销'd at the counter (self-pickup);
    virtual goods have no carriage."""
    if order.fulfilment == "physical":
        return LogisticsType.EXPRESS
    if order.fulfilment == "service":
        return LogisticsType.SELF_PICKUP
    return LogisticsType.VIRTUAL


def upload_key(order_id: str, revision: int) -> str:
    """The deterministic identity of one upload: the order and which of its (at most two) revisions."""
    return f"{order_id}:{revision}"


def order_key_for(order: Order, *, mchid: str) -> dict[str, Any]:
    """WeChat's ``order_key``: the payment's transaction id when we have it (type 2), else the
    merchant number and our out_trade_no, which is the order id (type 1)."""
    if order.transaction_id:
        return {"order_number_type": 2, "transaction_id": order.transaction_id}
    return {"order_number_type": 1, "mchid": mchid, "out_trade_no": str(order.extra.get("out_trade_no")
                                                                          or order.order_id)}


def item_desc(names: Sequence[tuple[str, int]]) -> str:
    """``西湖龙井 250g*2;白瓷盖碗*1``, cut to WeChat's 120 characters (an ellipsis marks the cut)."""
    text = ";".join(f"{name}*{quantity}" for name, quantity in names) or "商品"
    if len(text) <= ITEM_DESC_MAX:
        return text
    return text[:ITEM_DESC_MAX - 1] + "…"


def masked_contact(phone: str | None) -> str | None:
    """``138****1234``: only the last four digits in clear (WeChat's rule for ``receiver_contact``)."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]  # +86: the mainland number itself
    if len(digits) < 4:
        return None
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * (len(digits) - 4) + digits[-4:]


def upload_time(now: datetime) -> str:
    """RFC 3339 in China time with milliseconds, as WeChat's examples (``2022-12-15T13:29:35.120+08:00``)."""
    local = now.astimezone(CHINA)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+08:00"


@dataclass(frozen=True, slots=True)
class UploadFacts:
    """What the body of one upload is made of (read by the worker)."""

    order: Order
    parcels: tuple[Parcel, ...]
    payer_openid: str
    mchid: str
    receiver_phone: str | None
    now: datetime


def upload_body(facts: UploadFacts) -> dict[str, Any]:
    """The JSON body of ``upload_shipping_info`` for the order as it is now."""
    order = facts.order
    kind = logistics_type_of(order)
    lines = {line.line_id: line for line in order.lines}
    shipping_list: list[dict[str, Any]] = []
    if kind == LogisticsType.EXPRESS and facts.parcels:
        for parcel in sorted(facts.parcels, key=lambda p: p.index):
            carried = [(lines[i].name, lines[i].quantity) for i in parcel.line_ids if i in lines]
            entry: dict[str, Any] = {"tracking_no": parcel.tracking_no, "express_company": parcel.carrier_id,
                                     "item_desc": item_desc(carried)}
            contact = masked_contact(facts.receiver_phone)
            if parcel.carrier_id in CONTACT_REQUIRED_CARRIERS and contact:
                entry["contact"] = {"receiver_contact": contact}
            shipping_list.append(entry)
    else:
        shipping_list.append({"item_desc": item_desc([(line.name, line.quantity) for line in order.lines])})
    split = len(shipping_list) > 1
    body: dict[str, Any] = {
        "order_key": order_key_for(order, mchid=facts.mchid), "logistics_type": int(kind),
        "delivery_mode": int(DeliveryMode.SPLIT if split else DeliveryMode.UNIFIED),
        "shipping_list": shipping_list, "upload_time": upload_time(facts.now),
        "payer": {"openid": facts.payer_openid},
    }
    if split:
        body["is_all_delivered"] = True  # a shipment names every line: nothing is left to send later
    return body


# ---- WeChat's answers -------------------------------------------------------------------------

#: Answers worth asking again with the same body: WeChat busy, or the payment not yet known to the
#: shipping service (10060001 is answered for a while right after payment).
RETRYABLE_ERRCODES: Final = frozenset({-1, 10060001, 10060012, 10060019})
#: The payment is already shipped on WeChat's side (by an earlier delivery of this very upload, or by
#: hand in the mini-program admin): nothing left to send.
ALREADY_SHIPPED_ERRCODES: Final = frozenset({10060002})
#: 10060003: the one change of a shipment is used up.
CHANGE_USED_ERRCODE: Final = 10060003

ERRCODE_TEXT: Final[Mapping[int, str]] = {
    10060001: "支付单不存在 (payment not found; right after payment it appears after a while)",
    10060002: "支付单已完成发货,无法继续发货 (already shipped)",
    10060003: "支付单已使用重新发货机会 (the one change is used up)",
    10060004: "支付单处于不可发货的状态 (not shippable: refunded or closed)",
    10060005: "物流类型有误", 10060006: "非快递发货时不允许分拆发货",
    10060007: "分拆发货模式下必须填写 is_all_delivered", 10060008: "商品描述不能为空",
    10060009: "商品描述太长", 10060012: "系统繁忙 (busy)", 10060014: "参数错误",
    10060019: "系统繁忙 (busy)", 10060020: "该笔支付单不支持分拆发货", 10060023: "发货信息未更新",
    10060024: "物流信息列表太长", 10060025: "物流公司编码太长", 10060026: "物流单号太长",
    10060031: "该笔支付单不属于 openid 所指定的用户 (payer mismatch)",
}


class UploadOutcome(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    FAILED = "failed"


def classify_answer(errcode: int) -> UploadOutcome:
    if errcode == 0 or errcode in ALREADY_SHIPPED_ERRCODES:
        return UploadOutcome.ACCEPTED
    if errcode in RETRYABLE_ERRCODES:
        return UploadOutcome.RETRY
    return UploadOutcome.FAILED


#: get_order's ``order_state``: 1 waiting for shipping info (待发货), 2 shipped, 3 receipt confirmed,
#: 4 completed, 5 refunded, 6 settlement pending.
ORDER_STATE_WAITING: Final = 1
