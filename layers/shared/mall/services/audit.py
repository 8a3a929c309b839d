"""Use cases of the audit trail (数据留痕, docs/audit.md): the admin's query of audit entries, a
promoter's history of their own bindings, commissions and withdrawals. An admin's login is audited by
``mall.services.identity.login_admin_audited``.

Writing entries is not here: every admin use case writes its own ``mall.dal.audit.AuditEntry``,
in the same transaction as its change."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mall.api.cursor import cursors
from mall.clock import iso, parse_instant
from mall.dal.audit import AuditLog
from mall.dal.commissions import commission_from_item
from mall.dal.history import (
    HistoryReader,
    Stream,
    StreamState,
    binding_streams,
    commission_streams,
    withdrawal_streams,
)
from mall.dal.withdrawals import withdrawal_from_item
from mall.domain.audit import DEFAULT_WINDOW, MAX_WINDOW_DAYS, utc_days
from mall.domain.masking import mask_user_id
from mall.errors import FieldProblem, InvalidInput
from mall.schemas.audit import (
    AuditEntryView,
    AuditPage,
    BindingHistoryItem,
    CommissionEventView,
    CommissionHistoryItem,
    HistoryItem,
    PromoterHistoryPage,
    Who,
    WithdrawalHistoryItem,
)
from mall.services.withdrawals.views import withdrawal_view

#: Queries per request at most: a filter (``action``) may leave pages short; the cursor goes on.
MAX_QUERIES_PER_PAGE = 40

HistoryKind = Literal["binding", "commission", "withdrawal"]
#: A stored item as the audit log and the history reader return it.
Item = dict[str, Any]
#: Where a Query stopped (DynamoDB's last evaluated key), to go on from.
Position = dict[str, Any]


def _bad_cursor() -> InvalidInput:
    return InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                        fields=[FieldProblem("query:cursor", "not a cursor returned by this list (same filters)")])


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO-8601 date-time (``Z`` or an offset; without one it is UTC), or None."""
    if value is None or value == "":
        return None
    try:
        moment = parse_instant(value).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{field} is not a date-time", code="invalid_time", fields=[FieldProblem(
            f"query:{field}", "an ISO-8601 date-time, e.g. 2026-11-22T08:00:00Z")]) from exc
    if not 2000 <= moment.year <= 2999:  # keeps every window arithmetic far from datetime's limits
        raise InvalidInput(f"{field} is out of range", code="invalid_time",
                           fields=[FieldProblem(f"query:{field}", "a date-time between the years 2000 and 2999")])
    return moment


