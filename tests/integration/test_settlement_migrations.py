"""The settlement migrations on DynamoDB Local: records stored before per-line completion and the
disable's void are brought to the new rules, once, whatever the number of runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mall.clock import iso
from mall.dal.commissions import due_index_fields
from mall.dal.keys import promoter_key
from mall.dal.ledger import LedgerRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.services.commissions import CommissionRepositories, sync_order
from mall.services.settlement import SettlementRepositories, settle_due
from tests.integration.test_settlement_conditions import (
    AFTER_DUE,
    COMPLETED,
    DAYS,
    LATER,
    PROMOTER,
    audits_of,
    make_world,
    paid_order,
    record,
    wallet,
)
from tools.migrations import run
from tools.migrations.service_line_due_dates import MIGRATION as SERVICE_LINES
from tools.migrations.void_disabled_promoters import MIGRATION as VOID_DISABLED

pytestmark = pytest.mark.integration


@pytest.fixture
def world(table: Table) -> Table:
    return make_world(table)


def receive(table: Table, order_id: str) -> None:
    """What receipt stored: the order COMPLETED by the buyer."""
    table.update({"pk": f"ORDER#{order_id}", "sk": "ORDER"},
                 "SET completed_at = :at, completed_by = :by, #s = :done ADD version :one",
                 names={"#s": "status"}, values={":at": iso(COMPLETED), ":by": "buyer", ":done": "COMPLETED",
                                                 ":one": 1})


def legacy_due(table: Table, order_id: str, line_id: str) -> None:
    """The due date the order-wide rule gave every line of a completed order."""
    found = record(table, order_id, line_id)
    fields = due_index_fields(replace(found, due_at=COMPLETED + timedelta(days=DAYS)))
    table.update({"pk": f"ORDER#{order_id}", "sk": f"COMMISSION#{line_id}#1"},
                 "SET due_at = :due, gsi2pk = :pk, gsi2sk = :sk",
                 values={":due": iso(COMPLETED + timedelta(days=DAYS)), ":pk": fields["gsi2pk"],
                         ":sk": fields["gsi2sk"]})


def test_service_lines_of_received_mixed_orders_lose_their_due_date_until_verified(world: Table) -> None:
    table = world
    paid_order(table, "o_mix", types=("physical", "service"))
    paid_order(table, "o_svc", types=("service",))
    receive(table, "o_mix")
    table.update({"pk": "ORDER#o_svc", "sk": "ORDER"},
                 "SET completed_at = :at, completed_by = :by, #s = :done ADD version :one",
                 names={"#s": "status"}, values={":at": iso(COMPLETED), ":by": "verify", ":done": "COMPLETED",
                                                 ":one": 1})
    for order_id, line_id in (("o_mix", "1"), ("o_mix", "2"), ("o_svc", "1")):
        legacy_due(table, order_id, line_id)

    dry = run(table, SERVICE_LINES, dry_run=True)
    assert dry.changed == 1 and record(table, "o_mix", "2").due_at is not None
    progress = run(table, SERVICE_LINES, page_size=3)
    assert progress.changed == 1
    assert record(table, "o_mix", "2").due_at is None
    stored = table.get({"pk": "ORDER#o_mix", "sk": "COMMISSION#2#1"}, consistent=True)
    assert stored is not None and "gsi2pk" not in stored
    assert record(table, "o_mix", "1").due_at is not None  # the physical line keeps its receipt's date
    assert record(table, "o_svc", "1").due_at is not None  # a verified service order keeps its date
    assert run(table, SERVICE_LINES, restart=True).changed == 0  # twice: nothing more

    report = settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    assert report.settled == 2 and record(table, "o_mix", "2").status == "FROZEN"


def test_unsettled_records_of_promoters_disabled_before_are_voided_once(world: Table) -> None:
    table = world
    paid_order(table, "o_a")
    paid_order(table, "o_b")
    receive(table, "o_a")
    sync_order(CommissionRepositories.on(table), order_id="o_a", now=COMPLETED)
    settle_due(SettlementRepositories.on(table), as_of=AFTER_DUE, now=AFTER_DUE)
    settled = record(table, "o_a").amount_fen
    unsettled = record(table, "o_b").amount_fen
    # Disabled by the code before this change: the status only.
    table.update(promoter_key(PROMOTER), "SET #s = :d", names={"#s": "status"}, values={":d": "disabled"})

    assert run(table, VOID_DISABLED, dry_run=True).changed == 1 and wallet(table).frozen == unsettled
    assert run(table, VOID_DISABLED).changed == 1
    assert wallet(table) == L.Balances(available=settled)
    voided = record(table, "o_b")
    assert voided.status == "CANCELLED"
    assert [a["actor"] for a in audits_of(table, "commission", voided.commission_id)] == ["migration"]
    assert run(table, VOID_DISABLED, restart=True).changed == 0
    postings = [p for p in LedgerRepository(table).all_postings(PROMOTER) if p["kind"] == "commission_voided"]
    assert [int(p["amount_fen"]) for p in postings] == [unsettled]
    assert settle_due(SettlementRepositories.on(table), as_of=LATER, now=LATER).settled == 0
