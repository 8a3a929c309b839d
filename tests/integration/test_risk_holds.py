"""Risk holds on DynamoDB Local: an open case keeps the promoter's commission out of settlement
(another promoter's settles) and refuses their withdrawals; release lets the next run settle it;
confirm voids it with ledger reversals (the ledger still reconciles) and freezes the promoter;
parallel opens and parallel decisions have one effect; a settlement racing the hold never settles
a record after its hold is set.

Commission records come from the real commission sync (``sync_order`` on a paid, then completed
order), so they carry their due dates and due-index entries exactly as in production."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.commissions import CommissionRepository
from mall.dal.keys import audit_entity_partition, commission_key, risk_hold_key
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Item, Table
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.referral import Promoter
from mall.domain.settings import CommissionRates, DistributionSettings
from mall.errors import Conflict, DomainError, Forbidden
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services import risk
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.ledger import reconcile
from mall.services.settlement import SettlementRepositories, settle_due
from mall.services.withdrawals.request import request_withdrawal

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)
COMPLETED = datetime(2026, 11, 3, 9, tzinfo=UTC)
DUE = COMPLETED + timedelta(days=7)
AFTER_DUE = DUE + timedelta(hours=1)
OPENED = datetime(2026, 11, 9, 12, tzinfo=UTC)

RISKY = "u_risky"
CLEAN = "u_clean"
UPLINE = "u_upline"


# ---- test data through the real services ------------------------------------------------------


def promoter(table: Table, uid: str) -> None:
    PromoterRepository(table).create(
        Promoter(user_id=uid, code=f"C{uid[-5:].upper()}", status="active", level_id="basic",
                 applied_at=PAID - timedelta(days=30), activated_at=PAID - timedelta(days=30)),
        grant_role=False, replaces_rejected=False, now=PAID - timedelta(days=30), reserve_code=True)


def paid_order(table: Table, order_id: str, *, l1: str, l2: str | None = None, lines: int = 1,
               paid_fen: int = 10_000, version: int) -> None:
    """A paid order as the order service stores it; its commission comes from ``sync_order``."""
    items = [{"line_id": str(n), "product_id": f"p{n}", "name": f"Tea {n}", "type": "virtual", "category_id": None,
              "quantity": 1, "unit_price_fen": paid_fen, "paid_fen": paid_fen,
              "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True,
              "refunded_fen": 0} for n in range(1, lines + 1)]
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
               "buyer_id": "u_buyer", "status": "PAID", "amount_fen": paid_fen * lines, "goods_fen": paid_fen * lines,
               "shipping_fen": 0, "discount_fen": 0, "lines": items, "created_at": iso(PAID),
               "paid_at": iso(PAID), "version": 2, "settings_version": version,
               "attribution": {"l1_promoter_id": l1, "l2_promoter_id": l2, "settings_version": version,
                               "basis": "binding", "self_purchase": False}})
    assert sync_order(CommissionRepositories.on(table), order_id=order_id, now=PAID).created >= 1


def complete(table: Table, order_id: str) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET completed_at = :at, #s = :done ADD version :one",
                 names={"#s": "status"}, values={":at": iso(COMPLETED), ":done": "COMPLETED", ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=COMPLETED)


def seed_world(table: Table) -> tuple[Table, int]:
    """Settings with a 7-day settlement and the three promoters of these tests."""
    repo = SettingsRepository(table)
    version = repo.save(DistributionSettings(commission=CommissionRates(settlement_days=7)),
                        based_on=repo.current(consistent=True).version, saved_by="test", now=PAID).version
    for uid in (RISKY, CLEAN, UPLINE):
        promoter(table, uid)
    return table, version


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    return seed_world(table)


def records_of(table: Table, uid: str) -> list[CommissionRecord]:
    items: list[Item] = []
    start = None
    while True:
        page = CommissionRepository(table).for_beneficiary(uid, limit=100, start_key=start)
        items += page.items
        start = page.last_key
        if start is None:
            break
    repo = CommissionRepository(table)
    found = [repo.get(str(i["order_id"]), str(i["line_id"]), int(i["level"])) for i in items]
    return [r for r in found if r is not None]


def wallet(table: Table, uid: str) -> L.Balances:
    return LedgerRepository(table).wallet(uid).balances


def withdraw(table: Table, uid: str, amount: int, now: datetime) -> Any:
    return request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                              promoter_id=uid, body=WithdrawalRequest(amount_fen=amount, method="wechat"),
                              now=now, queue=None)


def audits(table: Table, case_id: str) -> list[Item]:
    return table.query(partition=("gsi2pk", audit_entity_partition("risk_case", case_id)), index="gsi2", limit=50).items


def open_case(table: Table, uid: str = RISKY, rule: str = "same_device", now: datetime = OPENED) -> str:
    view = risk.open_case(repos=risk.RiskRepositories.on(table), promoter_id=uid, rule=rule, window_key="2026-11-09",
                          evidence={"accounts": 6}, now=now)
    assert view is not None
    return view.case_id


def parallel(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return work(i)
        except DomainError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


# ---- the flows ---------------------------------------------------------------------------------


def test_an_open_case_holds_settlement_and_withdrawals_and_release_lets_the_next_run_settle(
        world: tuple[Table, int]) -> None:
    table, version = world
    # Available money before the case: settled earlier, so only the hold can refuse a withdrawal.
    paid_order(table, "o_early", l1=RISKY, paid_fen=100_000, version=version)
    complete(table, "o_early")
    assert settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE).settled == 1
    paid_order(table, "o_risky", l1=RISKY, l2=UPLINE, lines=2, version=version)
    paid_order(table, "o_clean", l1=CLEAN, version=version)
    for order in ("o_risky", "o_clean"):
        complete(table, order)

    case_id = open_case(table)
    held = [r for r in records_of(table, RISKY) if r.status == CommissionStatus.FROZEN]
    assert len(held) == 2 and all(r.hold == case_id for r in held)
    with pytest.raises(Conflict) as refused:
        withdraw(table, RISKY, 5_000, AFTER_DUE)
    assert refused.value.code == "risk_hold" and "risk review" in refused.value.message

    report = settle_due(SettlementRepositories.on(table),
                        as_of=AFTER_DUE + timedelta(days=1), now=AFTER_DUE + timedelta(days=1))
    assert report.settled == 3  # the clean promoter's L1 and the upline's two L2 on the risky promoter's order
    assert wallet(table, CLEAN) == L.Balances(available=1_000)
    assert wallet(table, UPLINE).available == 1_000  # held is per promoter: the upline is not held
    assert wallet(table, RISKY) == L.Balances(frozen=2_000, available=10_000)

    view = risk.release_case(repos=risk.RiskRepositories.on(table),
                             case_id=case_id, by="admin:a", note="正常", now=AFTER_DUE,
                             source_ip="203.0.113.7")
    assert view.status == "RELEASED" and table.get(risk_hold_key(RISKY), consistent=True) is None
    assert withdraw(table, RISKY, 5_000, AFTER_DUE).amount_fen == 5_000
    report = settle_due(SettlementRepositories.on(table),
                        as_of=AFTER_DUE + timedelta(days=2), now=AFTER_DUE + timedelta(days=2))
    assert report.settled == 2
    assert wallet(table, RISKY) == L.Balances(available=7_000, withdrawing=5_000)
    assert reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                     promoters=PromoterRepository(table), as_of=AFTER_DUE + timedelta(days=2)).run.clean


def test_confirm_voids_unsettled_commission_exactly_freezes_the_promoter_and_reconciles(
        world: tuple[Table, int]) -> None:
    table, version = world
    paid_order(table, "o_settled", l1=RISKY, version=version)
    complete(table, "o_settled")
    settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    paid_order(table, "o_due", l1=RISKY, lines=2, paid_fen=7_777, version=version)  # 777 fen per line
    complete(table, "o_due")
    paid_order(table, "o_open", l1=RISKY, version=version)  # not completed: no due date yet
    paid_order(table, "o_clean", l1=CLEAN, version=version)
    before = wallet(table, RISKY)
    unsettled = sum(r.current_fen for r in records_of(table, RISKY) if r.status == CommissionStatus.FROZEN)
    assert before.frozen == unsettled == 2 * 777 + 1_000

    case_id = open_case(table)
    view = risk.confirm_case(repos=risk.RiskRepositories.on(table),
                             case_id=case_id, by="admin:a", note="刷单", now=AFTER_DUE,
                             source_ip="203.0.113.7")
    assert view.status == "CONFIRMED" and not view.resolution_pending
    after = wallet(table, RISKY)
    assert after == L.Balances(frozen=0, available=before.available)  # frozen down by exactly what was unsettled
    voided = [p for p in LedgerRepository(table).all_postings(RISKY) if p["kind"] == "commission_voided"]
    assert sum(int(p["amount_fen"]) for p in voided) == unsettled and len(voided) == 3
    states = {r.order_id: r.status for r in records_of(table, RISKY)}
    assert states == {"o_settled": "SETTLED", "o_due": "CANCELLED", "o_open": "CANCELLED"}
    promoter_now = PromoterRepository(table).get(RISKY, consistent=True)
    assert promoter_now is not None and promoter_now.status == "frozen"
    with pytest.raises(Forbidden) as refused:
        withdraw(table, RISKY, 5_000, AFTER_DUE)
    assert refused.value.code == "promoter_not_active"
    hold = table.get(risk_hold_key(RISKY), consistent=True)
    assert hold is not None and hold["confirmed_case_id"] == case_id

    # A refund arriving after the void takes nothing more; later settlement runs leave them alone.
    table.update({"pk": "ORDER#o_due", "sk": "ORDER"}, "SET #lines[0].refunded_fen = :r ADD version :one",
                 names={"#lines": "lines"}, values={":r": 7_777, ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id="o_due", now=AFTER_DUE)
    settle_due(SettlementRepositories.on(table),
               as_of=AFTER_DUE + timedelta(days=30), now=AFTER_DUE + timedelta(days=30))
    assert wallet(table, RISKY) == after and wallet(table, CLEAN) == L.Balances(frozen=1_000)
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=AFTER_DUE + timedelta(days=1))
    assert report.run.clean and report.run.mismatches == 0


def test_opening_the_same_case_in_parallel_opens_it_once(world: tuple[Table, int]) -> None:
    table, version = world
    paid_order(table, "o_1", l1=RISKY, lines=3, version=version)
    results = parallel(8, lambda i: risk.open_case(repos=risk.RiskRepositories.on(table),
                                                   promoter_id=RISKY, rule="same_device",
                                                   window_key="2026-11-09", evidence={"run": i},
                                                   now=OPENED + timedelta(seconds=i)))
    opened = [r for r in results if r is not None]
    assert len(opened) == 1, results
    case_id = opened[0].case_id
    assert [a["action"] for a in audits(table, case_id)] == ["risk_case.open"]
    records = records_of(table, RISKY)
    assert all(r.hold == case_id and r.version == 2 for r in records)  # held once each
    assert all(sum(1 for h in r.history if "hold" in h) == 1 for r in records)
    hold = table.get(risk_hold_key(RISKY), consistent=True)
    assert hold is not None and list(hold["open_cases"]) == [case_id] and hold["version"] == 1


def test_deciding_in_parallel_has_one_effect(world: tuple[Table, int]) -> None:
    table, version = world
    paid_order(table, "o_1", l1=RISKY, lines=4, version=version)
    complete(table, "o_1")
    case_id = open_case(table)

    def decide(i: int) -> Any:
        action = risk.confirm_case if i % 2 == 0 else risk.release_case
        return action(repos=risk.RiskRepositories.on(table),
                      case_id=case_id, by=f"admin:{i}", note=f"n{i}", now=AFTER_DUE)

    results = parallel(6, decide)
    case = risk.get_case(repos=risk.RiskRepositories.on(table), case_id=case_id).case
    winners = [r for r in results if not isinstance(r, DomainError)]
    assert winners and all(r.status == case.status for r in winners)
    assert all(isinstance(r, Conflict) and r.code == "risk_case_not_open" for r in results if r not in winners)
    decisions = [a for a in audits(table, case_id) if a["action"] != "risk_case.open"]
    assert len(decisions) == 1 and decisions[0]["actor"] == case.resolved_by
    records = records_of(table, RISKY)
    if case.status == "CONFIRMED":
        voided = [p for p in LedgerRepository(table).all_postings(RISKY) if p["kind"] == "commission_voided"]
        assert len(voided) == 4 and wallet(table, RISKY) == L.Balances()
        assert all(r.status == CommissionStatus.CANCELLED for r in records)
        history = PromoterRepository(table).history(RISKY, limit=50, start_key=None)[0]
        assert [h["action"] for h in history].count("freeze") == 1
    else:
        assert all(r.hold is None and r.status == CommissionStatus.FROZEN for r in records)
        assert settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE).settled == 4
    assert reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                     promoters=PromoterRepository(table), as_of=AFTER_DUE + timedelta(days=1)).run.clean


def test_a_settlement_racing_open_case_never_settles_a_record_after_its_hold(world: tuple[Table, int]) -> None:
    table, version = world
    for n in range(6):
        paid_order(table, f"o_{n}", l1=RISKY, lines=5, paid_fen=1_000 + n, version=version)
        complete(table, f"o_{n}")
    paid_order(table, "o_clean", l1=CLEAN, version=version)
    complete(table, "o_clean")
    total = sum(r.current_fen for r in records_of(table, RISKY))

    def work(i: int) -> Any:
        if i == 0:
            return settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
        return risk.open_case(repos=risk.RiskRepositories.on(table),
                              promoter_id=RISKY, rule="commission_spike", window_key="w",
                              evidence={}, now=AFTER_DUE)

    parallel(2, work)
    records = records_of(table, RISKY)
    assert len(records) == 30
    settled = [r for r in records if r.status == CommissionStatus.SETTLED]
    held = [r for r in records if r.status == CommissionStatus.FROZEN]
    assert len(settled) + len(held) == 30
    assert not any(r.hold for r in settled)  # a settled record was never held first
    assert all(r.hold for r in held)  # everything not settled before the hold is held
    for record in settled:  # settled strictly before its (failed) hold attempt: no hold entry in its history
        assert not any("hold" in h for h in record.history)
    postings = [p for p in LedgerRepository(table).all_postings(RISKY) if p["kind"] == "commission_settled"]
    assert sorted(r for p in postings for r in p["settles"]) == sorted(r.commission_id for r in settled)
    assert wallet(table, RISKY) == L.Balances(frozen=sum(r.current_fen for r in held),
                                              available=sum(r.current_fen for r in settled))
    assert sum(r.current_fen for r in held) + sum(r.current_fen for r in settled) == total
    # A later run settles nothing of the risky promoter's while the case is open.
    later = settle_due(SettlementRepositories.on(table),
                       as_of=AFTER_DUE + timedelta(days=1), now=AFTER_DUE + timedelta(days=1))
    assert later.settled == 0 and wallet(table, CLEAN) == L.Balances(available=1_000)
    for record in held:
        item = table.get(commission_key(record.order_id, record.line_id, record.level), consistent=True)
        assert item is not None and "gsi2pk" not in item
