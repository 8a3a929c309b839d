"""Which table change sends which subscribe message (订阅消息), to whom, with which values. Pure.

Four events, each decided from a change's old → new image (``mall.dal.changes.Change``):

- ``commission_earned`` (佣金入账): a commission record is created FROZEN → its beneficiary.
- ``commission_settled`` (佣金结算): a record moves FROZEN → SETTLED → its beneficiary.
- ``withdrawal_status`` (提现进度): a withdrawal's status changes (to one of the configured
  statuses) → the promoter who asked.
- ``team_member_joined`` (新成员加入): a customer is bound to a promoter (first binding or a
  re-binding to another parent) → the new parent.
- ``order_shipped`` (订单发货): an order moves PAID → SHIPPED → its buyer.
- ``order_delivered`` (包裹签收): the tracking side reports a parcel delivered
  (``delivered_change``) → the buyer.
- ``refund_result`` (退款结果): a refund reaches SUCCEEDED, FAILED (退款异常) or CLOSED → the buyer.

What the merchant configures per event is ``mall.domain.notifications``; how each value is formatted
to its keyword type is ``mall.domain.subscribe_values``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mall.clock import parse_instant
from mall.domain.commission_records import CommissionStatus
from mall.domain.masking import mask_nickname  # a message masks a nickname as lists do
from mall.domain.notifications import PLACEHOLDER, MiniProgramState, NotificationKind, NotificationSettings
from mall.domain.subscribe_values import Facts, mask_order_no, render

#: Withdrawal statuses in Chinese (phrase: ≤ 5 Chinese characters).
WITHDRAWAL_STATUS_TEXT: Mapping[str, str] = {
    "PENDING_REVIEW": "待审核", "APPROVED": "审核通过", "PAYING": "打款中", "PAID": "已到账", "FAILED": "打款失败",
    "REJECTED": "已驳回",
}
#: What the reason keyword says when the change itself gives none.
WITHDRAWAL_STATUS_NOTE: Mapping[str, str] = {
    "PENDING_REVIEW": "等待审核", "APPROVED": "审核通过，等待打款", "PAYING": "请在小程序内确认收款",
    "PAID": "提现已到账", "FAILED": "打款失败，金额已退回余额", "REJECTED": "已驳回，金额已退回余额",
}
_FAIL_REASONS: Mapping[str, str] = {
    "BILL_CANCELLED": "超时未确认收款，已退回", "BILL_FAILED": "转账失败，已退回",
    "payee_has_no_openid": "收款账户无效，已退回",
    "outstanding_debt": "有欠款，已取消并先抵扣欠款",  # mall.domain.withdrawals.DEBT_CANCEL_REASON
}
BIND_SOURCE_TEXT: Mapping[str, str] = {"link": "分享链接", "qr": "扫码", "poster": "海报", "invite_code": "邀请码",
                                       "admin": "后台绑定"}
LEVEL_TEXT: Mapping[int, str] = {1: "一级", 2: "二级"}
#: Refund outcomes the buyer hears about (phrase: ≤ 5 Chinese characters) and the note that goes with each.
REFUND_STATUS_TEXT: Mapping[str, str] = {"SUCCEEDED": "退款成功", "FAILED": "退款异常", "CLOSED": "退款关闭"}
REFUND_STATUS_NOTE: Mapping[str, str] = {
    "SUCCEEDED": "退款已原路退回，请留意到账", "FAILED": "退款遇到问题，商家正在处理",
    "CLOSED": "退款已关闭，如有疑问请联系客服",
}
#: The entity of a parcel-delivered message (not a table item: the tracking side emits it).


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


class ChangeLike(Protocol):
    """What ``mall.dal.changes.Change`` carries (the domain does not import the data layer)."""

    @property
    def event_id(self) -> str: ...

    @property
    def old(self) -> Mapping[str, Any] | None: ...

    @property
    def new(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Notification:
    """One subscribe message to send: to ``recipient_id`` (a user id; the openid is looked up)."""

    kind: NotificationKind
    event_id: str
    recipient_id: str
    template_id: str
    page: str | None
    miniprogram_state: MiniProgramState
    data: Mapping[str, str]
    subject: Mapping[str, str]
    long_term: bool = False

    @property
    def notification_id(self) -> str:
        """Stable across redeliveries of the change: the dedupe key."""
        return f"{self.event_id}#{self.kind.value}"


def _entity(image: Mapping[str, Any] | None) -> str | None:
    value = (image or {}).get("entity")
    return str(value) if value is not None else None


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return default


def _page(template: str | None, values: Mapping[str, str]) -> str | None:
    if not template:
        return None
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


Decision = tuple[NotificationKind, str, Facts, dict[str, str]]


def _commission(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    beneficiary = str(new.get("beneficiary_id") or "")
    subject = {"commission_id": str(new.get("commission_id") or ""), "order_id": str(new.get("order_id") or "")}
    texts = {"order_no": mask_order_no(subject["order_id"]), "product": str(new.get("product_name") or ""),
             "level": LEVEL_TEXT.get(_int(new.get("level")), "")}
    if old is None and new.get("status") == CommissionStatus.FROZEN.value:
        facts = Facts(amounts={"amount": _int(new.get("amount_fen"))}, texts={**texts, "status": "待结算"},
                       moment=_when(new.get("created_at")))
        return NotificationKind.COMMISSION_EARNED, beneficiary, facts, subject
    if (old is not None and _entity(old) == "commission" and old.get("status") == CommissionStatus.FROZEN.value
            and new.get("status") == CommissionStatus.SETTLED.value):
        settled = new.get("settled_fen")
        amount = _int(settled) if settled is not None else (
            _int(new.get("amount_fen")) - _int(new.get("cancelled_fen")) - _int(new.get("clawed_back_fen")))
        facts = Facts(amounts={"amount": amount}, texts={**texts, "status": "已结算"},
                       moment=_when(new.get("settled_at")))
        return NotificationKind.COMMISSION_SETTLED, beneficiary, facts, subject
    return None


def _withdrawal(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    """Any change of status (``notifications_for`` keeps those of the configured statuses)."""
    if old is None or _entity(old) != "withdrawal":
        return None  # a new request is not a change of status
    status = str(new.get("status") or "")
    if status == old.get("status"):
        return None
    given = new.get("reason") if status == "REJECTED" else new.get("fail_reason") if status == "FAILED" else None
    reason = _FAIL_REASONS.get(str(given), str(given)) if given else WITHDRAWAL_STATUS_NOTE.get(status, "")
    moment = (_when(new.get(f"{status.lower()}_at")) or _when(_last_timeline_at(new))
              or _when(new.get("updated_at")))
    withdrawal_id = str(new.get("withdrawal_id") or "")
    facts = Facts(amounts={"amount": _int(new.get("amount_fen")), "net_amount": _int(new.get("net_fen")),
                            "fee": _int(new.get("fee_fen"))},
                   texts={"status": WITHDRAWAL_STATUS_TEXT.get(status, status), "reason": reason,
                          "withdrawal_no": withdrawal_id}, moment=moment)
    return (NotificationKind.WITHDRAWAL_STATUS, str(new.get("promoter_id") or ""), facts,
            {"withdrawal_id": withdrawal_id, "status": status})


def _binding(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    parent = new.get("parent_id")
    if not parent or (old is not None and _entity(old) == "binding" and old.get("parent_id") == parent):
        return None  # unbound, or the same parent (a counter moved)
    facts = Facts(texts={"nickname": mask_nickname(_str_or_none(new.get("nickname"))),
                          "source": BIND_SOURCE_TEXT.get(str(new.get("source") or ""), "推广")},
                   moment=_when(new.get("bound_at")))
    return NotificationKind.TEAM_MEMBER_JOINED, str(parent), facts, {"member_id": str(new.get("user_id") or "")}


def _products(new: Mapping[str, Any]) -> str:
    """The first line's name, with how many more lines there are (``西湖龙井 等3件``)."""
    lines = [line for line in new.get("lines") or [] if isinstance(line, Mapping)]
    if not lines:
        return str(new.get("product") or "")
    first = str(lines[0].get("name") or "")
    return first if len(lines) == 1 else f"{first} 等{len(lines)}件"


