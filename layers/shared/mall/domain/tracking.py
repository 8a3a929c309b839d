"""Parcel tracking (物流轨迹): parcels of an order, carrier codes, trails and their order, and the
auto-confirm countdown (自动确认收货) once a parcel is signed for. Pure: no I/O.

A trail is what the logistics provider last told us about one parcel: its state, whether it is
signed for, and its latest events (newest first, at most ``MAX_EVENTS``). Pushes repeat and arrive
out of order; ``is_newer`` decides whether a trail replaces the stored one, so an older trail never
overwrites a newer one and a repeat writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal

from mall.clock import iso, parse_instant
from mall.domain.orders import Order, OrderStatus

#: Events kept per parcel (newest first): bounds the stored item whatever the provider sends.
MAX_EVENTS: Final = 40
#: A person may ask the provider for a fresh trail of a parcel at most once per this many minutes
#: (real-time queries are billed and rate-limited; the subscription pushes every change anyway).
REFRESH_MINUTES: Final = 30

# ---- carriers ------------------------------------------------------------------------------------

#: WeChat's delivery ids (get_delivery_list) → Kuaidi100 company codes (its 快递公司编码表).
#: A carrier absent here is subscribed under its lower-cased id, which Kuaidi100 refuses when it does
#: not know it: the parcel then shows "not tracked" instead of a wrong trail.
WECHAT_TO_KUAIDI100: Final[Mapping[str, str]] = {
    "SF": "shunfeng",          # 顺丰速运
    "YTO": "yuantong",         # 圆通速递
    "ZTO": "zhongtong",        # 中通快递
    "YD": "yunda",             # 韵达快递
    "STO": "shentong",         # 申通快递
    "JTSD": "jtexpress",       # 极兔速递
    "EMS": "ems",              # 中国邮政 EMS
    "YZPY": "youzhengguonei",  # 邮政快递包裹
    "JD": "jd",                # 京东物流
    "DBL": "debangwuliu",      # 德邦物流
    "DBKD": "debangkuaidi",    # 德邦快递
    "ZJS": "zhaijisong",       # 宅急送
    "BTWL": "baishiwuliu",     # 百世快运
    "HTKY": "huitongkuaidi",   # 百世快递
    "UC": "youshuwuliu",       # 优速快递
    "ANE": "annengwuliu",      # 安能物流
    "DNWL": "danniao",         # 丹鸟
    "FWX": "fengwang",         # 丰网速运
    "ZTOKY": "zhongtongkuaiyun",  # 中通快运
    "SFKY": "shunfengkuaiyun",    # 顺丰快运
}
KUAIDI100_TO_WECHAT: Final[Mapping[str, str]] = {v: k for k, v in WECHAT_TO_KUAIDI100.items()}
#: Carrier names an admin may have typed where an id belongs (orders shipped before carriers were ids).
CARRIER_NAMES: Final[Mapping[str, str]] = {
    "顺丰速运": "SF", "顺丰": "SF", "圆通速递": "YTO", "圆通": "YTO", "中通快递": "ZTO", "中通": "ZTO",
    "韵达快递": "YD", "韵达": "YD", "申通快递": "STO", "申通": "STO", "极兔速递": "JTSD", "极兔": "JTSD",
    "邮政EMS": "EMS", "京东物流": "JD", "京东": "JD",
}
#: Carriers that deliver only to a caller who gives the receiver's phone (Kuaidi100: 顺丰单号必填).
NEEDS_PHONE: Final = frozenset({"SF", "SFKY", "FWX"})


def provider_company(carrier: str) -> str:
    """The Kuaidi100 company code of a WeChat delivery id (or of a carrier's common name)."""
    wechat_id = CARRIER_NAMES.get(carrier.strip(), carrier.strip().upper())
    return WECHAT_TO_KUAIDI100.get(wechat_id, carrier.strip().lower())


def wechat_carrier(company: str) -> str | None:
    return KUAIDI100_TO_WECHAT.get(company.lower())


# ---- parcels -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Parcel:
    """One parcel of a shipment: its position in the shipment and what the carrier calls it."""

    index: int
    carrier: str
    tracking_no: str


def needs_phone(parcel: Parcel) -> bool:
    """The carrier tracks nothing without the receiver's phone (``NEEDS_PHONE``)."""
    return parcel.carrier.upper() in NEEDS_PHONE


def is_shipped(order: Order) -> bool:
    return order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)


def parcels_of(order: Order, shipped: Sequence[Parcel] = ()) -> tuple[Parcel, ...]:
    """The parcels an order was shipped in (one per tracking number): the shipment's parcel items
    when it has them, else (shipped before parcels were stored) the order's one carrier and number."""
    if shipped:
        return tuple(shipped)
    if order.carrier and order.tracking_no:
        return (Parcel(0, order.carrier, order.tracking_no),)
    return ()


