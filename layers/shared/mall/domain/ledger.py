"""The double-entry ledger (账本), pure: accounts, balanced postings, and the builders for every
movement of money.

Every movement is a ``Posting``: an immutable set of ``Leg``s whose signed amounts sum to zero,
so money is never created or lost inside the system. A posting always belongs to one promoter;
its legs name that promoter's accounts (``frozen`` … ``debt``) and the merchant's accounts
(``merchant:*``). Balances are the sums of legs:

- ``frozen`` (待结算): commission earned on a paid order, not yet withdrawable;
- ``available`` (可提现): settled, withdrawable;
- ``withdrawing`` (提现中): requested, held until paid or returned;
- ``withdrawn`` (已提现): paid out, cumulative;
- ``debt`` (欠款): ≤ 0 by design: what the promoter owes after a clawback found too little
  available money; later earnings repay it first.

The merchant's accounts are the other side: ``merchant:commission`` goes negative by what the
merchant has granted as commission and bonus (its negation is the commission expense),
``merchant:fees`` collects withdrawal fees. So Σ of every account of every promoter plus the
merchant accounts is always exactly 0; the reconciliation checks it.

No promoter account except ``debt`` may go below zero: ``Balances.apply`` refuses it here, and
the data-access layer repeats the rule as a condition on the very write (``mall.dal.ledger``),
which is what holds under concurrency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Account(StrEnum):
    """A promoter's accounts; every promoter has each of them."""

    FROZEN = "frozen"
    AVAILABLE = "available"
    WITHDRAWING = "withdrawing"
    WITHDRAWN = "withdrawn"
    DEBT = "debt"


class MerchantAccount(StrEnum):
    """The merchant's side of every posting."""

    COMMISSION = "merchant:commission"  # commission and bonus granted (negative = expense)
    FEES = "merchant:fees"  # withdrawal fees kept


PROMOTER_ACCOUNTS: tuple[Account, ...] = tuple(Account)
#: Accounts that may be negative. Only debt, by design.
MAY_GO_NEGATIVE: frozenset[str] = frozenset({Account.DEBT.value, MerchantAccount.COMMISSION.value})


class PostingKind(StrEnum):
    COMMISSION_FROZEN = "commission_frozen"  # 佣金入账(待结算): merchant → frozen
    COMMISSION_SETTLED = "commission_settled"  # 结算: frozen → available
    COMMISSION_CANCELLED = "commission_cancelled"  # 退款取消(结算前): frozen → merchant
    COMMISSION_CLAWED_BACK = "commission_clawed_back"  # 追回(结算后): available (and debt) → merchant
    DEBT_REPAID = "debt_repaid"  # 还款: available → debt
    WITHDRAWAL_HELD = "withdrawal_held"  # 提现申请: available → withdrawing
    WITHDRAWAL_PAID = "withdrawal_paid"  # 提现到账: withdrawing → withdrawn (+ fee → merchant:fees)
    WITHDRAWAL_RETURNED = "withdrawal_returned"  # 提现失败/驳回: withdrawing → available
    BONUS_FROZEN = "bonus_frozen"  # 团队分红入账: merchant → frozen
    BONUS_SETTLED = "bonus_settled"  # 分红结算: frozen → available
    COMMISSION_VOIDED = "commission_voided"  # 风控确认作废: frozen → merchant
    COMMISSION_ADJUSTED = "commission_adjusted"  # 人工调整: merchant → available (credit), available/debt → merchant
    PRIZE_PAID = "prize_paid"  # 排行榜奖励: merchant → available (a debt repaid first)


class LedgerError(ValueError):
    """A posting that cannot exist (unbalanced, empty) or would overdraw an account."""


class Overdraft(LedgerError):
    def __init__(self, account: str, balance: int, delta: int) -> None:
        super().__init__(f"{account} would go below zero: balance {balance}, change {delta}")
        self.account = account
        self.balance = balance
        self.delta = delta


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    delta_fen: int

    def __post_init__(self) -> None:
        if type(self.delta_fen) is not int:
            raise LedgerError(f"leg amounts are integer fen, got {type(self.delta_fen).__name__}")
        if self.delta_fen == 0:
            raise LedgerError("a leg moves a non-zero amount")
        if self.account not in _ALL_ACCOUNTS:
            raise LedgerError(f"unknown account {self.account!r}")


