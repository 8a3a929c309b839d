"""The ledger's read side and its daily reconciliation (账本、收益汇总、对账).

Views: a promoter's postings, newest first, and a summary (today, this month, the five
balances). The promoter routes pass the token's subject, so a promoter only ever reads their own.

Reconciliation (``reconcile``) recomputes every balance from the immutable postings and compares;
a difference is reported (metric ``LedgerMismatches`` + a report entry), never corrected.
Cost of one run, for P promoters holding N postings in all: per promoter two consistent GetItems of
the wallet and a consistent Query of their ledger partition (1 RCU per 4 KB: ~0.1 RCU per posting
of ~0.4 KB), then per global round P / 100 consistent BatchGets of the wallets and one merchant
BatchGet (32 shard keys); one write per mismatch plus the summary. It reads every posting ever
written, every day: docs/data-model.md ("ledger") says how it fans out and goes incremental.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mall.api.cursor import cursors
from mall.clock import china_day, china_day_start, china_month_start, iso, parse_instant, utc_now
from mall.dal.keys import is_posting_key, mismatches_list_partition, postings_partition, runs_list_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.reconciliation import ReconciliationRepository
from mall.dal.referral import PromoterRepository
from mall.domain import reconciliation as rules
from mall.domain.ledger import Account, Balances, MerchantAccount, PostingKind
from mall.domain.referral import PROMOTER_STATUSES
from mall.errors import FieldProblem, InvalidInput, NotFound
from mall.observability import logger, metrics
from mall.schemas.ledger import (
    BalanceEffect,
    LedgerEntry,
    LedgerLeg,
    LedgerPage,
    LedgerRef,
    LedgerSummary,
    ReconciliationDetail,
    ReconciliationList,
    ReconciliationMismatch,
    ReconciliationReport,
    ReconciliationRun,
)

#: Postings that count as earnings in the summary's "today" and "this month".
EARNING_KINDS = frozenset({PostingKind.COMMISSION_FROZEN.value, PostingKind.BONUS_FROZEN.value})
#: How often a wallet is re-read when it moves while its postings are being read.
SNAPSHOT_ATTEMPTS = 3
#: Rounds of the global (merchant + conservation) check before it is declared inconclusive.
GLOBAL_ROUNDS = 3
PROMOTER_PAGE = 100

_PROMOTER_ACCOUNTS = frozenset(a.value for a in Account)
_REF_FIELDS = ("order_id", "line_id", "level", "commission_id", "withdrawal_id", "adjustment_id")


def _bad_cursor() -> InvalidInput:
    return InvalidInput("cursor is not valid for this list", code="invalid_cursor",
                        fields=[FieldProblem("query:cursor", "not a cursor returned by this list")])


def _dt(value: str) -> datetime:
    return parse_instant(value)


def _require_promoter(promoters: PromoterRepository, user_id: str) -> None:
    if promoters.get(user_id) is None:
        raise NotFound("no such promoter", code="promoter_not_found")


# ---- views --------------------------------------------------------------------------------------


def entry_from_item(item: Mapping[str, Any]) -> LedgerEntry:
    legs = [LedgerLeg(account=str(leg["account"]), delta_fen=int(leg["delta_fen"])) for leg in item.get("legs", [])]
    effect: dict[str, int] = {}
    for leg in legs:
        if leg.account in _PROMOTER_ACCOUNTS:
            # The debt account is ≤ 0; the effect says how much more (or less) is owed.
            sign = -1 if leg.account == Account.DEBT else 1
            effect[f"{leg.account}_fen"] = effect.get(f"{leg.account}_fen", 0) + sign * leg.delta_fen
    ref: Mapping[str, Any] = item.get("ref") or {}
    return LedgerEntry(
        posting_id=str(item["posting_id"]), kind=str(item["kind"]), amount_fen=int(item.get("amount_fen", 0)),
        legs=legs, ref=LedgerRef(**{k: str(ref[k]) for k in _REF_FIELDS if ref.get(k) is not None}),
        memo=str(item.get("memo") or ""), effect=BalanceEffect(**effect), at=str(item["at"]),
        settles=[str(record_id) for record_id in item.get("settles") or []])


def ledger_page(*, ledger: LedgerRepository, user_id: str, limit: int, cursor: str | None) -> LedgerPage:
    """``user_id``'s postings, newest first (the promoter route passes the token's subject)."""
    start = cursors.decode(cursor, partition=postings_partition(user_id))
    if start is not None and not is_posting_key(start):
        raise _bad_cursor()
    page = ledger.postings(user_id, limit=limit, start_key=start, newest_first=True)
    return LedgerPage(user_id=user_id, items=[entry_from_item(i) for i in page.items],
                      next_cursor=cursors.encode(page.last_key))


def summary(*, ledger: LedgerRepository, user_id: str, now: datetime) -> LedgerSummary:
    """The balances (the wallet, read consistently) and what was earned today / this month in
    China time: the promoter's postings since the 1st of the month, summed here, one Query per
    posting shard, the wallet read by the Query of the promoter's own partition (the month's
    postings, ~0.4 KB each: a promoter with 3,000 postings a month reads ~1.2 MB, ~200 RCU, a
    third of it consistent). Postings after ``now`` are not counted."""
    month_start, day_start = china_month_start(now), china_day_start(now)
    wallet, postings = ledger.wallet_and_postings(user_id, since=month_start)
    balances = wallet.balances
    today = month = 0
    for item in postings:
        if item.get("kind") not in EARNING_KINDS:
            continue
        at = _dt(str(item["at"]))
        if at > now:
            break  # oldest first: the rest is later still
        earned = sum(int(leg["delta_fen"]) for leg in item.get("legs", []) if leg["account"] == Account.FROZEN)
        month += earned
        if at >= day_start:
            today += earned
    return LedgerSummary(user_id=user_id, today_fen=today, month_fen=month, frozen_fen=balances.frozen,
                         available_fen=balances.available, withdrawing_fen=balances.withdrawing,
                         withdrawn_fen=balances.withdrawn, debt_fen=balances.owed_fen, as_of=iso(now))


def promoter_ledger_page(*, promoters: PromoterRepository, ledger: LedgerRepository, user_id: str, limit: int,
                         cursor: str | None) -> LedgerPage:
    """Admin: anyone's ledger (404 for a user who is not a promoter)."""
    _require_promoter(promoters, user_id)
    return ledger_page(ledger=ledger, user_id=user_id, limit=limit, cursor=cursor)