def parcels_to_subscribe(old: Order | None, new: Order) -> tuple[Parcel, ...]:
    """Parcels of ``new`` that ``old`` did not have (a shipment, or parcels added to one)."""
    if new.status not in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        return ()
    known = {p.tracking_no for p in parcels_of(old)} if old is not None else set()
    return tuple(p for p in parcels_of(new) if p.tracking_no not in known)


# ---- trails --------------------------------------------------------------------------------------

#: Kuaidi100's ``state``: 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签, 5 派件, 6 退回, 7 转投, 8 清关, 14 拒签.
STATE_NAMES: Final[Mapping[int, str]] = {
    0: "in_transit", 1: "collected", 2: "problem", 3: "delivered", 4: "returned_signed", 5: "out_for_delivery",
    6: "returning", 7: "redirected", 8: "customs", 14: "refused",
}
DELIVERED: Final = 3
TrailState = Literal["in_transit", "collected", "problem", "delivered", "returned_signed", "out_for_delivery",
                     "returning", "redirected", "customs", "refused", "unknown"]


def state_name(state: int) -> TrailState:
    return STATE_NAMES.get(state, "unknown")  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class TrackEvent:
    at: str          # ISO instant (the provider's China time, converted)
    context: str     # what happened, as the carrier wrote it
    status: str | None = None
    area: str | None = None


@dataclass(frozen=True, slots=True)
class Trail:
    """What the provider says of one parcel now. ``events`` newest first."""

    company: str
    tracking_no: str
    state: int
    signed: bool
    events: tuple[TrackEvent, ...]

    @property
    def latest_at(self) -> str:
        return self.events[0].at if self.events else ""

    @property
    def delivered(self) -> bool:
        return self.state == DELIVERED and self.signed

    @property
    def signed_at(self) -> str | None:
        """When the parcel was signed for: its newest event once delivered."""
        return self.latest_at or None if self.delivered else None

    def bounded(self) -> Trail:
        return Trail(self.company, self.tracking_no, self.state, self.signed, self.events[:MAX_EVENTS])

    @property
    def rank(self) -> tuple[str, int, int]:
        """Orders trails of one parcel: a later newest event, then more events, then signed wins."""
        return (self.latest_at, len(self.events), 1 if self.signed else 0)


def is_newer(candidate: Trail, stored_rank: Sequence[Any] | None) -> bool:
    """Whether ``candidate`` replaces the stored trail (``stored_rank`` as ``Trail.rank`` stored it)."""
    if stored_rank is None:
        return True
    latest, count, signed = (str(stored_rank[0]), int(stored_rank[1]), int(stored_rank[2]))
    return candidate.rank > (latest, count, signed)


# ---- the auto-confirm countdown -----------------------------------------------------------------

CountdownFrom = Literal["shipment", "delivery"]


@dataclass(frozen=True, slots=True)
class Countdown:
    """自动确认收货: from when it runs and when it ends (None before the order ships)."""

    runs_from: CountdownFrom
    started_at: str
    ends_at: str


def countdown_start(*, mode: CountdownFrom, shipped_at: str, delivered_at: str | None) -> tuple[CountdownFrom, str]:
    """Where the countdown runs from: the delivery when the setting says so and it is known, else the
    shipment (a parcel never reported delivered is still confirmed in the end)."""
    if mode == "delivery" and delivered_at:
        return "delivery", delivered_at
    return "shipment", shipped_at


def countdown_of(order: Order, *, mode: CountdownFrom, days: int) -> Countdown | None:
    if not order.shipped_at or order.status not in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        return None
    delivered_at = order.extra.get("delivered_at")
    runs_from, started = countdown_start(mode=mode, shipped_at=order.shipped_at,
                                         delivered_at=delivered_at if isinstance(delivered_at, str) else None)
    return Countdown(runs_from, started, iso(parse_instant(started) + timedelta(days=days)))


def moves_countdown(order: Order, *, mode: CountdownFrom, delivered_at: str) -> bool:
    """Whether a delivery restarts the countdown: the order is still waiting for receipt, the
    setting counts from delivery, and no earlier delivery of it was recorded."""
    return (mode == "delivery" and order.status == OrderStatus.SHIPPED and not order.extra.get("delivered_at")
            and bool(order.shipped_at) and delivered_at >= str(order.shipped_at))




def countdown_rule(mode: CountdownFrom, days: int) -> str:
    """The rule as promoters and buyers read it (GET /rules), from the setting ``countdown_start`` applies."""
    if mode == "delivery":
        return (f"自动确认收货的 {days} 天从包裹签收时起算（物流显示全部包裹已签收）；"
                f"未获得签收信息的订单仍从发货时起算，发货后 {days} 天自动确认。")
    return f"自动确认收货的 {days} 天从发货时起算，与包裹何时签收无关。"
