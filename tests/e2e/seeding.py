"""What several end-to-end tests set up the same way: an active promoter, written straight into the
stack's table (no review queue in the way), and settled commission that makes their balance
available to withdraw."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mall.dal.ledger import LedgerRepository
from mall.dal.referral import PromoterRepository
from mall.dal.table import Table
from mall.domain import ledger as L
from mall.domain.referral import Promoter


def make_promoter(table: Table, user_id: str, *, code: str | None = None, at: datetime | None = None) -> None:
    """``user_id`` becomes an active promoter (log in again for a token with the promoter role)."""
    now = at or datetime.now(UTC)
    PromoterRepository(table).create(
        Promoter(user_id=user_id, code=code or uuid.uuid4().hex[:8].upper(), status="active", level_id="basic",
                 applied_at=now, activated_at=now, accepted_rules_at=now),
        grant_role=True, replaces_rejected=False, now=now, reserve_code=True)


def fund_available(table: Table, user_id: str, amount_fen: int, *, at: datetime | None = None) -> None:
    """A commission of ``amount_fen`` frozen then settled: that much becomes available to withdraw."""
    now = at or datetime.now(UTC)
    ledger = LedgerRepository(table)
    commission_id = f"cm_e2e{uuid.uuid4().hex[:10]}"
    ledger.post([L.commission_frozen(promoter_id=user_id, commission_id=commission_id, amount_fen=amount_fen,
                                     at=now, ref={})])
    ledger.post(L.commission_settled(balances=ledger.wallet(user_id).balances, promoter_id=user_id,
                                     commission_id=commission_id, amount_fen=amount_fen, at=now, ref={}))
