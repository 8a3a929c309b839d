"""Settlement conditions on DynamoDB Local: the promoter's status (an admin freeze holds, a
disable voids what is unsettled and leaves settled money withdrawable), each order line settling on
its own completion (a mixed order's service line after its 核销), and open refund requests making a
line's commission wait. Each condition is checked again inside the settling transaction: a freeze
or a refund request that commits between the settlement's read and its commit makes the record wait.

Commission records come from the real commission sync on paid orders, orders move through the real
fulfilment and refund services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mall.clock import iso
from mall.dal.commissions import CommissionRepository
from mall.dal.keys import audit_entity_partition, risk_hold_key, wallet_key
from mall.dal.keys import customer_profile_key as profile_key
from mall.dal.ledger import LedgerRepository
from mall.dal.orders import OrderRepository
from mall.dal.referral import PromoterRepository
from mall.dal.refunds import RefundRepository
from mall.dal.settings import SettingsRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Item, Table
from mall.dal.team_bonus import BonusRepository
from mall.dal.withdrawals import WithdrawalRepository
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.referral import Promoter
from mall.domain.refunds import LineRequest
from mall.domain.settings import CommissionRates, DistributionSettings
from mall.domain.team_bonus import BonusRecord
from mall.errors import DomainError, Forbidden
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services import fulfilment
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.referral import promoters as referral_promoters
from mall.services.refunds import reject_refund, request_refund
from mall.services.settlement import SettlementRepositories, settle_due, void_disabled_promoter
from mall.services.withdrawals.request import request_withdrawal

PAID = datetime(2026, 11, 1, 8, tzinfo=UTC)
COMPLETED = datetime(2026, 11, 3, 9, tzinfo=UTC)
AFTER_DUE = COMPLETED + timedelta(days=7, hours=1)
LATER = AFTER_DUE + timedelta(days=1)
DAYS = 7

PROMOTER = "u_promoter"
UPLINE = "u_upline"
BUYER = "u_buyer"


@pytest.fixture
def world(table: Table) -> Table:
    return make_world(table)


def make_world(table: Table) -> Table:
    """Settings with T+7 and two active promoters (with their customer profiles)."""
    repo = SettingsRepository(table)
    repo.save(DistributionSettings(commission=CommissionRates(settlement_days=DAYS)),
              based_on=repo.current(consistent=True).version, saved_by="test", now=PAID)
    for uid in (PROMOTER, UPLINE):
        PromoterRepository(table).create(
            Promoter(user_id=uid, code=f"C{uid[-5:].upper()}", status="active", level_id="basic",
                     applied_at=PAID - timedelta(days=30), activated_at=PAID - timedelta(days=30)),
            grant_role=False, replaces_rejected=False, now=PAID - timedelta(days=30), reserve_code=True)
        table.put({**profile_key(uid), "entity": "customer", "user_id": uid, "roles": ["customer", "promoter"]})
    return table


def paid_order(table: Table, order_id: str, *, types: tuple[str, ...] = ("virtual",), paid_fen: int = 10_000,
               l2: str | None = None) -> None:
    """A paid order as the order service stores it; its commission comes from ``sync_order``."""
    version = SettingsRepository(table).current(consistent=True).version
    lines = [{"line_id": str(n), "product_id": f"p{n}", "name": f"Item {n}", "type": kind, "category_id": None,
              "quantity": 1, "unit_price_fen": paid_fen, "paid_fen": paid_fen,
              "commission": {"mode": "inherit", "l1": 0, "l2": 0}, "distribution_enabled": True,
              "refunded_fen": 0} for n, kind in enumerate(types, start=1)]
    table.put({"pk": f"ORDER#{order_id}", "sk": "ORDER", "entity": "order", "order_id": order_id,
               "buyer_id": BUYER, "status": "PAID", "amount_fen": paid_fen * len(lines),
               "goods_fen": paid_fen * len(lines), "shipping_fen": 0, "discount_fen": 0, "lines": lines,
               "created_at": iso(PAID), "paid_at": iso(PAID), "version": 2, "settings_version": version,
               "attribution": {"l1_promoter_id": PROMOTER, "l2_promoter_id": l2, "settings_version": version,
                               "basis": "binding", "self_purchase": False}})
    assert sync_order(CommissionRepositories.on(table), order_id=order_id, now=PAID).created >= 1


def complete(table: Table, order_id: str, at: datetime = COMPLETED) -> None:
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"}, "SET completed_at = :at, #s = :done ADD version :one",
                 names={"#s": "status"}, values={":at": iso(at), ":done": "COMPLETED", ":one": 1})
    sync_order(CommissionRepositories.on(table), order_id=order_id, now=at)


def record(table: Table, order_id: str, line_id: str = "1", level: int = 1) -> CommissionRecord:
    found = CommissionRepository(table).get(order_id, line_id, level)
    assert found is not None
    return found


def wallet(table: Table, uid: str = PROMOTER) -> L.Balances:
    return LedgerRepository(table).wallet(uid).balances


_ADMIN_ACTIONS: list[str] = []


def change_status(table: Table, action: Any, uid: str = PROMOTER) -> None:
    _ADMIN_ACTIONS.append(action)  # each change at its own second (history entries are keyed by time)
    referral_promoters.change_status(promoters=PromoterRepository(table), user_id=uid, action=action,
                                     reason="test" if action != "unfreeze" else None, by="admin:alice",
                                     now=COMPLETED + timedelta(seconds=len(_ADMIN_ACTIONS)))


def assert_reconciles(table: Table, uid: str = PROMOTER) -> None:
    """The wallet equals the sum of the promoter's postings."""
    totals = L.sum_legs(LedgerRepository(table).all_postings(uid))
    assert {k: v for k, v in wallet(table, uid).as_dict().items() if v} == \
        {k: v for k, v in totals.items() if not k.startswith("merchant:") and v}


