"""Risk cases (风控案件): opening one on a fraud-scan hit, holding the promoter's unsettled
commission, and the admin's resolution (release or confirm). Rules: ``mall.domain.risk``; items
and conditional writes: ``mall.dal.risk``; docs/risk.md.

``open_case`` (called by the fraud scan, at least once per hit):
1. one transaction: the case (``attribute_not_exists``: the id is derived from promoter, rule and
   window, so a repeated hit finds it), the promoter's hold (created, or the case added to it) and
   the audit entry;
2. then every FROZEN commission record of the promoter is marked ``hold=<case>`` and taken out of
   the settlement due index, each by its own conditional update (still FROZEN, same version, the
   hold still present). A settlement of the same record either committed first (the record is
   SETTLED, the hold skips it) or fails its own condition (``attribute_not_exists(hold)``).
Re-running it for an OPEN case repeats step 2 only (an interrupted opening is finished).

``release_case`` / ``confirm_case`` (the admin): the case's conditional OPEN → RELEASED /
CONFIRMED, the hold's new state and the audit entry in one transaction; then the follow-up:
- release: when no case of the promoter stays open (and none was confirmed) the hold is gone and
  every held record is released (back into the due index: the next settlement run settles those
  already due);
- confirm (``mall.services.risk_confirm``): the promoter is frozen (the admin freeze of
  ``mall.services.referral``, in the resolution's own transaction: a confirmed case and its frozen
  promoter are one commit), every FROZEN record is voided with its ``commission_voided`` reversal
  in the transaction of its state change, and the hold stays (``confirmed_case_id``) while the
  promoter is frozen.
``finished_at`` marks the follow-up complete; repeating the same action on a resolved case whose
follow-up was interrupted finishes it (every step is conditional and idempotent). A confirmation
whose read finds nothing frozen in the wallet has nothing to void: its transaction sets
``finished_at`` too, conditional on the wallet still holding nothing frozen at commit."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mall.api.cursor import cursors
from mall.clock import iso
from mall.dal.audit import AuditEntry
from mall.dal.keys import promoter_cases_partition, risk_status_partition
from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.risk import (
    CaseExists,
    HoldMismatch,
    RiskCaseRepository,
    RiskHoldRepository,
    StaleCase,
    StaleHold,
    StaleRecord,
    case_from_item,
)
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.risk import (
    Hold,
    ResolveAction,
    RiskCase,
    RiskCaseStatus,
    hold_with_case,
    hold_without_case,
    new_case,
    plan_resolution,
    resolved,
)
from mall.errors import Conflict, FieldProblem, InvalidInput, NotFound
from mall.schemas.risk import CommissionTotals, RiskCaseDetail, RiskCasePage, RiskCaseView, RiskHoldView

if TYPE_CHECKING:
    from collections.abc import Callable

    from mall.dal.leaderboard_prizes import PrizeRepository
    from mall.dal.table import Table
    from mall.services.team_bonus import TeamBonusRepositories

logger = Logger(child=True)

#: Re-reads when the promoter's hold or the case changed under us (another case opened, another admin).
ATTEMPTS = 10
#: Re-reads of one commission record whose conditional update keeps losing (a refund, a settlement).
RECORD_ATTEMPTS = 8
SYSTEM_ACTOR = "system"

__all__ = ["RiskCaseView", "RiskRepositories", "RiskWorkIncomplete", "confirm_case", "get_case",
           "lift_hold_after_unfreeze", "list_cases", "open_case", "release_case"]


@dataclass(frozen=True)
class RiskRepositories:
    """What the risk use cases read and write: cases and holds, the ledger (the reversals of a
    confirmed case), the promoters (their status decides whether a hold can be lifted)."""

    cases: RiskCaseRepository
    holds: RiskHoldRepository
    ledger: LedgerRepository
    promoters: PromoterRepository
    #: A confirmed case voids the promoter's unpaid team bonuses too ...
    bonuses_of: Callable[[], TeamBonusRepositories]
    #: ... and their leaderboard prizes held for the case.
    prizes_of: Callable[[], PrizeRepository]

    @classmethod
    def on(cls, table: Table) -> RiskRepositories:
        # Only a confirmation (mall.services.risk_confirm) voids bonuses and prizes: their repositories are built,
        # with their modules imported, by the first one; the case lists, a case and the fraud scan's openings
        # do without them.
        def bonuses() -> TeamBonusRepositories:
            from mall.services.team_bonus import TeamBonusRepositories

            return TeamBonusRepositories.on(table)

        def prizes() -> PrizeRepository:
            from mall.dal.leaderboard_prizes import PrizeRepository

            return PrizeRepository(table)

        return cls(cases=RiskCaseRepository(table), holds=RiskHoldRepository(table), ledger=LedgerRepository(table),
                   promoters=PromoterRepository(table), bonuses_of=cache(bonuses), prizes_of=cache(prizes))

    @property
    def bonuses(self) -> TeamBonusRepositories:
        return self.bonuses_of()

    @property
    def prizes(self) -> PrizeRepository:
        return self.prizes_of()


class RiskWorkIncomplete(RuntimeError):
    """A record or the hold kept changing for every attempt; re-running finishes the work."""


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.01 * 2 ** attempt, 0.3)))  # noqa: S311 - jitter, not security


def case_view(case: RiskCase) -> RiskCaseView:
    return RiskCaseView(case_id=case.case_id, promoter_id=case.promoter_id, rule=case.rule,
                        window_key=case.window_key, status=case.status, evidence=case.evidence,
                        opened_at=iso(case.opened_at), resolved_at=iso(case.resolved_at) if case.resolved_at else None,
                        resolved_by=case.resolved_by, note=case.note, resolution_pending=case.resolution_pending)


# ---- opening ---------------------------------------------------------------------------------


def open_case(*, repos: RiskRepositories, promoter_id: str, rule: str, window_key: str, evidence: dict[str, Any],
              now: datetime) -> RiskCaseView | None:
    """Open the case of (promoter, rule, window) and hold the promoter (module doc). None when the
    case already exists (then, if it is still OPEN, unheld FROZEN records are held now)."""
    case = new_case(promoter_id=promoter_id, rule=rule, window_key=window_key, evidence=evidence, now=now)
    repo, holds = repos.cases, repos.holds
    for attempt in range(ATTEMPTS):
        existing = repo.get(case.case_id)
        if existing is not None:
            if existing.is_open:
                _hold_records(repo, holds, promoter_id, now)
            return None
        hold = holds.hold(promoter_id)
        audit = AuditEntry(action="risk_case.open", actor=SYSTEM_ACTOR, entity_type="risk_case",
                           entity_id=case.case_id, after={"status": RiskCaseStatus.OPEN.value},
                           details={"rule": rule, "window_key": window_key}, subject_user=promoter_id)
        try:
            repo.open(case, hold_before=hold, hold_after=hold_with_case(hold, promoter_id=promoter_id,
                                                                        case_id=case.case_id, now=now),
                      audit=audit, now=now)
        except CaseExists:
            continue  # opened by a concurrent run: read it (and finish its holding) above
        except StaleHold:
            backoff(attempt)
            continue
        break
    else:
        raise RiskWorkIncomplete(f"could not open case {case.case_id}: the promoter's hold kept changing")
    held = _hold_records(repo, holds, promoter_id, now)
    logger.info("risk case opened", extra={"case_id": case.case_id, "promoter_id": promoter_id, "rule": rule,
                                           "records_held": held})
    return case_view(case)


def _hold_records(repo: RiskCaseRepository, holds: RiskHoldRepository, promoter_id: str, now: datetime) -> int:
    """Mark the promoter's unheld FROZEN records with the hold's case; stops when the hold is gone
    (the case was resolved meanwhile: the release owns the records)."""
    hold = holds.hold(promoter_id)
    if hold is None:
        return 0
    count = 0
    for record in repo.unsettled_records(promoter_id):
        current: CommissionRecord | None = record
        for attempt in range(RECORD_ATTEMPTS):
            if current is None or current.status != CommissionStatus.FROZEN or current.hold:
                break
            try:
                repo.hold_record(current, case_id=hold.case_id, now=now)
                count += 1
                break
            except HoldMismatch:
                return count
            except StaleRecord:
                backoff(attempt)
                current = repo.record(current)
        else:
            raise RiskWorkIncomplete(f"commission {record.commission_id} kept changing while being held")
    return count


# ---- resolving -------------------------------------------------------------------------------


def release_case(*, repos: RiskRepositories, case_id: str, by: str, note: str, now: datetime,
                 source_ip: str | None = None) -> RiskCaseView:
    """OPEN → RELEASED: commissions continue (module doc)."""
    return _resolve(repos, case_id, "release", by=by, note=note, now=now, source_ip=source_ip)


def confirm_case(*, repos: RiskRepositories, case_id: str, by: str, note: str, now: datetime,
                 source_ip: str | None = None) -> RiskCaseView:
    """OPEN → CONFIRMED: unsettled commissions voided, the promoter frozen (module doc)."""
    return _resolve(repos, case_id, "confirm", by=by, note=note, now=now, source_ip=source_ip)


def _resolve(repos: RiskRepositories, case_id: str, action: ResolveAction, *, by: str, note: str, now: datetime,
             source_ip: str | None) -> RiskCaseView:
    repo, holds = repos.cases, repos.holds
    if action == "confirm":  # imported by the first confirmation: the other routes and the scan do without it
        from mall.services.risk_confirm import finish_confirm, freeze_writes
    written: Hold | None = None  # the hold as this call's resolution left it (None: resuming)
    finished = False
    for attempt in range(ATTEMPTS):
        case = repo.get(case_id)
        if case is None:
            raise NotFound("no such risk case", code="risk_case_not_found")
        if plan_resolution(case, action) == "resume":
            logger.info("resuming a risk case resolution", extra={"case_id": case_id, "action": action})
            break
        after = resolved(case, action, by=by, note=note, now=now)
        hold, promoter, frozen_fen = holds.hold_and_promoter(case.promoter_id, frozen=action == "confirm")
        # A confirmed case freezes the promoter in its own transaction: confirmed and frozen at once.
        freeze = (freeze_writes(repos, promoter, after, by=by, now=now, source_ip=source_ip)
                  if action == "confirm" else [])
        # Nothing frozen, nothing to void (every FROZEN record and bonus is frozen fen): the follow-up
        # is done in the same commit, on condition that nothing was credited since the read.
        done = action == "confirm" and frozen_fen == 0
        if done:
            freeze.append(repos.ledger.nothing_frozen_check(case.promoter_id))
        base = hold or Hold(promoter_id=case.promoter_id, case_id=case.case_id, opened_at=case.opened_at)
        hold_after = hold_without_case(base, case_id=case.case_id, action=action)
        audit = AuditEntry(
            action=f"risk_case.{action}", actor=by, entity_type="risk_case", entity_id=case.case_id,
            source_ip=source_ip, before={"status": case.status.value},
            after={"status": after.status.value, "hold": "lifted" if hold_after.lifted else "kept"},
            details={"note": note, "rule": case.rule, "window_key": case.window_key}, subject_user=case.promoter_id)
        try:
            repo.resolve(case, after, hold_before=hold, hold_after=hold_after, audit=audit, now=now, also=freeze,
                         finished=done)
        except StaleCase:
            continue  # resolved meanwhile: read again (resume the same action, or 409)
        except StaleHold:
            backoff(attempt)
            continue
        case, written, finished = after, hold_after, done
        logger.info("risk case resolved", extra={"case_id": case_id, "promoter_id": case.promoter_id,
                                                 "status": case.status.value, "hold_lifted": hold_after.lifted})
        break
    else:
        raise Conflict("the risk case kept changing; retry", code="risk_case_changed")
    if finished:
        return case_view(replace(case, finished_at=now))
    if case.status == RiskCaseStatus.CONFIRMED:
        finish_confirm(repos, case, now, source_ip=source_ip, freeze=written is None)
    else:
        _finish_release(repo, holds, case, now, held=None if written is None else not written.lifted)
    if repo.finish(case, now):
        return case_view(replace(case, finished_at=now))  # as this resolution left it: no read needed
    final = repo.get(case_id)
    return case_view(final or case)


def _finish_release(repo: RiskCaseRepository, holds: RiskHoldRepository, case: RiskCase, now: datetime, *,
                    held: bool | None = None) -> None:
    """Release the held records, unless the promoter is still held (another case is open or one
    was confirmed: the records stay held for that one). ``held``: what the caller's own write just
    left (None: read the hold). A hold opened after that write makes each record's conditional
    release fail (``HoldMismatch``), which stops here as a read would have."""
    if (holds.hold(case.promoter_id) is not None) if held is None else held:
        return
    released = 0
    for record in repo.unsettled_records(case.promoter_id):
        current: CommissionRecord | None = record
        for attempt in range(RECORD_ATTEMPTS):
            if current is None or current.status != CommissionStatus.FROZEN or not current.hold:
                break
            try:
                repo.release_record(current, now=now)
                released += 1
                break
            except HoldMismatch:
                logger.info("a new risk case holds the promoter; records stay held",
                            extra={"case_id": case.case_id, "promoter_id": case.promoter_id})
                return
            except StaleRecord:
                backoff(attempt)
                current = repo.record(current)
        else:
            raise RiskWorkIncomplete(f"commission {record.commission_id} kept changing while being released")
    logger.info("held commission released", extra={"case_id": case.case_id, "records": released})


def lift_hold_after_unfreeze(*, repos: RiskRepositories, promoter_id: str, now: datetime) -> bool:
    """After an admin unfroze a promoter whose case was confirmed: lift the hold that the confirmed
    case kept, if no case is open and the promoter is active again, and release what it holds.
    True when a hold was lifted."""
    repo, holds = repos.cases, repos.holds
    for attempt in range(ATTEMPTS):
        hold, promoter, _ = holds.hold_and_promoter(promoter_id)
        if hold is None or hold.open_cases or promoter is None or not promoter.is_active:
            return False
        try:
            repo.lift_hold(hold)
        except StaleHold:  # a case opened meanwhile: decide again
            backoff(attempt)
            continue
        confirmed = hold.confirmed_case_id or hold.case_id
        _finish_release(repo, holds, RiskCase(case_id=confirmed, promoter_id=promoter_id, rule="", window_key="",
                                              evidence={}, status=RiskCaseStatus.RELEASED, opened_at=now), now,
                        held=False)
        return True
    return False


# ---- views -----------------------------------------------------------------------------------


def list_cases(*, repos: RiskRepositories, status: str | None, promoter_id: str | None, limit: int,
               cursor: str | None) -> RiskCasePage:
    """Cases newest first: of one promoter (any status, or ``status``), else of one status (OPEN
    when none is given)."""
    if status is not None and status not in {s.value for s in RiskCaseStatus}:
        raise InvalidInput("unknown status", fields=[FieldProblem("query:status",
                                                                  f"one of {[s.value for s in RiskCaseStatus]}")])
    repo = repos.cases
    if promoter_id:
        start = cursors.decode(cursor, partition=("gsi2pk", promoter_cases_partition(promoter_id)))
        page = repo.for_promoter(promoter_id, status=status, limit=limit, start_key=start)
    else:
        wanted = status or RiskCaseStatus.OPEN.value
        start = cursors.decode(cursor, partition=("gsi1pk", risk_status_partition(wanted)))
        page = repo.by_status(wanted, limit=limit, start_key=start)
    return RiskCasePage(items=[case_view(case_from_item(i)) for i in page.items],
                        next_cursor=cursors.encode(page.last_key))


def get_case(*, repos: RiskRepositories, case_id: str) -> RiskCaseDetail:
    """One case with its evidence, the promoter's held records and what the case voided."""
    repo = repos.cases
    case = repo.get(case_id)
    if case is None:
        raise NotFound("no such risk case", code="risk_case_not_found")
    held, voided = repo.case_records(case.promoter_id, case.case_id)
    hold = repos.holds.hold(case.promoter_id)
    promoter = repos.promoters.get(case.promoter_id)
    return RiskCaseDetail(
        case=case_view(case),
        held=CommissionTotals(count=len(held), amount_fen=sum(r.current_fen for r in held)),
        voided=CommissionTotals(count=len(voided), amount_fen=sum(voided)),
        hold=RiskHoldView(case_id=hold.case_id, opened_at=iso(hold.opened_at), open_cases=sorted(hold.open_cases),
                          confirmed_case_id=hold.confirmed_case_id) if hold else None,
        promoter_status=promoter.status if promoter else None)
