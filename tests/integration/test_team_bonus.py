"""Team bonus on DynamoDB Local: seeded team sales → the monthly run, fired twice and by parallel
threads, pays one bonus per eligible promoter (frozen = bonus, the ledger reconciles); at the due
date the settlement moves each bonus to available exactly once — together with a commission in one
slice, skipping a promoter under an open risk case until it closes; a confirmed case voids it."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from pytest import MonkeyPatch

from mall.dal.commissions import commission_item
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.risk import risk_hold_key
from mall.dal.settings import SettingsRepository
from mall.dal.settlement import SettlementRepository
from mall.dal.table import Table, Write
from mall.dal.team_bonus import BonusRepository, bonus_key, team_sales_partition, team_sales_shard
from mall.domain import ledger as L
from mall.domain.commission_records import CommissionRecord, CommissionStatus, commission_id
from mall.domain.referral import Promoter
from mall.domain.settings import DistributionSettings
from mall.domain.settlement import Settleable
from mall.domain.team_bonus import TeamBonusRules, bonus_for, due_at
from mall.services.settlement import settle_due
from mall.services.team_bonus import BonusRunReport, run_month, void_bonuses

MONTH = "2026-10"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
RULES = TeamBonusRules.model_validate({"enabled": True, "settlement_days": 5, "tiers": [
    {"min_team_sales_fen": 50_000, "bonus_bp": 100}, {"min_team_sales_fen": 500_000, "bonus_bp": 250}]})
DUE = due_at(MONTH, 5)  # 2026-11-06 00:00 China time
ACTIVE = [f"u_p{i:02d}" for i in range(24)]


def sales_of(uid: str) -> int:
    number = int(uid[-2:])
    return 40_000 + number * 37_001  # u_p00 below the first tier; the last ones in the second


def seed(table: Table) -> None:
    SettingsRepository(table).save(DistributionSettings(team_bonus=RULES), based_on=0, saved_by="admin:t", now=NOW)
    promoters = PromoterRepository(table)
    for uid, status in [*((u, "active") for u in ACTIVE), ("u_frozen", "frozen"), ("u_disabled", "disabled")]:
        promoters.create(Promoter(user_id=uid, code=uid.upper()[-8:], status=status,  # type: ignore[arg-type]
                                  level_id="basic", applied_at=NOW), grant_role=False, replaces_rejected=False,
                         now=NOW, reserve_code=False)
    for uid in [*ACTIVE, "u_frozen", "u_disabled"]:
        table.put({"pk": team_sales_partition(MONTH, team_sales_shard(uid)), "sk": f"USER#{uid}",
                   "entity": "team_sales", "promoter_id": uid, "month": MONTH,
                   "team_sales_fen": sales_of(uid) if uid in ACTIVE else 900_000, "orders": 5})


def expected() -> dict[str, int]:
    return {uid: amount for uid in ACTIVE if (amount := bonus_for(sales_of(uid), RULES)[1]) > 0}


def assert_ledger_reconciles(table: Table, uids: list[str]) -> None:
    ledger = LedgerRepository(table)
    for uid in uids:
        totals = L.sum_legs(ledger.all_postings(uid))
        assert {k: v for k, v in ledger.wallet(uid).balances.as_dict().items() if v} == \
            {k: v for k, v in totals.items() if not k.startswith("merchant:") and v}


def test_parallel_and_repeated_runs_pay_each_promoter_once_then_settlement_settles_once(table: Table) -> None:
    seed(table)
    want = expected()
    assert 15 < len(want) < len(ACTIVE)  # some below the tier, most paid

    # A schedule firing several times at once, then once more: one bonus per promoter.
    with ThreadPoolExecutor(max_workers=6) as pool:
        reports = list(pool.map(lambda _: run_month(table=table, month=MONTH, now=NOW, threads=4), range(6)))
    again = run_month(table=table, month=MONTH, now=NOW + timedelta(hours=1))
    total = BonusRunReport(month=MONTH)
    for report in reports:
        total.merge(report)
    assert sorted(total.promoters) == sorted(want) and total.paid == len(want)
    assert total.paid_fen == sum(want.values())
    assert again.paid == 0 and again.already_paid == len(want) and again.not_active == 2

    ledger = LedgerRepository(table)
    repo = BonusRepository(table)
    for uid in ACTIVE:
        record = repo.get(uid, MONTH)
        assert (record.amount_fen if record else 0) == want.get(uid, 0)
        assert ledger.wallet(uid).balances.frozen == want.get(uid, 0)
        assert [p["kind"] for p in ledger.all_postings(uid)] == (["bonus_frozen"] if uid in want else [])
    assert repo.get("u_frozen", MONTH) is None and repo.get("u_disabled", MONTH) is None
    assert ledger.merchant_balances()["merchant:commission"] == -sum(want.values())
    assert_ledger_reconciles(table, ACTIVE)

    # One promoter also has a commission due the same day; another is under an open risk case.
    mixed, held = sorted(want)[-1], sorted(want)[-2]
    cid = commission_id("o_mix", "l1", 1)
    record_c = CommissionRecord(
        commission_id=cid, order_id="o_mix", line_id="l1", level=1, beneficiary_id=mixed, buyer_id="b",
        product_id="p", product_name="Tea", quantity=1, base_fen=10_000, amount_fen=1_000,
        status=CommissionStatus.FROZEN, rule={}, created_at=NOW, due_at=DUE)
    ledger.post([L.commission_frozen(promoter_id=mixed, commission_id=cid, amount_fen=1_000, at=NOW, ref={})],
                also=[Write.put(table.name, commission_item(record_c), condition="attribute_not_exists(pk)")])
    table.put({**risk_hold_key(held), "entity": "risk_hold", "case_id": "rc_1", "opened_at": "2026-11-02T00:00:00Z"})

    early = settle_due(table=table, as_of=DUE - timedelta(seconds=1), now=DUE)
    assert early.settled == 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: settle_due(table=table, as_of=DUE, now=DUE + timedelta(hours=2)), range(4)))
    assert sum(r.settled for r in runs) == len(want) - 1 + 1  # every bonus but the held one, plus the commission
    assert sum(r.settled_fen for r in runs) == sum(want.values()) - want[held] + 1_000
    assert settle_due(table=table, as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1)).settled == 0
    for uid, amount in want.items():
        wallet = ledger.wallet(uid).balances
        if uid == held:
            assert (wallet.frozen, wallet.available) == (amount, 0)
        else:
            assert (wallet.frozen, wallet.available) == (0, amount + (1_000 if uid == mixed else 0))
            kinds = sorted(p["kind"] for p in ledger.all_postings(uid))
            assert kinds.count("bonus_settled") == 1
    settled = repo.get(mixed, MONTH)
    assert settled is not None and settled.status == CommissionStatus.SETTLED and settled.settled_at is not None
    stored = table.get(bonus_key(mixed, MONTH), consistent=True)
    assert stored is not None and "gsi2pk" not in stored and stored["settled_fen"] == want[mixed]

    # The case closes: the held bonus settles on the next run, once.
    table.client.delete_item(TableName=table.name, Key={"pk": {"S": f"USER#{held}"}, "sk": {"S": "RISK_HOLD"}})
    later = settle_due(table=table, as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1))
    assert later.settled == 1 and later.settled_fen == want[held]
    assert ledger.wallet(held).balances.available == want[held]
    assert_ledger_reconciles(table, ACTIVE)
    assert ledger.merchant_balances()["merchant:commission"] == -sum(want.values()) - 1_000


def test_a_confirmed_risk_case_voids_a_frozen_bonus_once(table: Table) -> None:
    seed(table)
    run_month(table=table, month=MONTH, now=NOW)
    uid = sorted(expected())[-1]
    amount = expected()[uid]
    assert void_bonuses(table=table, promoter_id=uid, case_id="rc_9", now=NOW + timedelta(days=2)) == 1
    assert void_bonuses(table=table, promoter_id=uid, case_id="rc_9", now=NOW + timedelta(days=2)) == 0
    record = BonusRepository(table).get(uid, MONTH)
    assert record is not None and record.status == CommissionStatus.CANCELLED and record.current_fen == 0
    ledger = LedgerRepository(table)
    assert ledger.wallet(uid).balances.frozen == 0
    assert sorted(p["kind"] for p in ledger.all_postings(uid)) == ["bonus_frozen", "commission_voided"]
    report = settle_due(table=table, as_of=DUE, now=DUE)
    assert uid not in {p["promoter_id"] for p in ledger.all_postings(uid) if p["kind"] == "bonus_settled"}
    assert report.settled == len(expected()) - 1 and amount > 0
    assert_ledger_reconciles(table, [uid])


def test_a_hold_opened_after_settlement_read_it_refuses_the_bonus(table: Table, monkeypatch: MonkeyPatch) -> None:
    seed(table)
    run_month(table=table, month=MONTH, now=NOW)
    uid = sorted(expected())[-1]
    amount = expected()[uid]
    reads = {"stale": 0}
    real = SettlementRepository.held_bonus_promoters

    def read_then_case_opens(self: SettlementRepository, records: Sequence[Settleable]) -> set[str]:
        # The settlement reads "no hold" for the promoter, then a risk case opens before it commits.
        if any(r.beneficiary_id == uid for r in records) and not reads["stale"]:
            reads["stale"] += 1
            table.put({**risk_hold_key(uid), "entity": "risk_hold", "case_id": "rc_late",
                       "opened_at": "2026-11-06T00:00:00Z"})
            return real(self, [r for r in records if r.beneficiary_id != uid])
        return real(self, records)

    monkeypatch.setattr(SettlementRepository, "held_bonus_promoters", read_then_case_opens)
    report = settle_due(table=table, as_of=DUE, now=DUE + timedelta(hours=2))
    assert reads["stale"] == 1
    assert report.settled == len(expected()) - 1
    ledger = LedgerRepository(table)
    assert (ledger.wallet(uid).balances.frozen, ledger.wallet(uid).balances.available) == (amount, 0)
    record = BonusRepository(table).get(uid, MONTH)
    assert record is not None and record.status == CommissionStatus.FROZEN

    # The case is released: the bonus settles on the next run, once.
    table.client.delete_item(TableName=table.name, Key={"pk": {"S": f"USER#{uid}"}, "sk": {"S": "RISK_HOLD"}})
    later = settle_due(table=table, as_of=DUE + timedelta(days=1), now=DUE + timedelta(days=1))
    assert later.settled == 1 and later.settled_fen == amount
    assert ledger.wallet(uid).balances.available == amount
    assert_ledger_reconciles(table, [uid])
