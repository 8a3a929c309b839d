"""Ledger reconciliation (对账), pure: compare what is stored with what the postings imply.

The postings are the truth (immutable, balanced); wallets and merchant shards are running totals
written in the same transactions. Reconciliation recomputes the totals from the legs and reports
every difference. It never corrects anything: a difference means a bug or a hand edit, and
someone has to look at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mall.domain.ledger import Account, Balances, LedgerError, MerchantAccount, sum_legs

MismatchKind = Literal["wallet", "overdrawn", "posting", "merchant", "conservation"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference. ``expected_fen`` comes from the postings, ``actual_fen`` is stored."""

    kind: MismatchKind
    subject: str  # user id, posting id, merchant account, or "all"
    account: str
    expected_fen: int
    actual_fen: int

    @property
    def difference_fen(self) -> int:
        return self.actual_fen - self.expected_fen

    @property
    def key(self) -> str:
        """Deterministic per difference, so re-running a day overwrites the same entries."""
        return f"{self.kind}#{self.subject}#{self.account}"


def promoter_part(totals: Mapping[str, int]) -> dict[str, int]:
    return {a.value: int(totals.get(a.value, 0)) for a in Account}


def merchant_part(totals: Mapping[str, int]) -> dict[str, int]:
    return {m.value: int(totals.get(m.value, 0)) for m in MerchantAccount}


@dataclass(frozen=True, slots=True)
class PostingCheck:
    """One stored posting's legs (``None``: they cannot be read as legs at all)."""

    posting_id: str
    totals: dict[str, int] | None
    raw_sum: int


def check_posting(item: Mapping[str, Any]) -> PostingCheck:
    """Sum one stored posting's legs; a posting must balance (Σ = 0) and name known accounts."""
    posting_id = str(item.get("posting_id", "?"))
    legs = item.get("legs") or []
    raw_sum = 0
    for leg in legs:
        value = leg.get("delta_fen", 0) if isinstance(leg, Mapping) else 0
        raw_sum += value if isinstance(value, int) else 0
    try:
        totals = sum_legs([item])
    except (LedgerError, KeyError, TypeError, ValueError):
        return PostingCheck(posting_id, None, raw_sum)
    return PostingCheck(posting_id, totals, raw_sum)


def posting_mismatches(check: PostingCheck) -> list[Mismatch]:
    if check.totals is None:
        return [Mismatch("posting", check.posting_id, "legs", 0, check.raw_sum)]
    total = sum(check.totals.values())
    return [Mismatch("posting", check.posting_id, "Σ legs", 0, total)] if total != 0 else []


def wallet_mismatches(user_id: str, stored: Balances, totals: Mapping[str, int]) -> list[Mismatch]:
    """Each promoter account: the wallet's balance against Σ of that account's legs."""
    expected = promoter_part(totals)
    return [Mismatch("wallet", user_id, account, expected[account], stored.get(account))
            for account in expected if stored.get(account) != expected[account]]


def overdrawn_mismatches(user_id: str, stored: Balances) -> list[Mismatch]:
    """No account below zero except debt, and debt never above zero (the ledger's invariant)."""
    found: list[Mismatch] = []
    for account in Account:
        value = stored.get(account.value)
        wrong = value > 0 if account == Account.DEBT else value < 0
        if wrong:
            found.append(Mismatch("overdrawn", user_id, account.value, 0, value))
    return found


def merchant_mismatches(stored: Mapping[str, int], totals: Mapping[str, int]) -> list[Mismatch]:
    expected = merchant_part(totals)
    return [Mismatch("merchant", account, account, expected[account], int(stored.get(account, 0)))
            for account in expected if int(stored.get(account, 0)) != expected[account]]


def conservation_total(wallets: Iterable[Balances], merchant: Mapping[str, int]) -> int:
    """Σ of every promoter balance plus the merchant accounts: exactly 0 when no money was created
    or lost inside the system."""
    return sum(sum(b.as_dict().values()) for b in wallets) + sum(int(v) for v in merchant.values())


def conservation_mismatches(total_fen: int) -> list[Mismatch]:
    return [Mismatch("conservation", "all", "Σ", 0, total_fen)] if total_fen != 0 else []


def add_totals(into: dict[str, int], more: Mapping[str, int]) -> None:
    for account, delta in more.items():
        into[account] = into.get(account, 0) + delta
