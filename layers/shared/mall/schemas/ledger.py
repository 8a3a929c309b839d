"""Responses of the ledger views (账本、收益汇总) and the reconciliation reports (对账报告)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from mall.schemas.common import ApiModel

_RUN: JsonDict = {
    "day": "2026-11-19", "as_of": "2026-11-19T16:00:00Z", "finished_at": "2026-11-19T16:00:41Z", "complete": True,
    "clean": True, "promoters_checked": 214, "postings_read": 5873, "mismatches": 0, "global_checked": True,
    "unstable_promoters": [], "merchant_balances": {"merchant:commission": -1286420, "merchant:fees": 18600},
    "total_fen": 0}


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
    adjustment_id: str | None = Field(default=None, description="a manual adjustment (memo: its reason)")


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
                                  "withdrawal_returned, bonus_frozen, bonus_settled, commission_voided, "
                                  "commission_adjusted (a manual adjustment; memo: the reason), "
                                  "prize_paid (a leaderboard prize; memo: the month, board, rank and prize)")
    amount_fen: int = Field(description="the amount moved (the sum of the positive legs)")
    legs: list[LedgerLeg]
    ref: LedgerRef
    memo: str = ""
    effect: BalanceEffect
    at: str
    settles: list[str] = Field(default_factory=list, description="a settlement posting (commission_settled, "
                               "bonus_settled): the commission or bonus records it settled, one posting for a "
                               "batch of them; each record names it as the posting that settled it")


class LedgerPage(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "u_36botxbbbigbhenhtgo542dk", "items": [
        {"posting_id": "adj_5f0c2a9e1b7d4c3a8e6f1d2b.credit", "kind": "commission_adjusted", "amount_fen": 1500,
         "legs": [{"account": "merchant:commission", "delta_fen": -1500}, {"account": "available", "delta_fen": 1500}],
         "ref": {"order_id": None, "line_id": None, "level": None, "commission_id": None, "withdrawal_id": None,
                 "adjustment_id": "adj_5f0c2a9e1b7d4c3a8e6f1d2b"}, "memo": "线下茶会代收货款, 补发推广佣金",
         "effect": {"frozen_fen": 0, "available_fen": 1500, "withdrawing_fen": 0, "withdrawn_fen": 0,
                    "debt_fen": 0}, "at": "2026-11-20T03:12:45Z", "settles": []},
        {"posting_id": "w_01m7gy6mg9s3xm8pvpvg63.held", "kind": "withdrawal_held", "amount_fen": 30000,
         "legs": [{"account": "available", "delta_fen": -30000}, {"account": "withdrawing", "delta_fen": 30000}],
         "ref": {"order_id": None, "line_id": None, "level": None, "commission_id": None,
                 "withdrawal_id": "w_01m7gy6mg9s3xm8pvpvg63", "adjustment_id": None}, "memo": "",
         "effect": {"frozen_fen": 0, "available_fen": -30000, "withdrawing_fen": 30000, "withdrawn_fen": 0,
                    "debt_fen": 0}, "at": "2026-11-16T01:05:33Z", "settles": []},
        {"posting_id": "cm_o_01m6gnbah4xat2qntjhtks_0_1.settled", "kind": "commission_settled", "amount_fen": 4032,
         "legs": [{"account": "frozen", "delta_fen": -4032}, {"account": "available", "delta_fen": 4032}],
         "ref": {"order_id": "o_01m6gnbah4xat2qntjhtks", "line_id": "0", "level": "1",
                 "commission_id": "cm_o_01m6gnbah4xat2qntjhtks_0_1", "withdrawal_id": None, "adjustment_id": None},
         "memo": "",
         "effect": {"frozen_fen": -4032, "available_fen": 4032, "withdrawing_fen": 0, "withdrawn_fen": 0,
                    "debt_fen": 0}, "at": "2026-11-14T09:15:02Z",
         "settles": ["cm_o_01m6gnbah4xat2qntjhtks_0_1"]}],
        "next_cursor": "t4UzUBAy9hC6dv0UeyJwayI6IlVTRVIjdV8zNmJvdHhiYmJpZ2JoZW5odGdvNTQyZGsiLCJzayI6IkxFREdFUiMy"
                       "MDI2LTExLTE0VDA5OjE1OjAyWiNjbV9vXzAxbTZnbmJhaDR4YXQycW50amh0a3NfMF8xLnNldHRsZWQifQ"}]})

    user_id: str
    items: list[LedgerEntry]
    next_cursor: str | None = None


class LedgerSummary(ApiModel):
    """收益汇总. ``today_fen`` / ``month_fen``: commission and bonus earned (frozen postings) since
    midnight / the 1st of the month, China time — what was earned, before any later refund."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user_id": "u_36botxbbbigbhenhtgo542dk", "today_fen": 0, "month_fen": 18756, "frozen_fen": 9120,
        "available_fen": 6408, "withdrawing_fen": 0, "withdrawn_fen": 42000, "debt_fen": 0,
        "as_of": "2026-11-20T03:00:00Z"}]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_RUN], "next_cursor": None}]})

    items: list[ReconciliationRun]
    next_cursor: str | None = None


class ReconciliationDetail(ApiModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "run": {**_RUN, "day": "2026-11-18", "as_of": "2026-11-18T16:00:00Z", "finished_at": "2026-11-18T16:00:39Z",
                "clean": False, "mismatches": 1},
        "mismatches": [{"kind": "wallet", "subject": "u_36botxbbbigbhenhtgo542dk", "account": "available",
                        "expected_fen": 6408, "actual_fen": 6908, "difference_fen": 500}],
        "next_cursor": None}]})

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