_ALL_ACCOUNTS: frozenset[str] = frozenset({*(a.value for a in Account), *(m.value for m in MerchantAccount)})


@dataclass(frozen=True, slots=True)
class Posting:
    """One balanced movement of money for ``promoter_id``. ``posting_id`` is deterministic from
    what caused it (an order line and level, a withdrawal, …) so the cause can be found again;
    ``ref`` names the cause (``order_id``, ``line_id``, ``level``, ``commission_id``,
    ``withdrawal_id`` …)."""

    posting_id: str
    promoter_id: str
    kind: PostingKind
    legs: tuple[Leg, ...]
    at: datetime
    ref: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    memo: str = ""
    #: The records (commission or bonus ids) a settlement posting settles: one posting moves a
    #: chunk of a promoter's records from frozen to available, and each is named here.
    settles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.legs) < 2:
            raise LedgerError("a posting has at least two legs")
        if sum(leg.delta_fen for leg in self.legs) != 0:
            raise LedgerError(f"posting {self.posting_id} does not balance: {self.legs}")
        if len({leg.account for leg in self.legs}) != len(self.legs):
            raise LedgerError(f"posting {self.posting_id} names an account twice")
        object.__setattr__(self, "ref", MappingProxyType(dict(self.ref)))
        if len(set(self.settles)) != len(self.settles) or not all(self.settles):
            raise LedgerError(f"posting {self.posting_id} names a settled record twice or empty")

    @property
    def amount_fen(self) -> int:
        """The amount moved (the sum of the positive legs)."""
        return sum(leg.delta_fen for leg in self.legs if leg.delta_fen > 0)

    def delta(self, account: str) -> int:
        return sum(leg.delta_fen for leg in self.legs if leg.account == account)

    def as_dict(self) -> dict[str, Any]:
        return {"posting_id": self.posting_id, "promoter_id": self.promoter_id, "kind": self.kind.value,
                "legs": [{"account": leg.account, "delta_fen": leg.delta_fen} for leg in self.legs],
                "amount_fen": self.amount_fen, "ref": dict(self.ref), "memo": self.memo,
                **({"settles": list(self.settles)} if self.settles else {})}


@dataclass(frozen=True, slots=True)
class Balances:
    """A promoter's account balances (the wallet). ``debt`` is ≤ 0; ``owed_fen`` is its size."""

    frozen: int = 0
    available: int = 0
    withdrawing: int = 0
    withdrawn: int = 0
    debt: int = 0

    @property
    def owed_fen(self) -> int:
        return -self.debt

    def get(self, account: str) -> int:
        return int(getattr(self, account))

    def apply(self, *postings: Posting) -> Balances:
        """The balances after ``postings``; raises ``Overdraft`` if any account other than debt
        would go below zero, or debt above zero."""
        values = {a.value: self.get(a.value) for a in Account}
        for posting in postings:
            for leg in posting.legs:
                if leg.account not in values:
                    continue  # a merchant account
                after = values[leg.account] + leg.delta_fen
                if (after < 0 and leg.account != Account.DEBT) or (leg.account == Account.DEBT and after > 0):
                    raise Overdraft(leg.account, values[leg.account], leg.delta_fen)
                values[leg.account] = after
        return replace(self, **values)

    def as_dict(self) -> dict[str, int]:
        return {a.value: self.get(a.value) for a in Account}


def sum_legs(postings: Iterable[Posting | Mapping[str, Any]]) -> dict[str, int]:
    """Σ of legs per account over ``postings`` (postings or their stored dicts): what the
    balances must be. Used by the reconciliation and by tests as the first-principles total."""
    totals: dict[str, int] = {}
    for posting in postings:
        legs = posting.legs if isinstance(posting, Posting) else [
            Leg(str(leg["account"]), int(leg["delta_fen"])) for leg in posting["legs"]]
        for leg in legs:
            totals[leg.account] = totals.get(leg.account, 0) + leg.delta_fen
    return totals