def _shipped(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    """The first shipment only: later parcels of a split delivery keep the order SHIPPED."""
    if old is None or old.get("status") != "PAID" or new.get("status") != "SHIPPED":
        return None
    order_id = str(new.get("order_id") or "")
    facts = Facts(texts={"order_no": mask_order_no(order_id), "product": _products(new),
                         "carrier": str(new.get("carrier") or ""), "tracking_no": str(new.get("tracking_no") or ""),
                         "status": "已发货"}, moment=_when(new.get("shipped_at")))
    return NotificationKind.ORDER_SHIPPED, str(new.get("buyer_id") or ""), facts, {"order_id": order_id}


def _order(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    """Shipped, or delivered: tracking records ``delivered_at`` on the order once, when its last parcel
    is signed for (a conditional update while SHIPPED), so the buyer hears of the delivery once."""
    shipped = _shipped(old, new)
    if shipped is not None:
        return shipped
    if (old is None or old.get("delivered_at") or not new.get("delivered_at")
            or new.get("status") != "SHIPPED"):
        return None
    return _delivered({**new, "product": _products(new)})


def _refund(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Decision | None:
    status = str(new.get("status") or "")
    if old is None or old.get("status") == status or status not in REFUND_STATUS_TEXT:
        return None
    order_id = str(new.get("order_id") or "")
    moment = _when(new.get({"SUCCEEDED": "succeeded_at", "FAILED": "failed_at", "CLOSED": "closed_at"}[status]))
    facts = Facts(amounts={"amount": _int(new.get("amount_fen"))},
                  texts={"order_no": mask_order_no(order_id), "status": REFUND_STATUS_TEXT[status],
                         "reason": REFUND_STATUS_NOTE[status]},
                  moment=moment or _when(new.get("updated_at")))
    return (NotificationKind.REFUND_RESULT, str(new.get("buyer_id") or ""), facts,
            {"order_id": order_id, "refund_id": str(new.get("refund_id") or "")})


def _delivered(new: Mapping[str, Any]) -> Decision:
    order_id = str(new.get("order_id") or "")
    facts = Facts(texts={"order_no": mask_order_no(order_id), "product": str(new.get("product") or ""),
                         "carrier": str(new.get("carrier") or ""), "tracking_no": str(new.get("tracking_no") or ""),
                         "status": "已签收"}, moment=_when(new.get("delivered_at")))
    return NotificationKind.ORDER_DELIVERED, str(new.get("buyer_id") or ""), facts, {"order_id": order_id}


def _decide(change: ChangeLike) -> Decision | None:
    """(kind, recipient, facts, subject) of the one event ``change`` is, if any, before the settings
    say whether it is sent (``notifications_for``)."""
    new = change.new
    if new is None:
        return None
    decide = _BY_ENTITY.get(_entity(new) or "")
    return decide(change.old, new) if decide else None


_BY_ENTITY: Mapping[str, Callable[[Mapping[str, Any] | None, Mapping[str, Any]], Decision | None]] = {
    "commission": _commission, "withdrawal": _withdrawal, "binding": _binding, "order": _order, "refund": _refund,
}


def is_event(change: ChangeLike) -> bool:
    """Whether ``change`` is one of the events above, decided from its images alone: a change that is
    not (an order placed or completed, a record given its due date) sends nothing under any settings,
    so the worker need not read them for it."""
    return _decide(change) is not None


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None


def _last_timeline_at(image: Mapping[str, Any]) -> object:
    timeline = image.get("timeline")
    if isinstance(timeline, list) and timeline and isinstance(timeline[-1], Mapping):
        return timeline[-1].get("at")
    return None


def notifications_for(change: ChangeLike, settings: NotificationSettings, *,
                      now: datetime | None = None) -> list[Notification]:
    """The subscribe messages ``change`` causes under ``settings`` (none for most changes). ``now``
    only fills a time the change's image lacks (images always carry theirs)."""
    decided = _decide(change)
    if decided is None:
        return []
    kind, recipient, facts, subject = decided
    if kind == NotificationKind.WITHDRAWAL_STATUS and subject["status"] not in settings.withdrawal_statuses:
        return []
    config = settings.template(kind)
    if not config.enabled or not config.template_id or not recipient:
        return []
    return [Notification(kind=kind, event_id=change.event_id, recipient_id=recipient, template_id=config.template_id,
                         page=_page(config.page, subject), miniprogram_state=config.miniprogram_state,
                         data=render(config.fields, facts, now or datetime.now(UTC)), subject=subject,
                         long_term=config.long_term)]
