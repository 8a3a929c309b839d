"""Counting the DynamoDB work of the functions the local stack runs in this process.

**How.** botocore event hooks on every client of the default boto3 session (the one the
layer's ``boto3.client("dynamodb")`` uses) and on the layer's cached client:

- ``before-parameter-build.dynamodb`` adds ``ReturnConsumedCapacity=INDEXES`` (the TOTAL
  figure plus the table / per-index split) to every operation that accepts it;
- ``before-send.dynamodb`` counts HTTP round trips (a botocore retry is one more);
- ``after-call.dynamodb`` reads ``ConsumedCapacity`` and records the call.

Each call is attributed to the Lambda invocation running on its thread (the runtime's
``invoke`` is wrapped, so HTTP routes, stream and queue workers and schedules are all seen)
and to the *window* open at the time: a benchmark opens one window per request, sends the
request, waits until the stream and queue workers it triggered are idle, and closes it.
Everything in between — the request's own function and every worker it set off — is the
work of that request.

**Capacity: what DynamoDB Local says, and what AWS would bill.** DynamoDB Local returns
``ConsumedCapacity`` for every data operation. For reads (GetItem, Query, BatchGetItem,
TransactGetItems) its figures follow AWS's rules (4 KB units, ½ for eventually consistent,
2× for transactional) and are used, with one correction: a Query that finds nothing and the
keys a BatchGetItem does not find report 0 locally, while AWS bills every read request at
least ½ unit (1 if strongly consistent) per key: that floor is applied. For
``TransactWriteItems`` they do not: one,
two or three small puts all report 4 WCU, one put with two index entries reports 12.
Failed conditional writes and cancelled transactions return no capacity at all. So every
*write* is priced here by AWS's documented rules from the items themselves, read before and
after the call with a client of its own (never counted):

- a write costs ``ceil(max(size before, size after) / 1 KB)`` units (at least 1), ×2 inside
  a transaction; a ``ConditionCheck`` costs like a write of the checked item, ×2;
- each GSI the item enters, leaves or changes in costs one index write of the entry's size
  (projection ALL: the whole item; INCLUDE: its keys and the listed attributes, and a write
  that changes none of those costs that index nothing); a key change in an index is a delete
  plus a put. Index writes are
  counted at the standard rate even inside a transaction (AWS applies them to the indexes
  after the transaction commits); ``wcu_if_index_doubled`` says what doubling would add;
- a failed conditional write or a cancelled transaction is counted at the table cost of
  the attempt (AWS bills failed conditional writes), marked ``failed``.

What DynamoDB Local reported for writes is kept beside the model (``reported_wcu``).
The model's own reads and the time they take are excluded from the figures and the
invocation timings.

**Stages.** Every unit is also attributed to a *stage* of an order's life by the key prefixes of
the item it was spent on (``stage_of``): the money core, the order, the statistics, the rest. A
write's units (index writes included) go to the item written. A read's go to the items read: a
GetItem to its key; a BatchGetItem or TransactGetItems split over its keys in proportion to what
each costs (the item's 4 KB units, or the ½ / 1 unit floor of a key not found); a Query or Scan
over the items it returned in proportion to their size, or, when it returned none, to the
partition its key condition names (a Scan: the rest). The same shares give a read's units by the
*kind of item* read (``rcu_by_item_kind``, named like ``wcu_by_item_kind``: ``ORDER#/ORDER``; a Query that
found nothing goes to the partition it names, ``gsi2:SETTLE_DUE#`` on an index).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
READ_OPS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
CAPACITY = "INDEXES"
# What a window was opened for (an HTTP request, a schedule, a service called directly); every
# other invocation in it is a worker that request triggered (stream, queue).
PRIMARY = frozenset({"http", "schedule", "direct", "in-process"})
_HOOK_ID = "bench-meter"

WireItem = dict[str, Any]  # an item in DynamoDB's wire format ({"attr": {"S": "..."}})


# -- stages: where in an order's life a unit is spent --------------------------------------------

MONEY, ORDER, STATISTICS, REST = "money core", "the order", "statistics", "the rest"
STAGES = (MONEY, ORDER, STATISTICS, REST)
_STATS_PARTITIONS = ("STATS_", "BOARD#", "TEAM_SALES#", "FUNNEL#")
_MONEY_PARTITIONS = ("MERCHANT_ACCOUNT#", "SETTLE_DUE#", "COMMISSIONS#")
_ORDER_PARTITIONS = ("ORDER#", "UNPAID#", "ORDERS#", "BUYER#")


def stage_of(pk: str, sk: str = "") -> str:
    """The stage of an item (or of an index partition) from its key prefixes:

    - money core: commission records and the order's commission plan and basis (``ORDER#`` /
      ``COMMISSION…``), ledger postings and wallets (``USER#`` / ``LEDGER#…``, ``WALLET``), the
      merchant's account balances, the settlement due index and the beneficiary index;
    - the order: the order's other items (the order, its history, status entry, auto-confirm,
      refunds), the unpaid-order marker, the by-status and by-buyer order indexes;
    - statistics: what the stats worker writes (``STATS_…`` aggregates and markers, leaderboard
      entries, team sales, promoters' funnels ``FUNNEL#``, a customer's first paid orders ``USER#`` /
      ``STATS_BUYER``);
    - the rest: everything else (idempotency records, stock, referral counters, audit, risk…)."""
    if pk.startswith(_STATS_PARTITIONS) or (pk.startswith("USER#") and sk == "STATS_BUYER"):
        return STATISTICS
    if pk.startswith(_MONEY_PARTITIONS) or (pk.startswith("ORDER#") and sk.startswith("COMMISSION")) \
            or (pk.startswith("USER#") and (sk.startswith("LEDGER#") or sk == "WALLET")):
        return MONEY
    if pk.startswith(_ORDER_PARTITIONS):
        return ORDER
    return REST


def add_stages(into: dict[str, dict[str, float]], more: Mapping[str, Mapping[str, float]],
               scale: float = 1.0) -> dict[str, dict[str, float]]:
    """``into`` += ``more`` × ``scale``, stage by stage and unit by unit (``rcu`` / ``wcu``)."""
    for stage, units in more.items():
        mine = into.setdefault(stage, {"rcu": 0.0, "wcu": 0.0})
        for name, value in units.items():
            mine[name] = round(mine.get(name, 0.0) + value * scale, 4)
    return into


def add_kinds(into: dict[str, float], more: Mapping[str, float], scale: float = 1.0) -> dict[str, float]:
    """``into`` += ``more`` × ``scale``, kind of item by kind of item."""
    for kind, units in more.items():
        into[kind] = round(into.get(kind, 0.0) + units * scale, 4)
    return into


def sorted_kinds(units: Mapping[str, float]) -> dict[str, float]:
    """Kinds of item by units spent, the costliest first (rounded to 2 places)."""
    return {kind: round(value, 2) for kind, value in sorted(units.items(), key=lambda kv: (-kv[1], kv[0]))}


# -- AWS's sizing rules ------------------------------------------------------------------------


def number_size(text: str) -> int:
    """A number's size: about 1 byte per two significant digits, plus 1."""
    digits = str(Decimal(text).normalize()).lstrip("-").replace(".", "").lstrip("0").split("E")[0]
    return max(1, math.ceil(len(digits) / 2) + 1)