# ---- builders: one per kind of movement -------------------------------------------------------


def _posting(posting_id: str, promoter_id: str, kind: PostingKind, at: datetime, ref: Mapping[str, str],  # noqa: PLR0917
             memo: str, *legs: tuple[str, int], settles: tuple[str, ...] = ()) -> Posting:
    return Posting(posting_id=posting_id, promoter_id=promoter_id, kind=kind,
                   legs=tuple(Leg(account, delta) for account, delta in legs if delta != 0), at=at, ref=ref,
                   memo=memo, settles=settles)


def _positive(amount_fen: int) -> None:
    if type(amount_fen) is not int or amount_fen <= 0:
        raise LedgerError(f"amount must be a positive integer fen, got {amount_fen!r}")


def commission_frozen(*, promoter_id: str, commission_id: str, amount_fen: int, at: datetime,
                      ref: Mapping[str, str], bonus: bool = False) -> Posting:
    """Commission (or a team bonus) earned on a paid order: merchant → frozen."""
    _positive(amount_fen)
    kind = PostingKind.BONUS_FROZEN if bonus else PostingKind.COMMISSION_FROZEN
    return _posting(f"{commission_id}.frozen", promoter_id, kind, at, ref, "",
                    (MerchantAccount.COMMISSION, -amount_fen), (Account.FROZEN, amount_fen))


def commission_settled(*, balances: Balances, promoter_id: str, commission_id: str, amount_fen: int,
                       at: datetime, ref: Mapping[str, str], bonus: bool = False) -> list[Posting]:
    """Frozen → available; when the promoter owes a debt, the settled money repays it first
    (a second posting, available → debt, of at most what was settled)."""
    _positive(amount_fen)
    kind = PostingKind.BONUS_SETTLED if bonus else PostingKind.COMMISSION_SETTLED
    postings = [_posting(f"{commission_id}.settled", promoter_id, kind, at, ref, "",
                         (Account.FROZEN, -amount_fen), (Account.AVAILABLE, amount_fen))]
    repay = min(balances.owed_fen, amount_fen)
    if repay > 0:
        postings.append(_posting(f"{commission_id}.repaid", promoter_id, PostingKind.DEBT_REPAID, at, ref,
                                 "settled commission repays debt first",
                                 (Account.AVAILABLE, -repay), (Account.DEBT, repay)))
    return postings


def records_settled(*, balances: Balances, promoter_id: str, records: Sequence[tuple[str, int, bool]], at: datetime,
                    ref: Mapping[str, str]) -> list[Posting]:
    """A chunk of one promoter's records settled in one transaction (``records``: id, amount, is a
    bonus; in due order): ONE frozen → available posting per kind (commission, bonus) for their sum,
    naming the records it settles (``settles``), and while a debt is owed ONE ``debt_repaid`` of
    what the sum repays (at most the debt: the same total as repaying record by record). Posting ids
    are those of the first record settled of each kind (``<id>.settled``, ``<first id>.repaid``):
    a record is settled once, so no other chunk can start with it, and a chunk of one record posts
    exactly what ``commission_settled`` does."""
    if not records:
        raise LedgerError("a settlement settles at least one record")
    postings: list[Posting] = []
    for bonus in (False, True):
        mine = [(record_id, amount) for record_id, amount, is_bonus in records if is_bonus == bonus]
        if not mine:
            continue
        total = sum(amount for _, amount in mine)
        _positive(total)
        kind = PostingKind.BONUS_SETTLED if bonus else PostingKind.COMMISSION_SETTLED
        postings.append(_posting(f"{mine[0][0]}.settled", promoter_id, kind, at, ref, "",
                                 (Account.FROZEN, -total), (Account.AVAILABLE, total),
                                 settles=tuple(record_id for record_id, _ in mine)))
    repay = min(balances.owed_fen, sum(amount for _, amount, _ in records))
    if repay > 0:
        postings.append(_posting(f"{records[0][0]}.repaid", promoter_id, PostingKind.DEBT_REPAID, at, ref,
                                 "settled commission repays debt first",
                                 (Account.AVAILABLE, -repay), (Account.DEBT, repay)))
    return postings


