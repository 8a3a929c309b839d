"""Settlement (结算) on DynamoDB Local: exactly what is due, crash/resume equals a clean run,
parallel runs settle once, debt is repaid first, held records wait.

Test data is made directly (a FROZEN record + its ``commission_frozen`` posting in one ledger
transaction), independent of how commissions are computed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.dal.commissions import commission_item
from mall.dal.keys import commission_key
from mall.dal.ledger import LedgerRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Table, Write, deserialize
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.services.settlement import SettlementRepositories, settle_due
from tests.conftest import table_request
from tests.integration.settlement_trace import scan_items, trace_problems

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)
DAY1 = datetime(2026, 11, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 11, 0, tzinfo=UTC)
DAY3 = datetime(2026, 11, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 2, tzinfo=UTC)


def seed(table: Table, *, order: str, beneficiary: str, amount: int, due_at: datetime | None, line: str = "l1",
         level: int = 1, hold: str | None = None) -> CommissionRecord:
    cid = commission_id(order, line, level)
    record = CommissionRecord(
        commission_id=cid, order_id=order, line_id=line, level=level, beneficiary_id=beneficiary,  # type: ignore[arg-type]
        buyer_id="buyer", product_id="p1", product_name="Tea", quantity=1, base_fen=amount * 10, amount_fen=amount,
        status=CommissionStatus.FROZEN, rule={"source": "global", "rate_bp": 1000}, created_at=PAID,
        due_at=due_at, hold=hold)
    posting = L.commission_frozen(promoter_id=beneficiary, commission_id=cid, amount_fen=amount, at=PAID,
                                  ref={"commission_id": cid, "order_id": order})
    LedgerRepository(table).post([posting], also=[
        Write.put(table.name, commission_item(record), condition="attribute_not_exists(pk)")])
    return record


def stored(table: Table, record: CommissionRecord) -> dict[str, Any]:
    item = table.get(commission_key(record.order_id, record.line_id, record.level), consistent=True)
    assert item is not None
    return item


def balances(table: Table, uid: str) -> L.Balances:
    return LedgerRepository(table).wallet(uid).balances


def make_debt(table: Table, uid: str, owed: int) -> None:
    """A clawback after settlement that found nothing available: the shortfall is debt."""
    wallet = LedgerRepository(table).wallet(uid)
    claw = L.commission_clawed_back(balances=wallet.balances, promoter_id=uid, commission_id=f"cm_old_{uid}",
                                    amount_fen=owed, at=PAID, ref={}, step="1")
    LedgerRepository(table).post([claw], expect={uid: wallet})


def assert_ledger_matches_wallets(table: Table, uids: list[str]) -> None:
    for uid in uids:
        totals = L.sum_legs(LedgerRepository(table).all_postings(uid))
        assert {k: v for k, v in balances(table, uid).as_dict().items() if v} == \
            {k: v for k, v in totals.items() if not k.startswith("merchant:") and v}


# ---- (a) exactly what is due ---------------------------------------------------------------------


def test_settles_exactly_what_is_due_at_as_of_and_a_later_as_of_settles_more(table: Table) -> None:
    early = seed(table, order="o1", beneficiary="u1", amount=100, due_at=DAY1)
    on_time = seed(table, order="o2", beneficiary="u1", amount=200, due_at=DAY2)  # due_at == as_of: due
    later = seed(table, order="o3", beneficiary="u1", amount=400, due_at=DAY3)
    other = seed(table, order="o4", beneficiary="u2", amount=50, due_at=DAY1, level=2)
    undated = seed(table, order="o5", beneficiary="u2", amount=70, due_at=None)  # order not completed yet

    report = settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW)
    assert (report.settled, report.settled_fen, report.repaid_fen) == (3, 350, 0)
    assert balances(table, "u1") == L.Balances(frozen=400, available=300)
    assert balances(table, "u2") == L.Balances(frozen=70, available=50)
    for record in (early, on_time, other):
        item = stored(table, record)
        assert item["status"] == "SETTLED" and item["settled_at"] == "2026-11-20T02:00:00Z"
        assert item["settled_fen"] == record.amount_fen and item["version"] == 2
        assert "gsi2pk" not in item and "gsi2sk" not in item  # out of the due index
        assert item["history"][-1] == {"at": "2026-11-20T02:00:00Z", "status": "SETTLED",
                                       "settled_fen": record.amount_fen}
    assert stored(table, later)["status"] == "FROZEN" and "gsi2pk" in stored(table, later)
    assert stored(table, undated)["status"] == "FROZEN"
    # One posting settles u1's two records, naming both; each record names it.
    settling = [p for p in LedgerRepository(table).all_postings("u1") if p["kind"] == "commission_settled"]
    assert [(p["posting_id"], p["settles"], p["amount_fen"]) for p in settling] == [
        (f"{early.commission_id}.settled", [early.commission_id, on_time.commission_id], 300)]
    assert stored(table, early)["settled_by"] == stored(table, on_time)["settled_by"] == settling[0]["posting_id"]
    assert trace_problems(scan_items(table)) == []

    # The same as-of again settles nothing; a later one settles the rest.
    assert settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW).settled == 0
    report = settle_due(SettlementRepositories.on(table), as_of=DAY3 + timedelta(seconds=1), now=NOW)
    assert (report.settled, report.settled_fen) == (1, 400)
    assert balances(table, "u1") == L.Balances(available=700)
    assert_ledger_matches_wallets(table, ["u1", "u2"])


def test_a_slice_skips_what_is_no_longer_due(table: Table) -> None:
    due = seed(table, order="o1", beneficiary="u1", amount=100, due_at=DAY1)
    not_yet = seed(table, order="o2", beneficiary="u1", amount=100, due_at=DAY3)
    repo = SettlementRepository(table)
    keys = [commission_key(r.order_id, r.line_id, r.level) for r in (due, not_yet)]
    keys.append({"pk": "ORDER#o_missing", "sk": "COMMISSION#l1#1"})
    report = repo.settle(keys, as_of=DAY2, now=NOW)
    assert report.settled == 1 and report.skipped == {"missing": 1, "not_yet_due": 1}
    again = repo.settle(keys, as_of=DAY2, now=NOW)  # a redelivered slice
    assert again.settled == 0 and again.skipped == {"missing": 1, "not_yet_due": 1, "not_frozen": 1}
    assert balances(table, "u1") == L.Balances(frozen=100, available=100)


# ---- (b) crash and resume == a clean run ---------------------------------------------------------


@pytest.fixture
def other_table(ddb_client: Any) -> Iterator[Table]:
    name = f"it-{uuid.uuid4().hex[:10]}"
    request = table_request(name)
    request.pop("DeletionProtectionEnabled", None)
    ddb_client.create_table(**request)
    yield Table(name, ddb_client)
    ddb_client.delete_table(TableName=name)


PROMOTERS = ["pa", "pb", "pc", "pd", "pe"]
BUSY = 130


def seed_world(table: Table) -> None:
    """A busy promoter (``BUSY`` due records: a slice of their own, then more than one transaction),
    one in debt, a few small ones, records not yet due and one held."""
    for i in range(BUSY):
        seed(table, order=f"oa{i:03d}", beneficiary="pa", amount=100 + i, due_at=DAY1 + timedelta(minutes=i))
    make_debt(table, "pb", 250)
    for i in range(4):
        seed(table, order=f"ob{i}", beneficiary="pb", amount=120, due_at=DAY1)
    for n, uid in enumerate(["pc", "pd", "pe"]):
        for i in range(3):
            seed(table, order=f"o{uid}{i}", beneficiary=uid, amount=10 * (n + 1) + i, due_at=DAY2, level=1 + i % 2)
        seed(table, order=f"o{uid}late", beneficiary=uid, amount=999, due_at=DAY3)
    seed(table, order="oheld", beneficiary="pc", amount=555, due_at=DAY1, hold="case_1")


def snapshot(table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    items: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table.name, "ConsistentRead": True}
    while True:
        page = table.client.scan(**kwargs)
        for raw in page.get("Items", []):
            item = deserialize(raw)
            items[(item["pk"], item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def money_view(items: dict[tuple[str, str], dict[str, Any]]) -> dict[Any, Any]:
    """``snapshot`` with the settlement postings replaced by what they settled: per promoter the
    records settled (by kind) and the sums moved and repaid (their ids and partitions follow the
    chunks), the records' ``settled_by`` and the wallets' versions left out."""
    dropped = {"commission": {"settled_by"}, "wallet": {"version"}}
    view: dict[Any, Any] = {}
    for key, item in items.items():
        if item.get("entity") == "posting" and (item.get("settles") or item["kind"] == "debt_repaid"):
            uid = item["promoter_id"]
            view[(uid, item["kind"])] = view.get((uid, item["kind"]), 0) + item["amount_fen"]
            view[(uid, "settles")] = sorted([*view.get((uid, "settles"), []), *item.get("settles", [])])
        else:
            view[key] = {k: v for k, v in item.items() if k not in dropped.get(str(item.get("entity")), set())}
    return view


class InjectedCrash(Exception):
    pass


# The seeded world settles in three transactions: a slice of 100 of pa's records (97 and 3: a
# transaction holds 97 records beside its posting, wallet and check), then pa's other 30 with pb..pe.
@pytest.mark.parametrize(("k", "mode"), [(0, "before"), (0, "after"), (1, "before"), (1, "after"),
                                         (2, "before"), (2, "after")])
def test_a_crash_after_k_transactions_then_a_rerun_equals_a_clean_run(
        table: Table, other_table: Table, monkeypatch: pytest.MonkeyPatch, k: int, mode: str) -> None:
    seed_world(table)
    seed_world(other_table)
    clean = settle_due(SettlementRepositories.on(other_table), as_of=DAY2, now=NOW)
    assert clean.settled == BUSY + 4 + 9 and clean.transactions == 3

    real = table.transact
    calls = {"n": 0}

    def crashing(writes: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] <= k:
            real(writes, **kwargs)
            return
        if mode == "after":  # the write commits, but the process dies before it hears so
            real(writes, **kwargs)
        raise InjectedCrash(f"crash at transaction {calls['n']}")

    monkeypatch.setattr(table, "transact", crashing)
    with pytest.raises(InjectedCrash):
        settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW)
    monkeypatch.setattr(table, "transact", real)
    resumed = settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW)
    assert resumed.settled <= clean.settled
    # Records, wallets, postings, merchant: the same, but for how the resumed run cut its chunks (a
    # slice cut short resumes with new chunks: their posting ids, the records' settled_by, the wallets'
    # versions); every record is still traced to the one posting that settled it.
    assert money_view(snapshot(table)) == money_view(snapshot(other_table))
    assert trace_problems(snapshot(table).values()) == []
    assert balances(table, "pa") == L.Balances(available=sum(100 + i for i in range(BUSY)))
    assert balances(table, "pb") == L.Balances(available=4 * 120 - 250)
    assert_ledger_matches_wallets(table, PROMOTERS)


# ---- (c) parallel runs -----------------------------------------------------------------------------


def test_parallel_runs_over_the_same_due_set_settle_each_commission_once(table: Table) -> None:
    seed_world(table)
    start = threading.Barrier(4)

    def run(_: int) -> int:
        start.wait()
        return settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW, slice_size=7).settled

    with ThreadPoolExecutor(max_workers=4) as pool:
        settled = list(pool.map(run, range(4)))
    assert sum(settled) == BUSY + 4 + 9  # each record by exactly one of the runs
    assert balances(table, "pa") == L.Balances(available=sum(100 + i for i in range(BUSY)))
    assert balances(table, "pb") == L.Balances(available=4 * 120 - 250)
    assert balances(table, "pc") == L.Balances(frozen=999 + 555, available=10 + 11 + 12)
    assert_ledger_matches_wallets(table, PROMOTERS)
    settled_postings = [p for uid in PROMOTERS for p in LedgerRepository(table).all_postings(uid)
                        if p["kind"] == "commission_settled"]
    assert sorted(r for p in settled_postings for r in p["settles"]) == sorted(  # each record by one posting
        {r for p in settled_postings for r in p["settles"]}) and len({r for p in settled_postings
                                                                       for r in p["settles"]}) == BUSY + 4 + 9
    assert trace_problems(scan_items(table)) == []


# ---- (d) debt first --------------------------------------------------------------------------------


def test_settled_money_repays_debt_first(table: Table) -> None:
    make_debt(table, "u1", 300)
    assert balances(table, "u1") == L.Balances(debt=-300)
    first = seed(table, order="o1", beneficiary="u1", amount=200, due_at=DAY1)
    second = seed(table, order="o2", beneficiary="u1", amount=200, due_at=DAY1 + timedelta(hours=1))
    make_debt(table, "u2", 500)
    seed(table, order="o3", beneficiary="u2", amount=100, due_at=DAY1)

    report = settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW)
    assert (report.settled, report.settled_fen, report.repaid_fen) == (3, 500, 400)
    # u1: 200 repays 200 of 300, the next 200 repays the last 100 → 100 available, no debt.
    assert balances(table, "u1") == L.Balances(available=100)
    assert balances(table, "u2") == L.Balances(debt=-400)  # all of it went to the debt
    postings = {p["posting_id"]: p for p in LedgerRepository(table).all_postings("u1")}
    # One chunk: one settlement posting of 400 and one repayment of the 300 owed.
    assert postings[f"{first.commission_id}.settled"]["amount_fen"] == 400
    assert postings[f"{first.commission_id}.repaid"]["amount_fen"] == 300
    assert f"{second.commission_id}.settled" not in postings and f"{second.commission_id}.repaid" not in postings
    assert_ledger_matches_wallets(table, ["u1", "u2"])


def test_a_wallet_that_moved_since_it_was_read_is_read_again(table: Table,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seed(table, order="o1", beneficiary="u1", amount=200, due_at=DAY1)
    read_slice = SettlementRepository.read_slice

    def wallets_then_clawback(self: SettlementRepository, keys: Any) -> Any:
        seen = read_slice(self, keys)  # the records, their context and the wallets
        make_debt(table, "u1", 150)  # a clawback lands between the read and the settlement's write
        return seen

    monkeypatch.setattr(SettlementRepository, "read_slice", wallets_then_clawback)
    report = settle_due(SettlementRepositories.on(table), as_of=DAY2, now=NOW)
    assert report.settled == 1 and report.retries == 1
    assert report.repaid_fen == 150  # computed again from the new balances: debt first
    assert balances(table, "u1") == L.Balances(available=50)
    assert_ledger_matches_wallets(table, ["u1"])


# ---- (e) held records ------------------------------------------------------------------------------


def test_held_records_are_not_settled(table: Table) -> None:
    held = seed(table, order="o1", beneficiary="u1", amount=300, due_at=DAY1, hold="case_1")
    free = seed(table, order="o2", beneficiary="u1", amount=100, due_at=DAY1)
    late_hold = seed(table, order="o3", beneficiary="u1", amount=50, due_at=DAY1)
    # A hold set after the record entered the due index (the index entry is still there).
    table.update(commission_key(late_hold.order_id, late_hold.line_id, late_hold.level),
                 "SET #hold = :case", names={"#hold": "hold"}, values={":case": "case_2"})
    report = settle_due(SettlementRepositories.on(table), as_of=DAY3, now=NOW)
    assert report.settled == 1 and report.skipped == {"held": 1}
    assert stored(table, held)["status"] == "FROZEN" and stored(table, late_hold)["status"] == "FROZEN"
    assert stored(table, free)["status"] == "SETTLED"
    assert balances(table, "u1") == L.Balances(frozen=350, available=100)
    # Direct: the held record's key named to a slice is still refused.
    report = SettlementRepository(table).settle([commission_key(held.order_id, held.line_id, held.level)],
                                                as_of=DAY3, now=NOW)
    assert report.settled == 0 and report.skipped == {"held": 1}


@pytest.mark.parametrize("change", ["hold", "cancel", "partial_refund"])
def test_a_record_that_changes_between_read_and_write_is_settled_one_by_one(
        table: Table, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    records = [seed(table, order=f"o{i}", beneficiary="u1", amount=100, due_at=DAY1) for i in range(5)]
    victim = records[2]
    victim_key = commission_key(victim.order_id, victim.line_id, victim.level)
    read = SettlementRepository.read_slice

    def read_then_change(self: SettlementRepository, keys: Any) -> Any:
        found = read(self, keys)
        if change == "hold":
            table.update(victim_key, "SET #h = :c, #v = #v + :one", names={"#h": "hold", "#v": "version"},
                         values={":c": "case_9", ":one": 1})
        elif change == "cancel":  # a full refund before settlement (what the commission engine does)
            cancel = L.commission_cancelled(promoter_id="u1", commission_id=victim.commission_id, amount_fen=100,
                                            at=NOW, ref={}, step="100")
            LedgerRepository(table).post([cancel], also=[Write.update(
                table.name, victim_key, "SET #s = :c, cancelled_fen = :a, #v = #v + :one REMOVE gsi2pk, gsi2sk",
                names={"#s": "status", "#v": "version"}, values={":c": "CANCELLED", ":a": 100, ":one": 1})])
        else:  # a partial refund: 40 of the 100 taken back, the record still FROZEN
            cancel = L.commission_cancelled(promoter_id="u1", commission_id=victim.commission_id, amount_fen=40,
                                            at=NOW, ref={}, step="40")
            LedgerRepository(table).post([cancel], also=[Write.update(
                table.name, victim_key, "SET cancelled_fen = :a, #v = #v + :one",
                names={"#v": "version"}, values={":a": 40, ":one": 1})])
        return found

    monkeypatch.setattr(SettlementRepository, "read_slice", read_then_change)
    report = SettlementRepository(table).settle([commission_key(r.order_id, r.line_id, r.level) for r in records],
                                                as_of=DAY2, now=NOW)
    assert report.fallbacks == 1
    expected_victim = {"hold": 0, "cancel": 0, "partial_refund": 60}[change]
    assert report.settled == 4 + (1 if expected_victim else 0)
    assert report.settled_fen == 400 + expected_victim
    wallet = balances(table, "u1")
    assert wallet.available == 400 + expected_victim
    assert wallet.frozen == (100 if change == "hold" else 0)
    assert_ledger_matches_wallets(table, ["u1"])


# ---- (f) round trips per slice -------------------------------------------------------------------


def test_a_slice_of_small_groups_settles_in_one_transaction_and_two_reads(table: Table) -> None:
    """Four promoters with five or six due records each: the slice is read in two BatchGetItem rounds
    (records with their orders; promoters with their wallets) and written in ONE transaction, not
    one per promoter."""
    uids = ["u1", "u2", "u3", "u4"]
    for n in range(20):
        seed(table, order=f"o{n}", beneficiary=uids[n % 4], amount=100 + n, due_at=DAY1)
        # The order stored, as every record's is (one the read does not answer is read again).
        table.put({"pk": f"ORDER#o{n}", "sk": "ORDER", "entity": "order", "order_id": f"o{n}"})
    seed(table, order="o0", beneficiary="u2", amount=30, due_at=DAY1, level=2)
    keys = [e.key for shard in SettlementRepository.shards()
            for e in SettlementRepository(table).due_entries(shard, as_of=DAY2)]
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    table.client.meta.events.register("before-call.dynamodb", count, unique_id="count-settle")
    try:
        report = SettlementRepository(table).settle(keys, as_of=DAY2, now=NOW)
    finally:
        table.client.meta.events.unregister("before-call.dynamodb", unique_id="count-settle")
    assert report.settled == 21 and report.promoters == 4
    assert calls.count("TransactWriteItems") == 1
    assert calls.count("BatchGetItem") == 2
    assert len(calls) == 3
    assert balances(table, "u2") == L.Balances(available=sum(100 + n for n in range(1, 20, 4)) + 30)
    assert_ledger_matches_wallets(table, uids)
