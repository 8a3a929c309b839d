"""The stats' day aggregates folded into their month and the running totals once a day, on DynamoDB
Local (``mall.dal.stats_fold``): from the fold day on, a change writes its day's aggregate alone (the
month's and the totals' writes go: fewer write units per change, priced by the bench's meter), the
fold adds each day to its month and the totals once, a change to a day already folded still counts
once in the day, the month and the totals, also when it races the fold, and the dashboard shows the
same figures for a month and all time before and after the fold, with the fold day mid-month."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench._meter import item_size, write_units
from mall.clock import china_day, iso, utc_now
from mall.dal.changes import Change
from mall.dal.keys import DAY_SHARDS, day_key, month_key, totals_key
from mall.dal.stats import ApplyResult, StatsRepository
from mall.dal.stats_fold import FOLD_EPOCH, StatsFolder, folded_through, next_day
from mall.dal.table import Item, Table
from mall.domain.stats import AGG_FIELDS, TOTAL_FIELDS
from mall.services.stats import apply_changes, dashboard
from tests.at_once import run_at_once
from tests.conftest import clear_caches
from tests.integration.test_dashboard_series import Shop
from tests.integration.test_stats_merged_writes import _new_table
from tests.unit.conftest import FakeContext, load_function

pytestmark = pytest.mark.integration

PAID = datetime(2026, 12, 3, 2, tzinfo=UTC)  # 10:00 in China, 3 December
FOLDED_FROM = "2026-12-01"


# ---- the changes of one order's lifecycle and of a customer -------------------------------------------------


def _order(order_id: str, at: datetime) -> Change:
    old = {"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": "u_b1",
           "status": "CREATED", "amount_fen": 3_000, "created_at": iso(at),
           "lines": [{"line_id": "1", "product_id": "p_tea", "name": "龙井", "quantity": 1, "paid_fen": 3_000,
                      "refunded_fen": 0}],
           "attribution": {"l1_promoter_id": "u_star", "l2_promoter_id": "u_sun"}, "share_source": None}
    return Change(f"ev-paid-{order_id}", "MODIFY", "1", old, {**old, "status": "PAID", "paid_at": iso(at)})


def _record(order_id: str, uid: str, level: int, amount: int, at: datetime) -> dict[str, Any]:
    return {"pk": f"ORDER#{order_id}", "sk": f"COMMISSION#1#{level}", "entity": "commission", "order_id": order_id,
            "commission_id": f"c_{order_id}_{level}", "level": level, "beneficiary_id": uid, "buyer_id": "u_b1",
            "base_fen": 3_000, "amount_fen": amount, "cancelled_fen": 0, "clawed_back_fen": 0,
            "status": "FROZEN", "created_at": iso(at), "history": [{"at": iso(at), "status": "FROZEN"}]}


def _created(order_id: str, uid: str, level: int, amount: int, at: datetime) -> Change:
    return Change(f"ev-new-{order_id}-{level}", "INSERT", "1", None, _record(order_id, uid, level, amount, at))


def _settled(order_id: str, uid: str, level: int, amount: int, *, created: datetime, at: datetime) -> Change:
    old = _record(order_id, uid, level, amount, created)
    new = {**old, "status": "SETTLED", "settled_at": iso(at), "history": [*old["history"],
                                                                         {"at": iso(at), "status": "SETTLED"}]}
    return Change(f"ev-settled-{order_id}-{level}", "MODIFY", "2", old, new)


def pay(order_id: str, at: datetime) -> list[Change]:
    """The order paid and its two commission records created: one batch of the worker (as the bench's pay)."""
    return [_order(order_id, at), _created(order_id, "u_star", 1, 300, at), _created(order_id, "u_sun", 2, 150, at)]


def settle(order_id: str, created: datetime, at: datetime) -> list[Change]:
    return [_settled(order_id, "u_star", 1, 300, created=created, at=at),
            _settled(order_id, "u_sun", 2, 150, created=created, at=at)]


def login(uid: str, at: datetime) -> list[Change]:
    """A customer's first login: their profile created (a new customer, and one more in all)."""
    return [Change(f"ev-customer-{uid}", "INSERT", "1", None,
                   {"pk": f"USER#{uid}", "sk": "PROFILE", "entity": "customer", "created_at": iso(at)})]


def visit(n: int, at: datetime) -> list[Change]:
    return [Change(f"ev-visit-{n}", "INSERT", "1", None,
                   {"pk": "PVISITS#u_star", "sk": f"VISIT#{n}", "entity": "share_visit", "promoter_id": "u_star",
                    "at": iso(at), "source": "link", "product_id": "p_tea"})]


# ---- what a transaction writes, priced ----------------------------------------------------------------------


def written(table: Table, run: Callable[[], object]) -> list[list[tuple[str, str]]]:
    """The items of every write call ``run`` makes through ``table``'s client, one list per call."""
    calls: list[list[tuple[str, str]]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        bodies = [next(iter(entry.values())) for entry in params.get("TransactItems", [])] or [params]
        keys = [b.get("Key") or b.get("Item") for b in bodies]
        calls.append([(str(key["pk"]["S"]), str(key["sk"]["S"])) for key in keys])

    events = table.client.meta.events
    for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
        events.register(f"before-parameter-build.dynamodb.{operation}", seen, unique_id=f"fold-{operation}")
    try:
        run()
    finally:
        for operation in ("TransactWriteItems", "PutItem", "UpdateItem"):
            events.unregister(f"before-parameter-build.dynamodb.{operation}", unique_id=f"fold-{operation}")
    return calls


def table_units(table: Table, items: list[tuple[str, str]]) -> int:
    """Table write units of one transaction writing ``items`` (2 per started KB, at their size now;
    stats items only grow); a leaderboard entry's index write is the same either way, not counted."""
    sizes = {(str(r["pk"]["S"]), str(r["sk"]["S"])): item_size(r)
             for r in table.client.scan(TableName=table.name, ConsistentRead=True)["Items"]}
    return sum(2 * write_units(sizes[key]) for key in items)


def stats_transaction(table: Table, stats: StatsRepository, changes: list[Change],
                      now: datetime) -> tuple[list[str], int]:
    """Applies ``changes`` as one batch: the kinds of item its one transaction wrote, and its table units."""
    results: list[ApplyResult] = []
    [items] = written(table, lambda: results.append(apply_changes(stats=stats, changes=changes, now=now)))
    assert results[0].transactions == 1 and results[0].attempts == 1, results
    return sorted(pk.split("#")[0] for pk, _ in items), table_units(table, items)


@pytest.fixture
def two_tables(ddb_client: Any) -> Iterator[tuple[Table, Table]]:
    for before in _new_table(ddb_client):
        for after in _new_table(ddb_client):
            yield before, after


def test_a_change_writes_its_days_aggregate_alone_from_the_fold_day(two_tables: tuple[Table, Table]) -> None:
    """The pay, settle, login and share visit of one order's lifecycle on one day (as the bench runs
    them), priced with and without the fold: the month's and the totals' writes go, 2 write units each
    (a leaderboard entry's index writes are the same either way and not counted here)."""
    old_table, new_table = two_tables
    old, new = StatsRepository(old_table), StatsRepository(new_table, stats_folded_from=FOLDED_FROM)
    steps = {"pay": pay("o1", PAID), "settle": settle("o1", PAID, PAID + timedelta(hours=1)),
             "login": login("u_c1", PAID), "visit": visit(1, PAID)}
    now = PAID + timedelta(hours=2)
    got = {step: (stats_transaction(old_table, old, changes, now), stats_transaction(new_table, new, changes, now))
           for step, changes in steps.items()}

    def kinds(step: str, when: int) -> set[str]:
        return set(got[step][when][0])

    assert {step: (before[1], after[1]) for step, (before, after) in got.items()} == {
        "pay": (30, 26), "settle": (10, 8), "login": (8, 4), "visit": (10, 8)}
    assert kinds("pay", 0) - kinds("pay", 1) == {"STATS_MONTH", "STATS_TOTALS"}
    assert kinds("settle", 0) - kinds("settle", 1) == {"STATS_MONTH"}
    assert kinds("login", 0) - kinds("login", 1) == {"STATS_MONTH", "STATS_TOTALS"}
    assert kinds("visit", 0) - kinds("visit", 1) == {"STATS_MONTH"}
    assert all(kinds(step, 1) <= kinds(step, 0) for step in steps)  # nothing written instead


# ---- the figures -------------------------------------------------------------------------------------------


def _summed(table: Table, keys: list[dict[str, str]], fields: tuple[str, ...]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for item in table.batch_get(keys, consistent=True):
        for name in fields:
            if int(item.get(name, 0)):
                sums[name] = sums.get(name, 0) + int(item[name])
    return {name: value for name, value in sums.items() if value}


def day_figures(table: Table, day: str) -> dict[str, int]:
    return _summed(table, [day_key(day, s) for s in range(DAY_SHARDS)], AGG_FIELDS)


def month_figures(table: Table, month: str) -> dict[str, int]:
    """What the month's own items hold (after the fold of all its days: the month)."""
    return _summed(table, [month_key(month, s) for s in range(DAY_SHARDS)], AGG_FIELDS)


def totals_figures(table: Table) -> dict[str, int]:
    return _summed(table, [totals_key(s) for s in range(DAY_SHARDS)], TOTAL_FIELDS)


def read_figures(stats: StatsRepository, *, days: list[str], months: list[str],
                 today: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """What the dashboard's reader makes of the days, months and totals (folded or not)."""
    by_period, running = stats.aggregates_and_totals(days=days, months=months, today=today)

    def summed(items: list[Item], fields: tuple[str, ...]) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in items:
            for name in fields:
                if int(item.get(name, 0)):
                    out[name] = out.get(name, 0) + int(item[name])
        return {name: value for name, value in out.items() if value}

    return {p: summed(items, AGG_FIELDS) for p, items in by_period.items()}, summed(running, TOTAL_FIELDS)


def test_a_day_is_folded_once_and_a_late_change_still_counts_once(two_tables: tuple[Table, Table]) -> None:
    old_table, new_table = two_tables
    old, new = StatsRepository(old_table), StatsRepository(new_table, stats_folded_from=FOLDED_FROM)
    folder = StatsFolder(new_table, stats_folded_from=FOLDED_FROM, sleep=lambda _: None)
    for stats in (old, new):
        apply_changes(stats=stats, changes=[*pay("o1", PAID), *login("u_c1", PAID), *visit(1, PAID)], now=PAID)
    today = "2026-12-03"
    assert read_figures(new, days=[today], months=["2026-12"], today=today) == \
        read_figures(old, days=[today], months=["2026-12"], today=today)
    assert month_figures(new_table, "2026-12") == {} and totals_figures(new_table) == {}  # not folded yet

    assert folder.fold_due(now=PAID + timedelta(days=1)) == ["2026-12-01", "2026-12-02"]  # not the 3rd: the 4th
    # The 3rd, the 4th having ended: ONE transaction of the 8 day shards, the month's and the totals' (20 WCU).
    [fold] = written(new_table, lambda: folder.fold_due(now=PAID + timedelta(days=2)))
    assert len(fold) == DAY_SHARDS + 2 and table_units(new_table, fold) == 20
    assert folder.fold_due(now=PAID + timedelta(days=2)) == []  # once
    assert month_figures(new_table, "2026-12") == month_figures(old_table, "2026-12") == day_figures(old_table, today)
    assert totals_figures(new_table) == totals_figures(old_table) == {"customers_total": 1, "buyers_total": 1}

    # The settlement ten days later: a late change (day, month and totals, guessed from the day's age).
    late = PAID + timedelta(days=10)
    for stats in (old, new):
        result = apply_changes(stats=stats, changes=settle("o1", PAID, late), now=late)
        assert (result.transactions, result.attempts) == (1, 1)
    later = "2026-12-13"
    assert day_figures(new_table, today) == day_figures(old_table, today)
    assert month_figures(new_table, "2026-12") == month_figures(old_table, "2026-12")
    assert read_figures(new, days=[today], months=["2026-12"], today=later) == \
        read_figures(old, days=[today], months=["2026-12"], today=later)
    assert folder.fold_due(now=late) == [f"2026-12-{d:02d}" for d in range(4, 12)]
    assert month_figures(new_table, "2026-12") == month_figures(old_table, "2026-12")
    assert totals_figures(new_table) == totals_figures(old_table)


def test_a_late_change_racing_the_fold_counts_once_in_the_day_the_month_and_the_totals(
        two_tables: tuple[Table, Table]) -> None:
    """Each round: a day's pay and customer, then at once the fold of that day, a settlement of it
    guessed late (its day two days old), a share visit of it guessed not folded, and a customer's
    login: whichever commits first, each is counted once in the day, the month and the totals. (Most
    rounds see one of the two guesses wrong, the change then written again the other way; the next
    test forces each interleaving.)"""
    old_table, new_table = two_tables
    old, new = StatsRepository(old_table), StatsRepository(new_table, stats_folded_from=FOLDED_FROM)
    folder = StatsFolder(new_table, stats_folded_from=FOLDED_FROM, sleep=lambda _: None)
    for n in range(12):
        paid = datetime(2026, 12, 1, 2, tzinfo=UTC) + timedelta(days=n)
        due = paid + timedelta(days=2)
        for stats in (old, new):
            apply_changes(stats=stats, changes=[*pay(f"o{n}", paid), *login(f"u_a{n}", paid)], now=paid)
        apply_changes(stats=old, changes=[*settle(f"o{n}", paid, due), *visit(n, paid), *login(f"u_b{n}", due)],
                      now=due)
        run_at_once([
            lambda due=due: folder.fold_due(now=due),
            lambda n=n, paid=paid, due=due: apply_changes(stats=new, changes=settle(f"o{n}", paid, due), now=due),
            lambda n=n, paid=paid: apply_changes(stats=new, changes=visit(n, paid), now=paid),
            lambda n=n, due=due: apply_changes(stats=new, changes=login(f"u_b{n}", due), now=due),
        ])
        day = paid.strftime("%Y-%m-%d")
        assert day_figures(new_table, day) == day_figures(old_table, day)
        today = due.strftime("%Y-%m-%d")
        assert read_figures(new, days=[], months=["2026-12"], today=today) == \
            read_figures(old, days=[], months=["2026-12"], today=today)
    assert folder.fold_due(now=datetime(2027, 1, 3, tzinfo=UTC))
    assert month_figures(new_table, "2026-12") == month_figures(old_table, "2026-12")
    assert totals_figures(new_table) == totals_figures(old_table) == {
        "customers_total": 24, "buyers_total": 1, "repeat_buyers_total": 1}


# ---- the dashboard -----------------------------------------------------------------------------------------

NOW = datetime(2027, 1, 5, 4, tzinfo=UTC)
RANGES = [("2026-10-28", "2026-11-04"), ("2026-11-01", "2026-11-30"), ("2026-11-10", "2026-11-20"),
          ("2026-09-15", "2027-01-05"), ("2026-12-30", "2027-01-05"), ("2026-02-01", "2027-01-05")]


class FoldShop(Shop):
    def __init__(self, table: Table, folded_from: str | None) -> None:
        super().__init__(table)
        self.stats = StatsRepository(table, stats_folded_from=folded_from)

    def customer(self, created_at: str) -> None:
        self._apply(None, {"pk": f"USER#c{self.n}", "sk": "PROFILE", "entity": "customer", "created_at": created_at})

    def promoter(self, activated_at: str) -> None:
        self._apply(None, {"pk": f"USER#p{self.n}", "sk": "PROMOTER", "entity": "promoter", "status": "active",
                           "activated_at": activated_at})

    def trade(self, day: int) -> None:
        """A day of November or December 2026 (1..61): an order, a commission, a customer, a visit."""
        at = (datetime(2026, 11, 1, 3, tzinfo=UTC) + timedelta(days=day - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.order(at, 1_000 + day, shared=day % 3 == 0)
        self.commission(at, 1 + day % 2, 100 + day)
        self.customer(at)
        if day % 5 == 0:
            self.visit(at)
            self.promoter(at)
            self.refund(at, 50)

    def views(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(first, last): dashboard(stats=self.stats, date_from=first, date_to=last, now=NOW)
                .model_dump(exclude={"as_of"}) for first, last in RANGES}


@pytest.mark.parametrize("folded_from", ["", "2026-11-15"])
def test_the_dashboard_shows_the_same_figures_before_and_after_the_fold(ddb_client: Any, folded_from: str) -> None:
    """Two shops with the same changes: one written as before the fold, one from a fold day (mid-November,
    or every day of a new stack); every range, drawn day by day or month by month, shows the same
    figures before the fold, part way through it, after it, and after late changes to folded days."""
    for old_table in _new_table(ddb_client):
        for new_table in _new_table(ddb_client):
            old, new = FoldShop(old_table, None), FoldShop(new_table, folded_from)
            for shop in (old, new):
                for day in range(1, 66):  # through 4 January 2027 (the changes applied on the 5th)
                    shop.trade(day)
            folder = StatsFolder(new_table, stats_folded_from=folded_from, sleep=lambda _: None)
            expected = old.views()
            assert new.views() == expected
            assert len(folder.fold_due(now=NOW, max_days=9)) == 9  # part way
            assert new.views() == expected
            folder.fold_due(now=NOW)
            assert folder.fold_due(now=NOW) == []
            assert new.views() == expected
            for shop in (old, new):  # late changes to folded days, and one to today
                shop.trade(20)
                shop.trade(45)
                shop.trade(66)
            assert new.views() == old.views() != expected


def test_a_change_between_the_folds_read_and_its_transaction_fails_the_fold_which_counts_it_once(
        two_tables: tuple[Table, Table], monkeypatch: pytest.MonkeyPatch) -> None:
    """The interleavings forced one at a time: a change to the day commits after the fold read the
    day's shards (the fold's transaction fails on the shard's ``writes`` and the fold reads again);
    a change guessed late finds the day not folded yet (written to the day alone), and one guessed
    not folded finds it folded (written to the day, the month and the totals)."""
    old_table, new_table = two_tables
    old, new = StatsRepository(old_table), StatsRepository(new_table, stats_folded_from=FOLDED_FROM)
    folder = StatsFolder(new_table, stats_folded_from=FOLDED_FROM, sleep=lambda _: None)
    due = PAID + timedelta(days=2)
    for stats in (old, new):
        apply_changes(stats=stats, changes=pay("o1", PAID), now=PAID)
        apply_changes(stats=stats, changes=visit(1, PAID), now=PAID)

    early = apply_changes(stats=new, changes=visit(2, PAID), now=due)  # guessed late: the day is not folded
    apply_changes(stats=old, changes=visit(2, PAID), now=due)
    assert early.attempts == 2 and month_figures(new_table, "2026-12") == {}

    real = Table.transact
    sneaked: list[int] = []
    folds: list[str] = []

    def transact(self: Table, writes: Any, **kwargs: Any) -> None:
        first = str(writes[0].op.get("Update", {}).get("Key", {}).get("pk", {}).get("S", ""))
        if self is new_table and first.startswith("STATS_DAY#") and len(writes) == DAY_SHARDS + 2:  # the fold's
            folds.append(first.split("#")[1])
            if first.startswith("STATS_DAY#2026-12-03#") and not sneaked:
                # On the shard of visit 1 (``change_shard``): the fold read it, with its ``writes``.
                sneaked.append(apply_changes(stats=new, changes=visit(15, PAID), now=PAID).attempts)
        real(self, writes, **kwargs)

    monkeypatch.setattr(Table, "transact", transact)
    assert folder.fold_due(now=due) == ["2026-12-01", "2026-12-02", "2026-12-03"]
    monkeypatch.setattr(Table, "transact", real)
    apply_changes(stats=old, changes=visit(15, PAID), now=PAID)
    assert sneaked == [1]  # the change committed first (the day not folded) ...
    assert folds == ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-03"]  # ... and the fold read again

    late = apply_changes(stats=new, changes=visit(4, PAID), now=PAID)  # guessed not folded: it is
    apply_changes(stats=old, changes=visit(4, PAID), now=PAID)
    assert late.attempts == 2
    assert day_figures(new_table, "2026-12-03") == day_figures(old_table, "2026-12-03")
    assert month_figures(new_table, "2026-12") == month_figures(old_table, "2026-12")
    assert month_figures(new_table, "2026-12")["share_visits"] == 4


def test_the_stats_workers_schedule_folds_the_days_due(table: Table) -> None:
    """The hourly event ``{"fold": true}`` of the stats worker (template.yaml) runs the fold: a new
    stack (``STATS_FOLDED_FROM`` empty) folds every day from ``FOLD_EPOCH`` through the day before
    yesterday, and a second run finds nothing due."""
    clear_caches()
    worker = load_function("stats_worker")
    last = next_day(china_day(utc_now()), -2)
    first = worker.run({"fold": True}, FakeContext())
    assert first["folded"][0] == FOLD_EPOCH and first["folded"][-1] == last
    assert worker.run({"fold": True}, FakeContext()) == {"folded": []}
    assert folded_through(table.get(totals_key(0))) == last
    clear_caches()