def commission_cancelled(*, promoter_id: str, commission_id: str, amount_fen: int, at: datetime,
                         ref: Mapping[str, str], step: str, voided: bool = False) -> Posting:
    """Before settlement: a refund (or a confirmed risk case, ``voided``) takes back frozen
    commission. ``step`` makes the id unique per adjustment (e.g. the line's refunded total)."""
    _positive(amount_fen)
    kind = PostingKind.COMMISSION_VOIDED if voided else PostingKind.COMMISSION_CANCELLED
    return _posting(f"{commission_id}.cancel.{step}", promoter_id, kind, at, ref, "",
                    (Account.FROZEN, -amount_fen), (MerchantAccount.COMMISSION, amount_fen))


def commission_clawed_back(*, balances: Balances, promoter_id: str, commission_id: str, amount_fen: int,
                           at: datetime, ref: Mapping[str, str], step: str) -> Posting:
    """After settlement: take ``amount_fen`` back from available; what available lacks
    becomes debt (the debt account goes further below zero)."""
    _positive(amount_fen)
    from_available = min(balances.available, amount_fen)
    shortfall = amount_fen - from_available
    return _posting(f"{commission_id}.clawback.{step}", promoter_id, PostingKind.COMMISSION_CLAWED_BACK, at, ref,
                    "shortfall recorded as debt" if shortfall else "",
                    (Account.AVAILABLE, -from_available), (Account.DEBT, -shortfall),
                    (MerchantAccount.COMMISSION, amount_fen))


def debt_repaid(*, balances: Balances, promoter_id: str, posting_id: str, at: datetime,
                ref: Mapping[str, str]) -> Posting | None:
    """Repay as much debt as available allows (None when there is nothing to repay)."""
    repay = min(balances.owed_fen, balances.available)
    if repay <= 0:
        return None
    return _posting(posting_id, promoter_id, PostingKind.DEBT_REPAID, at, ref, "",
                    (Account.AVAILABLE, -repay), (Account.DEBT, repay))


def withdrawal_held(*, promoter_id: str, withdrawal_id: str, amount_fen: int, at: datetime) -> Posting:
    """A withdrawal request takes its whole amount (fee included) out of available at once."""
    _positive(amount_fen)
    return _posting(f"{withdrawal_id}.held", promoter_id, PostingKind.WITHDRAWAL_HELD, at,
                    {"withdrawal_id": withdrawal_id}, "",
                    (Account.AVAILABLE, -amount_fen), (Account.WITHDRAWING, amount_fen))


def withdrawal_paid(*, promoter_id: str, withdrawal_id: str, amount_fen: int, fee_fen: int,
                    at: datetime) -> Posting:
    """Paid out: the amount leaves withdrawing; the promoter received ``amount − fee``; the fee
    stays with the merchant."""
    _positive(amount_fen)
    if type(fee_fen) is not int or not 0 <= fee_fen < amount_fen:
        raise LedgerError(f"fee must be integer fen in [0, amount), got {fee_fen!r}")
    return _posting(f"{withdrawal_id}.paid", promoter_id, PostingKind.WITHDRAWAL_PAID, at,
                    {"withdrawal_id": withdrawal_id}, "",
                    (Account.WITHDRAWING, -amount_fen), (Account.WITHDRAWN, amount_fen - fee_fen),
                    (MerchantAccount.FEES, fee_fen))