def value_size(value: Mapping[str, Any]) -> int:  # noqa: PLR0911
    """The size of one attribute value (without its name), per the DynamoDB developer guide."""
    ((kind, inner),) = value.items()
    match kind:
        case "S":
            return len(str(inner).encode("utf-8"))
        case "N":
            return number_size(str(inner))
        case "B":
            return len(inner)
        case "BOOL" | "NULL":
            return 1
        case "SS":
            return sum(len(str(s).encode("utf-8")) for s in inner)
        case "NS":
            return sum(number_size(str(n)) for n in inner)
        case "BS":
            return sum(len(b) for b in inner)
        case "L":
            return 3 + sum(1 + value_size(v) for v in inner)
        case "M":
            return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_floor(operation: str, params: Mapping[str, Any]) -> float:
    """The least a read request is billed, found or not: ½ unit eventually consistent, 1 strongly
    consistent, 2 transactional, per key for the batch operations. DynamoDB Local reports 0 for a
    Query that finds nothing and for keys a BatchGetItem does not find; AWS bills those requests."""
    if operation == "BatchGetItem":
        return sum((1.0 if spec.get("ConsistentRead") else 0.5) * len(spec.get("Keys", []))
                   for spec in params.get("RequestItems", {}).values())
    if operation == "TransactGetItems":
        return 2.0 * len(params.get("TransactItems", []))
    return 1.0 if params.get("ConsistentRead") else 0.5


