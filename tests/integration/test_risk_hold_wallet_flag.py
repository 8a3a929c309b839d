"""The risk hold carried as a flag on the promoter's wallet (``risk_hold`` on ``USER#<uid>`` / ``WALLET``,
``mall.dal.risk_wallet``), on DynamoDB Local: every writer of the hold item keeps the flag in step in
its own transaction (a wallet that does not exist yet is created with it); a commission credit
carries the hold's condition on the wallet it updates, so the lifecycle's commission creation spends
no units on ``USER#/RISK_HOLD`` (4 with the ConditionChecks); the migration brings the flags of holds
written before in step, without undoing a hold opened or lifted meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench._meter import _entity, item_size, price_item
from mall.dal.keys import risk_hold_key, wallet_key
from mall.dal.ledger import RISK_HOLD_FLAG, LedgerRepository
from mall.dal.risk import RiskCaseRepository, RiskHoldRepository
from mall.dal.table import Table, serialize
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionStatus
from mall.services import risk
from tests.integration.test_risk_holds import (
    CLEAN,
    OPENED,
    RISKY,
    UPLINE,
    complete,
    open_case,
    paid_order,
    records_of,
    seed_world,
)
from tools.migrations import run
from tools.migrations.risk_hold_flags import MIGRATION, apply

pytestmark = pytest.mark.integration


@pytest.fixture
def world(table: Table) -> tuple[Table, int]:
    return seed_world(table)


def flagged(table: Table, uid: str) -> bool:
    item = table.get(wallet_key(uid), consistent=True)
    return bool(item and item.get(RISK_HOLD_FLAG))


def held(table: Table, uid: str) -> bool:
    return table.get(risk_hold_key(uid), consistent=True) is not None


def in_step(table: Table, uid: str) -> bool:
    return flagged(table, uid) == held(table, uid)


def resolve(table: Table, case_id: str, action: str) -> None:
    do = risk.release_case if action == "release" else risk.confirm_case
    do(repos=risk.RiskRepositories.on(table), case_id=case_id, by="admin:a", note="n", now=OPENED)


# ---- the hold's writers ---------------------------------------------------------------------------


def test_every_hold_writer_sets_or_removes_the_flag_in_the_holds_own_transaction(world: tuple[Table, int]) -> None:
    table, _ = world
    assert table.get(wallet_key(RISKY), consistent=True) is None
    first = open_case(table)
    # No wallet yet: the hold's transaction creates one, with the flag and no balances.
    assert held(table, RISKY) and flagged(table, RISKY)
    assert LedgerRepository(table).wallet(RISKY).balances == L.Balances()
    second = open_case(table, rule="many_accounts")
    assert held(table, RISKY) and flagged(table, RISKY)
    resolve(table, first, "release")  # the second case keeps the hold
    assert held(table, RISKY) and flagged(table, RISKY)
    resolve(table, second, "release")  # the last open case: the hold is deleted, and the flag with it
    assert not held(table, RISKY) and not flagged(table, RISKY)
    assert table.get(wallet_key(RISKY), consistent=True) is not None  # the wallet stays (an empty wallet)

    third = open_case(table, rule="refund_abuse")
    assert flagged(table, RISKY)
    resolve(table, third, "confirm")  # a confirmed case keeps the hold while the promoter is frozen
    hold = RiskHoldRepository(table).hold(RISKY)
    assert hold is not None and hold.confirmed_case_id == third and flagged(table, RISKY)
    RiskCaseRepository(table).lift_hold(hold)  # the unfreeze's lift
    assert not held(table, RISKY) and not flagged(table, RISKY)


def test_a_confirm_that_creates_the_missing_hold_folds_the_nothing_frozen_check_into_the_flag_write(
        world: tuple[Table, int]) -> None:
    table, _ = world
    case_id = open_case(table)
    # A case whose hold is missing (e.g. deleted by hand): the confirmation puts the hold again, in
    # the transaction that also checks the wallet holds nothing frozen. One transaction may name the
    # wallet once: the check rides on the flag's write.
    table.client.delete_item(TableName=table.name, Key=serialize(risk_hold_key(RISKY)))
    table.update(wallet_key(RISKY), f"REMOVE {RISK_HOLD_FLAG}")
    resolve(table, case_id, "confirm")
    assert held(table, RISKY) and flagged(table, RISKY)
    case = RiskCaseRepository(table).get(case_id)
    assert case is not None and case.status.value == "CONFIRMED" and case.finished_at is not None


def test_a_beneficiary_held_when_the_order_is_credited_gets_a_held_record_and_the_other_does_not(
        world: tuple[Table, int]) -> None:
    table, version = world
    case_id = open_case(table)
    paid_order(table, "o_1", l1=RISKY, l2=UPLINE, version=version)
    [record] = records_of(table, RISKY)
    assert record.hold == case_id and record.status == CommissionStatus.FROZEN
    assert [r.hold for r in records_of(table, UPLINE)] == [None]
    assert in_step(table, RISKY) and in_step(table, UPLINE)


def _stale_holds(monkeypatch: pytest.MonkeyPatch, stale: dict[str, dict[str, Any]]) -> list[bool]:
    """Eventually consistent reads of holds answer ``stale``; consistent ones the truth. Returns the
    consistency of every read, in order."""
    real = RiskHoldRepository.get_many
    reads: list[bool] = []

    def get_many(self: RiskHoldRepository, uids: Any, *, consistent: bool = True) -> dict[str, dict[str, Any]]:
        reads.append(consistent)
        return real(self, uids, consistent=True) if consistent else {u: h for u, h in stale.items() if u in set(uids)}

    monkeypatch.setattr(RiskHoldRepository, "get_many", get_many)
    return reads


def test_a_hold_an_eventual_read_missed_refuses_the_creation_and_the_consistent_read_holds_the_record(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    case_id = open_case(table)
    reads = _stale_holds(monkeypatch, {})  # the hold just opened: not yet seen by an eventual read
    paid_order(table, "o_1", l1=RISKY, l2=UPLINE, version=version)
    assert reads == [False, True]  # refused on the wallet's flag, then decided again on a consistent read
    [record] = records_of(table, RISKY)
    assert record.hold == case_id and [r.hold for r in records_of(table, UPLINE)] == [None]
    assert in_step(table, RISKY) and in_step(table, UPLINE)


def test_a_hold_lifted_after_an_eventual_read_saw_it_gives_a_record_without_hold(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    case_id = open_case(table)
    seen = RiskHoldRepository(table).get_many([RISKY])
    resolve(table, case_id, "release")
    reads = _stale_holds(monkeypatch, seen)  # the eventual read still shows the lifted hold
    paid_order(table, "o_1", l1=RISKY, l2=UPLINE, version=version)
    assert reads == [False, True]
    assert [r.hold for r in records_of(table, RISKY)] == [None] and not flagged(table, RISKY)


# ---- the lifecycle's write units ------------------------------------------------------------------


@pytest.fixture
def transaction_units(table: Table) -> Iterator[Callable[[], dict[str, int]]]:
    """Units of every successful TransactWriteItems through ``table``'s client from now on, by kind of
    item, priced as the bench's meter prices them (the items read before and after with a client call
    of their own; table units only)."""
    spent: dict[str, int] = {}
    pending: list[list[tuple[str, dict[str, Any], dict[str, Any] | None]]] = []

    def wire(key: dict[str, Any]) -> dict[str, Any] | None:
        found: dict[str, Any] | None = table.client.get_item(TableName=table.name, Key=key,
                                                             ConsistentRead=True).get("Item")
        return found

    def before(params: dict[str, Any], **_: Any) -> None:
        ops = []
        for entry in params.get("TransactItems", []):
            ((action, body),) = entry.items()
            key = body.get("Key") or {name: body["Item"][name] for name in ("pk", "sk")}
            ops.append((action, key, wire(key)))
        pending.append(ops)

    def after(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        ops = pending.pop()
        if "Error" in parsed:
            return
        for action, key, was in ops:
            priced = price_item(action, was, wire(key), indexes=[], transactional=True, succeeded=True,
                                key=str(key), entity=_entity(key))
            spent[priced.entity] = spent.get(priced.entity, 0) + priced.table_units

    events = table.client.meta.events
    events.register("before-parameter-build.dynamodb.TransactWriteItems", before, unique_id="units-before")
    events.register("after-call.dynamodb.TransactWriteItems", after, unique_id="units-after")
    try:
        yield lambda: dict(spent)
    finally:
        events.unregister("before-parameter-build.dynamodb.TransactWriteItems", unique_id="units-before")
        events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="units-after")


def test_a_two_level_orders_commission_spends_no_units_on_the_risk_hold(
        world: tuple[Table, int], transaction_units: Callable[[], dict[str, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    table, version = world
    paid_order(table, "o_flag", l1=CLEAN, l2=UPLINE, version=version)
    complete(table, "o_flag")
    flag = transaction_units()
    # The same lifecycle while the hold items themselves are checked (the first deploy's setting).
    monkeypatch.setenv("RISK_HOLD_ITEM_CHECKS", "1")
    paid_order(table, "o_items", l1=CLEAN, l2=UPLINE, version=version)
    complete(table, "o_items")
    both = transaction_units()
    items = {kind: units - flag.get(kind, 0) for kind, units in both.items()}
    assert items["USER#/RISK_HOLD"] == 4  # two ConditionChecks of absent items, 2 units each
    assert flag.get("USER#/RISK_HOLD", 0) == 0
    assert flag["USER#/WALLET"] == items["USER#/WALLET"] == 4  # the L1 and L2 wallets, as before
    assert sum(items.values()) - sum(flag.values()) == 4
    # The wallets are the same size as before: no flag is stored on a promoter never held.
    for uid in (CLEAN, UPLINE):
        assert RISK_HOLD_FLAG not in (table.get(wallet_key(uid), consistent=True) or {})
        assert item_size(serialize(table.get(wallet_key(uid), consistent=True) or {})) < 1024


# ---- the migration --------------------------------------------------------------------------------


def test_the_migration_flags_the_wallets_of_holds_written_before_and_clears_stale_flags(
        world: tuple[Table, int]) -> None:
    table, version = world
    paid_order(table, "o_1", l1=CLEAN, l2=UPLINE, version=version)  # CLEAN and UPLINE have wallets
    # As the code before left them: holds without flags (RISKY has no wallet at all), and a flag
    # left behind by a hold that code deleted during the deploy.
    for uid in (RISKY, CLEAN):
        table.put({**risk_hold_key(uid), "entity": "risk_hold", "promoter_id": uid, "case_id": "rc_1",
                   "opened_at": "2026-11-09T12:00:00Z", "version": 1})
    table.update(wallet_key(UPLINE), f"SET {RISK_HOLD_FLAG} = :on", values={":on": True})
    before = {uid: LedgerRepository(table).wallet(uid) for uid in (CLEAN, UPLINE)}

    dry = run(table, MIGRATION, dry_run=True)
    assert dry.changed == 3 and not flagged(table, RISKY)
    assert run(table, MIGRATION).changed == 3
    assert flagged(table, RISKY) and flagged(table, CLEAN) and not flagged(table, UPLINE)
    # Balances and versions untouched: a posting computed from a read wallet is not made stale.
    assert {uid: LedgerRepository(table).wallet(uid) for uid in (CLEAN, UPLINE)} == before
    assert run(table, MIGRATION, restart=True).changed == 0


def test_the_migration_never_undoes_a_hold_lifted_or_opened_after_its_reads(
        world: tuple[Table, int], monkeypatch: pytest.MonkeyPatch) -> None:
    table, _ = world
    # The scan saw a hold that has been lifted since (its transaction removed the flag).
    stale_hold = {**risk_hold_key(RISKY), "entity": "risk_hold", "promoter_id": RISKY}
    assert apply(table, stale_hold, False) is False
    assert not flagged(table, RISKY) and table.get(wallet_key(RISKY), consistent=True) is None
    # It saw a flagged wallet, and no hold item, just before a case opened: the transaction's
    # check of the hold item refuses the removal.
    open_case(table)
    wallet = table.get(wallet_key(RISKY), consistent=True)
    real_get = Table.get

    def stale_get(self: Table, key: Any, *, consistent: bool = False) -> Any:
        return None if key == risk_hold_key(RISKY) else real_get(self, key, consistent=consistent)

    monkeypatch.setattr(Table, "get", stale_get)
    assert wallet is not None and apply(table, wallet, False) is False
    monkeypatch.setattr(Table, "get", real_get)
    assert flagged(table, RISKY) and held(table, RISKY)