def returned_funds(*, owed_fen: int, promoter_id: str, withdrawal_id: str, amount_fen: int, at: datetime,
                   reason: str) -> list[Posting]:
    """A withdrawal's funds come back (rejected, failed, transfer cancelled): the whole amount
    returns to available, and while the promoter owes a debt the returned money repays it first
    (a ``debt_repaid`` of ``repayment(amount, owed)``, in the same transaction), so only the rest
    stays available."""
    postings = [withdrawal_returned(promoter_id=promoter_id, withdrawal_id=withdrawal_id, amount_fen=amount_fen,
                                    at=at, reason=reason)]
    repay = repayment(amount_fen, owed_fen)
    if repay > 0:
        postings.append(_posting(f"{withdrawal_id}.returned.repaid", promoter_id, PostingKind.DEBT_REPAID, at,
                                 {"withdrawal_id": withdrawal_id}, "returned funds repay debt first",
                                 (Account.AVAILABLE, -repay), (Account.DEBT, repay)))
    return postings


def repayment(amount_fen: int, owed_fen: int) -> int:
    """How much of money coming back to a promoter who owes ``owed_fen`` repays the debt: all of
    it up to the debt (the debt first, the rest available)."""
    return max(min(amount_fen, owed_fen), 0)


def withdrawal_returned(*, promoter_id: str, withdrawal_id: str, amount_fen: int, at: datetime,
                        reason: str) -> Posting:
    """Rejected or failed: the whole amount goes back to available."""
    _positive(amount_fen)
    return _posting(f"{withdrawal_id}.returned", promoter_id, PostingKind.WITHDRAWAL_RETURNED, at,
                    {"withdrawal_id": withdrawal_id}, reason,
                    (Account.WITHDRAWING, -amount_fen), (Account.AVAILABLE, amount_fen))


def commission_adjusted(*, balances: Balances, promoter_id: str, adjustment_id: str, amount_fen: int, credit: bool,
                        at: datetime, reason: str) -> list[Posting]:
    """A manual adjustment (人工调整) by the merchant, the reason as the memo. A credit is available
    money at once, and repays a debt first (as settled commission does); a debit takes from
    available and, as a clawback, records what available lacks as debt."""
    _positive(amount_fen)
    ref = {"adjustment_id": adjustment_id}
    if credit:
        postings = [_posting(f"{adjustment_id}.credit", promoter_id, PostingKind.COMMISSION_ADJUSTED, at, ref, reason,
                             (MerchantAccount.COMMISSION, -amount_fen), (Account.AVAILABLE, amount_fen))]
        repay = repayment(amount_fen, balances.owed_fen)
        if repay > 0:
            postings.append(_posting(f"{adjustment_id}.repaid", promoter_id, PostingKind.DEBT_REPAID, at, ref,
                                     "the adjustment repays debt first",
                                     (Account.AVAILABLE, -repay), (Account.DEBT, repay)))
        return postings
    from_available = min(max(balances.available, 0), amount_fen)
    return [_posting(f"{adjustment_id}.debit", promoter_id, PostingKind.COMMISSION_ADJUSTED, at, ref, reason,
                     (Account.AVAILABLE, -from_available), (Account.DEBT, -(amount_fen - from_available)),
                     (MerchantAccount.COMMISSION, amount_fen))]


def prize_paid(*, balances: Balances, promoter_id: str, prize_id: str, amount_fen: int, at: datetime,
               ref: Mapping[str, str], memo: str) -> list[Posting]:
    """A leaderboard prize (排行榜奖励), decided on a final month's figures: merchant → available at
    once (nothing left to settle), and while the promoter owes a debt it repays the debt first, as a
    credit adjustment does."""
    _positive(amount_fen)
    postings = [_posting(f"{prize_id}.paid", promoter_id, PostingKind.PRIZE_PAID, at, ref, memo,
                         (MerchantAccount.COMMISSION, -amount_fen), (Account.AVAILABLE, amount_fen))]
    repay = repayment(amount_fen, balances.owed_fen)
    if repay > 0:
        postings.append(_posting(f"{prize_id}.repaid", promoter_id, PostingKind.DEBT_REPAID, at, ref,
                                 "the prize repays debt first", (Account.AVAILABLE, -repay), (Account.DEBT, repay)))
    return postings