def withdraw(table: Table, amount: int, now: datetime) -> Any:
    return request_withdrawal(withdrawals=WithdrawalRepository(table), settings=SettingsRepository(table),
                              promoter_id=PROMOTER, now=now, queue=None,
                              body=WithdrawalRequest(amount_fen=amount, method="wechat"))


def inject_after_read(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run ``action`` once, after the settlement read the records, the promoters and the orders and
    before it commits (the wallets are read with the promoters, last)."""
    read_slice = SettlementRepository.read_slice
    done: list[bool] = []

    def read_then_act(self: SettlementRepository, keys: Any) -> Any:
        seen = read_slice(self, keys)
        if not done:
            done.append(True)
            action()
        return seen

    monkeypatch.setattr(SettlementRepository, "read_slice", read_then_act)


# ---- the promoter's status ---------------------------------------------------------------------


def test_a_frozen_promoters_commission_waits_and_settles_in_full_after_unfreezing(world: Table) -> None:
    table = world
    paid_order(table, "o_f1")
    complete(table, "o_f1")
    amount = record(table, "o_f1").amount_fen
    change_status(table, "freeze")

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.settled == 0 and report.skipped == {"promoter_frozen": 1}
    again = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)  # an overlapping run: the same
    assert again.settled == 0 and again.skipped == {"promoter_frozen": 1}
    held = record(table, "o_f1")
    assert held.status == "FROZEN" and wallet(table) == L.Balances(frozen=amount)
    stored = table.get({"pk": "ORDER#o_f1", "sk": "COMMISSION#1#1"}, consistent=True)
    assert stored is not None and "gsi2pk" in stored  # still in the due index: found again after unfreezing

    change_status(table, "unfreeze")
    report = settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER)
    assert (report.settled, report.settled_fen) == (1, amount)
    assert wallet(table) == L.Balances(available=amount)  # nothing lost while frozen
    assert_reconciles(table)


def test_a_freeze_between_the_read_and_the_commit_makes_the_record_wait(world: Table,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    table = world
    for order_id in ("o_r1", "o_r2"):
        paid_order(table, order_id)
        complete(table, order_id)
    amounts = [record(table, o).amount_fen for o in ("o_r1", "o_r2")]
    inject_after_read(monkeypatch, lambda: change_status(table, "freeze"))

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.settled == 0 and report.fallbacks == 1 and report.skipped == {"promoter_frozen": 2}
    assert wallet(table) == L.Balances(frozen=sum(amounts))
    assert {record(table, o).status for o in ("o_r1", "o_r2")} == {"FROZEN"}

    change_status(table, "unfreeze")
    assert settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER).settled_fen == sum(amounts)
    assert wallet(table) == L.Balances(available=sum(amounts))


def audits_of(table: Table, entity_type: str, entity_id: str) -> list[Item]:
    return table.query(partition=("gsi2pk", audit_entity_partition(entity_type, entity_id)), index="gsi2",
                       limit=50).items


def test_disabling_voids_unsettled_commission_through_the_ledger_and_settled_money_stays_withdrawable(
        world: Table) -> None:
    table = world
    paid_order(table, "o_settled", paid_fen=100_000)
    complete(table, "o_settled")
    settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    settled = record(table, "o_settled").amount_fen
    paid_order(table, "o_due")
    complete(table, "o_due", at=AFTER_DUE)  # completed, not yet due
    paid_order(table, "o_open")  # not completed
    paid_order(table, "o_late")
    complete(table, "o_late")  # due
    unsettled = sum(record(table, o).amount_fen for o in ("o_due", "o_open", "o_late"))
    assert wallet(table) == L.Balances(frozen=unsettled, available=settled)

    # The disable's follow-up has not run (interrupted, or not yet): a settlement run meeting the
    # promoter's due record voids it instead of settling it.
    change_status(table, "disable")
    late = record(table, "o_late").amount_fen
    report = settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER)
    assert report.settled == 0 and (report.voided, report.voided_fen) == (1, late)
    assert settle_due(SettlementRepositories.on(table),
                      as_of=LATER, now=LATER).voided == 0  # an overlapping run: nothing twice

    report = void_disabled_promoter(SettlementRepositories.on(table), promoter_id=PROMOTER, by="admin:alice", now=LATER)
    assert (report.voided, report.voided_fen) == (2, unsettled - late)
    assert wallet(table) == L.Balances(available=settled)  # settled money untouched
    for order_id, actor in (("o_due", "admin:alice"), ("o_open", "admin:alice"), ("o_late", "system")):
        voided = record(table, order_id)
        assert voided.status == "CANCELLED" and voided.current_fen == 0
        audit = audits_of(table, "commission", voided.commission_id)
        assert [a["action"] for a in audit] == ["commission.void"]
        assert audit[0]["details"]["reason"] == "promoter_disabled" and audit[0]["actor"] == actor
    postings = [p for p in LedgerRepository(table).all_postings(PROMOTER) if p["kind"] == "commission_voided"]
    assert sorted(int(p["amount_fen"]) for p in postings) == sorted(
        record(table, o).amount_fen for o in ("o_due", "o_open", "o_late"))
    assert record(table, "o_settled").status == "SETTLED"

    # Repeating the void (a retried request) voids nothing twice.
    again = void_disabled_promoter(SettlementRepositories.on(table), promoter_id=PROMOTER, by="admin:alice", now=LATER)
    assert again.voided == 0
    assert len(audits_of(table, "commission", record(table, "o_due").commission_id)) == 1
    assert_reconciles(table)

    # The settled money can still be withdrawn after the disable.
    view = withdraw(table, 5_000, LATER)
    assert view.amount_fen == 5_000
    assert wallet(table) == L.Balances(available=settled - 5_000, withdrawing=5_000)


def test_a_disabled_promoter_under_a_risk_hold_cannot_withdraw(world: Table) -> None:
    table = world
    paid_order(table, "o_s", paid_fen=100_000)
    complete(table, "o_s")
    settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    change_status(table, "disable")
    # A hold as a case opens it: the item and, in the same transaction, the wallet's flag.
    table.put({**risk_hold_key(PROMOTER), "entity": "risk_hold", "promoter_id": PROMOTER, "case_id": "rc_1",
               "open_cases": ["rc_1"], "version": 1})
    table.update(wallet_key(PROMOTER), "SET risk_hold = :on", values={":on": True})
    with pytest.raises(DomainError) as refused:
        withdraw(table, 5_000, LATER)
    assert refused.value.code == "risk_hold"


def test_a_frozen_promoter_still_cannot_withdraw(world: Table) -> None:
    table = world
    paid_order(table, "o_s", paid_fen=100_000)
    complete(table, "o_s")
    settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    change_status(table, "freeze")
    with pytest.raises(Forbidden) as refused:
        withdraw(table, 5_000, LATER)
    assert refused.value.code == "promoter_not_active"


def bonus(table: Table, month: str, amount: int, due_at: datetime) -> BonusRecord:
    record = BonusRecord(bonus_id=f"tb_{month}_{PROMOTER}", beneficiary_id=PROMOTER, month=month,
                         team_sales_fen=amount * 20, amount_fen=amount, status=CommissionStatus.FROZEN,
                         rule={"bonus_bp": 500}, created_at=PAID, due_at=due_at)
    assert BonusRepository(table).create(record, now=PAID)
    return record


def test_team_bonuses_wait_while_frozen_and_are_voided_by_the_disable(world: Table) -> None:
    table = world
    bonus(table, "2026-10", 700, due_at=COMPLETED)
    bonus(table, "2026-11", 900, due_at=LATER + timedelta(days=30))
    change_status(table, "freeze")
    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.settled == 0 and report.skipped == {"promoter_frozen": 1}
    change_status(table, "unfreeze")
    assert settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE).settled_fen == 700
    change_status(table, "disable")
    report = void_disabled_promoter(SettlementRepositories.on(table), promoter_id=PROMOTER, by="admin:alice", now=LATER)
    assert (report.voided, report.voided_fen) == (1, 900)
    assert wallet(table) == L.Balances(available=700)
    assert [a["action"] for a in audits_of(table, "bonus", f"tb_2026-11_{PROMOTER}")] == ["commission.void"]
    assert void_disabled_promoter(SettlementRepositories.on(table),
                                  promoter_id=PROMOTER, by="admin:alice", now=LATER).voided == 0
    assert_reconciles(table)


# ---- each line on its own completion ------------------------------------------------------------


def test_a_mixed_orders_service_line_settles_after_its_verification_and_the_physical_line_after_receipt(
        world: Table) -> None:
    table = world
    repo = OrderRepository(table)
    paid_order(table, "o_mix", types=("physical", "service"))
    shipped_at = PAID + timedelta(hours=2)
    received_at = COMPLETED
    fulfilment.ship_order(repo=repo, order_id="o_mix", carrier="SF", tracking_no="SF1", admin="admin:alice",
                          now=shipped_at)
    fulfilment.confirm_receipt(repo=repo, buyer_id=BUYER, order_id="o_mix", now=received_at)
    sync_order(CommissionRepositories.on(table), order_id="o_mix", now=received_at)
    physical, service = record(table, "o_mix", "1"), record(table, "o_mix", "2")
    assert physical.due_at == received_at + timedelta(days=DAYS)
    assert service.due_at is None  # received, but the service has not been used (核销) yet

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert (report.settled, report.settled_fen) == (1, physical.amount_fen)
    assert record(table, "o_mix", "2").status == "FROZEN"

    # The buyer still sees the code after receipt; the admin verifies it later.
    mine = fulfilment.my_order(repo=repo, buyer_id=BUYER, order_id="o_mix")
    assert mine.verify_code is not None
    verified_at = AFTER_DUE + timedelta(days=2)
    done = fulfilment.verify_service_order(repo=repo, order_id="o_mix", code=mine.verify_code, admin="admin:bob",
                                           now=verified_at)
    assert done.status == "COMPLETED" and done.completed_by == "buyer"  # the receipt still completed the order
    assert fulfilment.my_order(repo=repo, buyer_id=BUYER, order_id="o_mix").verify_code is None
    sync_order(CommissionRepositories.on(table), order_id="o_mix", now=verified_at)
    assert record(table, "o_mix", "2").due_at == verified_at + timedelta(days=DAYS)

    assert settle_due(SettlementRepositories.on(table), as_of=verified_at + timedelta(days=DAYS - 1),
                      now=verified_at + timedelta(days=DAYS - 1)).settled == 0
    final = verified_at + timedelta(days=DAYS, seconds=1)
    report = settle_due(SettlementRepositories.on(table), as_of=final, now=final)
    assert (report.settled, report.settled_fen) == (1, service.amount_fen)
    assert wallet(table) == L.Balances(available=physical.amount_fen + service.amount_fen)


def test_a_mixed_order_verified_before_receipt_settles_its_service_line_first(world: Table) -> None:
    table = world
    repo = OrderRepository(table)
    paid_order(table, "o_mix2", types=("physical", "service"))
    code = fulfilment.my_order(repo=repo, buyer_id=BUYER, order_id="o_mix2").verify_code
    assert code is not None
    verified_at = PAID + timedelta(hours=3)
    after = fulfilment.verify_service_order(repo=repo, order_id="o_mix2", code=code, admin="admin:bob",
                                            now=verified_at)
    assert after.status == "PAID"  # the parcel is still to be shipped and received
    sync_order(CommissionRepositories.on(table), order_id="o_mix2", now=verified_at)
    assert record(table, "o_mix2", "2").due_at == verified_at + timedelta(days=DAYS)
    assert record(table, "o_mix2", "1").due_at is None
    report = settle_due(SettlementRepositories.on(table), as_of=verified_at + timedelta(days=DAYS), now=AFTER_DUE)
    assert (report.settled, report.settled_fen) == (1, record(table, "o_mix2", "2").amount_fen)
    assert record(table, "o_mix2", "1").status == "FROZEN"


# ---- open refund requests ------------------------------------------------------------------------


def ask_refund(table: Table, order_id: str, line_id: str, amount: int) -> str:
    view = request_refund(orders=OrderRepository(table), refunds=RefundRepository(table), buyer_id=BUYER,
                          order_id=order_id, reason="changed my mind", lines=[LineRequest(line_id, amount)],
                          now=AFTER_DUE - timedelta(minutes=5))
    return view.refund_id


def test_a_line_with_an_open_refund_request_waits_until_the_request_ends(world: Table) -> None:
    table = world
    paid_order(table, "o_ref", types=("virtual", "virtual"), l2=UPLINE)
    complete(table, "o_ref")
    refund_id = ask_refund(table, "o_ref", "1", 3_000)

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    # Line 1's L1 and L2 records wait; line 2's settle.
    assert report.skipped == {"refund_open": 2} and report.settled == 2
    assert record(table, "o_ref", "1").status == "FROZEN" and record(table, "o_ref", "1", 2).status == "FROZEN"
    assert record(table, "o_ref", "2").status == "SETTLED"
    assert settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE).skipped == {"refund_open": 2}

    reject_refund(orders=OrderRepository(table), refunds=RefundRepository(table), refund_id=refund_id,
                  admin="admin:alice", reason="used already", now=AFTER_DUE)
    report = settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER)
    assert report.settled == 2 and report.skipped == {}
    total = sum(record(table, "o_ref", line, level).amount_fen for line in ("1", "2") for level in (1, 2))
    assert wallet(table).available + wallet(table, UPLINE).available == total


def test_a_refund_request_between_the_read_and_the_commit_makes_that_line_wait(
        world: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    table = world
    paid_order(table, "o_race", types=("virtual", "virtual"))
    complete(table, "o_race")
    refunds: list[str] = []
    inject_after_read(monkeypatch, lambda: refunds.append(ask_refund(table, "o_race", "2", 1_000)))

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.fallbacks == 1 and report.settled == 1 and report.skipped == {"refund_open": 1}
    assert record(table, "o_race", "1").status == "SETTLED"
    assert record(table, "o_race", "2").status == "FROZEN"

    reject_refund(orders=OrderRepository(table), refunds=RefundRepository(table), refund_id=refunds[0],
                  admin="admin:alice", reason="no", now=AFTER_DUE)
    assert settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER).settled == 1
    assert record(table, "o_race", "2").status == "SETTLED"
    assert_reconciles(table)
