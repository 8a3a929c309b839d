"""A promoter's funnel (推广漏斗): visits → new bindings → orders → paid amount → commission, per China
day, share source (link, QR code, poster …) and product. Pure: what one change adds, and how the
stored counters are grouped for ``GET /promoter/funnel`` (docs/dashboard.md, "Promoter funnel").

Each figure is attached to the promoter it belongs to and to the source of the share that brought it:
- a share visit: its promoter, the visit's ``source`` and ``product_id`` (counted visits only, as on
  the dashboard);
- a new binding: the promoter the customer is now bound to, the binding's ``source`` (``link``,
  ``qr``, ``poster``, ``invite_code``, ``admin``); no product. Counted once, when the customer becomes
  bound to them (a later move to another promoter does not take it back: it was a binding made);
- a paid order: its level-1 promoter (the attribution snapshot), the order's share source
  (``direct`` when it came without one: a bound customer coming back on their own), per product;
- level-1 commission: its current value (amount − cancelled − clawed back), the record's
  ``share_channel`` (stamped at creation from its order), per product.

Anything without a recognisable source counts as ``unknown`` (commission records created before
records carried their channel). Every number is ``contribution(new) − contribution(old)`` (bindings:
counted on the change that makes them), so any order of delivery sums to the same figures.

Order-level figures (``orders``, ``paid_fen``) are kept on the item of the order's first product (by
id) so that summing over products counts each order once; the per-product figures are
``product_orders`` and ``product_paid_fen`` (the line's paid amount)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mall.domain.changes import RecordChange
from mall.domain.commission import ever_paid
from mall.domain.stats_figures import int_field as _int
from mall.domain.stats_periods import day_of

#: Share sources the funnel names; anything else is ``unknown``.
FUNNEL_SOURCES: tuple[str, ...] = ("link", "qr", "poster", "invite_code", "admin", "direct", "unknown")
UNKNOWN_SOURCE = "unknown"
DIRECT_SOURCE = "direct"
#: The product of figures that have none (bindings; visits to a promoter's home page).
NO_PRODUCT = "-"
FUNNEL_FIELDS: tuple[str, ...] = ("visits", "bindings", "orders", "paid_fen", "commission_fen",
                                  "product_orders", "product_paid_fen")
#: ``GET /promoter/funnel`` answers at most this many China days.
FUNNEL_MAX_DAYS = 92
_SEPARATOR = "|"

FunnelGroup = Literal["day", "source", "product"]


def funnel_subject(promoter_id: str, source: str, product_id: str) -> str:
    """What a funnel counter's target names: promoter, source and product."""
    return _SEPARATOR.join((promoter_id, source, product_id))


def split_subject(subject: str) -> tuple[str, str, str]:
    promoter_id, source, product_id = subject.split(_SEPARATOR, 2)
    return promoter_id, source, product_id


def source_of(value: Any) -> str:
    return value if isinstance(value, str) and value in FUNNEL_SOURCES else UNKNOWN_SOURCE


def order_channel(order: Mapping[str, Any]) -> str:
    """The source an order came through: its share source's channel, ``direct`` without one."""
    share = order.get("share_source")
    if not isinstance(share, Mapping) or not share:
        return DIRECT_SOURCE
    return source_of(share.get("source"))


Key = tuple[str, str]  # (day, subject)


def _visit(image: Mapping[str, Any], out: dict[Key, dict[str, int]]) -> None:
    day, promoter = day_of(image.get("at")), image.get("promoter_id")
    if day is None or not promoter or image.get("counted") is False:
        return
    product = str(image.get("product_id") or NO_PRODUCT)
    out[(day, funnel_subject(str(promoter), source_of(image.get("source")), product))]["visits"] += 1


def _order(image: Mapping[str, Any], out: dict[Key, dict[str, int]]) -> None:
    if not ever_paid(image):
        return
    day = day_of(image.get("paid_at"))
    attribution = image.get("attribution")
    l1 = attribution.get("l1_promoter_id") if isinstance(attribution, Mapping) else None
    if day is None or not l1:
        return
    source = order_channel(image)
    lines = [line for line in image.get("lines") or [] if isinstance(line, Mapping) and line.get("product_id")]
    products = sorted({str(line["product_id"]) for line in lines}) or [NO_PRODUCT]
    first = (day, funnel_subject(str(l1), source, products[0]))
    out[first]["orders"] += 1
    out[first]["paid_fen"] += _int(image, "amount_fen")
    for product in products:
        mine = [line for line in lines if str(line["product_id"]) == product]
        target = out[(day, funnel_subject(str(l1), source, product))]
        target["product_orders"] += 1
        target["product_paid_fen"] += sum(_int(line, "paid_fen") for line in mine)


