"""Read routes of the money within their class's round trips, counted on the real handlers against
DynamoDB Local (every HTTP call the function's client sends): a promoter's earnings summary in at
most three (one Query per posting shard, the wallet read with the promoter's own shard), and the
admin list and export of withdrawals of every status in at most five (one partition of list
entries, then the page's records), with the migration that lists the withdrawals stored before."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from mall.api.auth import _admin_session
from mall.clock import china_day_start, china_month_start, utc_now
from mall.dal.keys import POSTING_SHARDS
from mall.dal.ledger import LedgerRepository
from mall.dal.settings import SettingsRepository
from mall.dal.table import Table
from mall.dal.withdrawals import WithdrawalRepository, withdrawal_list_item
from mall.domain import ledger as L
from mall.domain.tokens import Role
from mall.schemas.withdrawals import WithdrawalRequest
from mall.services.withdrawals.request import request_withdrawal
from mall.services.withdrawals.review import reject_withdrawal
from tests.conftest import bearer
from tests.integration import test_admin_round_trips as admin_trips
from tests.integration.test_admin_round_trips import Call, promoter
from tests.integration.test_withdrawals_concurrency import NOW, UID, setup_promoter
from tools.migrations import run
from tools.migrations.withdrawal_list_entries import MIGRATION as LIST_ENTRIES

pytestmark = pytest.mark.integration

PROMOTER_ROUND_TRIPS = 3
#: The admin round-trip tests' counting fixture: any function, any caller's headers.
call = admin_trips.call
ADMIN_ROUND_TRIPS = 5
ADMIN = bearer("admin:alice", Role.ADMIN)


# ---- the promoter's summary -------------------------------------------------------------------------


def test_a_promoters_summary_reads_the_wallet_with_a_posting_shard_in_at_most_three_round_trips(
        table: Table, call: Call) -> None:
    uid = "u_earner"
    promoter(table, uid)  # its profile and promoter items sort between the postings and the wallet
    table.put({"pk": f"USER#{uid}", "sk": "RISK_HOLD", "entity": "risk_hold", "case_id": "rc_1"})
    table.put({"pk": f"USER#{uid}", "sk": "PURCHASE#p_1", "entity": "purchase", "units": 2})
    ledger = LedgerRepository(table)
    now = utc_now()
    month_start, day_start = china_month_start(now), china_day_start(now)
    earned = {f"cm_{i:02d}": 100 + i for i in range(12)}  # spread over every posting shard
    times = {cid: (now - timedelta(minutes=1 + i)) for i, cid in enumerate(earned)}
    times["cm_00"] = month_start  # the 1st of the month, 00:00 China time: counted in the month
    times["cm_01"] = month_start - timedelta(seconds=1)  # last month: not counted
    for cid, amount in earned.items():
        ledger.post([L.commission_frozen(promoter_id=uid, commission_id=cid, amount_fen=amount, at=times[cid],
                                         ref={})])
    wallet = ledger.wallet(uid)
    ledger.post(L.commission_settled(balances=wallet.balances, promoter_id=uid, commission_id="cm_02",
                                     amount_fen=102, at=now - timedelta(seconds=5), ref={}), expect={uid: wallet})
    shards = {str(item["pk"]) for item in ledger.all_postings(uid)}
    assert len(shards) == POSTING_SHARDS  # every shard holds postings: each is read

    answer = call("promoter_ledger", "GET", "/promoter/ledger/summary", headers=bearer(uid, Role.PROMOTER))

    assert answer.status == 200, answer.body
    month = sum(a for cid, a in earned.items() if times[cid] >= month_start)
    today = sum(a for cid, a in earned.items() if times[cid] >= day_start)
    assert (answer.body["month_fen"], answer.body["today_fen"]) == (month, today)
    assert answer.body["frozen_fen"] == sum(earned.values()) - 102 and answer.body["available_fen"] == 102
    assert (answer.body["withdrawing_fen"], answer.body["withdrawn_fen"], answer.body["debt_fen"]) == (0, 0, 0)
    assert answer.trips <= PROMOTER_ROUND_TRIPS, answer.sent
    _admin_session("alice", at_least=0)  # a warm container knows the admin's session
    admin = call("admin_ledger", "GET", f"/admin/promoters/{uid}/ledger/summary", headers=ADMIN)
    assert admin.status == 200 and admin.body == answer.body | {"as_of": admin.body["as_of"]}, admin.body
    assert admin.trips <= 1 + PROMOTER_ROUND_TRIPS, admin.sent  # and the promoter check


def test_a_summary_of_a_promoter_without_postings_or_wallet_is_zero(table: Table, call: Call) -> None:
    promoter(table, "u_new")

    answer = call("promoter_ledger", "GET", "/promoter/ledger/summary", headers=bearer("u_new", Role.PROMOTER))

    assert answer.status == 200, answer.body
    assert {k: v for k, v in answer.body.items() if k.endswith("_fen")} == dict.fromkeys(
        ("today_fen", "month_fen", "frozen_fen", "available_fen", "withdrawing_fen", "withdrawn_fen", "debt_fen"), 0)
    assert answer.trips <= PROMOTER_ROUND_TRIPS, answer.sent


# ---- the admin list and export of withdrawals -------------------------------------------------------


def withdrawals_of_every_kind(table: Table) -> list[str]:
    """Six requests of ``u_busy``: auto-approved (small), waiting for review (large), one rejected;
    their ids newest first (the admin list's order)."""
    setup_promoter(table, 1_000_000, daily_count=10, daily_amount_fen=1_000_000)
    repo = WithdrawalRepository(table)
    ids: list[str] = []
    for i, amount in enumerate((5_000, 30_000, 6_000, 40_000, 7_000, 50_000)):
        view = request_withdrawal(withdrawals=repo, settings=SettingsRepository(table), promoter_id=UID,
                                  body=WithdrawalRequest(amount_fen=amount), now=NOW + timedelta(minutes=i),
                                  queue=None)
        ids.append(view.withdrawal_id)
    reject_withdrawal(withdrawals=repo, withdrawal_id=ids[3], admin="admin:bob", reason="资料不符",
                      now=NOW + timedelta(hours=1), source_ip=None)
    return ids[::-1]


def test_the_admin_list_of_every_status_reads_one_partition_and_pages_in_at_most_five_round_trips(
        table: Table, call: Call) -> None:
    newest_first = withdrawals_of_every_kind(table)
    _admin_session("alice", at_least=0)  # a warm container knows the admin's session

    seen: list[str] = []
    statuses: set[str] = set()
    cursor: str | None = None
    while True:
        answer = call("admin_withdrawals", "GET", "/admin/withdrawals", headers=ADMIN,
                      query={"limit": "4", **({"cursor": cursor} if cursor else {})})
        assert answer.status == 200, answer.body
        assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent
        seen += [w["withdrawal_id"] for w in answer.body["items"]]
        statuses |= {w["status"] for w in answer.body["items"]}
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first  # every status, newest first, each once across the pages
    assert statuses == {"APPROVED", "PENDING_REVIEW", "REJECTED"}  # the current status, not the one at request
    amounts = call("admin_withdrawals", "GET", "/admin/withdrawals", headers=ADMIN,
                   query={"min_fen": "30000", "max_fen": "40000"})
    assert [w["amount_fen"] for w in amounts.body["items"]] == [40_000, 30_000]
    rejected = call("admin_withdrawals", "GET", "/admin/withdrawals", headers=ADMIN, query={"status": "REJECTED"})
    assert [w["withdrawal_id"] for w in rejected.body["items"]] == [newest_first[2]]
    assert amounts.trips <= ADMIN_ROUND_TRIPS and rejected.trips <= ADMIN_ROUND_TRIPS


def test_the_export_of_every_status_takes_at_most_five_round_trips(table: Table, call: Call) -> None:
    newest_first = withdrawals_of_every_kind(table)
    _admin_session("alice", at_least=0)

    answer = call("admin_withdrawals", "GET", "/admin/withdrawals/export", headers=ADMIN)

    assert answer.status == 200, answer.body
    rows = list(csv.DictReader(io.StringIO(answer.body.removeprefix("\ufeff"))))
    assert [r["withdrawal_id"] for r in rows] == newest_first
    assert [r["status"] for r in rows].count("REJECTED") == 1
    assert answer.trips <= ADMIN_ROUND_TRIPS, answer.sent


def test_the_migration_lists_withdrawals_requested_before_the_list_existed_once(table: Table, call: Call) -> None:
    newest_first = withdrawals_of_every_kind(table)
    repo = WithdrawalRepository(table)
    for wid in newest_first[1::2]:  # requested before the release: a record without its list entry
        record = repo.get(wid)
        assert record is not None
        entry = withdrawal_list_item(record)
        table.client.delete_item(TableName=table.name, Key={"pk": {"S": entry["pk"]}, "sk": {"S": entry["sk"]}})
    _admin_session("alice", at_least=0)
    before = call("admin_withdrawals", "GET", "/admin/withdrawals", headers=ADMIN)
    assert [w["withdrawal_id"] for w in before.body["items"]] == newest_first[0::2]

    dry = run(table, LIST_ENTRIES, dry_run=True)
    first = run(table, LIST_ENTRIES)
    again = run(table, LIST_ENTRIES, restart=True)

    assert (dry.changed, first.changed, again.changed) == (3, 3, 0)
    after = call("admin_withdrawals", "GET", "/admin/withdrawals", headers=ADMIN)
    assert [w["withdrawal_id"] for w in after.body["items"]] == newest_first
    assert after.body["items"][2]["status"] == "REJECTED"
