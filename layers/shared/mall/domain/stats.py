"""Stats (数据看板, 排行榜, 团队业绩): what one table change adds to the counters. Pure: no I/O.

The stream router forwards every change of an order, commission, withdrawal, customer, promoter,
share visit or refund (``mall.dal.changes``) to ``StatsQueue``; the stats worker turns each change
into :class:`Delta` values with :func:`contributions` and ``mall.dal.stats`` applies them once.

**Why any order of delivery sums right.** Most counters are a function of an item's *state*:
``contribution(image)`` is what an item in that state adds (e.g. a FROZEN L1 commission of 500
created on 3 Nov adds 500 to that day's ``comm_l1_frozen_fen``), and a change adds
``contribution(new) − contribution(old)``. Over all the changes of one item the sum telescopes
to ``contribution(latest)`` whatever order they arrive in (a FROZEN → SETTLED change moves the
amount from the frozen bucket to the settled one of the same day). Every number an item adds is
attached to a day read from the item itself (``paid_at``, ``created_at``, ``settled_at`` …),
never to the time the change was processed.

Three things are not additive and are applied with a read and a conditional write instead:
- **leaderboards** (score items whose index key is the zero-padded score: :class:`BoardDelta`);
- **first-time and repeat buyers**: a per-customer item keeps the customer's two earliest paid
  orders, so the day of the 1st and of the 2nd paid order is known whatever order the payments
  arrive in (:class:`BuyerDelta`, ``mall.domain.stats_buyers``);
- **distinct orders** of a promoter's monthly team sales (:class:`DistinctDelta`).

Days and months are China's (UTC+8): ``mall.domain.stats_periods``. Money is integer fen. What the
dashboard and leaderboards compute from the stored counters is ``mall.domain.stats_figures``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mall.clock import iso
from mall.domain.changes import RecordChange
from mall.domain.commission import ever_paid
from mall.domain.stats_figures import int_field as _int
from mall.domain.stats_funnel import funnel_changes
from mall.domain.stats_periods import PERIODS, day_of, month_of_day, parse_time, period_key

#: Shards of the team sales items (``TEAM_SALES#<month>#<shard 00-15>``; docs/dashboard.md).
TEAM_SALES_SHARDS = 16

Board = Literal["commission", "sales"]
BOARDS: tuple[Board, ...] = ("commission", "sales")

#: What each kind of counter target holds (docs/dashboard.md lists every field and its meaning).
AGG_FIELDS: tuple[str, ...] = (
    "gmv_fen", "paid_orders", "shared_orders", "shared_gmv_fen", "refunds", "refund_fen",
    "customers_new", "first_time_buyers", "repeat_buyers", "promoters_new", "share_visits",
    *(f"comm_l{level}_{name}" for level in (1, 2)
      for name in ("records", "created_fen", "frozen_fen", "settled_fen", "cancelled_fen", "clawed_back_fen")),
    "withdrawals_requested", "withdrawals_requested_fen", "withdrawals_paid", "withdrawals_paid_fen",
    "withdrawals_fee_fen", "withdrawals_returned", "withdrawals_returned_fen",
)
TOTAL_FIELDS: tuple[str, ...] = ("customers_total", "promoters_total", "buyers_total", "repeat_buyers_total")
PRODUCT_FIELDS: tuple[str, ...] = ("units", "sales_fen", "orders")
PROMOTER_FIELDS: tuple[str, ...] = ("commission_fen", "commission_records", "sales_fen", "sales_orders",
                                    "share_visits")
BUYER_FIELDS: tuple[str, ...] = ("orders", "paid_fen")
TEAM_FIELDS: tuple[str, ...] = ("team_sales_fen", "orders")

#: Promoter statuses counted in ``promoters_total``: approved and still in the programme.
COUNTED_PROMOTER_STATUSES = frozenset({"active", "frozen"})

TargetKind = Literal["agg", "product", "promoter", "buyer", "totals", "team_sales", "funnel"]


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """Where a counter lives. ``agg``/``product``/``promoter``/``buyer`` are per China day (the data
    layer also adds them to the day's month); ``totals`` has no period; ``team_sales`` is per month;
    ``funnel`` is per China day, promoter, source and product (``mall.domain.stats_funnel``)."""

    kind: TargetKind
    period: str = ""  # yyyy-mm-dd (per-day kinds) | yyyy-mm (team_sales) | "" (totals)
    subject: str = ""  # product id | promoter / buyer uid | funnel_subject(promoter, source, product)


@dataclass(frozen=True, slots=True)
class CounterDelta:
    """ADD ``fields`` to the counters of ``target`` (values may be negative). ``labels`` are SET
    alongside (a product's name), never summed."""

    target: Target
    fields: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BoardDelta:
    """Move a promoter's leaderboard score by ``delta_fen`` (read, then a conditional write)."""

    board: Board
    period_key: str  # "2026-W45" | "2026-11"
    promoter_id: str
    delta_fen: int


@dataclass(frozen=True, slots=True)
class BuyerDelta:
    """A paid order of ``buyer_id``: may change which of their orders are the 1st and 2nd."""

    buyer_id: str
    order_id: str
    paid_at: str  # ISO-8601 UTC ``...Z`` (sorts as time)


@dataclass(frozen=True, slots=True)
class DistinctDelta:
    """Add ``then`` only if ``member`` was never counted within ``scope`` (the counters of one target:
    a promoter's team sales of one month), whichever change brings it first (a marker item per member)."""

    scope: Target
    member: str
    then: tuple[CounterDelta, ...]


Delta = CounterDelta | BoardDelta | BuyerDelta | DistinctDelta


def team_sales_shard(uid: str) -> int:
    """The shard of a promoter's ``TEAM_SALES`` item: a stable hash (sha256), not Python's ``hash``."""
    return int(hashlib.sha256(uid.encode()).hexdigest(), 16) % TEAM_SALES_SHARDS


# ---- contributions of one state ---------------------------------------------------------------------

@dataclass
class _Contribution:
    """What one item in one state adds: counters per (target, field), board scores, labels."""

    counters: dict[tuple[Target, str], int] = field(default_factory=lambda: defaultdict(int))
    boards: dict[tuple[Board, str, str], int] = field(default_factory=lambda: defaultdict(int))
    labels: dict[Target, dict[str, str]] = field(default_factory=dict)

    def add(self, target: Target, **values: int) -> None:
        for name, value in values.items():
            if value:
                self.counters[(target, name)] += value

    def score(self, board: Board, day: str, promoter_id: str, value: int) -> None:
        if value:
            for period in PERIODS:
                self.boards[(board, period_key(period, day), promoter_id)] += value


def _order(image: Mapping[str, Any], out: _Contribution) -> None:
    if not ever_paid(image):
        return
    day = day_of(image.get("paid_at"))
    if day is None:
        return
    amount = _int(image, "amount_fen")
    lines = [line for line in image.get("lines") or [] if isinstance(line, Mapping)]
    refunded = sum(_int(line, "refunded_fen") for line in lines) + _int(image, "shipping_refunded_fen")
    net = amount - refunded
    agg = Target("agg", day)
    out.add(agg, gmv_fen=amount, paid_orders=1)
    if image.get("share_source"):
        out.add(agg, shared_orders=1, shared_gmv_fen=amount)
    buyer = image.get("buyer_id")
    if buyer:
        out.add(Target("buyer", day, str(buyer)), orders=1, paid_fen=amount)
    for line in lines:
        product_id = line.get("product_id")
        if not product_id:
            continue
        target = Target("product", day, str(product_id))
        out.add(target, units=_int(line, "quantity"), sales_fen=_int(line, "paid_fen") - _int(line, "refunded_fen"),
                orders=1)
        if line.get("name"):
            out.labels[target] = {"name": str(line["name"])}
    attribution = image.get("attribution")
    l1 = attribution.get("l1_promoter_id") if isinstance(attribution, Mapping) else None
    if l1:
        out.add(Target("promoter", day, str(l1)), sales_fen=net, sales_orders=1)
        out.score("sales", day, str(l1), net)


def team_sales_by_month(image: Mapping[str, Any]) -> dict[str, int]:
    """Team sales (团队业绩) a commission record adds per China month (docs/dashboard.md): the base that
    settled, in the month of ``settled_at``, minus base refunded after settlement (clawed back), in
    the month of each clawback. Base refunded *before* settlement never settled, so it is not
    counted (the settled base is ``base_fen − refunded_base_fen`` as it stood when it settled).
    The history (appended in commit order) says which refunds came after settling."""
    if image.get("status") != "SETTLED":
        return {}
    base = _int(image, "base_fen")
    months: dict[str, int] = defaultdict(int)
    refunded = 0
    settled = False
    for entry in image.get("history") or []:
        if not isinstance(entry, Mapping):
            continue
        if "refunded_base_fen" in entry:
            now_refunded = min(_int(entry, "refunded_base_fen"), base)
            day = day_of(entry.get("at"))
            if settled and now_refunded > refunded and day is not None:
                months[month_of_day(day)] -= now_refunded - refunded
            refunded = max(refunded, now_refunded)
        if not settled and entry.get("status") == "SETTLED":
            settled = True
            day = day_of(image.get("settled_at")) or day_of(entry.get("at"))
            if day is not None:
                months[month_of_day(day)] += base - refunded
    if not settled:  # no history entry for the settlement (not written that way today): best effort
        day = day_of(image.get("settled_at"))
        if day is not None:
            months[month_of_day(day)] += base - min(_int(image, "refunded_base_fen"), base)
    return {month: value for month, value in months.items() if value}


def _counts_for_team(image: Mapping[str, Any]) -> bool:
    beneficiary, buyer = image.get("beneficiary_id"), image.get("buyer_id")
    return bool(beneficiary) and beneficiary != buyer and _int(image, "level") in (1, 2)


def _commission(image: Mapping[str, Any], out: _Contribution) -> None:
    day = day_of(image.get("created_at"))
    level = _int(image, "level")
    beneficiary = image.get("beneficiary_id")
    if day is None or level not in (1, 2) or not beneficiary:
        return
    amount = _int(image, "amount_fen")
    cancelled, clawed = _int(image, "cancelled_fen"), _int(image, "clawed_back_fen")
    current = amount - cancelled - clawed
    status = image.get("status")
    prefix = f"comm_l{level}_"
    out.add(Target("agg", day), **{
        f"{prefix}records": 1, f"{prefix}created_fen": amount,
        f"{prefix}frozen_fen": current if status == "FROZEN" else 0,
        f"{prefix}settled_fen": current if status == "SETTLED" else 0,
        f"{prefix}cancelled_fen": cancelled, f"{prefix}clawed_back_fen": clawed})
    out.add(Target("promoter", day, str(beneficiary)), commission_fen=current, commission_records=1)
    out.score("commission", day, str(beneficiary), current)
    if _counts_for_team(image):
        for month, value in team_sales_by_month(image).items():
            out.add(Target("team_sales", month, str(beneficiary)), team_sales_fen=value)


def _withdrawal(image: Mapping[str, Any], out: _Contribution) -> None:
    amount = _int(image, "amount_fen")
    requested = day_of(image.get("created_at"))
    if requested is not None:
        out.add(Target("agg", requested), withdrawals_requested=1, withdrawals_requested_fen=amount)
    status = image.get("status")
    if status == "PAID":
        paid = day_of(image.get("paid_at"))
        if paid is not None:
            out.add(Target("agg", paid), withdrawals_paid=1, withdrawals_paid_fen=amount,
                    withdrawals_fee_fen=_int(image, "fee_fen"))
    elif status in ("FAILED", "REJECTED"):
        returned = day_of(image.get("failed_at") if status == "FAILED" else image.get("rejected_at"))
        if returned is not None:
            out.add(Target("agg", returned), withdrawals_returned=1, withdrawals_returned_fen=amount)


def _refund(image: Mapping[str, Any], out: _Contribution) -> None:
    # A payment that arrived after its order expired never counted as a paid order (nor in GMV):
    # its automatic refund is not a refund of GMV either.
    if image.get("status") != "SUCCEEDED" or image.get("kind") == "paid_after_expiry":
        return
    day = day_of(image.get("succeeded_at"))
    if day is not None:
        out.add(Target("agg", day), refunds=1, refund_fen=_int(image, "amount_fen"))


def _customer(image: Mapping[str, Any], out: _Contribution) -> None:
    out.add(Target("totals"), customers_total=1)
    day = day_of(image.get("created_at"))
    if day is not None:
        out.add(Target("agg", day), customers_new=1)


def _promoter(image: Mapping[str, Any], out: _Contribution) -> None:
    if image.get("status") in COUNTED_PROMOTER_STATUSES:
        out.add(Target("totals"), promoters_total=1)
    day = day_of(image.get("activated_at"))
    if day is not None:
        out.add(Target("agg", day), promoters_new=1)


def _share_visit(image: Mapping[str, Any], out: _Contribution) -> None:
    day = day_of(image.get("at"))
    promoter = image.get("promoter_id")
    # A repeat from a source already seen that day (mall.domain.referral.visit_sources) is stored,
    # not counted. Visits stored before sources were tracked have no flag and count as they did.
    if day is None or image.get("counted") is False:
        return
    out.add(Target("agg", day), share_visits=1)
    if promoter:
        out.add(Target("promoter", day, str(promoter)), share_visits=1)


_BY_ENTITY = {"order": _order, "commission": _commission, "withdrawal": _withdrawal, "refund": _refund,
              "customer": _customer, "promoter": _promoter, "share_visit": _share_visit}


def contribution(image: Mapping[str, Any] | None, entity: str | None) -> _Contribution:
    out = _Contribution()
    build = _BY_ENTITY.get(entity or "")
    if image is not None and build is not None:
        build(image, out)
    return out


# ---- one change -------------------------------------------------------------------------------------


def contributions(change: RecordChange) -> list[Delta]:
    """The deltas of one change of a record (its ``old`` and ``new`` attributes; an item that is not a
    record, ``entity`` None, adds nothing).

    Counters and scores: ``contribution(new) − contribution(old)``, zeros dropped. Plus, on the
    change where an order first counts as paid, its :class:`BuyerDelta`; on the change where a
    commission record becomes SETTLED, the :class:`DistinctDelta` counting its order once in the
    beneficiary's team orders of that month. Deterministic: the same change gives the same list."""
    old, new, entity = change.old, change.new, change.entity
    before, after = contribution(old, entity), contribution(new, entity)
    deltas: list[Delta] = []

    sums: dict[Target, dict[str, int]] = defaultdict(dict)
    for key in sorted(set(before.counters) | set(after.counters)):
        value = after.counters.get(key, 0) - before.counters.get(key, 0)
        if value:
            sums[key[0]][key[1]] = value
    for target in sorted(set(sums) | set(after.labels)):
        fields = tuple(sorted(sums.get(target, {}).items()))
        if fields:  # a label alone changes nothing worth a write
            deltas.append(CounterDelta(target, fields, tuple(sorted(after.labels.get(target, {}).items()))))
    for board_key in sorted(set(before.boards) | set(after.boards)):
        value = after.boards.get(board_key, 0) - before.boards.get(board_key, 0)
        if value:
            deltas.append(BoardDelta(board_key[0], board_key[1], board_key[2], value))

    if entity == "order" and new is not None and ever_paid(new) \
            and not (old is not None and ever_paid(old)) and new.get("buyer_id") and parse_time(new.get("paid_at")):
        deltas.append(BuyerDelta(str(new["buyer_id"]), str(new.get("order_id", "")), _iso(str(new["paid_at"]))))
    if entity == "commission" and new is not None and new.get("status") == "SETTLED" \
            and (old is None or old.get("status") != "SETTLED") and _counts_for_team(new):
        day = day_of(new.get("settled_at"))
        if day is not None and new.get("order_id"):
            month, uid = month_of_day(day), str(new["beneficiary_id"])
            team = Target("team_sales", month, uid)
            deltas.append(DistinctDelta(scope=team, member=str(new["order_id"]),
                                        then=(CounterDelta(team, (("orders", 1),)),)))
    # Last, so that the deltas before them (and so the parts a change in flight splits into) are
    # those of the code before the funnel.
    deltas += [CounterDelta(Target("funnel", f.day, f.subject), f.fields, f.labels) for f in funnel_changes(change)]
    return deltas


def _iso(value: str) -> str:
    moment = parse_time(value)
    assert moment is not None  # noqa: S101 (checked by the caller)
    return iso(moment)
