"""What only a risk case's confirmation runs (``mall.services.risk``, "confirm"): the promoter's freeze
in the resolution's transaction, then the follow-up (every unsettled record voided with its reversal,
the promoter's unpaid team bonuses and held leaderboard prizes voided). Imported by the first
confirmation: the case lists, a case, a release and the fraud scan's openings do without the
promoters' status changes and the team bonuses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from mall.dal.ledger import LedgerRefused
from mall.domain.commission_records import CommissionRecord, CommissionStatus
from mall.domain.ledger import commission_cancelled
from mall.domain.referral.model import Promoter
from mall.domain.risk import RiskCase
from mall.errors import Conflict, NotFound
from mall.services.referral.promoters import change_status
from mall.services.referral.promoters import freeze_writes as promoter_freeze_writes
from mall.services.risk import (
    RECORD_ATTEMPTS,
    SYSTEM_ACTOR,
    RiskRepositories,
    RiskWorkIncomplete,
    backoff,
    logger,
)
from mall.services.team_bonus import void_bonuses

if TYPE_CHECKING:
    from mall.dal.table import Write


def freeze_writes(repos: RiskRepositories, promoter: Promoter | None, case: RiskCase, *, by: str, now: datetime,
                  source_ip: str | None) -> list[Write]:
    """The admin freeze of the promoter of the confirmed ``case``, for the resolution's transaction."""
    return promoter_freeze_writes(promoters=repos.promoters, promoter=promoter, reason=freeze_reason(case), by=by,
                                  now=now, source_ip=source_ip)


def freeze_reason(case: RiskCase) -> str:
    return f"risk case {case.case_id} confirmed: {case.note or ''}"[:500]


def finish_confirm(repos: RiskRepositories, case: RiskCase, now: datetime, *, source_ip: str | None,
                   freeze: bool) -> None:
    """Freeze the promoter when resuming a confirmation (first: a frozen promoter earns nothing new;
    a confirmation of this call froze them in its own transaction), then void every unsettled
    record with its ledger reversal."""
    by = case.resolved_by or SYSTEM_ACTOR
    if freeze:
        try:
            change_status(promoters=repos.promoters, user_id=case.promoter_id, action="freeze",
                          reason=freeze_reason(case), by=by, now=now, source_ip=source_ip)
        except (Conflict, NotFound) as exc:  # already frozen or disabled (or never a promoter): nothing to freeze
            logger.info("promoter not frozen by the risk case", extra={"case_id": case.case_id, "reason": exc.code})
    repo, ledger = repos.cases, repos.ledger
    voided = 0
    voided_fen = 0
    for record in repo.unsettled_records(case.promoter_id):
        current: CommissionRecord | None = record
        for attempt in range(RECORD_ATTEMPTS):
            if current is None or current.status != CommissionStatus.FROZEN:
                break
            ref = {"order_id": current.order_id, "line_id": current.line_id, "level": str(current.level),
                   "commission_id": current.commission_id, "case_id": case.case_id}
            postings = [commission_cancelled(promoter_id=current.beneficiary_id, commission_id=current.commission_id,
                                             amount_fen=current.current_fen, at=now, ref=ref,
                                             step=f"void_{case.case_id}", voided=True)
                        ] if current.current_fen > 0 else []
            try:
                ledger.post(postings, also=[repo.void_write(current, case_id=case.case_id, now=now)], now=now)
                voided += 1
                voided_fen += current.current_fen
                break
            except LedgerRefused:
                backoff(attempt)
                current = repo.record(current)  # refunded, settled or voided meanwhile: decide again
        else:
            raise RiskWorkIncomplete(f"commission {record.commission_id} kept changing while being voided")
    # Unsettled team bonuses go the same way (each conditional on its state, so a re-run voids none twice).
    bonuses = void_bonuses(repos.bonuses, promoter_id=case.promoter_id, case_id=case.case_id, now=now)
    repos.prizes.void_held(case.promoter_id, case_id=case.case_id, now=now)
    logger.info("commission voided by a confirmed risk case", extra={
        "case_id": case.case_id, "promoter_id": case.promoter_id, "records": voided, "amount_fen": voided_fen,
        "bonuses": bonuses})
