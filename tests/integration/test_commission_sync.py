"""Commission sync (``mall.services.commissions.sync_order``) on DynamoDB Local: records and their
postings are created once per order whatever the number of concurrent calls; only the
attribution's two levels ever earn; due dates, refunds before and after settlement (with debt)
converge to the same state whatever the order of the changes and of the syncs."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.catalog import CategoryRepository
from mall.dal.commissions import CommissionRepository
from mall.dal.keys import PLAN_SK
from mall.dal.ledger import LedgerRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.catalog import Category
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.settings import CommissionRates, DistributionSettings, PromoterLevel
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.referral import ReferralRepositories
from mall.services.referral.attribution import attribute_order
from mall.services.settlement import SettlementRepositories, settle_due

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)
COMPLETED = datetime(2026, 11, 3, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 10, tzinfo=UTC)

LEVELS = [PromoterLevel(id="basic", name="普通"), PromoterLevel(id="senior", name="高级", l1_points_bp=300,
                                                                l2_points_bp=100)]


def save_settings(table: Table, **commission: Any) -> int:
    repo = SettingsRepository(table)
    current = repo.current(consistent=True)
    document = DistributionSettings(levels=LEVELS, commission=CommissionRates(**commission))
    return repo.save(document, based_on=current.version, saved_by="test", now=PAID).version


def promoter(table: Table, uid: str, *, status: str = "active", level: str = "basic",
             l1_override_bp: int | None = None) -> str:
    table.put({"pk": f"USER#{uid}", "sk": "PROMOTER", "entity": "promoter", "user_id": uid, "code": f"C{uid[-6:]}",
               "status": status, "level_id": level, "l1_override_bp": l1_override_bp, "version": 1})
    return uid


def bind(table: Table, child: str, parent: str) -> None:
    table.put({"pk": f"USER#{child}", "sk": "BINDING", "entity": "binding", "user_id": child, "parent_id": parent,
               "bound_at": iso(PAID - timedelta(days=30)), "source": "invite_code", "trigger": "invite_code",
               "gsi1pk": f"TEAM#{parent}", "gsi1sk": f"{iso(PAID)}#{child}", "version": 1})


def line(line_id: str, paid_fen: int, *, quantity: int = 1, mode: str = "inherit", l1: int = 0, l2: int = 0,
         category_id: str | None = "c_tea", enabled: bool = True) -> dict[str, Any]:
    return {"line_id": line_id, "product_id": f"p_{line_id}", "name": f"Tea {line_id}", "type": "virtual",
            "category_id": category_id, "quantity": quantity, "unit_price_fen": paid_fen // quantity,
            "paid_fen": paid_fen, "commission": {"mode": mode, "l1": l1, "l2": l2},
            "distribution_enabled": enabled, "refunded_fen": 0}


def put_order(table: Table, order_id: str, lines: Sequence[dict[str, Any]], *, l1: str | None, l2: str | None,
              version: int, buyer: str = "u_buyer", status: str = "PAID", basis: str = "binding",
              self_purchase: bool = False, attribution: dict[str, Any] | None = None) -> None:
    amount = sum(int(x["paid_fen"]) for x in lines)
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id, "buyer_id": buyer,
               "status": status, "amount_fen": amount, "goods_fen": amount, "shipping_fen": 0, "discount_fen": 0,
               "lines": list(lines), "created_at": iso(PAID), "expires_at_order": iso(PAID + timedelta(minutes=30)),
               "paid_at": iso(PAID) if status != "CREATED" else None, "version": 2, "settings_version": version,
               "attribution": attribution or {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": version,
                                              "basis": basis, "self_purchase": self_purchase}})


def set_refunded(table: Table, order_id: str, index: int, refunded: int) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, f"SET #lines[{index}].refunded_fen = :r ADD version :one",
                 names={"#lines": "lines"}, values={":r": refunded, ":one": 1})


def complete(table: Table, order_id: str, at: datetime = COMPLETED) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"},
                 "SET completed_at = :at, #s = :done ADD version :one", names={"#s": "status"},
                 values={":at": iso(at), ":done": "COMPLETED", ":one": 1})


def records(table: Table, order_id: str) -> dict[tuple[str, int], CommissionRecord]:
    return {(r.line_id, r.level): r for r in CommissionRepository(table).for_order(order_id)}


def wallet(table: Table, uid: str) -> L.Balances:
    return LedgerRepository(table).wallet(uid).balances


def ledger_total(table: Table, uid: str) -> dict[str, int]:
    return L.sum_legs(LedgerRepository(table).all_postings(uid))


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    CategoryRepository(table).create(Category(category_id="c_tea", name="茶", l1_rate_bp=1200, l2_rate_bp=600))
    version = save_settings(table, settlement_days=7)
    return table, version


# ---- creation ----------------------------------------------------------------------------------


def test_paid_order_creates_l1_and_l2_records_with_their_postings_once(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c", level="senior")
    promoter(table, "u_b")
    put_order(table, "o_1", [line("1", 10_000), line("2", 3_000, quantity=3, mode="fixed", l1=200, l2=100)],
              l1="u_c", l2="u_b", version=version)
    result = sync_order(CommissionRepositories.on(table), order_id="o_1", now=NOW)
    assert (result.outcome, result.created) == ("synced", 4)
    found = records(table, "o_1")
    # line 1: category 12% + 3% level points (C), 6% (B); line 2: 3 × 200 + 3% of 3000 (C), 3 × 100 (B)
    # clamped to 900 − 690 = 210 by the 30% cap (L2 gives way first)
    assert {k: r.amount_fen for k, r in found.items()} == {("1", 1): 1_500, ("1", 2): 600,
                                                          ("2", 1): 690, ("2", 2): 210}
    rule = found[("1", 1)].rule
    assert (rule["source"], rule["ratio_bp"], rule["level_points_bp"], rule["level_id"], rule["settings_version"],
            rule["capped"], rule["basis"]) == ("category", 1500, 300, "senior", version, False, "binding")
    assert found[("2", 1)].rule["mode"] == "fixed" and found[("2", 1)].rule["source"] == "product"
    assert (found[("2", 2)].rule["capped"], found[("2", 2)].rule["wanted_fen"]) == (True, 300)
    assert all(r.status == CommissionStatus.FROZEN and r.due_at is None for r in found.values())
    assert wallet(table, "u_c") == L.Balances(frozen=2_190) and wallet(table, "u_b") == L.Balances(frozen=810)
    assert LedgerRepository(table).merchant_balances()["merchant:commission"] == -3_000
    plan = table.get({"pk": "ORDER#o_1", "sk": PLAN_SK})
    assert plan is not None and [x["outcome"] for x in plan["levels"]] == ["earn"] * 4
    # Again: nothing new.
    again = sync_order(CommissionRepositories.on(table), order_id="o_1", now=NOW + timedelta(minutes=1))
    assert again.created == 0 and records(table, "o_1") == found
    assert wallet(table, "u_c") == L.Balances(frozen=2_190)


def test_ten_concurrent_syncs_of_one_order_create_everything_once(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c")
    promoter(table, "u_b")
    put_order(table, "o_race", [line(str(i), 1_000 + i) for i in range(1, 21)], l1="u_c", l2="u_b", version=version)
    start = threading.Barrier(10)

    def run(i: int) -> int:
        start.wait()
        return sync_order(CommissionRepositories.on(table), order_id="o_race", now=NOW + timedelta(seconds=i)).created

    with ThreadPoolExecutor(max_workers=10) as pool:
        created = list(pool.map(run, range(10)))
    assert sum(created) == 40 and sorted(created)[-1] == 40
    found = records(table, "o_race")
    assert len(found) == 40
    expected_l1 = sum((1_000 + i) * 1200 // 10_000 for i in range(1, 21))
    assert wallet(table, "u_c") == L.Balances(frozen=expected_l1)
    assert ledger_total(table, "u_c") == {"frozen": expected_l1, "merchant:commission": -expected_l1}
    assert len(list(LedgerRepository(table).all_postings("u_b"))) == 20


def test_inactive_beneficiary_gets_nothing_and_nobody_moves_up(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c", status="frozen")
    promoter(table, "u_b")
    promoter(table, "u_a")
    put_order(table, "o_2", [line("1", 10_000)], l1="u_c", l2="u_b", version=version)
    sync_order(CommissionRepositories.on(table), order_id="o_2", now=NOW)
    found = records(table, "o_2")
    assert list(found) == [("1", 2)] and found[("1", 2)].amount_fen == 600  # B keeps its L2 rate, not L1's
    assert wallet(table, "u_c") == L.Balances() and wallet(table, "u_a") == L.Balances()
    plan = table.get({"pk": "ORDER#o_2", "sk": PLAN_SK})
    assert plan is not None and [x["outcome"] for x in plan["levels"]] == ["inactive", "earn"]
    # C becomes active again later: the order's commission was decided, C still gets nothing from it.
    promoter(table, "u_c")
    complete(table, "o_2")
    sync_order(CommissionRepositories.on(table), order_id="o_2", now=NOW + timedelta(days=1))
    assert list(records(table, "o_2")) == [("1", 2)]


def test_a_four_deep_chain_pays_only_the_two_levels_of_the_attribution(world: tuple[Table, int]) -> None:
    table, _ = world
    for uid in ("u_a", "u_b", "u_c"):
        promoter(table, uid)
    bind(table, "u_b", "u_a")
    bind(table, "u_c", "u_b")
    bind(table, "u_d", "u_c")
    attribution = attribute_order(network=ReferralRepositories.on(table), buyer_id="u_d", share=None, now=PAID)
    assert (attribution.l1_promoter_id, attribution.l2_promoter_id) == ("u_c", "u_b")
    put_order(table, "o_chain", [line("1", 20_000)], l1=None, l2=None, version=attribution.settings_version,
              buyer="u_d", attribution=asdict(attribution))
    sync_order(CommissionRepositories.on(table), order_id="o_chain", now=NOW)
    found = records(table, "o_chain")
    assert {k: (r.beneficiary_id, r.amount_fen) for k, r in found.items()} == {("1", 1): ("u_c", 2_400),
                                                                              ("1", 2): ("u_b", 1_200)}
    assert wallet(table, "u_a") == L.Balances() and list(LedgerRepository(table).all_postings("u_a")) == []
    # Whatever the binding data says later (A's parent, D rebound…), the order's two levels stay.
    promoter(table, "u_root")
    bind(table, "u_a", "u_root")
    sync_order(CommissionRepositories.on(table), order_id="o_chain", now=NOW + timedelta(minutes=5))
    assert {r.beneficiary_id for r in records(table, "o_chain").values()} == {"u_c", "u_b"}


def test_zero_amounts_disabled_products_and_unpaid_orders_create_nothing(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c")
    promoter(table, "u_b")
    put_order(table, "o_small", [line("1", 5), line("2", 9_000, enabled=False), line("3", 100)],
              l1="u_c", l2="u_b", version=version)
    sync_order(CommissionRepositories.on(table), order_id="o_small", now=NOW)
    found = records(table, "o_small")
    assert {k: r.amount_fen for k, r in found.items()} == {("3", 1): 12, ("3", 2): 6}
    plan = table.get({"pk": "ORDER#o_small", "sk": PLAN_SK})
    assert plan is not None
    assert [x["outcome"] for x in plan["levels"]] == ["zero", "zero", "disabled", "disabled", "earn", "earn"]
    put_order(table, "o_late", [line("1", 10_000)], l1="u_c", l2="u_b", version=version, status="PAID_AFTER_EXPIRY")
    assert sync_order(CommissionRepositories.on(table), order_id="o_late", now=NOW).outcome == "not_paid"
    put_order(table, "o_unpaid", [line("1", 10_000)], l1="u_c", l2="u_b", version=version, status="CREATED")
    assert sync_order(CommissionRepositories.on(table), order_id="o_unpaid", now=NOW).outcome == "not_paid"
    assert sync_order(CommissionRepositories.on(table), order_id="o_missing", now=NOW).outcome == "no_order"
    assert records(table, "o_late") == {} and records(table, "o_unpaid") == {}


def test_a_held_beneficiary_gets_a_held_record_outside_the_due_index(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c")
    promoter(table, "u_b")
    table.put({"pk": "USER#u_c", "sk": "RISK_HOLD", "entity": "risk_hold", "case_id": "rc_1",
               "opened_at": iso(PAID)})
    # As the hold's writers do, in the hold's transaction: the flag on the wallet.
    table.update({"pk": "USER#u_c", "sk": "WALLET"}, "SET risk_hold = :on", values={":on": True})
    put_order(table, "o_held", [line("1", 10_000)], l1="u_c", l2="u_b", version=version)
    complete(table, "o_held")
    sync_order(CommissionRepositories.on(table), order_id="o_held", now=NOW)
    found = records(table, "o_held")
    assert found[("1", 1)].hold == "rc_1" and found[("1", 2)].hold is None
    items = {i["sk"]: i for i in table.query(partition=("pk", "ORDER#o_held"), limit=50).items}
    assert "gsi2pk" not in items["COMMISSION#1#1"] and items["COMMISSION#1#2"]["gsi2pk"].startswith("SETTLE_DUE#")


# ---- due dates and refunds ---------------------------------------------------------------------


def test_due_date_uses_the_settlement_days_of_the_orders_rules_version(world: tuple[Table, int]) -> None:
    table, _ = world
    promoter(table, "u_c")
    old = save_settings(table, settlement_days=3)
    save_settings(table, settlement_days=10)  # in force now; the order was placed under `old`
    put_order(table, "o_due", [line("1", 10_000)], l1="u_c", l2=None, version=old)
    sync_order(CommissionRepositories.on(table), order_id="o_due", now=NOW)
    complete(table, "o_due")
    result = sync_order(CommissionRepositories.on(table), order_id="o_due", now=NOW)
    assert result.due_set == 1
    record = records(table, "o_due")[("1", 1)]
    assert record.due_at == COMPLETED + timedelta(days=3)
    item = table.get({"pk": "ORDER#o_due", "sk": "COMMISSION#1#1"})
    assert item is not None and item["gsi2sk"] == f"{iso(COMPLETED + timedelta(days=3))}#{record.commission_id}"
    assert sync_order(CommissionRepositories.on(table), order_id="o_due", now=NOW).due_set == 0


def test_setting_due_dates_writes_each_record_with_one_conditional_update(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_d1")
    promoter(table, "u_d2")
    put_order(table, "o_one", [line("1", 10_000)], l1="u_d1", l2="u_d2", version=version)
    sync_order(CommissionRepositories.on(table), order_id="o_one", now=NOW)
    complete(table, "o_one")
    writes: list[str] = []

    def seen(model: Any, **_: Any) -> None:
        if model.name in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}:
            writes.append(model.name)

    table.client.meta.events.register("before-call.dynamodb", seen, unique_id="due-date-writes")
    try:
        assert sync_order(CommissionRepositories.on(table), order_id="o_one", now=NOW).due_set == 2
    finally:
        table.client.meta.events.unregister("before-call.dynamodb", unique_id="due-date-writes")
    assert writes == ["UpdateItem", "UpdateItem"]  # no money moves: no transaction
    assert all(r.due_at == COMPLETED + timedelta(days=7) for r in records(table, "o_one").values())


def test_refunds_before_settlement_cancel_pro_rata_then_in_full(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c")
    promoter(table, "u_b")
    put_order(table, "o_ref", [line("1", 9_999)], l1="u_c", l2="u_b", version=version)
    sync_order(CommissionRepositories.on(table), order_id="o_ref", now=NOW)  # L1 1199, L2 599
    set_refunded(table, "o_ref", 0, 3_333)
    result = sync_order(CommissionRepositories.on(table), order_id="o_ref", now=NOW)
    first = records(table, "o_ref")
    assert first[("1", 1)].current_fen == 1_199 * 6_666 // 9_999 and first[("1", 1)].refunded_base_fen == 3_333
    assert result.cancelled_fen == (1_199 - 799) + (599 - 599 * 6_666 // 9_999)
    assert wallet(table, "u_c") == L.Balances(frozen=799)
    complete(table, "o_ref")
    set_refunded(table, "o_ref", 0, 9_999)
    sync_order(CommissionRepositories.on(table), order_id="o_ref", now=NOW)
    done = records(table, "o_ref")
    assert all(r.status == CommissionStatus.CANCELLED and r.current_fen == 0 for r in done.values())
    assert wallet(table, "u_c") == L.Balances() and wallet(table, "u_b") == L.Balances()
    assert LedgerRepository(table).merchant_balances()["merchant:commission"] == 0
    items = table.query(partition=("pk", "ORDER#o_ref"), sort_prefix=("sk", "COMMISSION#"), limit=10).items
    assert all("gsi2pk" not in i for i in items)
    kinds = sorted(p["kind"] for p in LedgerRepository(table).all_postings("u_c"))
    assert kinds == ["commission_cancelled", "commission_cancelled", "commission_frozen"]


def test_refund_after_settlement_claws_back_and_a_shortfall_becomes_debt(world: tuple[Table, int]) -> None:
    table, version = world
    promoter(table, "u_c")
    put_order(table, "o_s", [line("1", 10_000), line("2", 5_000)], l1="u_c", l2=None, version=version)
    sync_order(CommissionRepositories.on(table), order_id="o_s", now=NOW)  # 1200 + 600 frozen
    complete(table, "o_s")
    sync_order(CommissionRepositories.on(table), order_id="o_s", now=NOW)
    report = settle_due(SettlementRepositories.on(table),
                        as_of=COMPLETED + timedelta(days=7), now=COMPLETED + timedelta(days=7))
    assert (report.settled, report.settled_fen) == (2, 1_800)
    assert wallet(table, "u_c") == L.Balances(available=1_800)
    # The promoter withdraws 1,500 of it: only 300 stays available.
    ledger = LedgerRepository(table)
    ledger.post([L.withdrawal_held(promoter_id="u_c", withdrawal_id="w_1", amount_fen=1_500, at=NOW)])
    set_refunded(table, "o_s", 0, 10_000)  # line 1 refunded in full after settlement: 1,200 back
    result = sync_order(CommissionRepositories.on(table), order_id="o_s", now=NOW + timedelta(days=9))
    assert result.clawed_back_fen == 1_200
    record = records(table, "o_s")[("1", 1)]
    assert (record.status, record.clawed_back_fen, record.current_fen) == (CommissionStatus.SETTLED, 1_200, 0)
    assert wallet(table, "u_c") == L.Balances(available=0, withdrawing=1_500, debt=-900)
    assert ledger_total(table, "u_c") == {"frozen": 0, "available": 0, "withdrawing": 1_500, "debt": -900,
                                          "merchant:commission": -600}
    assert sync_order(CommissionRepositories.on(table),
                      order_id="o_s", now=NOW + timedelta(days=10)).clawed_back_fen == 0


# ---- convergence -------------------------------------------------------------------------------


def _final_state(table: Table, order_id: str, promoters: Sequence[str]) -> tuple[Any, ...]:
    found = records(table, order_id)
    shape = sorted((k, r.status, r.amount_fen, r.cancelled_fen, r.clawed_back_fen, r.refunded_base_fen, r.due_at,
                    r.hold) for k, r in found.items())
    return tuple(shape), tuple(wallet(table, uid) for uid in promoters)


CHANGES: dict[str, Callable[[Table, str], None]] = {
    "complete": complete,
    "refund_a": lambda t, o: set_refunded(t, o, 0, 2_345),
    "refund_b": lambda t, o: set_refunded(t, o, 1, 7_000),
}


@pytest.mark.parametrize("order", list(itertools.permutations(CHANGES)), ids="-".join)
def test_any_order_of_changes_and_syncs_converges_to_the_same_state(world: tuple[Table, int],
                                                                     order: tuple[str, ...]) -> None:
    table, version = world
    promoter(table, "u_c", level="senior")
    promoter(table, "u_b")
    lines = [line("1", 7_777), line("2", 7_000, quantity=7, mode="fixed", l1=100, l2=50)]
    # The reference: every change first, one sync.
    put_order(table, "o_ref", lines, l1="u_c", l2="u_b", version=version)
    for change in CHANGES.values():
        change(table, "o_ref")
    sync_order(CommissionRepositories.on(table), order_id="o_ref", now=NOW)
    reference = _final_state(table, "o_ref", ["u_c", "u_b"])
    # This permutation, for another pair of promoters: syncs between changes, duplicated, concurrent.
    promoter(table, "u_c2", level="senior")
    promoter(table, "u_b2")
    put_order(table, "o_perm", lines, l1="u_c2", l2="u_b2", version=version)

    def sync_three_at_once() -> None:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda i: sync_order(CommissionRepositories.on(table), order_id="o_perm", now=NOW), range(3)))

    sync_three_at_once()
    for name in order:
        CHANGES[name](table, "o_perm")
        sync_three_at_once()
    assert _final_state(table, "o_perm", ["u_c2", "u_b2"]) == reference
    totals = ledger_total(table, "u_c2")
    assert totals.get("frozen", 0) == wallet(table, "u_c2").frozen