def promoter_summary(*, promoters: PromoterRepository, ledger: LedgerRepository, user_id: str,
                     now: datetime) -> LedgerSummary:
    _require_promoter(promoters, user_id)
    return summary(ledger=ledger, user_id=user_id, now=now)


# ---- reconciliation -----------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """One promoter's wallet as stored and the Σ of their postings, read while the wallet's
    version did not move (so both describe the same moment)."""

    user_id: str
    version: int
    balances: Balances
    totals: dict[str, int]
    postings: int
    bad_postings: list[rules.Mismatch] = field(default_factory=list)
    stable: bool = True


def _read_once(user_id: str, ledger: LedgerRepository, reports: ReconciliationRepository) -> _Snapshot:
    before = ledger.wallet(user_id)
    totals: dict[str, int] = {}
    count = 0
    bad: list[rules.Mismatch] = []
    for item in reports.postings(user_id):
        check = rules.check_posting(item)
        bad += rules.posting_mismatches(check)
        if check.totals is not None:
            rules.add_totals(totals, check.totals)
        count += 1
    after = ledger.wallet(user_id)
    return _Snapshot(user_id, after.version, after.balances, totals, count, bad, stable=after.version == before.version)


def _snapshot(user_id: str, ledger: LedgerRepository, reports: ReconciliationRepository) -> _Snapshot:
    snapshot = _read_once(user_id, ledger, reports)
    for _ in range(SNAPSHOT_ATTEMPTS - 1):
        if snapshot.stable:
            break
        snapshot = _read_once(user_id, ledger, reports)
    return snapshot


def _promoter_ids(promoters: PromoterRepository) -> Iterator[str]:
    """Every promoter, whatever their status: the gsi1 ``PROMOTERS#<status>`` partitions, paged.
    (A promoter whose status changes during the run can appear twice; the caller de-duplicates.)"""
    for status in PROMOTER_STATUSES:
        start = None
        while True:
            found, start = promoters.list_by_status(status, limit=PROMOTER_PAGE, start_key=start)
            for promoter in found:
                yield promoter.user_id
            if start is None:
                break


def reconcile(*, ledger: LedgerRepository, reports: ReconciliationRepository, promoters: PromoterRepository,
              as_of: datetime, now: datetime | None = None,
              time_left: Callable[[], bool] | None = None) -> ReconciliationReport:
    """Recompute every balance from the postings and compare; write the day's report
    (``RECONCILIATION#<china day of as_of>``, overwritten by a re-run of the day).

    Per promoter: each wallet account == Σ of its legs, no account overdrawn, every posting
    balanced. Globally: each merchant account == Σ of its legs over every promoter's postings, and
    Σ of every balance == 0. The global check needs one consistent moment across all promoters:
    after the pass, the merchant shards are read, then every wallet's version; if no version moved
    since its promoter was read, no posting was committed in between (every posting moves its
    promoter's wallet), so the sums describe the moment the merchant shards were read. Promoters
    that moved are read again (up to ``GLOBAL_ROUNDS``); if the ledger never stands still the
    global check is reported inconclusive (``global_checked`` false), which is not a mismatch.

    Changes no balance. ``time_left`` (False: stop taking promoters) makes a run that would
    overrun its Lambda end with ``complete`` false instead of being killed mid-write."""
    day = china_day(as_of)
    snapshots, complete = _read_promoters(promoters, ledger, reports, time_left)
    merchant, global_checked = ({m.value: 0 for m in MerchantAccount}, False)
    if complete:
        merchant, global_checked = _settle_global(snapshots, ledger, reports)
    mismatches, total = _compare(snapshots, merchant, global_checked=global_checked)

    unstable = sorted(s.user_id for s in snapshots.values() if not s.stable)
    run = ReconciliationRun(
        day=day, as_of=iso(as_of), finished_at=iso(now or utc_now()), complete=complete,
        clean=complete and global_checked and not mismatches and not unstable,
        promoters_checked=len(snapshots), postings_read=sum(s.postings for s in snapshots.values()),
        mismatches=len(mismatches), global_checked=global_checked, unstable_promoters=unstable,
        merchant_balances=merchant, total_fen=total if global_checked else 0)
    reports.save(day, run.model_dump(), mismatches)

    metrics.add_metric(name="LedgerMismatches", unit="Count", value=len(mismatches))
    if not (complete and global_checked) or unstable:
        metrics.add_metric(name="LedgerReconciliationInconclusive", unit="Count", value=1)
    for mismatch in mismatches:
        logger.error("ledger mismatch", extra={"day": day, "kind": mismatch.kind, "subject": mismatch.subject,
                                               "account": mismatch.account, "expected_fen": mismatch.expected_fen,
                                               "actual_fen": mismatch.actual_fen,
                                               "difference_fen": mismatch.difference_fen})
    return ReconciliationReport(run=run, mismatches=[_mismatch_view(m) for m in mismatches])


def _read_promoters(promoters: PromoterRepository, ledger: LedgerRepository, reports: ReconciliationRepository,
                    time_left: Callable[[], bool] | None) -> tuple[dict[str, _Snapshot], bool]:
    snapshots: dict[str, _Snapshot] = {}
    for user_id in _promoter_ids(promoters):
        if user_id in snapshots:
            continue
        if time_left is not None and not time_left():
            return snapshots, False
        snapshots[user_id] = _snapshot(user_id, ledger, reports)
    return snapshots, True


def _settle_global(snapshots: dict[str, _Snapshot], ledger: LedgerRepository,
                   reports: ReconciliationRepository) -> tuple[dict[str, int], bool]:
    """The merchant balances at a moment every snapshot still describes (see ``reconcile``);
    re-reads the promoters that moved. False when the ledger never stood still."""
    merchant: dict[str, int] = {}
    for _ in range(GLOBAL_ROUNDS):
        merchant = ledger.merchant_balances()
        versions = reports.wallet_versions(list(snapshots))
        moved = [uid for uid, snap in snapshots.items() if versions[uid] != snap.version or not snap.stable]
        if not moved:
            return merchant, True
        for uid in moved:
            snapshots[uid] = _snapshot(uid, ledger, reports)
    return merchant, False


def _compare(snapshots: Mapping[str, _Snapshot], merchant: Mapping[str, int], *,
             global_checked: bool) -> tuple[list[rules.Mismatch], int]:
    mismatches: list[rules.Mismatch] = []
    merchant_legs: dict[str, int] = {}
    for snap in snapshots.values():
        mismatches += snap.bad_postings
        if snap.stable:
            mismatches += rules.wallet_mismatches(snap.user_id, snap.balances, snap.totals)
        mismatches += rules.overdrawn_mismatches(snap.user_id, snap.balances)
        rules.add_totals(merchant_legs, rules.merchant_part(snap.totals))
    total = rules.conservation_total((s.balances for s in snapshots.values()), merchant)
    if global_checked:
        mismatches += rules.merchant_mismatches(merchant, merchant_legs)
        mismatches += rules.conservation_mismatches(total)
    mismatches.sort(key=lambda m: m.key)
    return mismatches, total


def _mismatch_view(mismatch: rules.Mismatch) -> ReconciliationMismatch:
    return ReconciliationMismatch(kind=mismatch.kind, subject=mismatch.subject, account=mismatch.account,
                                  expected_fen=mismatch.expected_fen, actual_fen=mismatch.actual_fen,
                                  difference_fen=mismatch.difference_fen)


def _run_from_item(item: Mapping[str, Any]) -> ReconciliationRun:
    return ReconciliationRun.model_validate({k: item[k] for k in ReconciliationRun.model_fields if k in item})


def list_runs(*, reports: ReconciliationRepository, limit: int, cursor: str | None) -> ReconciliationList:
    start = cursors.decode(cursor, partition=runs_list_partition())
    page = reports.runs(limit=limit, start_key=start)
    return ReconciliationList(items=[_run_from_item(i) for i in page.items],
                              next_cursor=cursors.encode(page.last_key))


def get_run(*, reports: ReconciliationRepository, day: str, limit: int, cursor: str | None) -> ReconciliationDetail:
    item = reports.run(day)
    if item is None:
        raise NotFound("no reconciliation ran that day", code="reconciliation_not_found")
    start = cursors.decode(cursor, partition=mismatches_list_partition(day))
    page = reports.mismatches(day, limit=limit, start_key=start)
    mismatches = [ReconciliationMismatch.model_validate({k: i[k] for k in ReconciliationMismatch.model_fields})
                  for i in page.items]
    return ReconciliationDetail(run=_run_from_item(item), mismatches=mismatches,
                                next_cursor=cursors.encode(page.last_key))