def write_units(size: int) -> int:
    """1 KB write units, at least one."""
    return max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None
    #: None: projection ALL; else the non-key attributes projected (INCLUDE; empty: KEYS_ONLY).
    projected: tuple[str, ...] | None = None
    table_keys: tuple[str, ...] = ("pk", "sk")

    def key_of(self, item: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
        """The item's key in this index, None when the item is not in it (a sparse index)."""
        if not item or self.hash_key not in item or (self.range_key and self.range_key not in item):
            return None
        return (repr(item[self.hash_key]), repr(item[self.range_key]) if self.range_key else None)

    def entry(self, item: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """What the index stores of the item (the whole item under projection ALL)."""
        if item is None or self.projected is None:
            return item
        kept = {*self.table_keys, self.hash_key, *([self.range_key] if self.range_key else []), *self.projected}
        return {name: value for name, value in item.items() if name in kept}

    @classmethod
    def from_template(cls, index: Mapping[str, Any], table_keys: tuple[str, ...]) -> Index:
        """From a GSI of the table's definition in template.yaml."""
        projection = index.get("Projection") or {}
        kind = projection.get("ProjectionType", "ALL")
        projected = None if kind == "ALL" else tuple(projection.get("NonKeyAttributes", ()))
        return cls(index["IndexName"], *[k["AttributeName"] for k in index["KeySchema"]][:2], projected=projected,
                   table_keys=table_keys)


@dataclass
class ItemWrite:
    """What one item of a write call cost, by the model."""

    key: str  # "pk|sk"
    entity: str  # "ORDER#/ORDER": the key prefixes, to group by kind of item
    action: str  # Put, Update, Delete, ConditionCheck
    table_units: int
    index_units: int
    size_before: int
    size_after: int
    indexes: dict[str, int] = field(default_factory=dict)
    stage: str = REST


def price_item(action: str, before: WireItem | None, after: WireItem | None, *, indexes: Sequence[Index],
               transactional: bool, succeeded: bool, key: str, entity: str, stage: str = REST) -> ItemWrite:
    factor = 2 if transactional else 1
    size_before, size_after = item_size(before), item_size(after)
    if action == "ConditionCheck" or not succeeded:
        return ItemWrite(key, entity, action, factor * write_units(size_before), 0, size_before, size_before,
                         stage=stage)
    written = ItemWrite(key, entity, action, factor * write_units(max(size_before, size_after)), 0,
                        size_before, size_after, stage=stage)
    if before == after and action != "Delete":
        return written  # nothing changed: no index entry is touched
    for entry in entry_writes(before, after, indexes):
        written.indexes[entry.index] = entry.units
        written.index_units += entry.units
    return written


@dataclass(frozen=True)
class EntryWrite:
    """What a change of an item did to its entry in one index, and what that cost."""

    index: str
    #: ``enter`` (the item gained the index's keys), ``leave`` (lost them), ``move`` (a key changed: a
    #: delete and a put) or ``rewrite`` (same key, the entry rewritten in place).
    how: str
    units: int
    #: A rewrite's attributes whose value changed in the entry (sorted; under projection ALL, every
    #: attribute of the item that changed). Empty for the other kinds.
    changed: tuple[str, ...] = ()


def entry_writes(before: WireItem | None, after: WireItem | None, indexes: Sequence[Index]) -> list[EntryWrite]:
    """The index entries a change of an item (``before`` → ``after``, None: absent) writes: one per
    index whose entry it enters, leaves, moves or rewrites. Under projection ALL any change of the
    item rewrites its entry; under INCLUDE only a change of a projected attribute does."""
    found: list[EntryWrite] = []
    for index in indexes:
        was, now = index.key_of(before), index.key_of(after)
        entry_before, entry_after = index.entry(before), index.entry(after)
        if was is not None and now is not None:
            if was != now:
                found.append(EntryWrite(index.name, "move",
                                        write_units(item_size(entry_before)) + write_units(item_size(entry_after))))
            elif entry_before != entry_after:
                old, new = entry_before or {}, entry_after or {}
                changed = tuple(sorted(name for name in {*old, *new} if old.get(name) != new.get(name)))
                found.append(EntryWrite(index.name, "rewrite", write_units(item_size(entry_after)), changed))
        elif now is not None:
            found.append(EntryWrite(index.name, "enter", write_units(item_size(entry_after))))
        elif was is not None:
            found.append(EntryWrite(index.name, "leave", write_units(item_size(entry_before))))
    return found


@dataclass(frozen=True)
class SeenWrite:
    """One item a successful write changed: the window it fell in, the function, the item's images."""

    window: str | None
    function: str | None
    action: str
    entity: str
    before: WireItem | None
    after: WireItem | None


# -- what was recorded -------------------------------------------------------------------------


@dataclass
class InvocationRecord:
    function: str
    trigger: str  # http, stream, queue, schedule, direct, in-process
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    ok: bool = True
    round_trips: int = 0
    calls: int = 0
    wechat_calls: int = 0
    sqs_calls: int = 0
    s3_calls: int = 0
    log_bytes: int = 0  # what the function wrote to stdout/stderr: its log lines and EMF metrics
    overhead_s: float = 0.0
    overhead_cpu_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "trigger": self.trigger, "ok": self.ok,
                "wall_ms": round(self.wall_ms, 2), "cpu_ms": round(self.cpu_ms, 2),
                "dynamodb_calls": self.calls, "round_trips": self.round_trips,
                "wechat_calls": self.wechat_calls, "sqs_calls": self.sqs_calls, "s3_calls": self.s3_calls,
                "log_bytes": self.log_bytes}


@dataclass
class CallRecord:
    operation: str
    function: str | None  # None: made outside any invocation (another thread of a function)
    trigger: str | None
    rcu: float = 0.0
    wcu: float = 0.0  # by the model (writes)
    wcu_index_doubled: float = 0.0
    reported_rcu: float | None = None
    reported_wcu: float | None = None
    error: str | None = None
    items: list[ItemWrite] = field(default_factory=list)
    rcu_by_stage: dict[str, float] = field(default_factory=dict)
    rcu_by_kind: dict[str, float] = field(default_factory=dict)

    def stages(self) -> dict[str, dict[str, float]]:
        """This call's units by stage (writes: by the item written; reads: ``rcu_by_stage``)."""
        out: dict[str, dict[str, float]] = {}
        for item in self.items:
            add_stages(out, {item.stage: {"wcu": float(item.table_units + item.index_units)}})
        for stage, units in self.rcu_by_stage.items():
            add_stages(out, {stage: {"rcu": units}})
        return out


@dataclass
class Window:
    """Everything that happened between opening and closing: one request and what it triggered."""

    label: str
    calls: list[CallRecord] = field(default_factory=list)
    invocations: list[InvocationRecord] = field(default_factory=list)
    round_trips_outside: int = 0  # HTTP round trips made on a thread with no invocation
    status: int | None = None
    note: str | None = None

    def summary(self) -> dict[str, Any]:
        primary = [i for i in self.invocations if i.trigger in PRIMARY]
        workers = [i for i in self.invocations if i not in primary]
        reads = [c for c in self.calls if c.operation in READ_OPS]
        writes = [c for c in self.calls if c.operation in WRITE_OPS]
        entities: dict[str, int] = {}
        for call in writes:
            for item in call.items:
                entities[item.entity] = entities.get(item.entity, 0) + item.table_units + item.index_units
        by_stage: dict[str, dict[str, float]] = {stage: {"rcu": 0.0, "wcu": 0.0} for stage in STAGES}
        for call in self.calls:
            add_stages(by_stage, call.stages())
        read_kinds: dict[str, float] = {}
        for call in reads:
            add_kinds(read_kinds, call.rcu_by_kind)
        return {
            "label": self.label,
            "status": self.status,
            "note": self.note,
            "round_trips": sum(i.round_trips for i in primary),
            "http_requests": sum(1 for i in self.invocations if i.trigger == "http"),
            "worker_invocations": len(workers),
            "worker_round_trips": sum(i.round_trips for i in workers) + self.round_trips_outside,
            "max_round_trips_per_worker": max((i.round_trips for i in workers), default=0),
            "rcu": round(sum(c.rcu for c in self.calls), 2),
            "wcu": round(sum(c.wcu for c in self.calls), 2),
            "wcu_if_index_doubled": round(sum(c.wcu_index_doubled for c in self.calls), 2),
            "reported_wcu": round(sum(c.reported_wcu or 0 for c in writes), 2),
            "reported_rcu": round(sum(c.reported_rcu or 0 for c in reads), 2),
            "reads": len(reads),
            "writes": len(writes),
            "failed_calls": [f"{c.operation}: {c.error}" for c in self.calls if c.error],
            "own_operations": [c.operation for c in self.calls if c.trigger in PRIMARY],
            "calls": [_call_dict(c) for c in self.calls],
            "wcu_by_item_kind": dict(sorted(entities.items(), key=lambda kv: -kv[1])),
            "rcu_by_item_kind": sorted_kinds(read_kinds),
            "by_stage": by_stage,
            "invocations": [i.as_dict() for i in self.invocations],
        }


def _call_dict(call: CallRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"operation": call.operation, "function": call.function, "trigger": call.trigger,
                           "rcu": call.rcu, "wcu": call.wcu}
    if call.reported_rcu is not None and call.reported_rcu != call.rcu:
        out["reported_rcu"] = call.reported_rcu
    if call.reported_wcu is not None:
        out["reported_wcu"] = call.reported_wcu
    if call.error:
        out["error"] = call.error
    if call.items:
        out["items"] = [{"key": i.key, "action": i.action, "stage": i.stage, "table_units": i.table_units,
                         "index_units": i.index_units, "indexes": i.indexes, "bytes": max(i.size_before, i.size_after)}
                        for i in call.items]
    if call.rcu_by_stage:
        out["rcu_by_stage"] = call.rcu_by_stage
    if call.rcu_by_kind:
        out["rcu_by_item_kind"] = call.rcu_by_kind
    return out


# -- the meter ---------------------------------------------------------------------------------


def _trigger_of(event: Any) -> str:
    if isinstance(event, dict):
        if "requestContext" in event and "routeKey" in event:
            return "http"
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            source = str(records[0].get("eventSource") or "")
            return {"aws:dynamodb": "stream", "aws:sqs": "queue"}.get(source, "records")
        if event.get("detail-type") == "Scheduled Event" or event.get("source") in {"aws.events", "aws.scheduler"}:
            return "schedule"
    return "direct"


def _consumed(value: Any) -> float | None:
    if value is None:
        return None
    parts = value if isinstance(value, list) else [value]
    return float(sum(float(p.get("CapacityUnits") or 0) for p in parts))


class Meter:
    """``install()`` hooks the default boto3 session (clients created afterwards carry the hooks)
    and ``attach(runtime, clients)`` the runtime and clients made before; both once the local
    stack runs (see ``install``). Measure with ``with meter.window(label):``."""

    def __init__(self, raw_client_factory: Callable[[], Any], *, key_names: tuple[str, str],
                 indexes: Sequence[Index], wechat_port: int | None = None) -> None:
        self._raw_factory = raw_client_factory
        self._raw: Any = None
        self.key_names = key_names
        self.indexes = list(indexes)
        self.wechat_port = wechat_port
        self._window: Window | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._undo: list[Callable[[], None]] = []
        #: Called with every item a successful write changed, its images before and after (the
        #: index-entry benchmark prices them again under other projections).
        self.write_observers: list[Callable[[SeenWrite], None]] = []

    # -- installation --

    def install(self) -> None:
        """Call it once the local runtime has replaced ``os.environ`` with its per-thread view:
        a default session created earlier would keep the process's own environment, and the
        functions' clients would not see their region and endpoints."""
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        self._register(session.events)
        original_request = http.client.HTTPConnection.request
        meter = self

        def request(conn: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> Any:
            invocation = meter._current()
            if invocation is not None and meter.wechat_port is not None and conn.port == meter.wechat_port:
                invocation.wechat_calls += 1
            return original_request(conn, *args, **kwargs)

        setattr(http.client.HTTPConnection, "request", request)  # noqa: B010 - undone by uninstall()
        self._undo.append(lambda: setattr(http.client.HTTPConnection, "request", original_request))

        # A function that fans out on a thread pool (the settlement planner's shard queries):
        # the pool's work belongs to the invocation that submitted it.
        original_submit = ThreadPoolExecutor.submit

        def submit(pool: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            invocation = meter._current()
            if invocation is None:
                return original_submit(pool, fn, *args, **kwargs)

            def run_as_invocation() -> Any:
                previous = getattr(meter._local, "invocation", None)
                meter._local.invocation = invocation
                try:
                    return fn(*args, **kwargs)
                finally:
                    meter._local.invocation = previous

            return original_submit(pool, run_as_invocation)

        setattr(ThreadPoolExecutor, "submit", submit)  # noqa: B010 - undone by uninstall()
        self._undo.append(lambda: setattr(ThreadPoolExecutor, "submit", original_submit))

    def attach(self, runtime: Any, cached_clients: Sequence[Any] = (), *, wechat_port: int | None = None) -> None:
        """Wrap the runtime's ``invoke`` and hook clients that existed before ``install``."""
        if wechat_port is not None:
            self.wechat_port = wechat_port
        for client in cached_clients:
            self._register(client.meta.events)
        original = runtime.invoke
        meter = self

        def invoke(function_id: str, event: Any, *, request_id: str | None = None) -> Any:
            record = InvocationRecord(function=function_id, trigger=_trigger_of(event))
            outcome = meter._run(record, lambda: original(function_id, event, request_id=request_id))
            record.ok = bool(getattr(outcome, "ok", True))
            return outcome

        runtime.invoke = invoke
        self._undo.append(lambda: setattr(runtime, "invoke", original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def _register(self, events: Any) -> None:
        hooks = [("before-parameter-build.dynamodb", self._before, f"{_HOOK_ID}-before"),
                 ("before-send.dynamodb", self._send, f"{_HOOK_ID}-send"),
                 ("after-call.dynamodb", self._after, f"{_HOOK_ID}-after"),
                 ("after-call.sqs", self._other, f"{_HOOK_ID}-sqs"),
                 ("after-call.s3", self._other, f"{_HOOK_ID}-s3")]
        for event, handler, unique_id in hooks:
            events.register(event, handler, unique_id=unique_id)
            self._undo.append(functools.partial(events.unregister, event, handler, unique_id=unique_id))

    # -- windows and invocations --

    @contextlib.contextmanager
    def window(self, label: str, settle: Callable[[], None] | None = None) -> Iterator[Window]:
        """Record everything until the block ends and then ``settle()`` (the stack's drain) returns."""
        opened = Window(label)
        with self._lock:
            if self._window is not None:
                raise RuntimeError(f"window {self._window.label!r} is still open")
            self._window = opened
        try:
            yield opened
            if settle is not None:
                settle()
        finally:
            with self._lock:
                self._window = None

    def in_process(self, label: str, work: Callable[[], Any]) -> Any:
        """Run ``work`` on this thread as if it were an invocation (a service called directly)."""
        return self._run(InvocationRecord(function=label, trigger="in-process"), work)

    def _run(self, record: InvocationRecord, work: Callable[[], Any]) -> Any:
        previous = getattr(self._local, "invocation", None)
        self._local.invocation = record
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return work()
        finally:
            record.wall_ms = max(0.0, (time.perf_counter() - wall - record.overhead_s) * 1000)
            record.cpu_ms = max(0.0, (time.thread_time() - cpu - record.overhead_cpu_s) * 1000)
            self._local.invocation = previous
            with self._lock:
                if self._window is not None:
                    self._window.invocations.append(record)

    def count_log(self, size: int) -> None:
        """``size`` bytes of log output written on this thread: the running invocation's."""
        invocation = self._current()
        if invocation is not None:
            invocation.log_bytes += size

    def _current(self) -> InvocationRecord | None:
        current: InvocationRecord | None = getattr(self._local, "invocation", None)
        return current

    @contextlib.contextmanager
    def _overhead(self) -> Iterator[None]:
        """Time the meter itself spends on a function's thread: taken out of its figures."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            invocation = self._current()
            if invocation is not None:
                invocation.overhead_s += time.perf_counter() - wall
                invocation.overhead_cpu_s += time.thread_time() - cpu

    # -- botocore hooks --

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = CAPACITY
        if self._window is None:
            return
        if model.name in READ_OPS:
            context["bench_read_floor"] = read_floor(model.name, params)
            context["bench_read_plan"] = self._read_plan(model.name, params)
            return
        if model.name not in WRITE_OPS:
            return
        with self._overhead():
            targets = self._targets(model.name, params)
            context["bench_targets"] = targets
            context["bench_before"] = self._images([(t, k) for _, t, k in targets])

    def _send(self, **_: Any) -> None:
        if self._window is None:
            return
        invocation = self._current()
        if invocation is not None:
            invocation.round_trips += 1
        else:
            with self._lock:
                if self._window is not None:
                    self._window.round_trips_outside += 1

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        window = self._window
        if window is None:
            return
        with self._overhead():
            invocation = self._current()
            if invocation is not None:
                invocation.calls += 1
            status = getattr(http_response, "status_code", 200)
            error = str((parsed.get("Error") or {}).get("Code") or status) if status >= 300 else None
            record = CallRecord(operation=model.name, function=invocation.function if invocation else None,
                                trigger=invocation.trigger if invocation else None, error=error)
            reported = _consumed(parsed.get("ConsumedCapacity"))
            if model.name in WRITE_OPS and "bench_targets" in context:
                record.reported_wcu = reported
                self._price_writes(record, model.name, context, succeeded=error is None)
            else:
                record.reported_rcu = reported
                record.rcu = max(reported or 0.0, float(context.get("bench_read_floor", 0.0)))
                if "bench_read_plan" in context and record.rcu:
                    record.rcu_by_stage = self._read_stages(context["bench_read_plan"], parsed, record.rcu)
                    record.rcu_by_kind = self._read_kinds(context["bench_read_plan"], parsed, record.rcu)
            with self._lock:
                if self._window is window:
                    window.calls.append(record)

    def _other(self, model: Any, **_: Any) -> None:
        invocation = self._current()
        if invocation is None or self._window is None:
            return
        if model.service_model.service_name == "sqs":
            invocation.sqs_calls += 1
        else:
            invocation.s3_calls += 1

    # -- attributing reads to stages --

    def _stage_of_key(self, key: Mapping[str, Any]) -> str:
        pk_name, sk_name = self.key_names
        return stage_of(_text(key.get(pk_name)), _text(key.get(sk_name)))

    def _read_plan(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """What a read asked for: the keys (with the floor each is billed at when not found, and the
        kind of item each names), or the stage and kind of the partition a Query names (where its
        units go when it returns nothing)."""
        if operation == "GetItem":
            return {"keys": [self._planned_key(params["Key"], 1.0 if params.get("ConsistentRead") else 0.5)]}
        if operation == "BatchGetItem":
            keys = []
            for spec in params.get("RequestItems", {}).values():
                floor = 1.0 if spec.get("ConsistentRead") else 0.5
                keys += [self._planned_key(k, floor) for k in spec.get("Keys", [])]
            return {"keys": keys}
        if operation == "TransactGetItems":
            return {"keys": [self._planned_key(e["Get"]["Key"], 2.0)
                             for e in params.get("TransactItems", []) if "Get" in e]}
        if operation == "Query":
            stage, kind = self._query_partition(params)
            return {"fallback": stage, "fallback_kind": kind}
        return {"fallback": REST, "fallback_kind": "(scan)"}

    def _planned_key(self, key: Mapping[str, Any], floor: float) -> tuple[str, float, str, str]:
        return self._stage_of_key(key), floor, _key_text("", key), _entity(self._key(key))

    def _query_partition(self, params: Mapping[str, Any]) -> tuple[str, str]:
        """The stage and the kind of item (key prefixes, ``gsi2:`` before an index's) of the
        partition and sort-key prefix a Query's key condition names."""
        index = next((i for i in self.indexes if i.name == params.get("IndexName")), None)
        hash_name, range_name = (index.hash_key, index.range_key) if index else self.key_names
        names = params.get("ExpressionAttributeNames") or {}
        values = params.get("ExpressionAttributeValues") or {}
        condition = str(params.get("KeyConditionExpression") or "")
        found: dict[str, str] = {}
        for pattern in (_EQUALS, _BEGINS_WITH):
            for name, placeholder in pattern.findall(condition):
                found.setdefault(names.get(name, name), _text(values.get(placeholder)))
        pk, sk = found.get(hash_name, ""), found.get(range_name or "", "")
        kind = _entity({"a": {"S": pk}, **({"b": {"S": sk}} if sk else {})})
        return stage_of(pk, sk), (f"{index.name}:{kind}" if index else kind)

    def _read_weights(self, plan: Mapping[str, Any], parsed: Mapping[str, Any]) -> dict[tuple[str, str], float]:
        """What each (stage, kind of item) of a read weighs in its bill: a key its 4 KB units (or the
        floor of a key not found); a Query's or Scan's items their size (a Query billed on the sum of
        the sizes it read, so the bill is shared in proportion), or else the partition it names."""
        weights: dict[tuple[str, str], float] = {}
        if "keys" in plan:
            found = {_key_text("", self._key(item)): item for item in _returned_items(parsed)}
            for stage, floor, name, kind in plan["keys"]:
                item = found.get(name)
                cost = max(floor, floor * math.ceil(item_size(item) / 4096)) if item else floor
                weights[stage, kind] = weights.get((stage, kind), 0.0) + cost
        else:
            for item in _returned_items(parsed):
                # A projection without the table's keys: the partition queried.
                keyed = all(name in item for name in self.key_names)
                place = (self._stage_of_key(item), _entity(self._key(item))) if keyed \
                    else (plan["fallback"], plan.get("fallback_kind", "?"))
                weights[place] = weights.get(place, 0.0) + max(1, item_size(item))
            if not weights:
                weights[plan["fallback"], plan.get("fallback_kind", "?")] = 1.0
        return weights

    def _read_stages(self, plan: Mapping[str, Any], parsed: Mapping[str, Any], rcu: float) -> dict[str, float]:
        return _share(rcu, self._read_weights(plan, parsed), 0)

    def _read_kinds(self, plan: Mapping[str, Any], parsed: Mapping[str, Any], rcu: float) -> dict[str, float]:
        """A read's units by the kind of item read (``wcu_by_item_kind``'s names), shared as the stages are."""
        return _share(rcu, self._read_weights(plan, parsed), 1)

    # -- the write model --

    def _targets(self, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, WireItem]]:
        """(action, table, key) of every item a write call touches."""
        found: list[tuple[str, str, WireItem]] = []
        if operation == "PutItem":
            found.append(("Put", params["TableName"], self._key(params["Item"])))
        elif operation in {"UpdateItem", "DeleteItem"}:
            found.append((operation.removesuffix("Item"), params["TableName"], dict(params["Key"])))
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                ((action, body),) = entry.items()
                key = self._key(body["Item"]) if action == "Put" else dict(body["Key"])
                found.append((action, body["TableName"], key))
        elif operation == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        found.append(("Put", table, self._key(request["PutRequest"]["Item"])))
                    else:
                        found.append(("Delete", table, dict(request["DeleteRequest"]["Key"])))
        return found

    def _key(self, item: Mapping[str, Any]) -> WireItem:
        return {name: item[name] for name in self.key_names if name in item}

    def _images(self, keys: Sequence[tuple[str, WireItem]]) -> dict[str, WireItem | None]:
        """The current items (consistent reads, through the meter's own client: never counted)."""
        if self._raw is None:
            self._raw = self._raw_factory()
        out: dict[str, WireItem | None] = {}
        pending: dict[str, list[WireItem]] = {}
        for table, key in keys:
            name = _key_text(table, key)
            if name not in out:
                out[name] = None
                pending.setdefault(table, []).append(key)
        while pending:
            request = {t: {"Keys": ks[:100], "ConsistentRead": True} for t, ks in pending.items()}
            pending = {t: ks[100:] for t, ks in pending.items() if len(ks) > 100}
            answer = self._raw.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                for item in items:
                    out[_key_text(table, self._key(item))] = item
            for table, left in (answer.get("UnprocessedKeys") or {}).items():
                pending.setdefault(table, []).extend(left["Keys"])
        return out

    def _price_writes(self, record: CallRecord, operation: str, context: Mapping[str, Any], *,
                      succeeded: bool) -> None:
        targets: list[tuple[str, str, WireItem]] = context["bench_targets"]
        before: dict[str, WireItem | None] = context["bench_before"]
        after = self._images([(t, k) for _, t, k in targets]) if succeeded else before
        transactional = operation == "TransactWriteItems"
        for action, table, key in targets:
            name = _key_text(table, key)
            priced = price_item(action, before.get(name), after.get(name), indexes=self.indexes,
                                transactional=transactional, succeeded=succeeded, key=_short_key(key),
                                entity=_entity(key), stage=self._stage_of_key(key))
            record.items.append(priced)
            if succeeded and action != "ConditionCheck":
                window = self._window
                seen = SeenWrite(window.label if window else None, record.function, action, _entity(key),
                                 before.get(name), after.get(name))
                for observer in self.write_observers:
                    observer(seen)
        record.wcu = float(sum(i.table_units + i.index_units for i in record.items))
        record.wcu_index_doubled = float(sum(i.table_units + (2 if transactional else 1) * i.index_units
                                             for i in record.items))


def _share(units: float, weights: Mapping[tuple[str, str], float], by: int) -> dict[str, float]:
    """``units`` split in proportion to ``weights``, grouped by the stage (``by`` 0) or the kind (1)."""
    total = sum(weights.values())
    out: dict[str, float] = {}
    for place, weight in weights.items():
        out[place[by]] = out.get(place[by], 0.0) + units * weight / total
    return {name: round(value, 4) for name, value in out.items()}


_EQUALS = re.compile(r"([#\w.]+)\s*=\s*(:\w+)")
_BEGINS_WITH = re.compile(r"begins_with\(\s*([#\w.]+)\s*,\s*(:\w+)\s*\)")


def _text(value: Any) -> str:
    """The text of a wire-format scalar (``{"S": "ORDER#o_1"}`` → ``ORDER#o_1``), "" if absent."""
    if not isinstance(value, Mapping) or not value:
        return ""
    return str(next(iter(value.values())))


def _returned_items(parsed: Mapping[str, Any]) -> list[WireItem]:
    """The items a read call returned (GetItem, BatchGetItem, TransactGetItems, Query, Scan)."""
    if isinstance(parsed.get("Item"), Mapping):
        return [parsed["Item"]]
    if isinstance(parsed.get("Items"), list):
        return list(parsed["Items"])
    responses = parsed.get("Responses")
    if isinstance(responses, Mapping):
        return [item for items in responses.values() for item in items]
    if isinstance(responses, list):
        return [r["Item"] for r in responses if isinstance(r, Mapping) and r.get("Item")]
    return []


def _key_text(table: str, key: Mapping[str, Any]) -> str:
    return table + "|" + "|".join(f"{k}={next(iter(v.values()))}" for k, v in sorted(key.items()))


def _short_key(key: Mapping[str, Any]) -> str:
    return "|".join(str(next(iter(v.values()))) for _, v in sorted(key.items()))


def _entity(key: Mapping[str, Any]) -> str:
    """``ORDER#o_1`` / ``LINE#2`` → ``ORDER#/LINE#``: the kind of item, without its identity."""
    parts = []
    for _, value in sorted(key.items()):
        text = str(next(iter(value.values())))
        head, sep, _rest = text.partition("#")
        if head[:1].isdigit():  # a timestamp or a number leads: not a kind of item
            head = "…"
        parts.append(head + sep if sep else head)
    return "/".join(parts)
