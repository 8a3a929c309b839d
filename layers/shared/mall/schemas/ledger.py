"""Responses of the ledger views (账本、收益汇总) and the reconciliation reports (对账报告)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mall.schemas.common import ApiModel


class LedgerLeg(ApiModel):
    account: str = Field(description="`frozen`, `available`, `withdrawing`, `withdrawn`, `debt`, or a merchant "
                                     "account `merchant:commission` / `merchant:fees`")
    delta_fen: int = Field(description="signed change of that account (a `debt` leg below zero: more owed)")


class LedgerRef(ApiModel):
    """What caused the posting (whichever apply)."""

    order_id: str | None = None
    line_id: str | None = None
    level: str | None = None
    commission_id: str | None = None
    withdrawal_id: str | None = None


class BalanceEffect(ApiModel):
    """How the posting changed the promoter's balances. ``debt_fen`` counts what is owed:
    positive = the promoter owes more, negative = debt repaid."""

    frozen_fen: int = 0
    available_fen: int = 0
    withdrawing_fen: int = 0
    withdrawn_fen: int = 0
    debt_fen: int = 0


class LedgerEntry(ApiModel):
    posting_id: str
    kind: str = Field(description="commission_frozen, commission_settled, commission_cancelled, "
                                  "commission_clawed_back, debt_repaid, withdrawal_held, withdrawal_paid, "
                                  "withdrawal_returned, bonus_frozen, bonus_settled, commission_voided")
    amount_fen: int = Field(description="the amount moved (the sum of the positive legs)")
    legs: list[LedgerLeg]
    ref: LedgerRef
    memo: str = ""
    effect: BalanceEffect
    at: str


class LedgerPage(ApiModel):
    user_id: str
    items: list[LedgerEntry]
    next_cursor: str | None = None


class LedgerSummary(ApiModel):
    """收益汇总. ``today_fen`` / ``month_fen``: commission and bonus earned (frozen postings) since
    midnight / the 1st of the month, China time — what was earned, before any later refund."""

    user_id: str
    today_fen: int
    month_fen: int
    frozen_fen: int = Field(description="待结算")
    available_fen: int = Field(description="可提现")
    withdrawing_fen: int = Field(description="提现中")
    withdrawn_fen: int = Field(description="已提现 (cumulative)")
    debt_fen: int = Field(description="欠款: what the promoter owes (≥ 0); later earnings repay it first")
    as_of: str


MismatchKind = Literal["wallet", "overdrawn", "posting", "merchant", "conservation"]


class ReconciliationMismatch(ApiModel):
    kind: MismatchKind = Field(description="`wallet`: a balance ≠ Σ of its legs; `overdrawn`: an account below "
                                           "zero (debt above zero); `posting`: a posting whose legs do not sum to "
                                           "0; `merchant`: a merchant account ≠ Σ of its legs; `conservation`: Σ "
                                           "of every balance ≠ 0")
    subject: str = Field(description="the promoter's user id, the posting id, the merchant account, or `all`")
    account: str
    expected_fen: int = Field(description="from the postings (first principles)")
    actual_fen: int = Field(description="as stored")
    difference_fen: int = Field(description="actual − expected")


class ReconciliationRun(ApiModel):
    day: str = Field(description="the China day the run reports on (YYYY-MM-DD); one report per day")
    as_of: str
    finished_at: str
    complete: bool = Field(description="false when the run ran out of time before checking every promoter")
    clean: bool = Field(description="complete, conclusive and no mismatch")
    promoters_checked: int
    postings_read: int
    mismatches: int
    global_checked: bool = Field(description="the merchant and conservation checks ran on a consistent snapshot "
                                             "(false: balances kept moving during the run; not a mismatch)")
    unstable_promoters: list[str] = Field(description="wallets that kept moving while read (checked next run)")
    merchant_balances: dict[str, int]
    total_fen: int = Field(description="Σ of every promoter balance and merchant account: must be 0 "
                                       "(reported only when global_checked, else 0)")


class ReconciliationList(ApiModel):
    items: list[ReconciliationRun]
    next_cursor: str | None = None


class ReconciliationDetail(ApiModel):
    run: ReconciliationRun
    mismatches: list[ReconciliationMismatch]
    next_cursor: str | None = Field(default=None, description="more mismatches: pass as `cursor`")


class ReconciliationReport(ApiModel):
    """What one reconciliation run found (``mall.services.ledger.reconcile``)."""

    run: ReconciliationRun
    mismatches: list[ReconciliationMismatch]

    @property
    def clean(self) -> bool:
        return self.run.clean