def _window(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidInput("from is after to", code="invalid_time_range",
                           fields=[FieldProblem("query:from", "must not be after `to`")])


def _fingerprint(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


# ---- the admin's query (GET /admin/audit) -----------------------------------------------------------


def entry_view(item: Item) -> AuditEntryView:
    return AuditEntryView(
        audit_id=str(item["audit_id"]), at=str(item["at"]), action=str(item["action"]), actor=str(item["actor"]),
        entity_type=str(item.get("entity_type", "order" if item.get("order_id") else "unknown")),
        entity_id=str(item.get("entity_id") or item.get("order_id") or ""), source_ip=item.get("source_ip"),
        before=item.get("before"), after=item.get("after"), details=dict(item.get("details") or {}),
        subject_user=item.get("subject_user"))


@dataclass(frozen=True)
class QueryAudit:
    """The admin's filters (each optional; ``start`` / ``end`` as sent, ISO-8601) and the page asked for."""

    actor: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    start: str | None = None
    end: str | None = None
    limit: int = 20
    cursor: str | None = None

    def mode(self) -> Literal["entity", "actor", "day"]:
        """Which index answers: the entity's, the actor's, or the day partitions (422 when only one of
        ``entity_type`` and ``entity_id`` is given)."""
        if (self.entity_type is None) != (self.entity_id is None):
            missing = "entity_id" if self.entity_id is None else "entity_type"
            raise InvalidInput("entity_type and entity_id go together", code="invalid_audit_filter",
                               fields=[FieldProblem(f"query:{missing}", "required with the other entity field")])
        if self.entity_type is not None:
            return "entity"
        return "actor" if self.actor is not None else "day"


def query_audit(*, log: AuditLog, query: QueryAudit, now: datetime) -> AuditPage:
    """Audit entries, newest first, by actor (gsi1), by entity (gsi2, optionally one actor's), or by
    time alone (one day partition after another, at most ``MAX_WINDOW_DAYS`` per request)."""
    mode = query.mode()
    actor, entity_type, entity_id, action = query.actor, query.entity_type, query.entity_id, query.action
    start, end, limit, cursor = query.start, query.end, query.limit, query.cursor
    since = parse_time(start, "from")
    until = parse_time(end, "to")
    _window(since, until)
    if mode == "day":
        until = until or now
        since = since or until - DEFAULT_WINDOW
        if until - since > timedelta(days=MAX_WINDOW_DAYS):
            raise InvalidInput(f"a query by time alone covers at most {MAX_WINDOW_DAYS} days",
                               code="audit_window_too_long", fields=[FieldProblem(
                                   "query:from", f"at most {MAX_WINDOW_DAYS} days before `to` without an actor "
                                                 "or an entity; narrow the window or add one")])
    # The cursor keeps the window the first page resolved ("the last day" stays that day).
    fingerprint = _fingerprint(mode, actor, entity_type, entity_id, action, start, end)
    state = cursors.decode(cursor)
    if state is not None and state.get("q") != fingerprint:
        raise _bad_cursor()
    low = parse_instant(str(state["lo"])) if state else since or datetime(2000, 1, 1, tzinfo=UTC)
    high = parse_instant(str(state["hi"])) if state else until or now

    def read(start_key: Position | None, size: int, day: str | None) -> tuple[list[Item], Position | None]:
        if mode == "entity" and entity_type is not None and entity_id is not None:
            page = log.by_entity(entity_type, entity_id, start=low, end=high, limit=size, start_key=start_key,
                                 action=action, actor=actor)
        elif mode == "actor" and actor is not None:
            page = log.by_actor(actor, start=low, end=high, limit=size, start_key=start_key, action=action)
        else:
            moment = parse_instant(f"{day}T00:00:00+00:00")
            page = log.on_day_range(moment, start=low, end=high, limit=size, start_key=start_key, action=action)
        return list(page.items), page.last_key

    days = utc_days(low, high) if mode == "day" else [""]
    day = str(state.get("d")) if state else days[0]
    if day not in days:
        raise _bad_cursor()
    start_key: Position | None = state.get("k") if state else None
    items: list[Item] = []
    queries = 0
    position: dict[str, Any] | None = {"d": day, "k": start_key}
    while position is not None and len(items) < limit and queries < MAX_QUERIES_PER_PAGE:
        found, last_key = read(position["k"], limit - len(items), position["d"] or None)
        queries += 1
        items += found
        if last_key is not None:
            position = {"d": position["d"], "k": last_key}
            continue
        following = days.index(position["d"]) + 1
        position = {"d": days[following], "k": None} if following < len(days) else None
    next_cursor = (cursors.encode({"q": fingerprint, "lo": low.isoformat(), "hi": high.isoformat(), **position})
                   if position is not None else None)
    return AuditPage(items=[entry_view(i) for i in items], next_cursor=next_cursor)


# ---- a promoter's own history (GET /promoter/history) --------------------------------------------------


def _who(by: str | None, user_id: str, customer: str | None = None) -> Who:
    if by == user_id:
        return "you"
    if by is None or by in {"system", "auto"}:
        return "system"
    if by.startswith("admin:"):
        return "admin"
    return "customer" if by == customer else "system"


def _binding_item(stream: Stream, item: Item, user_id: str) -> BindingHistoryItem:
    direction: Literal["own", "joined", "left"] = (
        "own" if stream.name == "own" else "joined" if stream.name == "joined" else "left")
    member = str(item.get("user_id", ""))
    return BindingHistoryItem(
        at=str(item["at"]), action=str(item.get("action", "")), direction=direction,
        member=None if direction == "own" else mask_user_id(member), source=str(item.get("source", "")),
        trigger=str(item.get("trigger", "")), promoter_code=item.get("promoter_code") if direction != "left" else None,
        by=_who(item.get("by"), user_id, member), reason=item.get("reason"))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def _commission_item(item: Item) -> CommissionHistoryItem:
    record = commission_from_item(item)
    events = [CommissionEventView(
        at=str(e.get("at", "")), status=e.get("status"), amount_fen=_int_or_none(e.get("amount_fen")),
        due_at=e.get("due_at"), settled_fen=_int_or_none(e.get("settled_fen")),
        refunded_base_fen=_int_or_none(e.get("refunded_base_fen")),
        cancelled_fen=_int_or_none(e.get("cancelled_fen")), clawed_back_fen=_int_or_none(e.get("clawed_back_fen")),
    ) for e in record.history if isinstance(e, dict)]
    return CommissionHistoryItem(
        at=iso(record.created_at), commission_id=record.commission_id, order_id=record.order_id, level=record.level,
        product_name=record.product_name, buyer_id=mask_user_id(record.buyer_id), amount_fen=record.amount_fen,
        current_fen=record.current_fen, status=record.status.value, on_hold=bool(record.hold), events=events)


def _withdrawal_item(item: Item) -> WithdrawalHistoryItem:
    view = withdrawal_view(withdrawal_from_item(item), for_promoter=True)
    return WithdrawalHistoryItem(
        at=view.created_at, withdrawal_id=view.withdrawal_id, method=view.method, status=view.status.value,
        amount_fen=view.amount_fen, fee_fen=view.fee_fen, net_fen=view.net_fen, reason=view.reason,
        fail_reason=view.fail_reason, events=view.timeline)


_STREAMS: dict[str, Callable[[str, datetime | None, datetime | None], list[Stream]]] = {
    "binding": binding_streams, "commission": commission_streams, "withdrawal": withdrawal_streams,
}


def promoter_history(*, reader: HistoryReader, user_id: str, kind: HistoryKind, start: str | None, end: str | None,
                     limit: int, cursor: str | None) -> PromoterHistoryPage:
    """The caller's own history of one kind, newest first; only masked data (buyer and member ids,
    no admin names, no bank accounts). ``user_id`` is always the token's subject."""
    since = parse_time(start, "from")
    until = parse_time(end, "to")
    _window(since, until)
    streams = _STREAMS[kind](user_id, since, until)
    fingerprint = _fingerprint(user_id, kind, iso(since) if since else None, iso(until) if until else None)
    saved = cursors.decode(cursor)
    if saved is not None:
        if saved.get("q") != fingerprint or not isinstance(saved.get("s"), list) or len(saved["s"]) != len(streams):
            raise _bad_cursor()
        states = [StreamState(start=s.get("k"), done=bool(s.get("x"))) for s in saved["s"]]
        for stream, state in zip(streams, states, strict=True):
            if state.start is not None and state.start.get(stream.pk_attr) != stream.partition:
                raise _bad_cursor()
    else:
        states = [StreamState() for _ in streams]
    found = reader.merged_page(streams, states, limit=limit)
    items: list[HistoryItem] = []
    for stream, item in found:
        if kind == "binding":
            items.append(_binding_item(stream, item, user_id))
        elif kind == "commission":
            items.append(_commission_item(item))
        else:
            items.append(_withdrawal_item(item))
    more = any(not s.done for s in states)
    next_cursor = (cursors.encode({"q": fingerprint, "s": [{"k": s.start, "x": s.done} for s in states]})
                   if more else None)
    return PromoterHistoryPage(kind=kind, items=items, next_cursor=next_cursor)