def _commission(image: Mapping[str, Any], out: dict[Key, dict[str, int]]) -> None:
    day, beneficiary = day_of(image.get("created_at")), image.get("beneficiary_id")
    if day is None or not beneficiary or _int(image, "level") != 1:
        return
    current = _int(image, "amount_fen") - _int(image, "cancelled_fen") - _int(image, "clawed_back_fen")
    product = str(image.get("product_id") or NO_PRODUCT)
    out[(day, funnel_subject(str(beneficiary), source_of(image.get("share_channel")), product))][
        "commission_fen"] += current


_BY_ENTITY = {"share_visit": _visit, "order": _order, "commission": _commission}


def _contribution(image: Mapping[str, Any] | None, entity: str | None) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    build = _BY_ENTITY.get(entity or "")
    if image is not None and build is not None:
        build(image, out)
    return out


def _binding(change: RecordChange) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    new, old = change.new, change.old
    if new is None or not new.get("parent_id"):
        return out
    if old is not None and old.get("parent_id") == new.get("parent_id"):
        return out  # the same binding changed (its sales, its paid flag): not a new one
    day = day_of(new.get("bound_at"))
    if day is not None:
        out[(day, funnel_subject(str(new["parent_id"]), source_of(new.get("source")), NO_PRODUCT))]["bindings"] += 1
    return out


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    """What one change adds to one funnel item: ``labels`` are SET beside (a product's name)."""

    day: str
    subject: str
    fields: tuple[tuple[str, int], ...]
    labels: tuple[tuple[str, str], ...] = ()


def funnel_changes(change: RecordChange) -> list[FunnelCounts]:
    """The funnel counters one change moves, sorted (deterministic: every delivery the same)."""
    if change.entity == "binding":
        sums = _binding(change)
    else:
        before, after = _contribution(change.old, change.entity), _contribution(change.new, change.entity)
        sums = defaultdict(lambda: defaultdict(int))
        for key in set(before) | set(after):
            for name in set(before.get(key, {})) | set(after.get(key, {})):
                value = after.get(key, {}).get(name, 0) - before.get(key, {}).get(name, 0)
                if value:
                    sums[key][name] = value
    names = _product_names(change.new, change.entity)
    result: list[FunnelCounts] = []
    for (day, subject), values in sorted(sums.items()):
        fields = tuple(sorted((k, v) for k, v in values.items() if v))
        if fields:
            product = split_subject(subject)[2]
            label = (("product_name", names[product]),) if product in names else ()
            result.append(FunnelCounts(day, subject, fields, label))
    return result


def _product_names(image: Mapping[str, Any] | None, entity: str | None) -> dict[str, str]:
    if image is None:
        return {}
    if entity == "order":
        return {str(line["product_id"]): str(line["name"]) for line in image.get("lines") or []
                if isinstance(line, Mapping) and line.get("product_id") and line.get("name")}
    if entity == "commission" and image.get("product_id") and image.get("product_name"):
        return {str(image["product_id"]): str(image["product_name"])}
    return {}


# ---- reading: grouping the stored counters ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelRow:
    key: str  # the day, the source or the product id
    visits: int
    bindings: int
    orders: int
    paid_fen: int
    commission_fen: int
    name: str | None = None  # a product's name (group=product)


def group_funnel(items: Iterable[Mapping[str, Any]], group: FunnelGroup) -> tuple[list[FunnelRow], dict[str, int]]:
    """Rows of the stored funnel items grouped by day, source or product (sorted by key), and the
    range's totals. Grouped by product, ``orders`` and ``paid_fen`` are the product's (an order of two
    products counts in both); otherwise each order once."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    names: dict[str, str] = {}
    totals: dict[str, int] = defaultdict(int)
    for item in items:
        day, source, product = str(item.get("day", "")), str(item.get("source", "")), str(item.get("product_id", ""))
        key = {"day": day, "source": source, "product": product}[group]
        row = rows[key]
        for name in ("visits", "bindings", "commission_fen"):
            row[name] += _int(item, name)
            totals[name] += _int(item, name)
        orders, paid = ("product_orders", "product_paid_fen") if group == "product" else ("orders", "paid_fen")
        row["orders"] += _int(item, orders)
        row["paid_fen"] += _int(item, paid)
        totals["orders"] += _int(item, "orders")
        totals["paid_fen"] += _int(item, "paid_fen")
        if group == "product" and item.get("product_name"):
            names[key] = str(item["product_name"])
    result = [FunnelRow(key=key, visits=row["visits"], bindings=row["bindings"], orders=row["orders"],
                        paid_fen=row["paid_fen"], commission_fen=row["commission_fen"], name=names.get(key))
              for key, row in sorted(rows.items())]
    return result, {name: totals[name] for name in ("visits", "bindings", "orders", "paid_fen", "commission_fen")}
