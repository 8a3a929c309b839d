"""The daily reconciliation and the summary on DynamoDB Local: postings recorded through
``LedgerRepository.post`` with the ``mall.domain.ledger`` builders reconcile clean; a hand-edited
wallet or merchant shard is reported exactly (and left as it is); re-running a day overwrites its
report; concurrent postings never show up as false mismatches; "today" and "this month" are
China days."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from mall.clock import china_day, iso
from mall.dal.keys import merchant_key, wallet_key
from mall.dal.ledger import LedgerRepository, merchant_shard
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.referral import Promoter
from mall.services.ledger import reconcile, summary

AT = datetime(2026, 11, 3, 2, tzinfo=UTC)
AS_OF = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)  # 2026-11-21 03:30 in China


def promoter(table: Table, uid: str, status: str = "active") -> None:
    PromoterRepository(table).create(
        Promoter(user_id=uid, code=f"C{uid[-6:].upper()}", status=status, level_id="basic",  # type: ignore[arg-type]
                 applied_at=AT, activated_at=AT),
        grant_role=False, replaces_rejected=False, now=AT, reserve_code=True)


def settle(repo: LedgerRepository, uid: str, cid: str, amount: int, at: datetime) -> None:
    wallet = repo.wallet(uid)
    repo.post(L.commission_settled(balances=wallet.balances, promoter_id=uid, commission_id=cid, amount_fen=amount,
                                   at=at, ref={"commission_id": cid}), expect={uid: wallet})


def build_history(table: Table) -> LedgerRepository:
    """Every kind of movement, across promoters of several statuses."""
    repo = LedgerRepository(table)
    promoter(table, "u_amy")
    promoter(table, "u_ben", status="frozen")
    promoter(table, "u_cat", status="disabled")
    ref = {"order_id": "o_1", "line_id": "1", "level": "1"}
    # Amy: earns, settles, withdraws (fee), a second withdrawal is returned.
    repo.post([L.commission_frozen(promoter_id="u_amy", commission_id="cm_o_1_1_1", amount_fen=10_000, at=AT,
                                   ref=ref)])
    settle(repo, "u_amy", "cm_o_1_1_1", 10_000, AT + timedelta(days=8))
    repo.post([L.withdrawal_held(promoter_id="u_amy", withdrawal_id="w_1", amount_fen=6_000,
                                 at=AT + timedelta(days=9))])
    repo.post([L.withdrawal_paid(promoter_id="u_amy", withdrawal_id="w_1", amount_fen=6_000, fee_fen=60,
                                 at=AT + timedelta(days=9, hours=1))])
    repo.post([L.withdrawal_held(promoter_id="u_amy", withdrawal_id="w_2", amount_fen=1_000,
                                 at=AT + timedelta(days=10))])
    repo.post([L.withdrawal_returned(promoter_id="u_amy", withdrawal_id="w_2", amount_fen=1_000,
                                     at=AT + timedelta(days=10, hours=1), reason="rejected")])
    # Ben: L2 commission, partly cancelled before settlement, settled, then clawed back into debt,
    # then a later settlement repays the debt first.
    repo.post([L.commission_frozen(promoter_id="u_ben", commission_id="cm_o_1_1_2", amount_fen=5_000, at=AT,
                                   ref={**ref, "level": "2"})])
    repo.post([L.commission_cancelled(promoter_id="u_ben", commission_id="cm_o_1_1_2", amount_fen=1_000, at=AT,
                                      ref=ref, step="2000")])
    settle(repo, "u_ben", "cm_o_1_1_2", 4_000, AT + timedelta(days=8))
    repo.post([L.withdrawal_held(promoter_id="u_ben", withdrawal_id="w_3", amount_fen=3_000,
                                 at=AT + timedelta(days=9))])
    wallet = repo.wallet("u_ben")
    repo.post([L.commission_clawed_back(balances=wallet.balances, promoter_id="u_ben", commission_id="cm_o_1_1_2",
                                        amount_fen=4_000, at=AT + timedelta(days=9, hours=2), ref=ref, step="10000")],
              expect={"u_ben": wallet})
    assert repo.wallet("u_ben").balances.owed_fen == 3_000
    repo.post([L.commission_frozen(promoter_id="u_ben", commission_id="cm_o_2_1_1", amount_fen=2_000,
                                   at=AT + timedelta(days=10), ref=ref, bonus=True)])
    settle(repo, "u_ben", "cm_o_2_1_1", 2_000, AT + timedelta(days=11))
    assert repo.wallet("u_ben").balances == L.Balances(withdrawing=3_000, debt=-1_000)
    # Cat: frozen commission, cancelled in full.
    repo.post([L.commission_frozen(promoter_id="u_cat", commission_id="cm_o_3_1_1", amount_fen=700, at=AT, ref=ref)])
    repo.post([L.commission_cancelled(promoter_id="u_cat", commission_id="cm_o_3_1_1", amount_fen=700, at=AT,
                                      ref=ref, step="full", voided=True)])
    return repo


def test_a_ledger_built_by_the_builders_reconciles_clean(table: Table) -> None:
    repo = build_history(table)
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=AS_OF)
    assert report.mismatches == [] and report.clean
    run = report.run
    assert run.day == "2026-11-21" and run.complete and run.global_checked and run.unstable_promoters == []
    assert run.promoters_checked == 3 and run.postings_read == 16
    assert run.merchant_balances == repo.merchant_balances() == {"merchant:commission": -12_000, "merchant:fees": 60}
    assert run.total_fen == 0
    stored = ReconciliationRepository(table).run("2026-11-21")
    assert stored is not None and stored["clean"] is True and stored["postings_read"] == 16


def test_a_corrupted_wallet_is_reported_exactly_and_left_alone(table: Table) -> None:
    repo = build_history(table)
    # A hand edit (or a bug) outside the ledger: 123 fen appear in Amy's available balance.
    table.client.update_item(TableName=table.name, Key={"pk": {"S": "USER#u_amy"}, "sk": {"S": "WALLET"}},
                             UpdateExpression="ADD available_fen :d", ExpressionAttributeValues={":d": {"N": "123"}})
    before = table.get(wallet_key("u_amy"), consistent=True)
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=AS_OF)
    assert not report.clean and report.run.global_checked
    found = {(m.kind, m.subject, m.account, m.expected_fen, m.actual_fen, m.difference_fen) for m in report.mismatches}
    assert found == {("wallet", "u_amy", "available", 4_000, 4_123, 123), ("conservation", "all", "Σ", 0, 123, 123)}
    assert table.get(wallet_key("u_amy"), consistent=True) == before  # never "fixed"

    # The same day again: the same report, overwritten (not duplicated).
    again = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                      promoters=PromoterRepository(table), as_of=AS_OF + timedelta(hours=1))
    assert again.mismatches == report.mismatches
    page = ReconciliationRepository(table).mismatches("2026-11-21", limit=50, start_key=None)
    assert sorted(i["sk"] for i in page.items) == ["MISMATCH#conservation#all#Σ", "MISMATCH#wallet#u_amy#available"]
    assert [i["difference_fen"] for i in page.items if i["kind"] == "wallet"] == [123]

    # Once someone has corrected the wallet, the day's re-run is clean and its stale entries are gone.
    table.update(wallet_key("u_amy"), "ADD available_fen :d", values={":d": -123})
    assert reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                     promoters=PromoterRepository(table), as_of=AS_OF + timedelta(hours=2)).clean
    assert ReconciliationRepository(table).mismatches("2026-11-21", limit=50, start_key=None).items == []
    assert repo.wallet("u_amy").balances == L.Balances(available=4_000, withdrawn=5_940)


def test_a_corrupted_merchant_shard_and_an_unbalanced_posting_are_reported(table: Table) -> None:
    build_history(table)
    shard = merchant_shard("cm_o_1_1_1.frozen")
    table.update(merchant_key("merchant:fees", shard), "ADD balance_fen :d", values={":d": -60})
    voided = next(i for i in LedgerRepository(table).all_postings("u_cat") if i["kind"] == "commission_voided")
    leg = [leg["account"] for leg in voided["legs"]].index("frozen")
    table.update({"pk": voided["pk"], "sk": voided["sk"]}, f"SET legs[{leg}].delta_fen = :d", values={":d": -701})
    report = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                       promoters=PromoterRepository(table), as_of=AS_OF)
    found = {(m.kind, m.subject, m.account, m.difference_fen) for m in report.mismatches}
    assert found == {
        ("merchant", "merchant:fees", "merchant:fees", -60),
        ("posting", "cm_o_3_1_1.cancel.full", "Σ legs", -1),  # the posting itself no longer balances
        ("wallet", "u_cat", "frozen", 1),  # and the wallet no longer matches its legs
        ("conservation", "all", "Σ", -60),
    }


def test_a_run_on_another_day_is_another_report_and_runs_list_newest_first(table: Table) -> None:
    build_history(table)
    reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
              promoters=PromoterRepository(table), as_of=AS_OF)
    reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
              promoters=PromoterRepository(table), as_of=AS_OF + timedelta(days=1))
    page = ReconciliationRepository(table).runs(limit=10, start_key=None)
    assert [i["day"] for i in page.items] == ["2026-11-22", "2026-11-21"]


def test_concurrent_postings_are_not_false_mismatches(table: Table) -> None:
    repo = LedgerRepository(table)
    uids = [f"u_busy{i}" for i in range(6)]
    for uid in uids:
        promoter(table, uid)
        for n in range(5):
            repo.post([L.commission_frozen(promoter_id=uid, commission_id=f"cm_seed{n}_{uid}", amount_fen=100, at=AT,
                                           ref={})])

    def keep_posting(uid: str) -> None:
        for n in range(60):
            repo.post([L.commission_frozen(promoter_id=uid, commission_id=f"cm_live{n}_{uid}", amount_fen=1 + n,
                                           at=AT + timedelta(seconds=n), ref={})])
            time.sleep(0.01)  # spread the writes over the reconciliations

    threads = [threading.Thread(target=keep_posting, args=(uid,)) for uid in uids[:3]]
    for thread in threads:
        thread.start()
    reports = []
    while any(thread.is_alive() for thread in threads) or not reports:
        reports.append(reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                                 promoters=PromoterRepository(table), as_of=AS_OF))
    for thread in threads:
        thread.join()
    for report in reports:
        assert report.mismatches == [], report.mismatches
    quiet = reconcile(ledger=LedgerRepository(table), reports=ReconciliationRepository(table),
                      promoters=PromoterRepository(table), as_of=AS_OF)
    assert quiet.clean and quiet.run.global_checked


def test_summary_today_and_month_are_china_days(table: Table) -> None:
    repo = LedgerRepository(table)
    promoter(table, "u_day")

    def earned(cid: str, amount: int, at: datetime, *, bonus: bool = False) -> None:
        repo.post([L.commission_frozen(promoter_id="u_day", commission_id=cid, amount_fen=amount, at=at, ref={},
                                       bonus=bonus)])

    now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 2026-12-02 09:00 China
    earned("cm_nov", 1, datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC))  # 11-30 23:59:59 China: last month
    earned("cm_dec1a", 20, datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC))  # 12-01 00:00:00 China: this month
    earned("cm_dec1b", 300, datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC))  # 12-01 23:59:59 China
    earned("cm_dec2a", 4_000, datetime(2026, 12, 1, 16, 0, 0, tzinfo=UTC), bonus=True)  # 12-02 00:00 China: today
    earned("cm_dec2b", 50_000, datetime(2026, 12, 2, 1, 0, 0, tzinfo=UTC))  # exactly now: counted
    earned("cm_later", 600_000, datetime(2026, 12, 2, 1, 0, 1, tzinfo=UTC))  # after now: not yet
    # Settling and cancelling are not earnings.
    settle(repo, "u_day", "cm_dec1a", 20, datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    repo.post([L.commission_cancelled(promoter_id="u_day", commission_id="cm_dec1b", amount_fen=300,
                                      at=datetime(2026, 12, 2, 0, 30, tzinfo=UTC), ref={}, step="all")])
    view = summary(ledger=LedgerRepository(table), user_id="u_day", now=now)
    assert china_day(now) == "2026-12-02"
    assert view.today_fen == 54_000
    assert view.month_fen == 54_320
    assert view.frozen_fen == 1 + 4_000 + 50_000 + 600_000 and view.available_fen == 20
    assert view.as_of == iso(now)
